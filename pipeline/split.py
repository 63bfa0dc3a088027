"""Stratified, seeded, leakage-free train/val/test split into Ultralytics' classification layout.

Leakage-free means identical bytes never land in two splits: rows are de-duplicated by content hash
first, and a duplicate of a source test image is kept only as that test image. The one deliberate
exception is `refit`, the final fit of a recipe already chosen on validation: validation images are
then copied into train as well (never test images), so the validation score is no longer held out.
The `calibration` split is never trained on, refit or not: the confidence temperature and the "unknown" threshold
are fitted there (`pipeline.calibration`), on images the model has not seen.
People's corrections (`feedback` rows) are added after the sources are split, so they never move a source image
from one split to another: they go to train, never test (see `add_feedback`).
"""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline.io import DataError, link_or_copy, reset_dir
from pipeline.manifest import FEEDBACK
from pipeline.params import Split

SPLITS = ("train", "val", "calibration", "test")
_HINT_RANK = {"test": 0, "val": 1, "train": 2}


def deduplicate(rows: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """One row per content hash (a source-test copy wins); hashes seen under two labels are dropped."""
    labels_per_hash = rows.groupby("sha256")["label"].nunique()
    conflicting = set(labels_per_hash[labels_per_hash > 1].index)
    clean = rows[~rows["sha256"].isin(conflicting)]
    rank = clean["split_hint"].map(_HINT_RANK).fillna(3)
    unique = clean.assign(_rank=rank).sort_values(["_rank", "path"]).drop_duplicates("sha256").drop(columns="_rank")
    report = {
        "duplicates_dropped": int(len(clean) - len(unique)),
        "conflicting_label_images_dropped": int(len(rows) - len(clean)),
    }
    return unique.sort_values("path", ignore_index=True), report


def assign(rows: pd.DataFrame, settings: Split, seed: int) -> tuple[pd.DataFrame, dict]:
    """Add a `split` column per class. A source's own test (and val) rows keep their split; the rest is
    shuffled with a per-class seed and carved into val (and test, if the source has no test split). Feedback rows
    join afterwards (`add_feedback`)."""
    from_feedback = rows["source"] == FEEDBACK if "source" in rows else pd.Series(False, index=rows.index)
    feedback, rows = rows[from_feedback], rows[~from_feedback]
    unique, report = deduplicate(rows)
    counts = unique["label"].value_counts()
    too_small = sorted(counts[counts < settings.min_per_class].index)
    unique = unique[~unique["label"].isin(too_small)]
    if unique.empty:
        raise DataError(f"split: no class has at least split.min_per_class={settings.min_per_class} images")
    source_has_test = bool((unique["split_hint"] == "test").any())
    fold = None if source_has_test or settings.test_fold is None else (settings.test_fold, settings.folds)
    parts = []
    for label, group in unique.groupby("label", sort=True):
        fixed = group[group["split_hint"].isin(["test", "val"])].assign(split=lambda g: g["split_hint"])
        n_test = 0 if source_has_test else max(1, round(settings.test_fraction * len(group)))
        has_val = (fixed["split"] == "val").any()
        free = group.drop(fixed.index)
        parts += [fixed, carve(label, free, len(group), settings, seed, n_test, not has_val, fold)]
    assigned = pd.concat(parts)
    # Ultralytics trains on train/ and validates on val/ with one class list: every class needs both.
    present = assigned.groupby("label")["split"].agg(set)
    incomplete = sorted(label for label, splits in present.items() if not {"train", "val"} <= splits)
    assigned = assigned[~assigned["label"].isin(incomplete)]
    assigned, report["feedback"] = add_feedback(assigned, feedback, rows, settings, seed)
    assigned = assigned.sort_values(["split", "label", "path"], ignore_index=True).assign(copy=0)
    val = assigned[assigned["split"] == "val"]
    if settings.refit:
        assigned = pd.concat([assigned, val.assign(split="train")], ignore_index=True)
    if settings.oversample:
        assigned = oversample(assigned)
    report |= {
        "classes": int(assigned["label"].nunique()),
        "classes_dropped_too_small": too_small,
        "classes_dropped_no_train_or_val": incomplete,
        "images": {s: int((assigned["split"] == s).sum()) for s in SPLITS},
        "train_copies_added": int((assigned["copy"] > 0).sum()),
        "val_images_in_train": int(len(val)) if settings.refit else 0,
        "data_version": data_version(assigned),
        "test_version": data_version(assigned[assigned["split"] == "test"]),
    }
    if settings.test_fold is not None:  # what the test split is, when cross-validation asked for a fold
        report["test_fold"] = f"{fold[0]} of {fold[1]}" if fold else "source test split (split.test_fold not applied)"
    return assigned, report


def carve(
    label: str,
    free: pd.DataFrame,
    size: int,
    settings: Split,
    seed: int,
    n_test: int,
    with_val: bool,
    fold: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """One class's `free` rows, shuffled with the class's own seed, into up to `n_test` test images, validation
    (with `with_val`) and calibration images (fractions of the class's `size` images), the rest train; each
    count is capped so that at least one image is left to train on. With `fold` (k, folds) the test images are
    instead the k-th of `folds` equal slices of the shuffled rows: the same seed and folds 0…folds-1 test every
    image exactly once (cross-validation)."""
    rng = np.random.default_rng([seed, zlib.crc32(str(label).encode())])
    order = rng.permutation(len(free))
    if fold is not None:
        k, folds = fold
        start, end = len(free) * k // folds, len(free) * (k + 1) // folds
        order, n_test = np.concatenate([order[start:end], order[:start], order[end:]]), end - start
    free = free.iloc[order]
    n_val = max(settings.min_val_per_class, round(settings.val_fraction * size)) if with_val else 0
    n_val = min(n_val, max(0, len(free) - 1))
    n_test = min(n_test, max(0, len(free) - n_val - 1))
    n_cal = max(1, round(settings.calibration_fraction * size)) if settings.calibration_fraction else 0
    n_cal = min(n_cal, max(0, len(free) - n_val - n_test - 1))
    n_train = len(free) - n_test - n_val - n_cal
    return free.assign(split=["test"] * n_test + ["val"] * n_val + ["calibration"] * n_cal + ["train"] * n_train)


def add_feedback(
    assigned: pd.DataFrame, feedback: pd.DataFrame, sources: pd.DataFrame, settings: Split, seed: int
) -> tuple[pd.DataFrame, dict]:
    """People's corrections, into train: never test (the split every model is compared on stays as it was), never
    a second copy of bytes the sources hold (an uploaded test photo stays a test photo only). A class that only
    feedback knows (a typed new name) joins once it has `min_per_class` images, with validation (and calibration)
    images of its own so Ultralytics can train it, and no test images; until then it waits, listed in the report."""
    in_sources = feedback["sha256"].isin(set(sources["sha256"]))
    fresh = feedback[~in_sources]
    labels_per_hash = fresh.groupby("sha256")["label"].nunique()
    conflicting = set(
        labels_per_hash[labels_per_hash > 1].index
    )  # the page moves a re-labelled image; a hand edit may not
    fresh = fresh[~fresh["sha256"].isin(conflicting)].sort_values("path").drop_duplicates("sha256")
    known = set(assigned["label"])
    parts, new_classes, waiting = [fresh[fresh["label"].isin(known)].assign(split="train")], [], {}
    for label, group in fresh[~fresh["label"].isin(known)].groupby("label", sort=True):
        if len(group) < settings.min_per_class:
            waiting[str(label)] = int(len(group))
            continue
        parts.append(carve(label, group, len(group), settings, seed, n_test=0, with_val=True))
        new_classes.append(str(label))
    added = pd.concat(parts)
    report = {
        "images": int(len(feedback)),
        "added": {s: int((added["split"] == s).sum()) for s in SPLITS if s != "test"},
        "already_in_sources": int(in_sources.sum()),
        "conflicting_label_images_dropped": int(feedback["sha256"].isin(conflicting).sum()),
        "new_classes": new_classes,
        "new_classes_waiting": waiting,  # class → images so far (fewer than split.min_per_class)
    }
    return pd.concat([assigned, added], ignore_index=True), report


def oversample(assigned: pd.DataFrame) -> pd.DataFrame:
    """Repeat each training class's images until it is about as large as the largest class.

    Copies stay inside train (identical bytes never cross splits); augmentation makes each pass differ.
    """
    train = assigned[assigned["split"] == "train"]
    largest = int(train["label"].value_counts().max())
    extra = []
    for _, group in train.groupby("label", sort=True):
        for copy in range(1, -(-largest // len(group))):
            extra.append(group.head(largest - copy * len(group)).assign(copy=copy))
    return pd.concat([assigned, *extra], ignore_index=True) if extra else assigned


def data_version(assigned: pd.DataFrame) -> str:
    """A hash of what the split is: which bytes, under which label, in which split, how many times."""
    copies = assigned["copy"] if "copy" in assigned else pd.Series(0, index=assigned.index)
    lines = sorted(
        "\t".join(map(str, row)) for row in zip(assigned["split"], assigned["label"], assigned["sha256"], copies)
    )
    digest = hashlib.sha256()
    for number, line in enumerate(lines):  # fed line by line: the joined text would be a second copy of them all
        digest.update(f"\n{line}".encode() if number else line.encode())
    return digest.hexdigest()[:16]


def target_name(path: str, sha256: str, copy: int = 0) -> str:
    source = Path(path)
    suffix = f"-copy{copy}" if copy else ""
    return f"{source.stem}-{sha256[:8]}{suffix}{source.suffix.lower()}"


def materialise(assigned: pd.DataFrame, root: Path, out_dir: Path) -> pd.DataFrame:
    """Lay images out as `out_dir/<split>/<label>/`, hard links to the sources' files where the file system allows
    (no byte is stored twice: DVC's cache links the same inodes), copies where it does not, said in one line.
    Returns the split table with each `file` it wrote."""
    reset_dir(out_dir)
    files, copied = [], 0
    for row in tqdm(assigned.itertuples(), total=len(assigned), desc=f"split {out_dir.name}", unit="img"):
        dest = out_dir / row.split / str(row.label) / target_name(row.path, row.sha256, row.copy)
        dest.parent.mkdir(parents=True, exist_ok=True)
        copied += not link_or_copy(root / row.path, dest)
        files.append(dest.relative_to(out_dir).as_posix())
    if copied:
        print(f"split: {out_dir}: hard links are not possible there, so {copied} of {len(files)} images were copied")
    return assigned.assign(file=files)[["file", "split", "label", "path", "sha256", "copy"]]

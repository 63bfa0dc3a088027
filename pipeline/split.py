"""Stratified, seeded, leakage-free train/val/test split into Ultralytics' classification layout.

Leakage-free means identical bytes never land in two splits: rows are de-duplicated by content hash
first, and a duplicate of a source test image is kept only as that test image. The one deliberate
exception is `refit`, the final fit of a recipe already chosen on validation: validation images are
then copied into train as well (never test images), so the validation score is no longer held out.
The `calibration` split is never trained on, refit or not: the confidence temperature and the "unknown" threshold
are fitted there (`pipeline.calibration`), on images the model has not seen.
People's corrections (`feedback` rows) are added after the sources are split, so they never move a source image
from one split to another: they go to train, never test (see `add_feedback`).
The rows live in SQLite (`SplitTable`, a file in the stage's scratch folder), so a split holds the same memory
whatever the number of pictures: the joins, de-duplication and sorts run in the database, and Python holds only the
free row ids of one class at a time, for its seeded shuffle (8 bytes a picture of that class).
"""

from __future__ import annotations

import hashlib
import sqlite3
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline.disk_table import CHUNK_ROWS
from pipeline.io import DataError, atomic_path, link_or_copy, reset_dir
from pipeline.manifest import FEEDBACK
from pipeline.params import Split

SPLITS = ("train", "val", "calibration", "test")
ROW_COLUMNS = ("path", "sha256", "source", "split_hint", "label")
LAYOUT_COLUMNS = ("split", "label", "path", "sha256", "copy")
FILE_COLUMNS = ["file", "split", "label", "path", "sha256", "copy"]  # split.csv
_HINT_RANK = "CASE split_hint WHEN 'test' THEN 0 WHEN 'val' THEN 1 WHEN 'train' THEN 2 ELSE 3 END"
_SCHEMA = """
CREATE TABLE rows (id INTEGER PRIMARY KEY, path TEXT, sha256 TEXT, source TEXT, split_hint TEXT, label TEXT);
CREATE TABLE assigned (id INTEGER PRIMARY KEY, path TEXT, sha256 TEXT, source TEXT, split_hint TEXT, label TEXT,
                       split TEXT);
CREATE TABLE layout (seq INTEGER PRIMARY KEY, split TEXT, label TEXT, path TEXT, sha256 TEXT, copy INTEGER,
                     source TEXT);
"""


class SplitTable:
    """A task's rows (`rows`, as added), the rows kept with their split (`assigned`) and the files to lay out
    (`layout`, in split.csv's order), in a SQLite database: a file for a stage, in memory by default."""

    def __init__(self, database: Path | str = ":memory:") -> None:
        self.db = sqlite3.connect(database, isolation_level=None)
        self.db.executescript(_SCHEMA)

    def __enter__(self) -> SplitTable:
        return self

    def __exit__(self, *_: object) -> None:
        self.db.close()

    @classmethod
    def of(cls, rows: pd.DataFrame) -> SplitTable:
        """A table in memory holding `rows`."""
        table = cls()
        table.add(rows)
        return table

    def add(self, rows: pd.DataFrame) -> None:
        """Append task rows (`pipeline.manifest.task_rows`); a missing `source` or `split_hint` column is empty."""
        values = rows.reindex(columns=ROW_COLUMNS).astype(object)
        values = values.where(values.notna(), None)
        self.db.execute("BEGIN")
        self.db.executemany(f"INSERT INTO rows ({', '.join(ROW_COLUMNS)}) VALUES (?, ?, ?, ?, ?)",
                            values.itertuples(index=False, name=None))  # fmt: skip
        self.db.execute("COMMIT")

    def count(self, table: str = "rows", where: str = "1", *args: object) -> int:
        return self.db.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", args).fetchone()[0]

    def sources(self) -> set[str]:
        return {s for (s,) in self.db.execute("SELECT DISTINCT source FROM rows WHERE source IS NOT NULL")}

    def layout(self, columns: tuple[str, ...] = LAYOUT_COLUMNS) -> Iterator[tuple]:
        """The files to lay out, in split.csv's order."""
        yield from self.db.execute(f"SELECT {', '.join(columns)} FROM layout ORDER BY seq")

    def frame(self) -> pd.DataFrame:
        """The layout, with each row's source, as one table (for small splits: tests, notebooks)."""
        columns = (*LAYOUT_COLUMNS, "source")
        return pd.DataFrame(list(self.layout(columns)), columns=list(columns))


def deduplicate(table: SplitTable) -> dict:
    """The source rows (not feedback) into `assigned`, one per content hash (a source-test copy wins, then the first
    path); hashes seen under two labels are dropped."""
    source = f"source IS NOT '{FEEDBACK}'"
    conflicting = (f"sha256 IN (SELECT sha256 FROM rows WHERE {source} "
                   "GROUP BY sha256 HAVING COUNT(DISTINCT label) > 1)")  # fmt: skip
    table.db.executescript(f"""
        CREATE INDEX rows_by_hash ON rows (sha256, label);
        INSERT INTO assigned (id, path, sha256, source, split_hint, label)
            SELECT id, path, sha256, source, split_hint, label FROM (
                SELECT *, ROW_NUMBER() OVER (PARTITION BY sha256 ORDER BY {_HINT_RANK}, path) AS nth FROM rows
                WHERE {source} AND NOT {conflicting})
            WHERE nth = 1;
        CREATE INDEX assigned_by_label ON assigned (label, path);
    """)  # fmt: skip
    dropped = table.count("rows", f"{source} AND {conflicting}")
    sources = table.count("rows", source)
    return {
        "duplicates_dropped": sources - dropped - table.count("assigned"),
        "conflicting_label_images_dropped": dropped,
    }


def _drop_classes(table: SplitTable, labels: list[str]) -> None:
    table.db.executemany("DELETE FROM assigned WHERE label = ?", ((label,) for label in labels))


def _set_splits(table: SplitTable, ids: np.ndarray, splits: list[str]) -> None:
    table.db.execute("BEGIN")
    table.db.executemany("UPDATE assigned SET split = ? WHERE id = ?", zip(splits, map(int, ids)))
    table.db.execute("COMMIT")


def assign(table: SplitTable, settings: Split, seed: int) -> dict:
    """Give each row a split, per class, and write the layout; returns the report. A source's own test (and val)
    rows keep their split; the rest is shuffled with a per-class seed and carved into val (and test, if the source
    has no test split). Feedback rows join afterwards (`add_feedback`)."""
    db = table.db
    report = deduplicate(table)
    counts = dict(db.execute("SELECT label, COUNT(*) FROM assigned GROUP BY label ORDER BY label"))
    too_small = sorted(label for label, n in counts.items() if n < settings.min_per_class)
    _drop_classes(table, too_small)
    if not table.count("assigned"):
        raise DataError(f"split: no class has at least split.min_per_class={settings.min_per_class} images")
    source_has_test = bool(table.count("assigned", "split_hint = 'test'"))
    fold = None if source_has_test or settings.test_fold is None else (settings.test_fold, settings.folds)
    db.execute("UPDATE assigned SET split = split_hint WHERE split_hint IN ('test', 'val')")
    classes = db.execute("SELECT label, COUNT(*), SUM(split IS 'val') FROM assigned GROUP BY label ORDER BY label")
    for label, size, n_val in classes.fetchall():
        n_test = 0 if source_has_test else max(1, round(settings.test_fraction * size))
        free = _ids(db, "SELECT id FROM assigned WHERE label = ? AND split IS NULL ORDER BY path", label)
        order, splits = carve(label, len(free), size, settings, seed, n_test, not n_val, fold)
        _set_splits(table, free[order], splits)
    # Ultralytics trains on train/ and validates on val/ with one class list: every class needs both.
    incomplete = [label for (label,) in db.execute("SELECT label FROM assigned GROUP BY label "
                  "HAVING SUM(split IS 'train') = 0 OR SUM(split IS 'val') = 0 ORDER BY label")]  # fmt: skip
    _drop_classes(table, incomplete)
    report["feedback"] = add_feedback(table, settings, seed)
    lay_out(table, settings)
    report |= {
        "classes": db.execute("SELECT COUNT(DISTINCT label) FROM layout").fetchone()[0],
        "classes_dropped_too_small": too_small,
        "classes_dropped_no_train_or_val": incomplete,
        "images": {s: table.count("layout", "split = ?", s) for s in SPLITS},
        "train_copies_added": table.count("layout", "copy > 0"),
        "val_images_in_train": table.count("layout", "split = 'val'") if settings.refit else 0,
        "data_version": data_version(table),
        "test_version": data_version(table, "test"),
    }
    if settings.test_fold is not None:  # what the test split is, when cross-validation asked for a fold
        report["test_fold"] = f"{fold[0]} of {fold[1]}" if fold else "source test split (split.test_fold not applied)"
    return report


def _ids(db: sqlite3.Connection, query: str, *args: object) -> np.ndarray:
    return np.fromiter((i for (i,) in db.execute(query, args)), dtype=np.int64)


def carve(
    label: str,
    n_free: int,
    size: int,
    settings: Split,
    seed: int,
    n_test: int,
    with_val: bool,
    fold: tuple[int, int] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """One class's `n_free` rows (in path order), shuffled with the class's own seed: the order to take them in and
    the split of each in that order. Up to `n_test` test images, validation (with `with_val`) and calibration
    images (fractions of the class's `size` images), the rest train; each count is capped so that at least one
    image is left to train on. With `fold` (k, folds) the test images are instead the k-th of `folds` equal slices
    of the shuffled rows: the same seed and folds 0…folds-1 test every image exactly once (cross-validation)."""
    rng = np.random.default_rng([seed, zlib.crc32(str(label).encode())])
    order = rng.permutation(n_free)
    if fold is not None:
        k, folds = fold
        start, end = n_free * k // folds, n_free * (k + 1) // folds
        order, n_test = np.concatenate([order[start:end], order[:start], order[end:]]), end - start
    n_val = max(settings.min_val_per_class, round(settings.val_fraction * size)) if with_val else 0
    n_val = min(n_val, max(0, n_free - 1))
    n_test = min(n_test, max(0, n_free - n_val - 1))
    n_cal = max(1, round(settings.calibration_fraction * size)) if settings.calibration_fraction else 0
    n_cal = min(n_cal, max(0, n_free - n_val - n_test - 1))
    n_train = n_free - n_test - n_val - n_cal
    return order, ["test"] * n_test + ["val"] * n_val + ["calibration"] * n_cal + ["train"] * n_train


def add_feedback(table: SplitTable, settings: Split, seed: int) -> dict:
    """People's corrections, into train: never test (the split every model is compared on stays as it was), never
    a second copy of bytes the sources hold (an uploaded test photo stays a test photo only). A class that only
    feedback knows (a typed new name) joins once it has `min_per_class` images, with validation (and calibration)
    images of its own so Ultralytics can train it, and no test images; until then it waits, listed in the report."""
    db = table.db
    feedback = f"source IS '{FEEDBACK}'"
    in_sources = f"sha256 IN (SELECT sha256 FROM rows WHERE source IS NOT '{FEEDBACK}')"
    # the page moves a re-labelled image; a hand edit may not
    conflicting = (f"sha256 IN (SELECT sha256 FROM rows WHERE {feedback} AND NOT {in_sources} "
                   "GROUP BY sha256 HAVING COUNT(DISTINCT label) > 1)")  # fmt: skip
    known = "label IN (SELECT label FROM assigned)"
    db.executescript(f"""
        CREATE TABLE fresh AS SELECT id, path, sha256, source, split_hint, label FROM (
            SELECT *, ROW_NUMBER() OVER (PARTITION BY sha256 ORDER BY path) AS nth FROM rows
            WHERE {feedback} AND NOT {in_sources} AND NOT {conflicting})
        WHERE nth = 1;
        CREATE TABLE new_classes AS SELECT label, COUNT(*) AS size FROM fresh WHERE NOT {known} GROUP BY label;
        INSERT INTO assigned SELECT *, 'train' FROM fresh WHERE {known};
    """)  # fmt: skip
    new_classes, waiting = [], {}
    for label, size in db.execute("SELECT label, size FROM new_classes ORDER BY label").fetchall():
        if size < settings.min_per_class:
            waiting[str(label)] = int(size)
            continue
        db.execute("INSERT INTO assigned SELECT *, NULL FROM fresh WHERE label = ?", (label,))
        free = _ids(db, "SELECT id FROM assigned WHERE label = ? ORDER BY path", label)
        order, splits = carve(label, len(free), size, settings, seed, n_test=0, with_val=True)
        _set_splits(table, free[order], splits)
        new_classes.append(str(label))
    return {
        "images": table.count("rows", feedback),
        "added": {s: table.count("assigned", f"{feedback} AND split = ?", s) for s in SPLITS if s != "test"},
        "already_in_sources": table.count("rows", f"{feedback} AND {in_sources}"),
        "conflicting_label_images_dropped": table.count("rows", f"{feedback} AND {conflicting}"),
        "new_classes": new_classes,
        "new_classes_waiting": waiting,  # class → images so far (fewer than split.min_per_class)
    }


def lay_out(table: SplitTable, settings: Split) -> None:
    """`assigned` into `layout`, sorted by split, class and path; with `refit`, the validation images again as train
    images; with `oversample`, each training class's images repeated (`copy` 1, 2, …) until it is about as large as
    the largest class. Copies stay inside train (identical bytes never cross splits); augmentation makes each pass
    differ."""
    db, columns = table.db, ", ".join((*LAYOUT_COLUMNS, "source"))
    db.execute(f"INSERT INTO layout ({columns}) SELECT split, label, path, sha256, 0, source FROM assigned "
               "ORDER BY split, label, path")  # fmt: skip
    if settings.refit:
        db.execute(f"INSERT INTO layout ({columns}) SELECT 'train', label, path, sha256, 0, source FROM layout "
                   "WHERE split = 'val' ORDER BY seq")  # fmt: skip
    if not settings.oversample:
        return
    sizes = db.execute(
        "SELECT label, COUNT(*) FROM layout WHERE split = 'train' GROUP BY label ORDER BY label"
    ).fetchall()
    largest = max(n for _, n in sizes)
    for label, n in sizes:
        for copy in range(1, -(-largest // n)):
            db.execute(f"INSERT INTO layout ({columns}) SELECT split, label, path, sha256, ?, source FROM layout "
                       "WHERE split = 'train' AND copy = 0 AND label = ? ORDER BY seq LIMIT ?",
                       (copy, label, largest - copy * n))  # fmt: skip


def data_version(table: SplitTable, split: str | None = None) -> str:
    """A hash of what the split (or one `split`) is: which bytes, under which label, in which split, how many times.
    Lines `split<TAB>label<TAB>sha256<TAB>copy` in sorted order, fed one at a time. Sorting the columns sorts the
    lines: no class folder name holds a character below the tab (`pipeline.manifest.class_folder`)."""
    digest = hashlib.sha256()
    where = "WHERE split = ?" if split else ""
    lines = table.db.execute(f"SELECT split, label, sha256, CAST(copy AS TEXT) FROM layout {where} "
                             "ORDER BY split, label, sha256, CAST(copy AS TEXT)", (split,) if split else ())  # fmt: skip
    for number, line in enumerate(lines):
        text = "\t".join(map(str, line))
        digest.update(f"\n{text}".encode() if number else text.encode())
    return digest.hexdigest()[:16]


def target_name(path: str, sha256: str, copy: int = 0) -> str:
    source = Path(path)
    suffix = f"-copy{copy}" if copy else ""
    return f"{source.stem}-{sha256[:8]}{suffix}{source.suffix.lower()}"


def materialise(table: SplitTable, root: Path, out_dir: Path) -> Path:
    """Lay images out as `out_dir/<split>/<label>/`, hard links to the sources' files where the file system allows
    (no byte is stored twice: DVC's cache links the same inodes), copies where it does not, said in one line.
    Writes the split table with each `file` to `out_dir/split.csv`, a chunk at a time, and returns its path."""
    reset_dir(out_dir)
    total, copied, chunk = table.count("layout"), 0, []
    with atomic_path(out_dir / "split.csv") as tmp, open(tmp, "w", newline="") as handle:
        pd.DataFrame(columns=FILE_COLUMNS).to_csv(handle, index=False)
        for split, label, path, sha256, copy in tqdm(
            table.layout(), total=total, desc=f"split {out_dir.name}", unit="img"
        ):
            dest = out_dir / split / str(label) / target_name(path, sha256, copy)
            dest.parent.mkdir(parents=True, exist_ok=True)
            copied += not link_or_copy(root / path, dest)
            chunk.append((dest.relative_to(out_dir).as_posix(), split, label, path, sha256, copy))
            if len(chunk) == CHUNK_ROWS:
                pd.DataFrame(chunk, columns=FILE_COLUMNS).to_csv(handle, header=False, index=False)
                chunk = []
        pd.DataFrame(chunk, columns=FILE_COLUMNS).to_csv(handle, header=False, index=False)
    if copied:
        print(f"split: {out_dir}: hard links are not possible there, so {copied} of {total} images were copied")
    return out_dir / "split.csv"

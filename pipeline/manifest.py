"""The manifest: one row per image with its content hash, source, labels and header facts.

Everything downstream (validation, split, both tasks) reads this one table, whatever the providers were.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pandas as pd
from PIL import Image

from pipeline.disk_table import CHUNK_ROWS
from pipeline.io import DataError, sha256_file, thread_map_chunks
from pipeline.params import Task

# What the providers know of an image; each declared task's label (and group) column is added after them.
SOURCE_COLUMNS = [
    "path", "sha256", "source", "split_hint", "character", "universe", "set_num", "theme_path", "theme", "theme_group",
]  # fmt: skip
FACT_COLUMNS = ["width", "height", "bytes", "format", "mode"]
FACTS = ("sha256", *FACT_COLUMNS)  # what `file_facts` finds in a picture
FACT_DTYPES = {"width": "Int64", "height": "Int64", "bytes": "Int64"}  # integers, or empty for an unreadable picture
SETS_LOG = "sets.jsonl"
FEEDBACK = "feedback"  # people's corrections from the upload page: train images only (pipeline.split)


def columns(tasks: Sequence[Task]) -> list[str]:
    """The manifest's columns: the providers', then any label or group column only a declared task has."""
    own = [c for t in tasks for c in (t.label, t.group) if c and c not in SOURCE_COLUMNS]
    return [*SOURCE_COLUMNS, *dict.fromkeys(own), *FACT_COLUMNS]


def class_folder(label: str) -> str:
    """A class name usable as one folder name (Ultralytics takes class names from folders): `Technic/Bionicle` → `Technic-Bionicle`."""
    return re.sub(r"[/\\\x00-\x1f]+", "-", str(label)).strip(" .-") or "_"


def feedback_names(source_names: Iterable[str], feedback_names: Iterable[str], task: Task) -> dict[str, str]:
    """The class name each feedback folder name stands for. Feedback is filed under class folder names (what the
    model answers): those of a source class get its original name back (`Technic-Bionicle` is `Technic/Bionicle`).
    Refuses class names that would share one folder."""
    sources = set(source_names)
    original = {class_folder(name): name for name in sorted(sources)}
    named = {name: original.get(name, name) for name in feedback_names}
    by_folder: dict[str, list[str]] = {}
    for name in sorted(sources | set(named.values())):
        by_folder.setdefault(class_folder(name), []).append(name)
    clash = sorted(names for names in by_folder.values() if len(names) > 1)
    if clash:
        raise DataError(
            f"task {task.name}: classes {clash[0]} map to the same folder name {class_folder(clash[0][0])!r}"
        )
    return named


def task_rows(manifest: pd.DataFrame, task: Task, names: dict[str, str] | None = None) -> pd.DataFrame:
    """The task's rows, with its class column as folder-safe `label` (feedback's folder names mapped through `names`,
    by default `feedback_names` of these rows)."""
    rows = manifest[manifest["source"].isin(task.sources) & manifest[task.label].notna()]
    feedback = rows["source"] == FEEDBACK
    if names is None:
        names = feedback_names(rows.loc[~feedback, task.label], rows.loc[feedback, task.label], task)
    labels = rows[task.label].where(~feedback, rows[task.label].map(lambda c: names.get(c, c)))
    return rows.assign(**{task.label: labels, "label": labels.map(class_folder)})


def iter_task_rows(path: Path, task: Task, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """`task_rows` of the manifest at `path`, `chunk_rows` at a time, reading only the columns a task's split and
    groups need: memory stays the same whatever the manifest's length. Reads the manifest twice: first its class
    names (as many as there are classes), then its rows."""
    wanted = [c for c in dict.fromkeys(("path", "sha256", "source", "split_hint", task.label, task.group)) if c]
    try:
        present = set(pd.read_csv(path, nrows=0).columns)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (run the label stage first)") from None
    missing = [c for c in wanted if c not in present]
    if missing:
        raise DataError(f"{path}: no column {missing[0]!r} for task {task.name} (run the label stage again)")
    sources: set[str] = set()
    feedback: set[str] = set()
    for chunk in pd.read_csv(path, usecols=["source", task.label], dtype=str, chunksize=chunk_rows):
        chunk = chunk[chunk["source"].isin(task.sources) & chunk[task.label].notna()]
        from_feedback = chunk["source"] == FEEDBACK
        sources.update(chunk.loc[~from_feedback, task.label])
        feedback.update(chunk.loc[from_feedback, task.label])
    names = feedback_names(sources, feedback, task)
    for chunk in pd.read_csv(path, usecols=wanted, dtype=str, chunksize=chunk_rows):
        yield task_rows(chunk, task, names)


def read_task_rows(path: Path, task: Task) -> pd.DataFrame:
    """Every one of `iter_task_rows` as one table."""
    return pd.concat(iter_task_rows(path, task), ignore_index=True)


def class_groups(chunks: Iterable[pd.DataFrame], task: Task) -> dict[str, str]:
    """`class → group` (e.g. minifigure character → Kaggle universe) where the task has one and it is known: the
    first row's that names one, over `chunks` of task rows (`iter_task_rows`)."""
    groups: dict[str, str] = {}
    if task.group is None:
        return groups
    for rows in chunks:
        known = rows.dropna(subset=[task.group]).drop_duplicates("label")
        for label, group in zip(known["label"], known[task.group]):
            groups.setdefault(label, group)
    return groups


def file_facts(path: Path) -> dict:
    """Hash, size and header facts; an unreadable image keeps NaN facts so validation reports it."""
    facts = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    try:
        with Image.open(path) as image:
            facts |= {"width": image.width, "height": image.height, "format": image.format, "mode": image.mode}
    except Exception:  # noqa: BLE001 - PIL's errors for unreadable bytes are many; once Ultralytics is imported, its
        # patched Image.open turns an unidentified file into ModuleNotFoundError (it retries through pi_heif)
        facts |= {"width": None, "height": None, "format": None, "mode": None}
    return facts


def with_file_facts(chunks: Iterable[pd.DataFrame], root: Path, total: int) -> Iterator[pd.DataFrame]:
    """Each chunk of rows with its images' facts as columns (replacing any it had), hashed on worker threads
    straight across chunks under one progress bar of `total` pictures."""
    for chunk, found in thread_map_chunks(lambda row: file_facts(root / row.path), chunks, FACTS, "hash images", total):
        rows = chunk.drop(columns=[c for c in FACTS if c in chunk]).reset_index(drop=True)
        yield pd.concat([rows, pd.DataFrame(found)], axis=1)


def minifigure_rows(layout: pd.DataFrame, raw_dir: Path, root: Path, sets: pd.DataFrame) -> pd.DataFrame:
    """Manifest rows for Kaggle-layout minifigures, joined to their sets' themes where the catalogue knows them."""
    known = sets.set_index("set_num")
    first_known = [next((s for s in nums if s in known.index), None) for nums in layout["set_nums"]]
    rows = pd.DataFrame(
        {
            "path": [(raw_dir / p).relative_to(root).as_posix() for p in layout["path"]],
            "source": "minifigures",
            "split_hint": layout["split_hint"].to_numpy(),
            "character": layout["character"].to_numpy(),
            "universe": layout["universe"].to_numpy(),
            "set_num": first_known,
        }
    )
    for column in ("theme_path", "theme", "theme_group"):
        rows[column] = [known.at[s, column] if s else None for s in first_known]
    return rows


def task_folder_rows(folder: Path, root: Path, tasks: Sequence[Task], source: str) -> pd.DataFrame:
    """Manifest rows for a `<task>/<class>/<image>` copy (your own classes: `custom`; people's corrections:
    `feedback`): the class goes into the task's label column (`character`, `theme_group`, …)."""
    from pipeline.feedback import images

    records = [
        {"path": path.relative_to(root).as_posix(), "source": source, "split_hint": None, task.label: label}
        for task in tasks
        for label, path in images(folder / task.name)
    ]
    return pd.DataFrame(records, columns=["path", "source", "split_hint", *dict.fromkeys(t.label for t in tasks)])


def iter_sets_log(raw_dir: Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The scrape stage's JSON-lines log, one record per set, `chunk_rows` sets at a time (at least one chunk)."""
    path = raw_dir / SETS_LOG
    columns = ["set_id", "name", "year", "image_url", "image", "sha256", "status"]
    try:
        handle = path.open()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (run the scrape stage first)") from None
    with handle:
        records: list[dict] = []
        number = 0
        for number, line in enumerate(handle, 1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise DataError(f"{path}:{number}: not valid JSON") from None
            if len(records) == chunk_rows:
                yield pd.DataFrame(records, columns=columns)
                records = []
        if records or not number:
            yield pd.DataFrame(records, columns=columns)


EXCLUDED_COLUMNS = ["set_num", "name", "theme_path", "reason"]
NOT_IN_CATALOGUE = "not in catalogue"
THEME_IN_NO_GROUP = "theme in no group"


def set_rows(
    log: pd.DataFrame, raw_dir: Path, root: Path, sets: pd.DataFrame
) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """Manifest rows for scraped set images, a report of counts, and every logged set left out, one row each
    (`set_num, name, theme_path, reason`): not fetched (with the scrape status), not in the catalogue, or in
    no theme group."""
    fetched = log[log["status"] == "ok"]
    labelled = fetched.merge(sets, left_on="set_id", right_on="set_num", how="left", suffixes=("", "_catalogue"))
    unknown = labelled["theme"].isna()
    unmapped = ~unknown & labelled["theme_group"].isna()
    kept = labelled[~unknown & ~unmapped]
    rows = pd.DataFrame(
        {
            "path": [(raw_dir / p).relative_to(root).as_posix() for p in kept["image"]],
            "source": "sets",
            "split_hint": None,
            "character": None,
            "universe": None,
            "set_num": kept["set_id"].to_numpy(),
            "theme_path": kept["theme_path"].to_numpy(),
            "theme": kept["theme"].to_numpy(),
            "theme_group": kept["theme_group"].to_numpy(),
        }
    )
    left_out = labelled[unknown | unmapped]
    not_fetched = log[log["status"] != "ok"]
    excluded = pd.concat(
        [
            pd.DataFrame(
                {
                    "set_num": left_out["set_id"].to_numpy(),
                    "name": left_out["name_catalogue"].fillna(left_out["name"]).to_numpy(),  # the log's name if unknown
                    "theme_path": left_out["theme_path"].to_numpy(),
                    "reason": [NOT_IN_CATALOGUE if u else THEME_IN_NO_GROUP for u in unknown[unknown | unmapped]],
                }
            ),
            pd.DataFrame(
                {
                    "set_num": not_fetched["set_id"].to_numpy(),
                    "name": not_fetched["name"].to_numpy(),
                    "theme_path": None,
                    "reason": [f"not fetched: {s}" for s in not_fetched["status"]],
                }
            ),
        ],
        ignore_index=True,
    )
    excluded = excluded.reindex(columns=EXCLUDED_COLUMNS).sort_values(["reason", "set_num"], ignore_index=True)
    report = {
        "sets_logged": int(len(log)),
        "sets_fetched": int(len(fetched)),
        "sets_labelled": int(len(kept)),
        "excluded_not_fetched": int(len(not_fetched)),
        "excluded_not_in_catalogue": int(unknown.sum()),
        "excluded_unmapped_theme": int(unmapped.sum()),
        "ungrouped_themes": labelled.loc[unmapped, "theme_path"].value_counts().to_dict(),  # root or left-out sub-theme
        "per_group": kept["theme_group"].value_counts().sort_index().to_dict(),
    }
    return rows, report, excluded


def add_counts(total: dict, part: dict) -> dict:
    """`set_rows`' reports of two chunks of the log as one: counts added, per key where they are counted per key."""
    summed: dict = {}
    for key in dict.fromkeys([*total, *part]):
        mine, theirs = total.get(key), part.get(key)
        if isinstance(mine, dict) or isinstance(theirs, dict):
            summed[key] = add_counts(mine or {}, theirs or {})
        else:
            summed[key] = (mine or 0) + (theirs or 0)
    return summed


def sorted_counts(report: dict) -> dict:
    """`add_counts`' sum in `set_rows`' order: groups by name, ungrouped themes most frequent first."""
    ungrouped = sorted(report.get("ungrouped_themes", {}).items(), key=lambda item: (-item[1], item[0]))
    return report | {
        "ungrouped_themes": dict(ungrouped),
        "per_group": dict(sorted(report.get("per_group", {}).items())),
    }

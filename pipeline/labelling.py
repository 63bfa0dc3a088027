"""The label stage's work: every source's pictures listed, hashed and written out as one manifest sorted by path.

The rows go through two tables on disk (`pipeline.disk_table`): the sources' listing, then the same rows with each
picture's hash and header facts. So the stage holds a chunk of rows at a time, whatever the number of pictures."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline import manifest
from pipeline.disk_table import CHUNK_ROWS, DiskTable
from pipeline.params import Task


@dataclass(frozen=True)
class RawFolders:
    """Where the download, scrape and feedback stages left each source's pictures."""

    minifigures: Path
    sets: Path
    custom: Path
    feedback: Path


def write_manifest(
    layout: Iterable[pd.DataFrame],
    labelled: pd.DataFrame,
    raw: RawFolders,
    root: Path,
    tasks: Sequence[Task],
    target: Path,
    excluded_target: Path,
    chunk_rows: int = CHUNK_ROWS,
) -> dict:
    """Write the manifest to `target` and every logged set left out to `excluded_target` (sorted by reason, then
    set number); return the counts of the label report. `layout` is the Kaggle index's rows in chunks
    (`KaggleIndex.chunks`), `labelled` the catalogue's sets with their themes (`read_labelled`)."""
    columns = manifest.columns(tasks)
    with tempfile.TemporaryDirectory(prefix="label-") as scratch:
        folder = Path(scratch)
        with (
            DiskTable(folder / "listed.db", columns, chunk_rows) as listed,
            DiskTable(folder / "excluded.db", manifest.EXCLUDED_COLUMNS, chunk_rows) as excluded,
        ):
            counts = {"minifigure_images": 0, "minifigures_with_theme": 0}
            for rows in layout:
                figures = manifest.minifigure_rows(rows, raw.minifigures, root, labelled)
                listed.append(figures)
                counts = manifest.add_counts(counts, {"minifigure_images": len(figures),
                                                      "minifigures_with_theme": int(figures["theme"].notna().sum())})  # fmt: skip
            for source, folder_of_classes in (("custom", raw.custom), (manifest.FEEDBACK, raw.feedback)):
                rows = manifest.task_folder_rows(folder_of_classes, root, tasks, source)
                listed.append(rows)
                counts[f"{source}_images"] = len(rows)
            sets: dict = {}
            for log in manifest.iter_sets_log(raw.sets, chunk_rows):
                set_images, report, left_out = manifest.set_rows(log, raw.sets, root, labelled)
                listed.append(set_images)
                excluded.append(left_out)
                sets = manifest.add_counts(sets, report)
            with DiskTable(folder / "manifest.db", columns, chunk_rows) as table:
                for rows in manifest.with_file_facts(listed.chunks(), root, total=len(listed)):
                    table.append(rows)
                table.write_csv(target, order_by="path", dtypes=manifest.FACT_DTYPES)
                images = len(table)
            excluded.write_csv(excluded_target, order_by="reason, set_num")
    return {"images": images, **counts, **manifest.sorted_counts(sets)}

"""Batch prediction over a folder people hand in: every file is judged by its content, and what cannot be read is
listed with its reason rather than stopping the run."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from pipeline.calibration import UNKNOWN
from pipeline.disk_table import CHUNK_ROWS, DiskTable, quoted, write_csv_chunks
from pipeline.io import DataError, iter_files, progress_chunks


class FolderPredictions:
    """A folder's answers (`path, label, confidence, top<k>`: one row per readable image) and rejects (`path,
    reason`: one row per file that is not a readable image), in tables on disk, removed on closing: a million
    answers are not held at once."""

    def __init__(self, top_k: int) -> None:
        self._scratch = tempfile.TemporaryDirectory(prefix="predict-")
        folder = Path(self._scratch.name)
        self.answers = DiskTable(folder / "answers.db", ["path", "label", "confidence", f"top{top_k}"])
        self.rejects = DiskTable(folder / "rejects.db", ["path", "reason"])
        self.files = 0

    def __enter__(self) -> FolderPredictions:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.answers.db.close()
        self.rejects.db.close()
        self._scratch.cleanup()

    def predictions(self) -> pd.DataFrame:
        """The answers as one table (for small folders: tests, notebooks)."""
        return pd.concat(list(self.answers.chunks()), ignore_index=True)

    def rejected(self) -> pd.DataFrame:
        """The rejects as one table."""
        return pd.concat(list(self.rejects.chunks()), ignore_index=True)


def predict_folder(
    classifier, folder: Path, batch: int, top_k: int, desc: str | None = "predict", chunk_files: int = CHUNK_ROWS
) -> FolderPredictions:
    """Classify every readable image under `folder` (recursively, any file name) with a `LegoClassifier`,
    `chunk_files` files at a time; a `DataError` only when not one file is readable."""
    total = sum(1 for _ in iter_files(folder))
    if not total:
        raise DataError(f"{folder}: no files to classify")
    result = FolderPredictions(top_k)
    try:
        for chunk, progress in progress_chunks(iter_files(folder), total, chunk_files, desc):
            answers, verdicts = classifier.answer(chunk, top_k, batch, progress=progress)
            names = [path.relative_to(folder).as_posix() for path in chunk]
            rejects = [(name, str(v)) for name, v in zip(names, verdicts) if v is not None]
            result.rejects.append(pd.DataFrame(rejects, columns=["path", "reason"]))
            top = [
                json.dumps([[str(label), round(float(p), 6)] for label, p in zip(labels, probs)])
                for labels, probs in zip(answers["top_k_labels"], answers["top_k_probabilities"])
            ]
            readable = [name for name, v in zip(names, verdicts) if v is None]
            result.answers.append(pd.DataFrame({"path": readable, "label": answers["label"],
                                                "confidence": answers["confidence"].round(6), f"top{top_k}": top}))  # fmt: skip
            result.files += len(chunk)
        if not len(result.answers):
            path, reason = next(result.rejects.chunks()).iloc[0]
            raise DataError(f"{folder}: none of its {total} files is a readable image (e.g. {path}: {reason})")
    except BaseException:
        result.close()
        raise
    return result


def review_chunks(answers: DiskTable, folder: Path, size: int) -> Iterator[pd.DataFrame]:
    """Where a person's correction helps most (uncertainty sampling): every "unknown" answer, then the `size` least
    confident of the others, least confident first (an "unknown" before an answer as sure), a chunk at a time.
    `file` is where the page finds the image (relative to the project when inside it); `reason` says why it is
    queued."""
    from pipeline.paths import PROJECT_ROOT

    root = folder.resolve()
    where = root.relative_to(PROJECT_ROOT) if root.is_relative_to(PROJECT_ROOT) else root
    prefix = "" if where == Path(".") else f"{where.as_posix()}/"
    rest = [quoted(c) for c in answers.columns if c != "path"]
    query = f"""
        SELECT :prefix || path AS file,
               CASE WHEN label = :unknown THEN 'unknown' ELSE 'least confident' END AS reason, {", ".join(rest)}
        FROM {quoted(answers.name)}
        WHERE label = :unknown OR rowid IN (
            SELECT rowid FROM {quoted(answers.name)} WHERE label != :unknown ORDER BY confidence, rowid LIMIT :size)
        ORDER BY confidence, label != :unknown, rowid"""
    parameters = {"prefix": prefix, "unknown": UNKNOWN, "size": size}
    yield from pd.read_sql_query(query, answers.db, params=parameters, chunksize=answers.chunk_rows)


def write_review(answers: DiskTable, folder: Path, size: int, target: Path) -> tuple[int, int]:
    """`review_chunks` into the CSV file `target`; returns how many answers it queues, and how many are "unknown"."""
    queued = unknown = 0

    def counted() -> Iterator[pd.DataFrame]:
        nonlocal queued, unknown
        for chunk in review_chunks(answers, folder, size):
            queued, unknown = queued + len(chunk), unknown + int((chunk["reason"] == "unknown").sum())
            yield chunk

    columns = ["file", "reason", *(c for c in answers.columns if c != "path")]
    write_csv_chunks(target, columns, counted())
    return queued, unknown


def review_queue(predictions: pd.DataFrame, folder: Path, size: int) -> pd.DataFrame:
    """`review_chunks` of answers given as one table (tests, and the upload page's fixtures)."""
    with (
        tempfile.TemporaryDirectory(prefix="review-") as scratch,
        DiskTable(Path(scratch) / "answers.db", list(predictions.columns)) as answers,
    ):
        answers.append(predictions)
        chunks = list(review_chunks(answers, folder, size))
    columns = ["file", "reason", *predictions.columns.drop("path")]
    return pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=columns)

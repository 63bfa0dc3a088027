"""A table on disk (one SQLite file), filled and read a chunk at a time: how a stage joins, sorts and writes a
hundred thousand rows, or a million, in the memory it needs for ten thousand."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pandas as pd

from pipeline.io import atomic_path

CHUNK_ROWS = 10_000  # rows held at a time: a few MB, whatever the table's length


class DiskTable:
    """Rows with fixed `columns` in the SQLite file at `path`. Values keep their Python types (no column affinity):
    a text that looks like a number stays text."""

    def __init__(self, path: Path, columns: Sequence[str], chunk_rows: int = CHUNK_ROWS) -> None:
        self.columns, self.chunk_rows = list(columns), chunk_rows
        self.db = sqlite3.connect(path)
        self.db.execute(f"CREATE TABLE rows ({', '.join(map(_quoted, self.columns))})")

    def __enter__(self) -> DiskTable:
        return self

    def __exit__(self, *_: object) -> None:
        self.db.close()

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM rows").fetchone()[0]

    def append(self, frame: pd.DataFrame) -> None:
        """Append `frame`'s rows; its columns the table lacks are dropped, those it lacks are empty."""
        frame.reindex(columns=self.columns).to_sql("rows", self.db, if_exists="append", index=False)

    def chunks(self, order_by: str = "rowid", dtypes: Mapping[str, str] | None = None) -> Iterator[pd.DataFrame]:
        """The rows sorted by the SQL expression `order_by`, `chunk_rows` at a time, cast to `dtypes` (each chunk
        would otherwise guess its own: a column of integers with one gap reads as floats)."""
        query = f"SELECT {', '.join(map(_quoted, self.columns))} FROM rows ORDER BY {order_by}"
        for chunk in pd.read_sql_query(query, self.db, chunksize=self.chunk_rows):
            yield chunk.astype(dict(dtypes or {}))

    def write_csv(self, target: Path, order_by: str, dtypes: Mapping[str, str] | None = None) -> None:
        """The table as one CSV file (a header, then every row sorted by `order_by`), replacing `target` whole."""
        with atomic_path(target) as tmp, open(tmp, "w", newline="") as handle:
            pd.DataFrame(columns=self.columns).to_csv(handle, index=False)
            for chunk in self.chunks(order_by, dtypes):
                chunk.to_csv(handle, header=False, index=False)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'

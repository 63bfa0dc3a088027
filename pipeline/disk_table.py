"""A table on disk (one SQLite file), filled and read a chunk at a time: how a stage joins, sorts and writes a
hundred thousand rows, or a million, in the memory it needs for ten thousand."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import pandas as pd

from pipeline.io import atomic_path

CHUNK_ROWS = 10_000  # rows held at a time: a few MB, whatever the table's length


class DiskTable:
    """Rows with fixed `columns` in the table `name` of the SQLite file at `path`, which other SQL tools can open
    (Great Expectations validates the manifest there). Values keep their Python types (no column affinity): a
    text that looks like a number stays text."""

    def __init__(self, path: Path, columns: Sequence[str], chunk_rows: int = CHUNK_ROWS, name: str = "rows") -> None:
        self.path, self.name, self.columns, self.chunk_rows = Path(path), name, list(columns), chunk_rows
        self.db = sqlite3.connect(path)
        self.db.execute(f"CREATE TABLE {quoted(name)} ({', '.join(map(quoted, self.columns))})")

    def __enter__(self) -> DiskTable:
        return self

    def __exit__(self, *_: object) -> None:
        self.db.close()

    def __len__(self) -> int:
        return self.db.execute(f"SELECT COUNT(*) FROM {quoted(self.name)}").fetchone()[0]

    def append(self, frame: pd.DataFrame) -> None:
        """Append `frame`'s rows; its columns the table lacks are dropped, those it lacks are empty."""
        frame.reindex(columns=self.columns).to_sql(self.name, self.db, if_exists="append", index=False)

    def add_column(self, name: str, expression: str) -> None:
        """A column computed by the SQL `expression` over each row."""
        self.db.execute(f"ALTER TABLE {quoted(self.name)} ADD COLUMN {quoted(name)}")
        self.db.execute(f"UPDATE {quoted(self.name)} SET {quoted(name)} = {expression}")
        self.db.commit()
        self.columns.append(name)

    def chunks(self, order_by: str = "rowid", dtypes: Mapping[str, str] | None = None) -> Iterator[pd.DataFrame]:
        """The rows sorted by the SQL expression `order_by`, `chunk_rows` at a time, cast to `dtypes` (each chunk
        would otherwise guess its own: a column of integers with one gap reads as floats)."""
        query = f"SELECT {', '.join(map(quoted, self.columns))} FROM {quoted(self.name)} ORDER BY {order_by}"
        for chunk in pd.read_sql_query(query, self.db, chunksize=self.chunk_rows):
            yield chunk.astype(dict(dtypes or {}))

    def write_csv(self, target: Path, order_by: str, dtypes: Mapping[str, str] | None = None) -> None:
        """The table as one CSV file (a header, then every row sorted by `order_by`), replacing `target` whole."""
        write_csv_chunks(target, self.columns, self.chunks(order_by, dtypes))


def write_csv_chunks(target: Path, columns: Sequence[str], chunks: Iterable[pd.DataFrame]) -> None:
    """One CSV file with a header of `columns`, then each chunk's rows, replacing `target` whole."""
    with atomic_path(target) as tmp, open(tmp, "w", newline="") as handle:
        pd.DataFrame(columns=list(columns)).to_csv(handle, index=False)
        for chunk in chunks:
            chunk.to_csv(handle, header=False, index=False)


def quoted(name: str) -> str:
    """`name` as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'

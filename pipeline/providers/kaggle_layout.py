"""Ingestion of the Kaggle minifigures dataset layout, shared by the `local`, `kaggle` and `synthetic` providers.

Accepts both published schemas: the 37-class `index.csv` (`path,class_id`) with a separate `test.csv`,
and the older 31-class `index.csv` (`,path,class_id,train-valid`). `metadata.csv` may be UTF-8 or
Windows-1252. Only CSV-listed images are taken: the class folders also hold unlisted byte-identical
copies (some of test images), which would leak into training.
"""

from __future__ import annotations

import ast
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from pipeline.disk_table import CHUNK_ROWS
from pipeline.io import DataError, reset_dir

INDEX, TEST, METADATA = "index.csv", "test.csv", "metadata.csv"
SPLIT_NAMES = {"train": "train", "valid": "val", "val": "val", "test": "test"}


def find_root(folder: Path) -> Path:
    """The folder holding `index.csv` (a zip often nests the dataset one level down)."""
    if (folder / INDEX).is_file():
        return folder
    candidates = sorted(p.parent for p in folder.rglob(INDEX) if "__MACOSX" not in p.parts)
    if not candidates:
        raise DataError(f"{folder}: no {INDEX} found (expected Kaggle's lego-minifigures layout)")
    return min(candidates, key=lambda p: len(p.parts))


def extract_zip(archive: Path, target: Path) -> Path:
    """Extract `archive` into `target`, refusing entries that would land outside it."""
    target = reset_dir(target)
    root = target.resolve()
    try:
        with zipfile.ZipFile(archive) as zf:
            bad = zf.testzip()
            if bad is not None:
                raise DataError(f"{archive}: corrupt zip entry {bad!r}")
            for member in zf.infolist():
                dest = (target / member.filename).resolve()
                if dest != root and root not in dest.parents:
                    raise DataError(f"{archive}: refusing entry {member.filename!r} outside the target folder")
            zf.extractall(target)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{archive}: not a valid zip file ({exc})") from None
    return target


def _encoding(path: Path) -> str:
    """UTF-8 (with or without a byte-order mark) where the whole file decodes so, else Windows-1252 (older copies),
    read a block at a time."""
    try:
        with path.open(encoding="utf-8-sig") as handle:
            while handle.read(1 << 20):
                pass
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8-sig"


def _csv_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """`path`'s rows, `chunk_rows` at a time (at least one chunk, its columns named)."""
    try:
        yield from pd.read_csv(path, encoding=_encoding(path), chunksize=chunk_rows)
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.concat(_csv_chunks(path, CHUNK_ROWS), ignore_index=True)


def _literal_list(value: object, path: Path, column: str) -> list:
    if pd.isna(value):
        return []
    try:
        parsed = ast.literal_eval(str(value))
    except (ValueError, SyntaxError):
        raise DataError(f"{path}: column {column!r} holds {value!r}, not a Python-literal list") from None
    return list(parsed) if isinstance(parsed, (list, tuple)) else [parsed]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")


def read_metadata(root: Path) -> pd.DataFrame:
    """`class_id → minifigure_name, set numbers` (empty frame when the file is absent)."""
    path = root / METADATA
    if not path.is_file():
        return pd.DataFrame(columns=["class_id", "minifigure_name", "set_nums"])
    meta = _read_csv(path)
    missing = {"class_id", "minifigure_name"} - set(meta.columns)
    if missing:
        raise DataError(f"{path}: missing column(s) {sorted(missing)}")
    ids = meta["lego_ids"] if "lego_ids" in meta else pd.Series([None] * len(meta))
    meta["set_nums"] = [[s if "-" in str(s) else f"{s}-1" for s in _literal_list(v, path, "lego_ids")] for v in ids]
    return meta[["class_id", "minifigure_name", "set_nums"]]


class KaggleIndex:
    """The images a Kaggle-layout folder lists: `path` (relative), `class_id`, `split_hint`, `character`, `universe`,
    `set_nums`. Opening it checks the CSVs whole (columns, values, every listed image on disk) in one pass that keeps a
    few facts per class; `chunks()` then reads the rows `chunk_rows` at a time, so memory does not grow with them."""

    def __init__(self, root: Path, chunk_rows: int = CHUNK_ROWS) -> None:
        self.root, self.chunk_rows = Path(root), chunk_rows
        meta = read_metadata(self.root).set_index("class_id")
        self.names, self.set_nums = meta["minifigure_name"].to_dict(), meta["set_nums"].to_dict()
        self.universe_of: dict[int, str] = {}
        count, classes, absent, first_absent = 0, set(), 0, None
        for rows in self._rows():
            count += len(rows)
            classes.update(rows["class_id"])
            missing = [p for p in rows["path"] if not (self.root / p).is_file()]
            absent, first_absent = absent + len(missing), first_absent or next(iter(missing), None)
            folders = rows.loc[rows["split_hint"] != "test", ["class_id", "path"]]
            self.universe_of |= {
                cid: Path(p).parts[0] for cid, p in zip(folders["class_id"], folders["path"]) if len(Path(p).parts) > 2
            }
        if absent:
            raise DataError(f"{self.root}: {absent} listed image(s) missing, e.g. {first_absent}")
        self.count, self.classes = count, len(classes)
        self.width = max(2, len(str(max(classes, default=0))))

    def __len__(self) -> int:
        return self.count

    def _rows(self) -> Iterator[pd.DataFrame]:
        """`path`, `class_id` and `split_hint` of index.csv's rows, then test.csv's, checked."""
        path = self.root / INDEX
        for index in _csv_chunks(path, self.chunk_rows):
            index = index.loc[:, ~index.columns.str.startswith("Unnamed")]
            missing = {"path", "class_id"} - set(index.columns)
            if missing:
                raise DataError(f"{path}: missing column(s) {sorted(missing)} (expected path,class_id[,train-valid])")
            if "train-valid" in index:
                unknown = set(index["train-valid"].dropna()) - set(SPLIT_NAMES)
                if unknown:
                    raise DataError(f"{path}: column 'train-valid' has unknown value(s) {sorted(unknown)}")
                index = index.assign(split_hint=index["train-valid"].map(SPLIT_NAMES))
            else:
                index = index.assign(split_hint="train")
            yield self._checked(index[["path", "class_id", "split_hint"]])
        test_path = self.root / TEST
        if test_path.is_file():
            for test in _csv_chunks(test_path, self.chunk_rows):
                missing = {"path", "class_id"} - set(test.columns)
                if missing:
                    raise DataError(f"{test_path}: missing column(s) {sorted(missing)}")
                yield self._checked(test[["path", "class_id"]].assign(split_hint="test"))

    def _checked(self, rows: pd.DataFrame) -> pd.DataFrame:
        try:
            return rows.assign(class_id=rows["class_id"].astype(int))
        except (TypeError, ValueError):
            raise DataError(f"{self.root / INDEX}: class_id must be integers") from None

    def chunks(self) -> Iterator[pd.DataFrame]:
        """Every listed image, `chunk_rows` at a time: index.csv's rows, then test.csv's."""
        for rows in self._rows():
            yield rows.assign(
                character=[
                    f"{cid:0{self.width}d}-{slug(self.names[cid])}" if cid in self.names else f"{cid:0{self.width}d}"
                    for cid in rows["class_id"]
                ],
                universe=rows["class_id"].map(self.universe_of),
                set_nums=[self.set_nums.get(cid, []) for cid in rows["class_id"]],
            )

    def frame(self) -> pd.DataFrame:
        """Every listed image as one table (for small folders: tests, notebooks)."""
        return pd.concat(list(self.chunks()), ignore_index=True)


def read_layout(root: Path) -> pd.DataFrame:
    """Every image the Kaggle-layout folder `root` lists, as one table (`KaggleIndex.frame`)."""
    return KaggleIndex(root).frame()


def ingest(source: Path, target: Path) -> KaggleIndex:
    """Copy a Kaggle-layout folder or zip into `target`: the CSVs and every listed image, nothing else."""
    source = Path(source)
    if source.is_file():
        staging = target.with_name(f".{target.name}.unzipped")
        try:
            root = find_root(extract_zip(source, staging))
            return ingest(root, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if not source.is_dir():
        raise DataError(f"{source}: no such folder or zip")
    root = find_root(source)
    listed = KaggleIndex(root)
    staging = reset_dir(target.with_name(f".{target.name}.partial"))
    for name in (INDEX, TEST, METADATA):
        if (root / name).is_file():
            shutil.copyfile(root / name, staging / name)
    with tqdm(total=len(listed), desc="copy minifigure images", unit="img") as bar:
        for rows in listed.chunks():
            for rel in rows["path"]:
                dest = staging / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(root / rel, dest)
            bar.update(len(rows))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return KaggleIndex(target)

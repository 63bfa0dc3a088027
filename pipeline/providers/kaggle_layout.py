"""Ingestion of the Kaggle minifigures dataset layout, shared by the `local`, `kaggle` and `synthetic` providers.

Accepts both published schemas: the 37-class `index.csv` (`path,class_id`) with a separate `test.csv`,
and the older 31-class `index.csv` (`,path,class_id,train-valid`). `metadata.csv` may be UTF-8 or
Windows-1252. Only CSV-listed images are taken: the class folders also hold unlisted byte-identical
copies (some of test images), which would leak into training.
"""

from __future__ import annotations

import ast
import io
import re
import shutil
import zipfile
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from pipeline.io import DataError, reset_dir

INDEX, TEST, METADATA = "index.csv", "test.csv", "metadata.csv"
SPLIT_NAMES = {"train": "train", "valid": "val", "val": "val", "test": "test"}
EMPTY_LAYOUT = pd.DataFrame(columns=["path", "class_id", "split_hint", "character", "universe", "set_nums"])


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


def _read_csv(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    try:
        return pd.read_csv(io.StringIO(text))
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None


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


def _read_index(root: Path) -> pd.DataFrame:
    path = root / INDEX
    index = _read_csv(path)
    index = index.loc[:, ~index.columns.str.startswith("Unnamed")]
    missing = {"path", "class_id"} - set(index.columns)
    if missing:
        raise DataError(f"{path}: missing column(s) {sorted(missing)} (expected path,class_id[,train-valid])")
    if "train-valid" in index:
        unknown = set(index["train-valid"].dropna()) - set(SPLIT_NAMES)
        if unknown:
            raise DataError(f"{path}: column 'train-valid' has unknown value(s) {sorted(unknown)}")
        index["split_hint"] = index["train-valid"].map(SPLIT_NAMES)
    else:
        index["split_hint"] = "train"
    frames = [index[["path", "class_id", "split_hint"]]]
    test_path = root / TEST
    if test_path.is_file():
        test = _read_csv(test_path)
        missing = {"path", "class_id"} - set(test.columns)
        if missing:
            raise DataError(f"{test_path}: missing column(s) {sorted(missing)}")
        frames.append(test[["path", "class_id"]].assign(split_hint="test"))
    return pd.concat(frames, ignore_index=True)


def read_layout(root: Path) -> pd.DataFrame:
    """One row per listed image: `path` (relative), `class_id`, `split_hint`, `character`, `universe`, `set_nums`."""
    rows = _read_index(root)
    try:
        rows["class_id"] = rows["class_id"].astype(int)
    except (TypeError, ValueError):
        raise DataError(f"{root / INDEX}: class_id must be integers") from None
    absent = [p for p in rows["path"] if not (root / p).is_file()]
    if absent:
        raise DataError(f"{root}: {len(absent)} listed image(s) missing, e.g. {absent[0]}")
    meta = read_metadata(root).set_index("class_id")
    names = meta["minifigure_name"].to_dict()
    width = max(2, len(str(rows["class_id"].max())))
    rows["character"] = [
        f"{cid:0{width}d}-{slug(names[cid])}" if cid in names else f"{cid:0{width}d}" for cid in rows["class_id"]
    ]
    folders = rows.loc[rows["split_hint"] != "test", ["class_id", "path"]]
    universe_of = {
        cid: Path(p).parts[0] for cid, p in zip(folders["class_id"], folders["path"]) if len(Path(p).parts) > 2
    }
    rows["universe"] = rows["class_id"].map(universe_of)
    set_nums = meta["set_nums"].to_dict()
    rows["set_nums"] = [set_nums.get(cid, []) for cid in rows["class_id"]]
    return rows


def ingest(source: Path, target: Path) -> pd.DataFrame:
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
    rows = read_layout(root)
    staging = reset_dir(target.with_name(f".{target.name}.partial"))
    for name in (INDEX, TEST, METADATA):
        if (root / name).is_file():
            shutil.copyfile(root / name, staging / name)
    for rel in tqdm(rows["path"], desc="copy minifigure images", unit="img"):
        dest = staging / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, dest)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return rows

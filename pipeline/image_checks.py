"""Image-level checks before the manifest's expectations: every listed image opened and fully decoded on worker
threads, its real size, mode, bytes and hash set beside what the manifest says (`pipeline.validation` then
expects them to agree)."""

from __future__ import annotations

import hashlib
import io
import math
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image

from pipeline.io import thread_map_chunks

CHECK_COLUMNS = (
    "decodes",
    "actual_width",
    "actual_height",
    "actual_mode",
    "actual_bytes",
    "hash_matches",
    "decode_error",
)


def _check_one(root: Path, rel: Any, expected_sha: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "decodes": False,
        "actual_width": math.nan,
        "actual_height": math.nan,
        "actual_mode": None,
        "actual_bytes": math.nan,
        "hash_matches": False,
        "decode_error": None,
    }
    if not isinstance(rel, str) or not rel:
        out["decode_error"] = "no path"
        return out
    try:
        data = (root / rel).read_bytes()
    except OSError as exc:
        out["decode_error"] = f"{type(exc).__name__}: {exc.strerror or exc}"
        return out
    out["actual_bytes"] = float(len(data))
    out["hash_matches"] = isinstance(expected_sha, str) and hashlib.sha256(data).hexdigest() == expected_sha
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning, EXIF warnings, ...
            with Image.open(io.BytesIO(data)) as im:
                im.load()  # a full decode: truncated or corrupt data raises here
                out["actual_width"], out["actual_height"] = float(im.width), float(im.height)
                out["actual_mode"] = im.mode
        out["decodes"] = True
    except Exception as exc:  # noqa: BLE001 - any decoder failure means "does not decode"
        out["decode_error"] = f"{type(exc).__name__}: {exc}"
    return out


def check_images(chunks: Iterable[pd.DataFrame], root: Path, total: int, threads: int = 4) -> Iterator[pd.DataFrame]:
    """Open and fully decode every image of each chunk of manifest rows (paths relative to `root`), on worker threads
    straight across chunks under one progress bar of `total` images.

    Yields each chunk with `decodes` (bool), `actual_width`, `actual_height`, `actual_bytes` (floats, NaN when
    unknown), `actual_mode` (str or None), `hash_matches` (bool: sha256 of the file's bytes equals the manifest's
    `sha256`) and `decode_error` (None or the error text). A missing file gives decodes False, hash_matches False
    and NaNs.
    """
    root = Path(root)

    def check(row: Any) -> dict[str, Any]:
        return _check_one(root, getattr(row, "path", None), getattr(row, "sha256", None))

    for chunk, results in thread_map_chunks(check, chunks, CHECK_COLUMNS, "check images", total, threads):
        found = pd.DataFrame(results, index=chunk.index)
        found["decodes"] = found["decodes"].astype(bool)
        found["hash_matches"] = found["hash_matches"].astype(bool)
        for col in ("actual_width", "actual_height", "actual_bytes"):
            found[col] = found[col].astype("float64")
        found["actual_mode"] = found["actual_mode"].astype(object)
        found["decode_error"] = found["decode_error"].astype(object)
        checked = chunk.drop(columns=[c for c in CHECK_COLUMNS if c in chunk.columns])
        yield pd.concat([checked, found], axis=1)

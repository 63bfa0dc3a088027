"""Data sources, chosen by `sources.*.provider` in params: each fetches into the same on-disk shapes.

- minifigures → a Kaggle-layout folder (`index.csv`, `test.csv`, `metadata.csv`, class folders);
- sets → `images/<set_num>.jpg` plus a JSON-lines log of BrickInsights-shaped records;
- themes → a Rebrickable catalogue (`sets.csv`, `themes.csv`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from pipeline.io import DataError, list_images, reset_dir, sha256_file, write_text
from pipeline.manifest import SETS_LOG
from pipeline.params import Params
from pipeline.providers import kaggle_layout, synthetic


def _not_available(what: str, provider: str) -> DataError:
    return DataError(
        f"params.yaml: {what}.provider '{provider}' needs the live-service client, which this version does not "
        f"include yet; use 'synthetic' or 'local'"
    )


def fetch_minifigures(params: Params, target: Path) -> pd.DataFrame:
    """Fill `target` with a Kaggle-layout copy of the minifigure photos; returns its listed rows."""
    source = params.sources.minifigures
    if source.provider == "synthetic":
        config = params.synthetic.minifigures
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".render-") as tmp:
            synthetic.render_minifigures(
                Path(tmp),
                classes=config.classes,
                train_per_class=config.train_per_class,
                test_per_class=config.test_per_class,
                image_size=config.image_size,
                seed=params.seed,
            )
            return kaggle_layout.ingest(Path(tmp), target)
    if source.provider == "local":
        return kaggle_layout.ingest(source.resolved_path, target)
    raise _not_available("sources.minifigures", source.provider)


def _local_sets(folder: Path, target: Path) -> list[dict]:
    """A folder of `<set_num>.<ext>` product images, logged like scraped ones."""
    images = reset_dir(target / "images")
    records = []
    for path in tqdm(list_images(folder), desc="copy set images", unit="img"):
        dest = images / f"{path.stem}{path.suffix.lower()}"
        shutil.copyfile(path, dest)
        records.append(
            {"set_id": path.stem, "name": None, "year": None, "image_url": path.as_uri(),
             "image": dest.relative_to(target).as_posix(), "sha256": sha256_file(dest), "status": "ok"}
        )  # fmt: skip
    if not records:
        raise DataError(f"{folder}: no images found (expected <set_num>.jpg files)")
    return records


def fetch_sets(params: Params, target: Path) -> list[dict]:
    """Fill `target/images/` with set images and write `target/sets.jsonl`, one record per set."""
    source = params.sources.sets
    reset_dir(target)
    if source.provider == "synthetic":
        config = params.synthetic.sets
        records = synthetic.render_sets(target, count=config.count, image_height=config.image_height, seed=params.seed)
    elif source.provider == "local":
        records = _local_sets(source.resolved_path, target)
    else:
        raise _not_available("sources.sets", source.provider)
    write_text(target / SETS_LOG, "".join(json.dumps(r) + "\n" for r in records))
    return records


def fetch_catalogue(params: Params) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Rebrickable catalogue `(sets, themes)` used to label sets and minifigures with themes."""
    from pipeline.themes import read_catalogue

    source = params.sources.themes
    if source.provider == "synthetic":
        return synthetic.synthetic_catalogue(params.seed)
    if source.provider == "local":
        return read_catalogue(source.resolved_path)
    raise _not_available("sources.themes", source.provider)

"""Data sources, chosen by `sources.*.provider` in params: each fetches into the same on-disk shapes.

- minifigures → a Kaggle-layout folder (`index.csv`, `test.csv`, `metadata.csv`, class folders);
- sets → `images/<set_num>.jpg` plus a JSON-lines log of BrickInsights-shaped records;
- themes → a Rebrickable catalogue (`sets.csv`, `themes.csv`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from pipeline import paths
from pipeline.io import DataError, list_images, reset_dir, sha256_file, write_text
from pipeline.manifest import SETS_LOG
from pipeline.params import Params
from pipeline.providers import brickinsights, kaggle, kaggle_layout, rebrickable, synthetic
from pipeline.themes import read_catalogue, read_labelled


def _folder_name(path: str) -> str:
    """A local source as its folder (or file) name only: `/home/me/data/lego-minifigures/` → `lego-minifigures`."""
    full = Path(path).expanduser()
    return Path(os.path.normpath(full if full.is_absolute() else paths.PROJECT_ROOT / full)).name


def data_source(params: Params, task: str) -> dict[str, object]:
    """What a task's data is, as recorded in its split report and registered with its models.

    `data_source`: the providers feeding the task, `+`-joined: `synthetic` (the embedded data alone),
    `local:<folder name>`, `kaggle:<dataset>`, `custom:<folder name>` for the minifigure task; the sets'
    (`brickinsights`, `local:<folder name>`) and the catalogue's (`rebrickable`, `local:<folder name>`) for the
    theme task, e.g. `brickinsights+rebrickable`. Only folder names and dataset ids: no path, URL or credential.
    `synthetic`: whether any provider feeding the task renders synthetic data.
    """
    sources = params.sources
    if task == "minifigure":
        figures = sources.minifigures
        parts = {
            "synthetic": ["synthetic"],
            "local": [f"local:{_folder_name(figures.path)}" if figures.path else "local"],
            "kaggle": [f"kaggle:{figures.dataset}"],
            "none": [],  # the custom classes alone
        }[figures.provider]
        providers: list[str] = [figures.provider]
        if sources.custom.path:
            parts.append(f"custom:{_folder_name(sources.custom.path)}")
    elif task == "theme":
        sets, themes = sources.sets, sources.themes
        parts = [
            f"local:{_folder_name(source.path)}" if source.provider == "local" and source.path else source.provider
            for source in (sets, themes)
        ]
        providers = [sets.provider, themes.provider]
    else:
        raise ValueError(f"unknown task {task!r}")
    parts = list(dict.fromkeys(parts))  # synthetic sets and synthetic catalogue: `synthetic`
    return {"data_source": "+".join(parts) or "none", "synthetic": "synthetic" in providers}


def select_set_ids(labelled: pd.DataFrame | None, params: Params) -> list[str]:
    """Which sets to scrape: `ids_file` if given, else catalogue sets filtered by `years` and root `themes`
    (default: every set in a `theme_groups` group), seeded-shuffled and interleaved across theme groups so a
    `max_sets` cap keeps the classes balanced; a larger cap extends the same list (resume-friendly)."""
    settings = params.sources.sets
    if settings.ids_file:
        path = Path(settings.ids_file).expanduser()
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            raise DataError(f"params.yaml: sources.sets.ids_file: {path} not found") from None
        ids = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        return list(dict.fromkeys(ids))[: settings.max_sets]
    assert labelled is not None  # the catalogue is labelled whenever there is no ids_file
    pool = labelled
    if settings.years:
        first, last = settings.years
        pool = pool[pool["year"].between(first, last)]
    # `themes` names root themes; by default every set that `theme_groups` puts in a group (at any theme level)
    pool = pool[pool["theme"].isin(settings.themes)] if settings.themes else pool[pool["theme_group"].notna()]
    if pool.empty:
        raise DataError("params.yaml: sources.sets: no catalogue set matches the years/themes filters")
    shuffled = pool.sample(frac=1, random_state=params.seed)
    rank = shuffled.groupby(shuffled["theme_group"].fillna(shuffled["theme"])).cumcount()
    ordered = shuffled.assign(_rank=rank.to_numpy()).sort_values("_rank", kind="stable")
    return ordered["set_num"].head(settings.max_sets).tolist()


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
        return kaggle_layout.ingest(source.local_path, target)
    if source.provider == "kaggle":
        archive = paths.CACHE / "kaggle" / f"{source.dataset.replace('/', '__')}.zip"
        if not archive.is_file():  # a kept .part is resumed; a complete zip is not fetched again
            kaggle.download(source.dataset, archive, base_url=source.base_url)
        return kaggle_layout.ingest(archive, target)
    reset_dir(target)  # provider "none": the minifigure task is the custom classes alone
    return kaggle_layout.EMPTY_LAYOUT


def copy_custom(params: Params, target: Path) -> int:
    """Copy `sources.custom.path` (`<class name>/<images>`) into `target`; an empty folder when unset."""
    reset_dir(target)
    folder = params.sources.custom.resolved_path
    if folder is None:
        return 0
    images = [p for p in list_images(folder) if p.parent != folder]
    if not images:
        raise DataError(f"{folder}: no images in class subfolders (expected <class name>/<image files>)")
    for path in tqdm(images, desc="copy custom images", unit="img"):
        dest = target / path.relative_to(folder)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    return len(images)


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
    """Fill `target/images/` with set images and `target/sets.jsonl` with one record per set.

    BrickInsights scrapes resume: `target` persists between runs and complete sets are not fetched again; without
    `ids_file`, the sets come from the catalogue stage's labelled sets.
    """
    source = params.sources.sets
    if source.provider == "brickinsights":
        labelled = None if source.ids_file else read_labelled(paths.LABELLED_SETS)  # the catalogue stage's
        return brickinsights.scrape(
            select_set_ids(labelled, params), target, base_url=source.base_url, image_size=source.image_size,
            rate_limit=source.rate_limit, workers=source.workers, timeout=source.timeout, retries=source.retries,
        )  # fmt: skip
    reset_dir(target)
    if source.provider == "synthetic":
        config = params.synthetic.sets
        records = synthetic.render_sets(target, count=config.count, image_height=config.image_height, seed=params.seed)
    else:
        records = _local_sets(source.local_path, target)
    write_text(target / SETS_LOG, "".join(json.dumps(r) + "\n" for r in records))
    return records


def fetch_catalogue(params: Params) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Rebrickable catalogue `(sets, themes)` used to label sets and minifigures with themes."""
    source = params.sources.themes
    if source.provider == "synthetic":
        return synthetic.synthetic_catalogue(params.seed)
    if source.provider == "local":
        return read_catalogue(source.local_path)
    return rebrickable.fetch_catalogue(source.base_url, source.api_url, paths.CACHE / "rebrickable")

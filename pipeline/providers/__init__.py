"""Data sources: `sources.<kind>` in params selects one provider per kind, each fetching into the kind's
on-disk shape, so the rest of the pipeline never knows which one ran:

- minifigures → a Kaggle-layout folder (`index.csv`, `test.csv`, `metadata.csv`, class folders): `minifigures.py`;
- sets → `images/<set_num>.jpg` plus a JSON-lines log of BrickInsights-shaped records: `sets.py`;
- themes → a Rebrickable catalogue (`sets.csv`, `themes.csv`): `catalogue.py`.

The params model of a section (pipeline.source_params) selects the provider class through `PROVIDERS`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pandas as pd
from pydantic import BaseModel
from tqdm import tqdm

from pipeline.io import DataError, list_images, reset_dir
from pipeline.params import Params
from pipeline.providers import catalogue, minifigures, sets
from pipeline.source_params import (
    BrickInsightsSource,
    KaggleSource,
    LocalMinifiguresSource,
    LocalSetsSource,
    LocalThemesSource,
    NoMinifiguresSource,
    RebrickableSource,
    SyntheticMinifiguresSource,
    SyntheticSetsSource,
    SyntheticThemesSource,
    folder_name,
)

Fetched = TypeVar("Fetched", covariant=True)


class Provider(Protocol[Fetched]):
    """One data source, built from its params model and the run's params (`seed`, `synthetic`): it fetches into a
    folder and says what it is.

    One protocol for the three kinds rather than one each, because every source does the same two things and only
    what `fetch` returns differs (the layout's rows, the set records, the catalogue's two tables): the type
    parameter says which, per kind (`MINIFIGURES`, `SETS`, `CATALOGUE`)."""

    @property
    def label(self) -> str | None:
        """What it is in the data-source label (`synthetic`, `local:<folder name>`, `kaggle:<dataset>`,
        `brickinsights`, `rebrickable`; None: no data): never a path, URL or credential."""
        ...

    def fetch(self, target: Path) -> Fetched:
        """Fill `target` in the kind's on-disk shape and return what it holds."""
        ...


Factory = Callable[[Any, Params], Provider[Fetched]]
MINIFIGURES: dict[type[BaseModel], Factory[pd.DataFrame]] = {
    SyntheticMinifiguresSource: minifigures.Synthetic,
    LocalMinifiguresSource: minifigures.Local,
    KaggleSource: minifigures.Kaggle,
    NoMinifiguresSource: minifigures.NoMinifigures,
}
SETS: dict[type[BaseModel], Factory[list[dict]]] = {
    SyntheticSetsSource: sets.Synthetic,
    LocalSetsSource: sets.Local,
    BrickInsightsSource: sets.BrickInsights,
}
CATALOGUE: dict[type[BaseModel], Factory[catalogue.Catalogue]] = {
    SyntheticThemesSource: catalogue.Synthetic,
    LocalThemesSource: catalogue.Local,
    RebrickableSource: catalogue.Rebrickable,
}
PROVIDERS: dict[type[BaseModel], Factory[object]] = {**MINIFIGURES, **SETS, **CATALOGUE}


def provider_for(source: BaseModel, params: Params) -> Provider[object]:
    """The provider a section's params model selects, e.g. `sets.BrickInsights` for `BrickInsightsSource`."""
    return PROVIDERS[type(source)](source, params)


def fetch_minifigures(params: Params, target: Path) -> pd.DataFrame:
    """Fill `target` with a Kaggle-layout copy of the minifigure photos; returns its listed rows."""
    return MINIFIGURES[type(params.sources.minifigures)](params.sources.minifigures, params).fetch(target)


def fetch_sets(params: Params, target: Path) -> list[dict]:
    """Fill `target/images/` with set images and `target/sets.jsonl` with one record per set."""
    return SETS[type(params.sources.sets)](params.sources.sets, params).fetch(target)


def fetch_catalogue(params: Params, target: Path) -> catalogue.Catalogue:
    """Write into `target` the Rebrickable catalogue that labels sets and minifigures with themes; returns its
    `(sets, themes)`."""
    return CATALOGUE[type(params.sources.themes)](params.sources.themes, params).fetch(target)


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


def data_source(params: Params, task: str) -> dict[str, object]:
    """What a task's data is, as recorded in its split report and registered with its models.

    `data_source`: the labels of the providers feeding the task, `+`-joined: the minifigures' (`synthetic`,
    `local:<folder name>`, `kaggle:<dataset>`; none for `none`) and `custom:<folder name>` for the minifigure task;
    the sets' and the catalogue's for the theme task, e.g. `brickinsights+rebrickable`. `synthetic`: whether any
    provider feeding the task renders synthetic data.
    """
    sources = params.sources
    if task == "minifigure":
        labels = [provider_for(sources.minifigures, params).label]
        if sources.custom.path:
            labels.append(f"custom:{folder_name(sources.custom.path)}")
    elif task == "theme":
        labels = [provider_for(sources.sets, params).label, provider_for(sources.themes, params).label]
    else:
        raise ValueError(f"unknown task {task!r}")
    parts = list(dict.fromkeys(label for label in labels if label))  # synthetic sets and catalogue: `synthetic`
    return {"data_source": "+".join(parts) or "none", "synthetic": "synthetic" in parts}

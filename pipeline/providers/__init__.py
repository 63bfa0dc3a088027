"""Data sources: `sources.<kind>` in params selects one provider per kind, each fetching into the kind's
on-disk shape, so the rest of the pipeline never knows which one ran:

- minifigures → a Kaggle-layout folder (`index.csv`, `test.csv`, `metadata.csv`, class folders): `minifigures.py`;
- sets → `images/<set_num>.jpg` plus a JSON-lines log of BrickInsights-shaped records: `sets.py`;
- themes → a Rebrickable catalogue (`sets.csv`, `themes.csv`): `catalogue.py`.

The params model of a section (pipeline.source_params) selects the provider class through `PROVIDERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from pipeline.feedback import collect
from pipeline.io import DataError
from pipeline.params import Params
from pipeline.providers import catalogue, kaggle_layout, minifigures, sets
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
MINIFIGURES: dict[type[BaseModel], Factory[kaggle_layout.KaggleIndex | None]] = {
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


def fetch_minifigures(params: Params, target: Path) -> kaggle_layout.KaggleIndex | None:
    """Fill `target` with a Kaggle-layout copy of the minifigure photos; returns its index (None: no photos)."""
    return MINIFIGURES[type(params.sources.minifigures)](params.sources.minifigures, params).fetch(target)


def fetch_sets(params: Params, target: Path) -> list[dict]:
    """Fill `target/images/` with set images and `target/sets.jsonl` with one record per set."""
    return SETS[type(params.sources.sets)](params.sources.sets, params).fetch(target)


def fetch_catalogue(params: Params, target: Path) -> catalogue.Catalogue:
    """Write into `target` the Rebrickable catalogue that labels sets and minifigures with themes; returns its
    `(sets, themes)`."""
    return CATALOGUE[type(params.sources.themes)](params.sources.themes, params).fetch(target)


def copy_custom(params: Params, target: Path) -> dict[str, dict[str, int]]:
    """Copy `sources.custom.path` (`<task>/<class>/<images>`) into `target`; returns images per class per task.
    A folder named after no declared task is refused (the layout before tasks were declared was `<class>/`)."""
    folder = params.sources.custom.resolved_path
    strays = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in params.tasks and p.name[:1] != ".")
    if strays:
        raise DataError(
            f"{folder / strays[0]}: not a task in tasks ({', '.join(params.tasks)}); "
            "sources.custom.path holds <task>/<class>/<images>"
        )
    return collect(folder, target, list(params.tasks))


def data_source(params: Params, present: Collection[str]) -> dict[str, object]:
    """What a task's data is, as recorded in its split report and registered with its models, from the manifest
    sources `present` in its rows.

    `data_source`: the labels of the providers that fed it, `+`-joined: the minifigures' (`synthetic`,
    `local:<folder name>`, `kaggle:<dataset>`), the sets' and the catalogue's (e.g. `brickinsights+rebrickable`),
    `custom:<folder name>` for your own classes (people's corrections are not a source of their own).
    `synthetic`: whether any provider that fed it renders synthetic data.
    """
    sources = params.sources
    labels = []
    if "minifigures" in present:
        labels.append(provider_for(sources.minifigures, params).label)
    if "sets" in present:
        labels += [provider_for(sources.sets, params).label, provider_for(sources.themes, params).label]
    if "custom" in present:
        labels.append(f"custom:{folder_name(sources.custom.path)}")
    parts = list(dict.fromkeys(label for label in labels if label))  # synthetic sets and catalogue: `synthetic`
    return {"data_source": "+".join(parts) or "none", "synthetic": "synthetic" in parts}

"""The catalogue's providers (`sources.themes.provider`): each writes a Rebrickable catalogue, `sets.csv` and
`themes.csv` in the dump's columns, and returns the two tables `(sets, themes)`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline import paths
from pipeline.io import reset_dir, write_csv
from pipeline.params import Params
from pipeline.providers import rebrickable, synthetic
from pipeline.source_params import LocalThemesSource, RebrickableSource, SyntheticThemesSource, folder_name
from pipeline.themes import read_catalogue

Catalogue = tuple[pd.DataFrame, pd.DataFrame]  # (sets, themes)


def _written(target: Path, catalogue: Catalogue) -> Catalogue:
    sets, themes = catalogue
    reset_dir(target)
    write_csv(target / "sets.csv", sets)
    write_csv(target / "themes.csv", themes)
    return sets, themes


class Synthetic:
    """The catalogue the synthetic sets are drawn from (seeded by `seed`)."""

    label = "synthetic"

    def __init__(self, source: SyntheticThemesSource, params: Params):
        self.seed = params.seed

    def fetch(self, target: Path) -> Catalogue:
        return _written(target, synthetic.synthetic_catalogue(self.seed))


class Local:
    """A Rebrickable dump on this machine (`sets.csv` + `themes.csv`)."""

    def __init__(self, source: LocalThemesSource, params: Params):
        self.source = source

    @property
    def label(self) -> str:
        return f"local:{folder_name(self.source.path)}"

    def fetch(self, target: Path) -> Catalogue:
        return _written(target, read_catalogue(self.source.local_path))


class Rebrickable:
    """The live catalogue: the no-key dumps, or API v3 with `REBRICKABLE_API_KEY`; cached in `data/cache/rebrickable/`."""

    label = "rebrickable"

    def __init__(self, source: RebrickableSource, params: Params):
        self.source = source

    def fetch(self, target: Path) -> Catalogue:
        fetched = rebrickable.fetch_catalogue(self.source.base_url, self.source.api_url, paths.CACHE / "rebrickable")
        return _written(target, fetched)

"""The `sources` section of params.yaml: where each kind of data comes from.

Each kind (`sources.minifigures`, `.sets`, `.themes`) is a union of one model per provider, told apart by
`provider`: a model holds only the keys its provider reads, so another provider's key is an unknown key, and a
section in params.yaml shows only what its provider uses. `pipeline.providers` maps each model to the provider
that fetches it. `Strict` and `project_path`, which every params model uses, live here, below `pipeline.params`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.paths import PROJECT_ROOT


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def project_path(value: str) -> Path:
    """A path from params.yaml: relative ones are relative to the project root, `~` is expanded."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def _existing_path(value: str | None, what: str) -> Path | None:
    if value is None:
        return None
    path = project_path(value)
    if not path.exists():
        raise ValueError(f"{what} does not exist: {path}")
    return path


def folder_name(path: str) -> str:
    """The name of the folder (or file) a path points at: what a data-source label shows, never the path itself
    (`/home/me/data/lego-minifigures/` → `lego-minifigures`)."""
    return Path(os.path.normpath(project_path(path))).name


class SyntheticSource(Strict):
    """Provider `synthetic`: rendered by the project itself (the `synthetic` section says how much); no network."""

    provider: Literal["synthetic"] = "synthetic"


class LocalSource(Strict):
    """Provider `local`: files already on this machine at `path`, which must exist."""

    provider: Literal["local"] = "local"
    path: str

    @field_validator("path")
    @classmethod
    def _path_exists(cls, value: str) -> str:
        _existing_path(value, "path")
        return value

    @property
    def local_path(self) -> Path:
        return project_path(self.path)


class SyntheticMinifiguresSource(SyntheticSource):
    """Rendered minifigures in Kaggle's layout (`synthetic.minifigures`)."""


class LocalMinifiguresSource(LocalSource):
    """`path`: a folder or .zip in Kaggle's layout (`index.csv`, `test.csv`, `metadata.csv`, class folders)."""


class KaggleSource(Strict):
    """The dataset's zip through the Kaggle API (credentials from the environment or ~/.kaggle, never params)."""

    provider: Literal["kaggle"] = "kaggle"
    dataset: str = "ihelon/lego-minifigures-classification"
    base_url: str = "https://www.kaggle.com"  # the API host: a mirror, or a local emulator in tests


class NoMinifiguresSource(Strict):
    """Provider `none`: no minifigure dataset; the minifigure task is the custom classes (`sources.custom`) alone."""

    provider: Literal["none"] = "none"


class SyntheticSetsSource(SyntheticSource):
    """Rendered set box art, logged like scraped sets (`synthetic.sets`)."""


class LocalSetsSource(LocalSource):
    """`path`: a folder of `<set_num>.jpg` product images."""


class BrickInsightsSource(Strict):
    """Set product images scraped from BrickInsights: which sets (`ids_file`, else the labelled catalogue filtered
    by `years` and root `themes`, at most `max_sets`) and how politely (`rate_limit` over all `workers`)."""

    provider: Literal["brickinsights"] = "brickinsights"
    base_url: str = "https://brickinsights.com"
    ids_file: str | None = None  # one set id per line; else the ids come from the catalogue
    max_sets: Annotated[int, Field(ge=1)] = 500
    years: tuple[int, int] | None = None  # [first, last] release years
    themes: list[str] | None = None  # root themes; default: every set in a theme_groups group
    image_size: str = "genericnx400"  # the key of the API's image_urls
    rate_limit: Annotated[float, Field(ge=0)] = 1.0  # requests per second over all workers; 0: unlimited
    workers: Annotated[int, Field(ge=1, le=64)] = 4
    timeout: Annotated[float, Field(gt=0)] = 30.0  # seconds per request
    retries: Annotated[int, Field(ge=0)] = 5  # on 429 (honouring Retry-After), 5xx, timeouts, dropped connections


class SyntheticThemesSource(SyntheticSource):
    """The catalogue the synthetic sets come from (seeded by `seed`)."""


class LocalThemesSource(LocalSource):
    """`path`: a folder with a Rebrickable dump's `sets.csv` and `themes.csv`."""


class RebrickableSource(Strict):
    """The Rebrickable catalogue: the no-key CSV dumps, or API v3 when `REBRICKABLE_API_KEY` is set."""

    provider: Literal["rebrickable"] = "rebrickable"
    base_url: str = "https://cdn.rebrickable.com/media/downloads"  # the dumps
    api_url: str = "https://rebrickable.com/api/v3"


MinifiguresSource = Annotated[
    SyntheticMinifiguresSource | LocalMinifiguresSource | KaggleSource | NoMinifiguresSource,
    Field(discriminator="provider"),
]
SetsSource = Annotated[SyntheticSetsSource | LocalSetsSource | BrickInsightsSource, Field(discriminator="provider")]
ThemesSource = Annotated[SyntheticThemesSource | LocalThemesSource | RebrickableSource, Field(discriminator="provider")]


class CustomSource(Strict):
    """Your own images, `<path>/<task>/<class>/<images>`: classes merged into a task (an Iron Man keyring among the
    minifigures), or the whole data of a task you declare (`tasks.<name>`). Copied by the download stage."""

    path: str = "data/custom"

    @property
    def resolved_path(self) -> Path:
        return project_path(self.path)

    @model_validator(mode="after")
    def _path_is_a_folder(self) -> CustomSource:
        if not self.resolved_path.is_dir():
            raise ValueError(f"not a folder of <task>/<class>/<images>: {self.resolved_path}")
        return self


class FeedbackSource(Strict):
    """People's corrections from the page (`make app`): `<path>/<task>/<class>/<images>`, trained on by `dvc repro`."""

    path: str = "data/feedback"
    enabled: bool = True  # false: the next run trains without them (compare with -S sources.feedback.enabled=false)

    @property
    def resolved_path(self) -> Path:
        return project_path(self.path)


class Sources(Strict):
    minifigures: MinifiguresSource = SyntheticMinifiguresSource()
    sets: SetsSource = SyntheticSetsSource()
    themes: ThemesSource = SyntheticThemesSource()
    custom: CustomSource = CustomSource()
    feedback: FeedbackSource = FeedbackSource()

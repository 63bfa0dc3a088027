"""The minifigure photos' providers (`sources.minifigures.provider`): each fills a folder in Kaggle's layout
(`index.csv`, `test.csv`, `metadata.csv`, class folders) through `kaggle_layout.ingest` and returns its rows."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pipeline import paths
from pipeline.io import reset_dir
from pipeline.params import Params
from pipeline.providers import kaggle, kaggle_layout, synthetic
from pipeline.source_params import (
    KaggleSource,
    LocalMinifiguresSource,
    NoMinifiguresSource,
    SyntheticMinifiguresSource,
    folder_name,
)


class Synthetic:
    """Minifigures the project renders (`synthetic.minifigures`, seeded by `seed`), ingested like a local copy."""

    label = "synthetic"

    def __init__(self, source: SyntheticMinifiguresSource, params: Params):
        self.settings, self.seed = params.synthetic.minifigures, params.seed

    def fetch(self, target: Path) -> kaggle_layout.KaggleIndex | None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".render-") as tmp:
            synthetic.render_minifigures(
                Path(tmp),
                classes=self.settings.classes,
                train_per_class=self.settings.train_per_class,
                test_per_class=self.settings.test_per_class,
                image_size=self.settings.image_size,
                seed=self.seed,
            )
            return kaggle_layout.ingest(Path(tmp), target)


class Local:
    """A copy of the Kaggle dataset on this machine: a folder or the `.zip` Kaggle serves."""

    def __init__(self, source: LocalMinifiguresSource, params: Params):
        self.source = source

    @property
    def label(self) -> str:
        return f"local:{folder_name(self.source.path)}"

    def fetch(self, target: Path) -> kaggle_layout.KaggleIndex | None:
        return kaggle_layout.ingest(self.source.local_path, target)


class Kaggle:
    """The dataset's zip from the Kaggle API, kept in `data/cache/kaggle/` (a partial one resumes, a complete one is
    not fetched again)."""

    def __init__(self, source: KaggleSource, params: Params):
        self.source = source

    @property
    def label(self) -> str:
        return f"kaggle:{self.source.dataset}"

    def fetch(self, target: Path) -> kaggle_layout.KaggleIndex | None:
        archive = paths.CACHE / "kaggle" / f"{self.source.dataset.replace('/', '__')}.zip"
        if not archive.is_file():
            kaggle.download(self.source.dataset, archive, base_url=self.source.base_url)
        return kaggle_layout.ingest(archive, target)


class NoMinifigures:
    """No minifigure dataset: the task is the custom classes alone (`sources.custom`), so the folder stays empty."""

    label = None

    def __init__(self, source: NoMinifiguresSource, params: Params):
        pass

    def fetch(self, target: Path) -> kaggle_layout.KaggleIndex | None:
        reset_dir(target)
        return None

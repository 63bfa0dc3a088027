"""The set images' providers (`sources.sets.provider`): each fills `images/<set_num>.<ext>` and a JSON-lines log
(`sets.jsonl`) of BrickInsights-shaped records, one per set, and returns the records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tqdm import tqdm

from pipeline import paths
from pipeline.io import DataError, list_images, reset_dir, sha256_file, write_text
from pipeline.manifest import SETS_LOG
from pipeline.params import Params
from pipeline.providers import brickinsights, synthetic
from pipeline.source_params import BrickInsightsSource, LocalSetsSource, SyntheticSetsSource, folder_name
from pipeline.themes import read_labelled


def _write_log(target: Path, records: list[dict]) -> list[dict]:
    write_text(target / SETS_LOG, "".join(json.dumps(r) + "\n" for r in records))
    return records


class Synthetic:
    """Box art the project renders (`synthetic.sets`, seeded by `seed`) for sets of the synthetic catalogue."""

    label = "synthetic"

    def __init__(self, source: SyntheticSetsSource, params: Params):
        self.settings, self.seed = params.synthetic.sets, params.seed

    def fetch(self, target: Path) -> list[dict]:
        reset_dir(target)
        records = synthetic.render_sets(
            target, count=self.settings.count, image_height=self.settings.image_height, seed=self.seed
        )
        return _write_log(target, records)


class Local:
    """A folder of `<set_num>.<ext>` product images, copied and logged like scraped ones."""

    def __init__(self, source: LocalSetsSource, params: Params):
        self.source = source

    @property
    def label(self) -> str:
        return f"local:{folder_name(self.source.path)}"

    def fetch(self, target: Path) -> list[dict]:
        folder = self.source.local_path
        images = reset_dir(target) / "images"
        images.mkdir()
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
        return _write_log(target, records)


class BrickInsights:
    """Scraped from BrickInsights, resumably: `target` persists between runs and complete sets are not fetched
    again. Which sets: `ids_file`, else the catalogue stage's labelled sets (`labelled`), filtered and capped."""

    label = "brickinsights"

    def __init__(self, source: BrickInsightsSource, params: Params, labelled: Path = paths.LABELLED_SETS):
        self.source, self.seed, self.labelled = source, params.seed, labelled

    def fetch(self, target: Path) -> list[dict]:
        source = self.source
        return brickinsights.scrape(
            self.set_ids(), target, base_url=source.base_url, image_size=source.image_size,
            rate_limit=source.rate_limit, workers=source.workers, timeout=source.timeout, retries=source.retries,
        )  # fmt: skip

    def set_ids(self) -> list[str]:
        """`ids_file` if given, else catalogue sets filtered by `years` and root `themes` (default: every set in a
        `theme_groups` group), seeded-shuffled and interleaved across theme groups so a `max_sets` cap keeps the
        classes balanced; a larger cap extends the same list (resume-friendly)."""
        source = self.source
        if source.ids_file:
            path = Path(source.ids_file).expanduser()
            try:
                lines = path.read_text().splitlines()
            except FileNotFoundError:
                raise DataError(f"params.yaml: sources.sets.ids_file: {path} not found") from None
            ids = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
            return list(dict.fromkeys(ids))[: source.max_sets]
        pool = read_labelled(self.labelled)
        if source.years:
            first, last = source.years
            pool = pool[pool["year"].between(first, last)]
        # `themes` names root themes; by default every set that `theme_groups` puts in a group (at any theme level)
        pool = pool[pool["theme"].isin(source.themes)] if source.themes else pool[pool["theme_group"].notna()]
        if pool.empty:
            raise DataError("params.yaml: sources.sets: no catalogue set matches the years/themes filters")
        shuffled = pool.sample(frac=1, random_state=self.seed)
        rank = shuffled.groupby(shuffled["theme_group"].fillna(shuffled["theme"])).cumcount()
        ordered = shuffled.assign(_rank=rank.to_numpy()).sort_values("_rank", kind="stable")
        return ordered["set_num"].head(source.max_sets).tolist()

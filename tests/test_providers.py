"""Each section's params model selects one provider class, which fetches in the kind's on-disk shape."""

from __future__ import annotations

import json
from typing import get_args

import pandas as pd
import pytest
import yaml
from PIL import Image

from pipeline import params, source_params
from pipeline.manifest import SETS_LOG
from pipeline.paths import PROJECT_ROOT
from pipeline.providers import CATALOGUE, MINIFIGURES, SETS, catalogue, minifigures, provider_for, sets
from pipeline.themes import label_sets, write_labelled


def load(tmp_path, **sections) -> params.Params:
    raw = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    raw["sources"].update(sections)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return params.load(path)


@pytest.mark.parametrize(
    ("kind", "section", "provider"),
    [
        ("minifigures", {"provider": "synthetic"}, minifigures.Synthetic),
        ("minifigures", {"provider": "local", "path": "."}, minifigures.Local),
        ("minifigures", {"provider": "kaggle"}, minifigures.Kaggle),
        ("minifigures", {"provider": "none"}, minifigures.NoMinifigures),
        ("sets", {"provider": "synthetic"}, sets.Synthetic),
        ("sets", {"provider": "local", "path": "."}, sets.Local),
        ("sets", {"provider": "brickinsights"}, sets.BrickInsights),
        ("themes", {"provider": "synthetic"}, catalogue.Synthetic),
        ("themes", {"provider": "local", "path": "."}, catalogue.Local),
        ("themes", {"provider": "rebrickable"}, catalogue.Rebrickable),
    ],
)
def test_the_params_select_the_provider_class(tmp_path, kind, section, provider):
    config = load(tmp_path, **{kind: section})
    assert type(provider_for(getattr(config.sources, kind), config)) is provider


@pytest.mark.parametrize(
    ("union", "registry"),
    [
        (source_params.MinifiguresSource, MINIFIGURES),
        (source_params.SetsSource, SETS),
        (source_params.ThemesSource, CATALOGUE),
    ],
)
def test_every_model_of_a_kind_has_a_provider_of_that_kind(union, registry):
    members = get_args(get_args(union)[0])  # Annotated[A | B | …, Field(discriminator=…)]
    assert set(registry) == set(members)


def test_labels_name_folders_and_datasets_only(tmp_path):
    (folder := tmp_path / "private" / "set-photos").mkdir(parents=True)
    config = load(
        tmp_path,
        minifigures={"provider": "kaggle", "dataset": "someone/figures", "base_url": "https://u:secret@mirror.example"},
        sets={"provider": "local", "path": f"{folder}/"},
        themes={"provider": "rebrickable", "api_url": "https://u:secret@mirror.example/api"},
    )
    labels = [provider_for(getattr(config.sources, kind), config).label for kind in ("minifigures", "sets", "themes")]
    assert labels == ["kaggle:someone/figures", "local:set-photos", "rebrickable"]


def picked(tmp_path, **section) -> list[str]:
    """The set ids BrickInsights would scrape, from ten labelled catalogue sets written as the catalogue stage writes
    them: `n-1` from 1991 + n - 1, theme Duplo (Young Children) for n % 3 == 1, Gear (in no group) for n % 3 == 2,
    Technic (Technic/Bionicle) for n % 3 == 0."""
    themes = pd.DataFrame({"id": [1, 2, 3], "name": ["Technic", "Duplo", "Gear"], "parent_id": [None, None, None]})
    rows = [(f"{n}-1", f"Set {n}", 1990 + n, 1 + n % 3, 10) for n in range(1, 11)]
    catalogue_sets = pd.DataFrame(rows, columns=["set_num", "name", "year", "theme_id", "num_parts"])
    groups = {"Technic/Bionicle": ["Technic"], "Young Children": ["Duplo"]}
    write_labelled(tmp_path / "labelled_sets.csv", label_sets(catalogue_sets, themes, groups))
    config = load(tmp_path, sets={"provider": "brickinsights", **section})
    return sets.BrickInsights(config.sources.sets, config, labelled=tmp_path / "labelled_sets.csv").set_ids()


def test_brickinsights_picks_sets_from_the_labelled_catalogue(tmp_path):
    four = picked(tmp_path, max_sets=4)  # interleaved across the groups: two of each, Gear's never
    assert len(four) == 4 and sum(int(s.split("-")[0]) % 3 == 0 for s in four) == 2
    assert not any(int(s.split("-")[0]) % 3 == 2 for s in four)
    assert four == picked(tmp_path, max_sets=6)[:4]  # a larger cap extends the same list (a scrape resumes)
    assert sorted(picked(tmp_path, years=[1991, 1993])) == ["1-1", "3-1"]
    assert sorted(picked(tmp_path, themes=["Duplo"])) == ["1-1", "10-1", "4-1", "7-1"]
    (ids := tmp_path / "ids.txt").write_text("# wanted\n8-1\n3-1\n8-1\n5-1\n")
    assert picked(tmp_path, ids_file=str(ids), max_sets=2) == ["8-1", "3-1"]


def test_local_sets_are_copied_and_logged_like_scraped_ones(tmp_path):
    (photos := tmp_path / "photos").mkdir()
    for set_num in ("7078-1", "8684-2"):
        Image.new("RGB", (40, 30), (200, 30, 30)).save(photos / f"{set_num}.JPG")
    config = load(tmp_path, sets={"provider": "local", "path": str(photos)})
    records = sets.Local(config.sources.sets, config).fetch(tmp_path / "out")
    logged = [json.loads(line) for line in (tmp_path / "out" / SETS_LOG).read_text().splitlines()]
    assert logged == records and [r["image"] for r in records] == ["images/7078-1.jpg", "images/8684-2.jpg"]
    assert all((tmp_path / "out" / r["image"]).is_file() and r["status"] == "ok" for r in records)


def test_a_catalogue_is_written_as_the_dumps_columns(tmp_path):
    config = load(tmp_path)
    fetched_sets, fetched_themes = catalogue.Synthetic(config.sources.themes, config).fetch(tmp_path / "catalogue")
    assert sorted(p.name for p in (tmp_path / "catalogue").iterdir()) == ["sets.csv", "themes.csv"]
    assert len(pd.read_csv(tmp_path / "catalogue" / "sets.csv")) == len(fetched_sets) > 0
    assert len(pd.read_csv(tmp_path / "catalogue" / "themes.csv")) == len(fetched_themes) > 0

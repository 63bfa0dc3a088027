"""The data source a task's models are registered with: short, from params and the sources present in the task's
rows, never a path, URL or credential."""

from __future__ import annotations

import yaml

from pipeline import params
from pipeline.paths import PROJECT_ROOT
from pipeline.providers import data_source

FIGURES, SETS = {"minifigures"}, {"sets"}  # manifest sources in a task's rows


def load(tmp_path, **sources) -> params.Params:
    raw = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    for key, values in sources.items():
        raw["sources"][key].update(values)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return params.load(path)


def test_default_data_is_synthetic_for_both_tasks():
    config = params.load()
    for present in ({"minifigures"}, {"sets", "feedback"}):
        assert data_source(config, present) == {"data_source": "synthetic", "synthetic": True}


def test_minifigure_sources(tmp_path):
    photos = tmp_path / "private" / "lego-minifigures"
    (custom := tmp_path / "my-keyrings").mkdir()
    photos.mkdir(parents=True)
    local = load(tmp_path, minifigures={"provider": "local", "path": f"{photos}/"})
    assert data_source(local, FIGURES) == {"data_source": "local:lego-minifigures", "synthetic": False}
    kaggle = load(
        tmp_path,
        minifigures={"provider": "kaggle", "base_url": "https://user:secret@mirror.example"},
        custom={"path": str(custom)},
    )
    assert data_source(kaggle, FIGURES | {"custom"}) == {
        "data_source": "kaggle:ihelon/lego-minifigures-classification+custom:my-keyrings",
        "synthetic": False,
    }
    custom_only = load(tmp_path, minifigures={"provider": "none"}, custom={"path": str(custom)})
    assert data_source(custom_only, {"custom"}) == {"data_source": "custom:my-keyrings", "synthetic": False}
    with_synthetic = load(tmp_path, custom={"path": str(custom)})
    assert data_source(with_synthetic, FIGURES | {"custom"}) == {
        "data_source": "synthetic+custom:my-keyrings",
        "synthetic": True,
    }
    for config in (local, kaggle):
        assert "secret" not in str(data_source(config, FIGURES | {"custom"})) and "private" not in str(
            data_source(config, FIGURES | {"custom"})
        )


def test_theme_sources(tmp_path):
    (photos := tmp_path / "set-photos").mkdir()
    (dump := tmp_path / "rebrickable-2021").mkdir()
    live = load(tmp_path, sets={"provider": "brickinsights"}, themes={"provider": "rebrickable"})
    assert data_source(live, SETS) == {"data_source": "brickinsights+rebrickable", "synthetic": False}
    local = load(
        tmp_path, sets={"provider": "local", "path": str(photos)}, themes={"provider": "local", "path": str(dump)}
    )
    assert data_source(local, SETS) == {"data_source": "local:set-photos+local:rebrickable-2021", "synthetic": False}
    mixed = load(tmp_path, themes={"provider": "rebrickable"})
    assert data_source(mixed, SETS) == {"data_source": "synthetic+rebrickable", "synthetic": True}


def test_a_task_of_your_own_is_its_folder(tmp_path):
    (mine := tmp_path / "my-bricks").mkdir()
    assert data_source(load(tmp_path, custom={"path": str(mine)}), {"custom", "feedback"}) == {
        "data_source": "custom:my-bricks", "synthetic": False,
    }  # fmt: skip

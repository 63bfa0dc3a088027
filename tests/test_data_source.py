"""The data source a task's models are registered with: short, from params, never a path, URL or credential."""

from __future__ import annotations

import yaml

from pipeline import params
from pipeline.paths import PROJECT_ROOT
from pipeline.providers import data_source


def load(tmp_path, **sources) -> params.Params:
    raw = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    for key, values in sources.items():
        raw["sources"][key].update(values)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return params.load(path)


def test_default_data_is_synthetic_for_both_tasks():
    config = params.load()
    for task in ("minifigure", "theme"):
        assert data_source(config, task) == {"data_source": "synthetic", "synthetic": True}


def test_minifigure_sources(tmp_path):
    photos = tmp_path / "private" / "lego-minifigures"
    (custom := tmp_path / "my-keyrings").mkdir()
    photos.mkdir(parents=True)
    local = load(tmp_path, minifigures={"provider": "local", "path": f"{photos}/"})
    assert data_source(local, "minifigure") == {"data_source": "local:lego-minifigures", "synthetic": False}
    kaggle = load(
        tmp_path,
        minifigures={"provider": "kaggle", "base_url": "https://user:secret@mirror.example"},
        custom={"path": str(custom)},
    )
    assert data_source(kaggle, "minifigure") == {
        "data_source": "kaggle:ihelon/lego-minifigures-classification+custom:my-keyrings",
        "synthetic": False,
    }
    custom_only = load(tmp_path, minifigures={"provider": "none"}, custom={"path": str(custom)})
    assert data_source(custom_only, "minifigure") == {"data_source": "custom:my-keyrings", "synthetic": False}
    with_synthetic = load(tmp_path, custom={"path": str(custom)})
    assert data_source(with_synthetic, "minifigure") == {
        "data_source": "synthetic+custom:my-keyrings",
        "synthetic": True,
    }
    for config in (local, kaggle):
        assert "secret" not in str(data_source(config, "minifigure")) and "private" not in str(
            data_source(config, "minifigure")
        )


def test_theme_sources(tmp_path):
    (photos := tmp_path / "set-photos").mkdir()
    (dump := tmp_path / "rebrickable-2021").mkdir()
    live = load(tmp_path, sets={"provider": "brickinsights"}, themes={"provider": "rebrickable"})
    assert data_source(live, "theme") == {"data_source": "brickinsights+rebrickable", "synthetic": False}
    local = load(
        tmp_path, sets={"provider": "local", "path": str(photos)}, themes={"provider": "local", "path": str(dump)}
    )
    assert data_source(local, "theme") == {"data_source": "local:set-photos+local:rebrickable-2021", "synthetic": False}
    mixed = load(tmp_path, themes={"provider": "rebrickable"})
    assert data_source(mixed, "theme") == {"data_source": "synthetic+rebrickable", "synthetic": True}

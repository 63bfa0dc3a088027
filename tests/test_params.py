"""params.yaml is validated once, with one-line errors that name the key at fault."""

from __future__ import annotations

import pytest
import yaml

from pipeline import params
from pipeline.paths import PROJECT_ROOT


def write(tmp_path, change) -> str:
    raw = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    change(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def error(tmp_path, change) -> str:
    with pytest.raises(params.ParamsError) as caught:
        params.load(write(tmp_path, change))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_project_params_are_valid_and_default_to_synthetic_data():
    loaded = params.load()
    assert loaded.sources.minifigures.provider == "synthetic"
    assert loaded.sources.sets.provider == "synthetic"
    assert loaded.sources.themes.provider == "synthetic"
    assert loaded.tasks == ["minifigure", "theme"]
    assert loaded.train.device == "auto"


def test_unknown_key_is_named(tmp_path):
    message = error(tmp_path, lambda p: p["train"].update(epoch=3))
    assert "train.epoch" in message and "unknown key" in message


def test_wrong_type_is_named(tmp_path):
    message = error(tmp_path, lambda p: p["train"].update(epochs="ten"))
    assert "train.epochs" in message


def test_local_provider_needs_an_existing_path(tmp_path):
    def local(p):
        p["sources"]["minifigures"].update(provider="local", path=str(tmp_path / "nowhere"))

    message = error(tmp_path, local)
    assert "sources.minifigures" in message and "nowhere" in message


def test_unknown_provider_is_named(tmp_path):
    message = error(tmp_path, lambda p: p["sources"]["sets"].update(provider="lego.com"))
    assert "sources.sets.provider" in message


def test_missing_weights_file_fails_at_once(tmp_path):
    message = error(tmp_path, lambda p: p["train"].update(model=str(tmp_path / "missing.pt")))
    assert "train.model" in message and "missing.pt" in message


def test_predict_input_must_match_tasks(tmp_path):
    message = error(tmp_path, lambda p: p.update(tasks=["minifigure"]))
    assert "predict" in message


def test_device_accepts_cpu_index_and_list(tmp_path):
    for device in ("cpu", 0, [0, 1], "0,1"):
        assert params.load(write(tmp_path, lambda p, d=device: p["train"].update(device=d))).train.device == device


def test_invalid_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(params.ParamsError, match="not valid YAML"):
        params.load(bad)
    with pytest.raises(params.ParamsError, match="file not found"):
        params.load(tmp_path / "absent.yaml")

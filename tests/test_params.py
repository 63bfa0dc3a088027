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
    assert list(loaded.tasks) == ["minifigure", "theme"]
    assert loaded.tasks == params.DEFAULT_TASKS  # the declarations in params.yaml are the model's defaults
    assert loaded.train["minifigure"].device == "auto"
    for task in loaded.tasks:  # the real-photo recipe: the packaged ImageNet backbone, nothing downloaded
        assert loaded.train_for(task).model == "efficientnet-lite0"


def test_unknown_key_is_named(tmp_path):
    message = error(tmp_path, lambda p: p["train"]["theme"].update(epoch=3))
    assert "train.theme.epoch" in message and "unknown key" in message


def test_wrong_type_is_named(tmp_path):
    message = error(tmp_path, lambda p: p["train"]["minifigure"].update(epochs="ten"))
    assert "train.minifigure.epochs" in message


def test_local_provider_needs_an_existing_path(tmp_path):
    def local(p):
        p["sources"]["minifigures"].update(provider="local", path=str(tmp_path / "nowhere"))

    message = error(tmp_path, local)
    assert "sources.minifigures" in message and "nowhere" in message


def test_unknown_provider_is_named(tmp_path):
    message = error(tmp_path, lambda p: p["sources"]["sets"].update(provider="lego.com"))
    assert "sources.sets.provider" in message


def test_missing_weights_file_fails_at_once(tmp_path):
    message = error(tmp_path, lambda p: p["train"]["minifigure"].update(model=str(tmp_path / "missing.pt")))
    assert "train.minifigure.model" in message and "missing.pt" in message


def test_unknown_backbone_name_is_named(tmp_path):
    message = error(tmp_path, lambda p: p["train"]["theme"].update(model="efficientnet-b7"))
    assert "train.theme.model" in message and "efficientnet-lite0" in message


def test_predict_input_must_match_tasks(tmp_path):
    def minifigure_only(p):
        for section in (p["tasks"], p["train"], p["pretrain"]):
            del section["theme"]

    message = error(tmp_path, minifigure_only)
    assert "predict" in message


def test_a_declared_task_needs_its_own_sections(tmp_path):
    message = error(tmp_path, lambda p: p["tasks"].update(bricks={}))
    assert message.endswith("train: no section for task 'bricks' (every task in tasks needs train.<task>)")
    message = error(tmp_path, lambda p: p["pretrain"].update(bricks=None))
    assert message.endswith("pretrain.bricks: not a task in tasks ['minifigure', 'theme']")


def test_a_task_is_declared_once_and_its_defaults_filled_in(tmp_path):
    def bricks(p):
        p["tasks"]["bricks"] = {}
        p["train"]["bricks"] = {"epochs": 3}
        p["pretrain"]["bricks"] = None
        p["predict"]["input"]["bricks"] = "data/yolo/bricks/test"

    loaded = params.load(write(tmp_path, bricks))
    task = loaded.task("bricks")
    assert (task.label, task.sources, task.group, task.pretraining) == ("bricks", ["custom", "feedback"], None, None)
    assert loaded.task("minifigure").label == "character" and loaded.task("minifigure").group == "universe"
    with pytest.raises(params.ParamsError, match=r"^params.yaml: tasks: no task 'brick' \(declared: .*bricks"):
        loaded.task("brick")


def test_pretraining_needs_a_renderer_and_a_task_name_a_folder(tmp_path):
    def bricks(p):
        p["tasks"]["bricks"] = {}
        p["train"]["bricks"] = {}
        p["pretrain"]["bricks"] = {"per_class": 10}
        p["predict"]["input"]["bricks"] = "data/yolo/bricks/test"

    assert error(tmp_path, bricks).endswith(
        "pretrain.bricks: task 'bricks' declares no pretraining renderer (tasks.bricks.pretraining)"
    )
    assert "tasks.My Bricks" in error(tmp_path, lambda p: p["tasks"].update({"My Bricks": {}}))


def test_device_accepts_cpu_index_and_list(tmp_path):
    for device in ("cpu", 0, [0, 1], "0,1"):
        changed = params.load(write(tmp_path, lambda p, d=device: p["train"]["theme"].update(device=d)))
        assert changed.train["theme"].device == device


def test_invalid_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(params.ParamsError, match="not valid YAML"):
        params.load(bad)
    with pytest.raises(params.ParamsError, match="file not found"):
        params.load(tmp_path / "absent.yaml")


def test_a_test_fold_outside_the_folds_is_named(tmp_path):
    message = error(tmp_path, lambda p: p["split"].update(folds=5, test_fold=5))
    assert "split" in message and "test_fold 5 is not one of the 5 folds (0 to 4)" in message

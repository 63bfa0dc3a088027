"""Ultralytics classification training, with per-epoch metrics streamed to the active MLflow run."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from pipeline import paths, tracking
from pipeline.io import DataError, list_images
from pipeline.params import SYNTHETIC_PRETRAIN, Device, Params, Train
from pipeline.records import SplitReport


@dataclass(frozen=True)
class TrainResult:
    save_dir: Path
    best: Path
    weights: Path  # the model: best.pt, or last.pt after a refit (whose validation images are in train)
    onnx: Path  # its ONNX export beside it, what evaluate, the pyfunc and predict run
    results_csv: Path
    train_images: int
    epochs_run: int
    val_top1: float
    val_top5: float


def resolve_device(device: Device) -> str | int | list[int]:
    """`auto` → every visible CUDA GPU (a list when several), else the CPU."""
    if device != "auto":
        return device
    import torch

    count = torch.cuda.device_count()
    if count > 1:
        return list(range(count))
    return 0 if count == 1 else "cpu"


def train_args(settings: Train, dataset: Path, save_dir: Path, seed: int, refit: bool = False) -> dict:
    """The exact arguments given to Ultralytics' trainer (the benchmark reuses them for the plain run)."""
    return {
        "model": resolve_model(settings.model),
        "data": str(dataset),
        "epochs": settings.epochs,
        "imgsz": settings.imgsz,
        "batch": settings.batch,
        "device": resolve_device(settings.device),
        "workers": settings.workers,
        "patience": 0 if refit else settings.patience,  # 0: no early stopping on an in-sample score
        "optimizer": settings.optimizer,
        "lr0": settings.lr0,
        "seed": seed,
        "deterministic": True,
        "project": str(save_dir.parent),
        "name": save_dir.name,
        "exist_ok": True,
        **settings.overrides,
    }


PRETRAINED_DIR = paths.MODELS / "pretrained"
DOWNLOAD_HOST = ("github.com", 443)


def reachable(address: tuple[str, int], timeout: float = 3.0) -> bool:
    try:
        socket.create_connection(address, timeout=timeout).close()
    except OSError:
        return False
    return True


def resolve_model(model: str, weights_dir: Path = PRETRAINED_DIR, probe: tuple[str, int] = DOWNLOAD_HOST) -> str:
    """What to give the trainer: a packaged backbone name, a YAML or a local file as is; an Ultralytics release name
    from `weights_dir`, downloaded there first when the network allows — offline that fails at once, not after retries."""
    from pipeline.backbones import BACKBONES

    if model in BACKBONES or model.endswith(".yaml") or Path(model).is_file():
        return model
    from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES, attempt_download_asset

    if model not in GITHUB_ASSETS_NAMES:
        raise DataError(
            f"params.yaml: train.<task>.model {model!r} is neither a local file nor an Ultralytics release asset"
        )
    target = weights_dir / model
    if target.is_file():
        return str(target)
    if not reachable(probe):
        raise DataError(
            f"params.yaml: train.<task>.model {model!r} must be downloaded from {probe[0]}, which is unreachable; "
            f"put the file at {target} or use a model YAML to train from scratch"
        )
    weights_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "0"  # the user asked for these weights and the network is there
    try:
        return attempt_download_asset(str(target))
    finally:
        os.environ["YOLO_OFFLINE"] = "1"


def epoch_logger(log_metrics):
    """An Ultralytics `on_fit_epoch_end` callback: losses, val metrics and learning rates per epoch.

    Ultralytics fires the event once more after training, for the final validation of `best.pt`;
    that one is logged as `best/...` metrics rather than as an extra epoch.
    """
    training_done = False

    def on_fit_epoch_end(trainer) -> None:
        nonlocal training_done
        if training_done:
            log_metrics(
                {tracking.metric_name(f"best/{k}"): float(v) for k, v in trainer.metrics.items()}, step=trainer.epoch
            )
            return
        metrics = {
            **trainer.label_loss_items(trainer.tloss, prefix="train"),
            **trainer.metrics,
            **{f"lr/{k}": v for k, v in trainer.lr.items()},
        }
        log_metrics({tracking.metric_name(k): float(v) for k, v in metrics.items()}, step=trainer.epoch + 1)
        training_done = bool(trainer.stop)

    return on_fit_epoch_end


def ram_cache(cache: object, files: list[Path], available: int | None = None) -> object:
    """`cache` as given, but `False` instead of `ram` (or `true`) where the train and val images `files`, decoded,
    would take more than half the memory `available` (default: what the machine has free). Ultralytics' classification
    dataset decodes every image into RAM without checking (its detection datasets check), so a cache that suits a
    few hundred pictures would run a hundred thousand out of memory; from disk, training reads the same images."""
    if not (cache is True or str(cache).lower() == "ram"):
        return cache
    from PIL import Image

    sample = files[:: max(1, len(files) // 32)]
    sizes = []
    for path in sample:
        try:
            with Image.open(path) as image:  # the header only: width and height
                sizes.append(image.width * image.height * 3)  # decoded as 8-bit BGR
        except OSError:  # Ultralytics' own scan reports and skips an unreadable image
            continue
    needed = sum(sizes) / max(1, len(sizes)) * len(files)
    if available is None:
        import psutil

        available = psutil.virtual_memory().available
    if needed <= available / 2:
        return cache
    print(
        f"train: {len(files)} images decoded would take about {needed / 2**30:.1f} GB, over half the "
        f"{available / 2**30:.1f} GB free: read from disk instead of `cache: {cache}` (train.<task>.overrides)"
    )
    return False


def train(
    settings: Train, dataset: Path, save_dir: Path, seed: int, log_metrics=None, refit: bool = False
) -> TrainResult:
    """Train `settings.model` on `dataset/{train,val}` and leave Ultralytics' run folder in `save_dir`.

    `refit` (the split put the validation images in train too): validation is in-sample, so neither early
    stopping nor best-epoch selection can use it; the whole schedule runs and `last.pt` is the model.
    """
    if not (dataset / "train").is_dir() or not (dataset / "val").is_dir():
        raise DataError(f"{dataset}: expected train/ and val/ folders (run the split stage first)")
    from pipeline import offline
    from pipeline.backbones import BackboneTrainer

    offline.ultralytics()
    from ultralytics.cfg import get_cfg

    train_files = list_images(dataset / "train")
    args = train_args(settings, dataset, save_dir, seed, refit)
    if "cache" in args:
        args["cache"] = ram_cache(args["cache"], [*train_files, *list_images(dataset / "val")])
    try:
        get_cfg(overrides=args)  # the trainer's own check of its arguments, before it creates anything
    except (SyntaxError, TypeError, ValueError) as exc:  # an unknown argument; a value of the wrong type or range
        raise DataError(f"train.<task>.overrides: {str(exc).strip().splitlines()[0]}") from None
    trainer = BackboneTrainer(overrides=args)
    if log_metrics is not None:
        trainer.add_callback("on_fit_epoch_end", epoch_logger(log_metrics))
    try:
        trainer.train()
    except FileNotFoundError as exc:
        raise DataError(f"train.<task>.model {settings.model!r}: {str(exc).splitlines()[0]}") from None
    from pipeline.onnx_model import export

    weights = Path(trainer.last if refit else trainer.best)
    metrics = cast(dict[str, float], trainer.metrics)  # Ultralytics declares it None until training fills it
    return TrainResult(
        save_dir=Path(trainer.save_dir),
        best=Path(trainer.best),
        weights=weights,
        onnx=export(weights, weights.with_suffix(".onnx")),
        results_csv=Path(trainer.csv),
        train_images=len(train_files),
        epochs_run=len(Path(trainer.csv).read_text().splitlines()) - 1,  # one results.csv row per epoch
        val_top1=float(metrics.get("metrics/accuracy_top1", float("nan"))),
        val_top5=float(metrics.get("metrics/accuracy_top5", float("nan"))),
    )


def member_dir(save_dir: Path, member: int) -> Path:
    """Member 0 trains in `save_dir` itself, so a single model keeps Ultralytics' usual layout; others in `members/<i>`."""
    return save_dir if member == 0 else save_dir / "members" / str(member)


def ensemble_scores(members: list[TrainResult], dataset: Path, batch: int) -> tuple[float, float]:
    """Validation top-1 and top-5 of the members' mean probabilities; Ultralytics' own scores of a single best.pt."""
    if len(members) == 1 and members[0].weights == members[0].best:
        return members[0].val_top1, members[0].val_top5
    from pipeline.evaluation import labelled_images, top_k_accuracy
    from pipeline.onnx_model import OnnxClassifier

    ensemble = OnnxClassifier([m.onnx for m in members])
    val = labelled_images(dataset / "val")
    probs = ensemble.probabilities(list(val["path"]), batch, progress="ensemble val")
    y_true = val["label"].map(ensemble.names.index).to_numpy()
    return top_k_accuracy(y_true, probs, 1), top_k_accuracy(y_true, probs, 5)


def resolved(settings: Train, task: str) -> Train:
    """`settings` with `model: synthetic-pretrain` made the file it means: pretrain@<task>'s weights."""
    if settings.model != SYNTHETIC_PRETRAIN:
        return settings
    return settings.model_copy(update={"model": str(paths.pretrained_weights(paths.SYNTHETIC_PRETRAIN / task))})


def train_tracked(task: str, config: Params, dataset: Path, save_dir: Path, split: SplitReport):
    """`train.ensemble` models (seeds `seed`, `seed + 1`, …) inside one new MLflow run of the task's experiment:
    params, tags, per-epoch metrics and artifacts (in one nested run per member when there are several), and
    the validation score of the members' mean. Returns the members' results, that score and the run."""
    import mlflow

    tracking.configure()
    tags = tracking.run_tags(task, split.data_version)
    run_name = tags.get("dvc_exp_name", f"{task}-train")
    configured = config.train_for(task)  # logged as the user wrote it
    settings = resolved(configured, task)
    count = settings.ensemble

    def train_logged(member: int) -> TrainResult:
        seed, refit = config.seed + member, config.split.refit
        result = train(settings, dataset, member_dir(save_dir, member), seed, mlflow.log_metrics, refit)
        for name in ("results.csv", "args.yaml", "results.png"):
            if (result.save_dir / name).exists():
                mlflow.log_artifact(str(result.save_dir / name), artifact_path="train")
        return result

    with tracking.start_run(task, run_name) as run:
        mlflow.set_tags(tags)
        mlflow.log_params(
            tracking.flatten(
                {"seed": config.seed, "train": configured.model_dump(), "split": config.split.model_dump()}
            )
        )
        mlflow.log_params({"data.classes": split.classes, **{f"data.{k}_images": v for k, v in split.images.items()}})
        members = []
        for member in range(count):
            if count == 1:
                members.append(train_logged(member))
                continue
            with tracking.start_run(task, f"{run_name}-member{member}", nested=True):
                mlflow.set_tags(tags)
                mlflow.log_params({"member": member, "seed": config.seed + member})
                members.append(train_logged(member))
        val_top1, val_top5 = ensemble_scores(members, dataset, config.evaluate.batch)
        mlflow.log_metrics({"val_top1": val_top1, "val_top5": val_top5})
    return members, (val_top1, val_top5), run

"""A tiny registered champion in a real MLflow SQLite store: what the REST server and the upload page are tested on."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import mlflow
from pipeline import embeddings, registry
from pipeline.calibration import Calibration
from pipeline.evaluation import labelled_images
from pipeline.io import write_json
from pipeline.onnx_model import OnnxClassifier
from pipeline.params import Train
from pipeline.providers import synthetic
from pipeline.training import train
from tests.conftest import colour_classes


@dataclass(frozen=True)
class Registered:
    uri: str  # the tracking store
    artifacts: Path
    classes: list[str]
    test_images: list[Path]
    train_images: list[Path]


def figure_classes(root: Path, classes: int = 3) -> Path:
    """The project's own rendered minifigures in the image-folder layout `root/<split>/<character>/`: 8 train,
    2 val and 2 test images per character (pictures worth a screenshot, unlike plain colours)."""
    import pandas as pd

    rendered = root.parent / f".{root.name}-rendered"
    synthetic.render_minifigures(rendered, classes=classes, train_per_class=10, test_per_class=2, image_size=96, seed=0)
    names = pd.read_csv(rendered / "metadata.csv").set_index("class_id")["minifigure_name"]
    for listing, splits in (("index.csv", ["train"] * 8 + ["val"] * 2), ("test.csv", ["test"] * 2)):
        for _, group in pd.read_csv(rendered / listing).groupby("class_id"):
            for (path, class_id), split in zip(group.itertuples(index=False), splits):
                target = root / split / names[class_id] / Path(path).name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(rendered / path, target)
    return root


def register_champion(
    data: Path, store: Path, task: str = "minifigure", with_embeddings: bool = False, figures: bool = False
) -> Registered:
    """Train a small model on three classes in `data` (`<split>/<class>/`: plain colours, or with `figures` the
    rendered minifigures), log and register it as `lego-<task>` v1 with the `champion` alias in `store/mlflow.db`
    (artifacts under `store/artifacts`); with `with_embeddings`, its run also holds evaluate's `embeddings.npz` of
    the train images (paths relative to `data`)."""
    if figures:
        figure_classes(data)
    else:
        colour_classes(data, {"train": 6, "val": 2, "test": 2})
    epochs, imgsz = (3, 64) if figures else (1, 32)
    settings = Train(model="yolov8n-cls.yaml", overrides={}, epochs=epochs, imgsz=imgsz, batch=6, workers=0)
    result = train(settings, data, store / "run", seed=0)
    uri = f"sqlite:///{store / 'mlflow.db'}"
    test, trained = labelled_images(data / "test"), labelled_images(data / "train")
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.create_experiment(f"lego-{task}", artifact_location=(store / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=experiment):
            calibration = store / "calibration.json"  # "unknown" below 40%: the page shows both verdicts
            write_json(calibration, Calibration(unknown_threshold=0.4, in_distribution_recall=0.95).to_json())
            source = {"data_source": "figures" if figures else "colours", "synthetic": True}
            example = test["path"].iloc[0].read_bytes()
            version, classes = registry.log_model([result.weights], [result.onnx], task, example, source, calibration)
            mlflow.log_metrics({"test/top1": 1.0, "test/top5": 1.0, "test/ece": 0.05})
            if with_embeddings:
                _, vectors, _ = OnnxClassifier([result.onnx]).classify(list(trained["path"]), 8)
                files = [p.relative_to(data).as_posix() for p in trained["path"]]
                target = store / "evaluate" / "embeddings.npz"
                embeddings.save(target, files, list(trained["label"]), ["train"] * len(files), vectors)
                mlflow.log_artifact(str(target), artifact_path="evaluate")
        client = mlflow.MlflowClient()
        client.set_model_version_tag(registry.model_name(task), version, "data_source", source["data_source"])
        client.set_registered_model_alias(registry.model_name(task), "champion", version)
    finally:
        mlflow.set_tracking_uri(None)
    return Registered(uri, store / "artifacts", classes, list(test["path"]), list(trained["path"]))

"""DVC stage `register@<task>`: log the pyfunc, register `lego-<task>` with its data source, move `champion` only
if it is better (a model trained on synthetic data never replaces one trained on real photos)."""

import sys

from pipeline import cli, io, params, paths, registry, tracking
from pipeline.evaluation import labelled_images
from pipeline.manifest import TASKS


def main() -> None:
    task = TASKS[sys.argv[1]].name
    config = params.load()
    run = io.read_json(paths.REPORTS / "train" / task / "run.json")
    metrics = io.read_json(paths.REPORTS / "evaluate" / task / "metrics.json")
    split_report = paths.REPORTS / "split" / f"{task}.json"
    split = io.read_json(split_report)
    if "data_source" not in split:
        raise io.DataError(f"{split_report}: no data_source (written by split@{task}: run it again)")
    data = {"data_source": split["data_source"], "synthetic": bool(split["synthetic"])}
    test = labelled_images(paths.YOLO / task / "test")
    tracking.configure()
    import mlflow

    with mlflow.start_run(run_id=run["run_id"]):
        mlflow.set_tags({"data_source": data["data_source"], "synthetic": str(data["synthetic"]).lower()})
        weights = [paths.PROJECT_ROOT / w for w in run["weights"]]
        onnx = [paths.PROJECT_ROOT / m for m in run["onnx"]]
        calibration = paths.REPORTS / "calibrate" / f"{task}.json"
        info, classes = registry.log_model(weights, onnx, task, test["path"].iloc[0].read_bytes(), data, calibration)
    decision = registry.decide(
        mlflow.MlflowClient(), task, str(info.registered_model_version), run["run_id"],
        metrics["top1"], split["test_version"], classes, registry.rescorer(test, config.evaluate.batch), **data,
    )  # fmt: skip
    io.write_json(paths.REPORTS / "register" / f"{task}.json", decision.to_json())
    print(
        f"register@{task}: {decision.model_name} v{decision.version}; champion v{decision.champion} ({decision.reason})"
    )


if __name__ == "__main__":
    cli.run(main)

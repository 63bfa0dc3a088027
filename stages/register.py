"""DVC stage `register@<task>`: log the pyfunc, register `lego-<task>` with its data source, move `champion` only
if it is better (a model trained on synthetic data never replaces one trained on real photos)."""

import sys

from pipeline import cli, io, params, paths, promotion, registry, tracking
from pipeline.records import SplitReport, TrainRun


def main() -> None:
    config = params.load()
    task = config.known_task(sys.argv[1])
    run = TrainRun.of(task)
    metrics = io.read_json(paths.REPORTS / "evaluate" / task / "metrics.json")
    split = SplitReport.of(task)
    data: dict[str, object] = {"data_source": split.data_source, "synthetic": split.synthetic}
    test = paths.YOLO / task / "test"
    first = next(io.iter_images(test), None)
    if first is None:
        raise io.DataError(f"{test}: no test images")
    weights, onnx = run.weight_files(), run.onnx_files()
    calibration = paths.REPORTS / "calibrate" / f"{task}.json"
    example = first.read_bytes()
    key = registry.registration_key(run.run_id, [*weights, *onnx, calibration], example, data)
    tracking.configure()
    import mlflow

    client = mlflow.MlflowClient()
    found = registry.registered_version(client, task, run.run_id, key)
    if found is not None:
        version, classes = found
        print(f"register@{task}: v{version} holds this run and these files already (an interrupted registration)")
    else:
        with tracking.resume_run(run.run_id):
            mlflow.set_tags({"data_source": split.data_source, "synthetic": str(split.synthetic).lower()})
            version, classes = registry.log_model(weights, onnx, task, example, data, calibration, key)
    decision = promotion.decide(
        client, task, version, run.run_id, metrics["top1"], split.test_version, classes,
        promotion.rescorer(test, config.evaluate.batch), data_source=split.data_source, synthetic=split.synthetic,
    )  # fmt: skip
    io.write_json(paths.REPORTS / "register" / f"{task}.json", decision.to_json())
    print(
        f"register@{task}: {decision.model_name} v{decision.version}; champion v{decision.champion} ({decision.reason})"
    )


if __name__ == "__main__":
    cli.run(main)

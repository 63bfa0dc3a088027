"""DVC stage `register@<task>`: log the pyfunc, register `lego-<task>`, move `champion` only if it is better."""

import sys

from pipeline import cli, io, params, paths, registry, tracking
from pipeline.evaluation import labelled_images
from pipeline.manifest import TASKS


def main() -> None:
    task = TASKS[sys.argv[1]].name
    config = params.load()
    run = io.read_json(paths.REPORTS / "train" / task / "run.json")
    metrics = io.read_json(paths.REPORTS / "evaluate" / task / "metrics.json")
    split = io.read_json(paths.REPORTS / "split" / f"{task}.json")
    test = labelled_images(paths.YOLO / task / "test")
    tracking.configure()
    import mlflow

    with mlflow.start_run(run_id=run["run_id"]):
        weights = [paths.PROJECT_ROOT / w for w in run["weights"]]
        info, classes = registry.log_model(weights, task, test["path"].iloc[0].read_bytes())
    decision = registry.decide(
        mlflow.MlflowClient(), task, str(info.registered_model_version), run["run_id"],
        metrics["top1"], split["test_version"], classes, registry.rescorer(test, config.evaluate.batch),
    )  # fmt: skip
    io.write_json(paths.REPORTS / "register" / f"{task}.json", decision.to_json())
    print(
        f"register@{task}: {decision.model_name} v{decision.version}; champion v{decision.champion} ({decision.reason})"
    )


if __name__ == "__main__":
    cli.run(main)

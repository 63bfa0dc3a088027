"""DVC stage `train@<task>`: Ultralytics training on the split, tracked as one MLflow run."""

import shutil
import sys

from pipeline import cli, io, params, paths, tracking
from pipeline.manifest import TASKS
from pipeline.training import train


def main() -> None:
    task = TASKS[sys.argv[1]].name
    config = params.load()
    split = io.read_json(paths.REPORTS / "split" / f"{task}.json")
    tracking.configure()
    import mlflow

    run_name = tracking.run_tags(task, split["data_version"]).get("dvc_exp_name") or f"{task}-train"
    with mlflow.start_run(experiment_id=tracking.experiment_id(task), run_name=run_name) as run:
        mlflow.set_tags(tracking.run_tags(task, split["data_version"]))
        mlflow.log_params(
            tracking.flatten(
                {"seed": config.seed, "train": config.train.model_dump(), "split": config.split.model_dump()}
            )
        )
        mlflow.log_params(
            {"data.classes": split["classes"], **{f"data.{k}_images": v for k, v in split["images"].items()}}
        )
        result = train(config.train, paths.YOLO / task, paths.MODELS / task, config.seed, mlflow.log_metrics)
        mlflow.log_metric("train/images_per_epoch", result.train_images)
        for name in ("results.csv", "args.yaml", "results.png"):
            if (result.save_dir / name).exists():
                mlflow.log_artifact(str(result.save_dir / name), artifact_path="train")
    out = paths.REPORTS / "train" / task
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(result.results_csv, out / "results.csv")
    io.write_json(out / "run.json", {
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "data_version": split["data_version"],
        "weights": result.best.relative_to(paths.PROJECT_ROOT).as_posix(),
        "epochs_run": result.epochs_run,
    })  # fmt: skip
    print(f"train@{task}: MLflow run {run.info.run_id}, weights {result.best}")


if __name__ == "__main__":
    cli.run(main)

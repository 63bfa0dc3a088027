"""DVC stage `train@<task>`: Ultralytics training on the split, tracked as one MLflow run."""

import shutil
import sys

from pipeline import cli, io, params, paths
from pipeline.manifest import TASKS
from pipeline.training import train_tracked


def main() -> None:
    task = TASKS[sys.argv[1]].name
    config = params.load()
    split = io.read_json(paths.REPORTS / "split" / f"{task}.json")
    result, run = train_tracked(task, config, paths.YOLO / task, paths.MODELS / task, split)
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
    io.write_json(
        out / "metrics.json",
        {"val_top1": result.val_top1, "val_top5": result.val_top5, "epochs_run": result.epochs_run},
    )
    print(
        f"train@{task}: val top-1 {result.val_top1:.4f} (best.pt); MLflow run {run.info.run_id}, weights {result.best}"
    )


if __name__ == "__main__":
    cli.run(main)

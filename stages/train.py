"""DVC stage `train@<task>`: Ultralytics training on the split, tracked as one MLflow run."""

import shutil
import sys

from pipeline import cli, io, params, paths
from pipeline.records import SplitReport, TrainRun, train_run_path
from pipeline.training import train_tracked


def main() -> None:
    config = params.load()
    task = config.known_task(sys.argv[1])
    split = SplitReport.of(task)
    members, (val_top1, val_top5), run = train_tracked(task, config, paths.YOLO / task, paths.MODELS / task, split)
    out = paths.REPORTS / "train" / task
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(members[0].results_csv, out / "results.csv")  # the curves of member 0 (all are in MLflow)
    epochs_run = max(m.epochs_run for m in members)
    weights = [m.weights.relative_to(paths.PROJECT_ROOT).as_posix() for m in members]
    onnx = [m.onnx.relative_to(paths.PROJECT_ROOT).as_posix() for m in members]
    TrainRun(
        run_id=run.info.run_id, experiment_id=run.info.experiment_id, data_version=split.data_version,
        weights=weights, onnx=onnx, epochs_run=epochs_run,
    ).write(train_run_path(task))  # fmt: skip
    # after a refit the validation images were trained on: the score is in-sample, say so beside it
    metrics = {
        "val_top1": val_top1,
        "val_top5": val_top5,
        "val_in_sample": config.split.refit,
        "epochs_run": epochs_run,
    }
    if len(members) > 1:
        metrics["member_val_top1"] = {str(i): m.val_top1 for i, m in enumerate(members)}
    io.write_json(out / "metrics.json", metrics)
    model = (
        members[0].weights.name if len(members) == 1 else f"mean of {len(members)} members' {members[0].weights.name}"
    )
    in_sample = ", in-sample: split.refit trained on the val images" if config.split.refit else ""
    print(
        f"train@{task}: val top-1 {val_top1:.4f} ({model}{in_sample}); MLflow run {run.info.run_id}, "
        f"weights {', '.join(weights)}"
    )


if __name__ == "__main__":
    cli.run(main)

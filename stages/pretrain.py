"""DVC stage `pretrain@<task>`: optional synthetic pretraining (the from-scratch recipe), as a DVC output."""

import sys

from pipeline import cli, params, paths, tracking
from pipeline.pretraining import pretrain


def main() -> None:
    config = params.load()
    task = config.known_task(sys.argv[1])
    out = paths.SYNTHETIC_PRETRAIN / task
    settings = config.pretrain_for(task)
    if settings is None:
        pretrain(task, config, out)
        print(f"pretrain@{task}: no pretrain.{task} section, nothing to pretrain")
        return
    tracking.configure()
    import mlflow

    with tracking.start_run(task, f"{task}-synthetic-pretrain") as run:
        mlflow.set_tags({**tracking.run_tags(task, "synthetic"), "stage": "pretrain"})
        mlflow.log_params(tracking.flatten({"pretrain": settings.model_dump()}))
        record = pretrain(task, config, out, mlflow.log_metrics)
        mlflow.log_metric("val_top1", record["val_top1"])
    print(
        f"pretrain@{task}: val top-1 {record['val_top1']:.4f} on synthetic data; {paths.pretrained_weights(out)} (run {run.info.run_id})"
    )


if __name__ == "__main__":
    cli.run(main)

"""DVC stage `evaluate@<task>`: test-split metrics, per-class table and confusion matrix, to DVC and MLflow."""

import sys

import numpy as np
import pandas as pd

from pipeline import cli, embeddings, evaluation, io, onnx_model, params, paths, report, tracking
from pipeline.calibration import Calibration
from pipeline.evaluation import labelled_images
from pipeline.manifest import class_groups, iter_task_rows


def main() -> None:
    config = params.load()
    declared = config.task(sys.argv[1])
    task = declared.name
    run, model = onnx_model.trained(task)
    dataset = paths.YOLO / task
    names = model.names
    test = labelled_images(dataset / "test")
    unknown = sorted(set(test["label"]) - set(names))
    if unknown:
        raise io.DataError(f"{dataset / 'test'}: classes {unknown} were not in training")
    y_true = test["label"].map(names.index).to_numpy()
    train = labelled_images(dataset / "train")
    out = paths.REPORTS / "evaluate" / task
    out.mkdir(parents=True, exist_ok=True)
    uncalibrated = embeddings.embed_and_map(model, dataset, train, test, y_true, config.evaluate.batch, config.seed,
                                            task, out)  # fmt: skip
    fitted = Calibration.read(paths.REPORTS / "calibrate" / f"{task}.json")
    probs = fitted.apply(uncalibrated)  # the same ranking: top-k and the confusion matrix do not move
    train_counts = train["label"].value_counts().to_dict()
    metrics, table, matrix = evaluation.summarise(y_true, probs, names, train_counts)
    groups = class_groups(iter_task_rows(paths.MANIFEST, declared), declared)
    group_top1 = report.group_accuracy(y_true, probs.argmax(axis=1), names, groups)
    if group_top1 is not None:
        metrics[f"{declared.group}_top1"] = group_top1

    evaluation.plot_confusion(matrix, names, f"{task}: test top-1 {metrics['top1']:.3f}", out / "confusion_matrix.png")
    metrics |= report.write_evaluation(
        out, task=task, metrics=metrics, table=table, matrix=matrix, names=names,
        paths=list(test["path"]), y_true=y_true, probs=probs, run_id=run.run_id,
        uncalibrated=uncalibrated, calibration=fitted,
    )  # fmt: skip
    io.write_json(out / "metrics.json", metrics)
    io.write_csv(out / "per_class.csv", table)
    predicted = np.asarray(names)[probs.argmax(axis=1)]
    rows = np.arange(len(y_true))
    io.write_csv(out / "predictions.csv", pd.DataFrame({
        "path": [p.relative_to(dataset).as_posix() for p in test["path"]],
        "actual": test["label"], "predicted": predicted, "confidence": probs.max(axis=1),
        "answer": fitted.labels(probs, names),  # "unknown" below the threshold
        # before the temperature, and the probability of the right class: what pooling folds needs (crossval)
        "confidence_uncalibrated": uncalibrated.max(axis=1),
        "p_actual": probs[rows, y_true], "p_actual_uncalibrated": uncalibrated[rows, y_true],
    }))  # fmt: skip

    tracking.add_to_run(run.run_id, {f"test/{k}": v for k, v in metrics.items()}, out, "evaluate")
    print(
        f"evaluate@{task}: "
        + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())
    )


if __name__ == "__main__":
    cli.run(main)

"""DVC stage `evaluate@<task>`: test-split metrics, per-class table and confusion matrix, to DVC and MLflow."""

import sys

import numpy as np
import pandas as pd

from pipeline import cli, embeddings, evaluation, io, onnx_model, params, paths, report, tracking
from pipeline.calibration import Calibration
from pipeline.evaluation import labelled_images
from pipeline.manifest import class_groups, task_rows


def embedding_map(model, dataset, train, test, test_vectors, wrong, config, task: str, out) -> None:
    """The train and test embeddings (all kept, for look-ups) and the UMAP picture of them, or of a seeded sample
    of `embeddings.MAP_POINTS` with every misclassified test image in it."""
    _, train_vectors = model.probabilities_and_embeddings(
        list(train["path"]), config.evaluate.batch, progress=f"embed {task} train"
    )
    vectors = np.concatenate([train_vectors, test_vectors])
    labels = [*train["label"], *test["label"]]
    splits = ["train"] * len(train) + ["test"] * len(test)
    files = [p.relative_to(dataset).as_posix() for p in [*train["path"], *test["path"]]]
    embeddings.save(out / "embeddings.npz", files, labels, splits, vectors)
    missed = np.concatenate([np.zeros(len(train), dtype=bool), wrong])
    shown = embeddings.map_sample(missed, config.seed)
    sampled = f", {len(shown):,} of {len(vectors):,} pictures" if len(shown) < len(vectors) else ""
    xy = embeddings.umap_2d(vectors[shown], config.seed)
    embeddings.plot_map(xy, [labels[i] for i in shown], [splits[i] for i in shown], missed[shown],
                        f"{task}: what the network learned (UMAP of its embeddings{sampled})",
                        out / "embedding_map.png")  # fmt: skip


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
    uncalibrated, test_vectors = model.probabilities_and_embeddings(
        list(test["path"]), config.evaluate.batch, progress=f"evaluate {task}"
    )
    fitted = Calibration.read(paths.REPORTS / "calibrate" / f"{task}.json")
    probs = fitted.apply(uncalibrated)  # the same ranking: top-k and the confusion matrix do not move
    y_true = test["label"].map(names.index).to_numpy()
    train = labelled_images(dataset / "train")
    train_counts = train["label"].value_counts().to_dict()
    metrics, table, matrix = evaluation.summarise(y_true, probs, names, train_counts)
    groups = class_groups(task_rows(pd.read_csv(paths.MANIFEST), declared), declared)
    group_top1 = report.group_accuracy(y_true, probs.argmax(axis=1), names, groups)
    if group_top1 is not None:
        metrics[f"{declared.group}_top1"] = group_top1

    out = paths.REPORTS / "evaluate" / task
    out.mkdir(parents=True, exist_ok=True)
    evaluation.plot_confusion(matrix, names, f"{task}: test top-1 {metrics['top1']:.3f}", out / "confusion_matrix.png")
    metrics |= report.write_evaluation(
        out, task=task, metrics=metrics, table=table, matrix=matrix, names=names,
        paths=list(test["path"]), y_true=y_true, probs=probs, run_id=run.run_id,
        uncalibrated=uncalibrated, calibration=fitted,
    )  # fmt: skip
    embedding_map(model, dataset, train, test, test_vectors, probs.argmax(axis=1) != y_true, config, task, out)
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

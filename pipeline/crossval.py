"""k-fold cross-validation of a task's recipe, as DVC experiments: one `dvc exp run -S split.test_fold=k` per fold,
so every image of a source without a test split of its own is tested exactly once, by a model that never saw it,
and the folds' test predictions are pooled. One test split of the 431 real theme pictures holds 64 of them, too few
to tell an ECE of 0.05 from sampling noise (a perfectly calibrated model shows ~0.09 there); all of them pooled can.

    python -m pipeline.crossval theme --folds 5 [-S key=value …]      (or: make crossval TASK=theme)

Each fold is an ordinary experiment, run with `--temp` so the workspace stays as it is (`dvc exp show` lists them;
what git and DVC track is what they run: ignored files such as uncommitted upload-page corrections are not copied);
its training run is in MLflow. The pooled result goes to `reports/crossval/<task>/` and to one MLflow run that the
folds' training runs are nested under.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from pipeline import io, paths
from pipeline.calibration import UNKNOWN, nll_of_true
from pipeline.evaluation import confusion, per_class
from pipeline.records import SplitReport, TrainRun, split_report_path, train_run_path
from pipeline.reliability import (
    expected_calibration_error,
    perfect_calibration_ece,
    plot_reliability,
    reliability_table,
)


def _ece(frame: pd.DataFrame, column: str = "confidence") -> float:
    return expected_calibration_error(frame[column].to_numpy(), (frame["actual"] == frame["predicted"]).to_numpy())


def pooled_metrics(pooled: pd.DataFrame) -> dict:
    """Scores of the pooled out-of-fold predictions (one row per test image, with its `fold`), and each fold's own."""
    correct = pooled["actual"] == pooled["predicted"]
    answered = pooled["answer"] != UNKNOWN
    folds = pooled.groupby("fold", sort=True)
    names = sorted(set(pooled["actual"]) | set(pooled["predicted"]))
    index = {name: i for i, name in enumerate(names)}
    matrix = confusion(pooled["actual"].map(index).to_numpy(), pooled["predicted"].map(index).to_numpy(), len(names))
    table = per_class(matrix, names).query("support > 0")
    return {
        "folds": int(pooled["fold"].nunique()),
        "images": int(len(pooled)),
        "top1": float(correct.mean()),
        "macro_f1": float(table["f1"].mean()),
        "balanced_accuracy": float(table["recall"].mean()),
        "ece": _ece(pooled),
        "ece_uncalibrated": _ece(pooled, "confidence_uncalibrated"),
        "ece_perfect_calibration": perfect_calibration_ece(pooled["confidence"].to_numpy()),
        "nll": nll_of_true(pooled["p_actual"]),
        "nll_uncalibrated": nll_of_true(pooled["p_actual_uncalibrated"]),
        "answered": float(answered.mean()),
        "answered_top1": float(correct[answered].mean()) if answered.any() else float("nan"),
        "fold_top1": {str(k): float((f["actual"] == f["predicted"]).mean()) for k, f in folds},
        "fold_ece": {str(k): _ece(f) for k, f in folds},
        "class_recall": {str(c): float(r) for c, r in zip(table["class"], table["recall"], strict=True)},
        "class_images": {str(c): int(n) for c, n in zip(table["class"], table["support"], strict=True)},
    }


def markdown(task: str, metrics: dict, overrides: list[str]) -> str:
    rows = "\n".join(
        f"| {k} | {metrics['fold_top1'][k]:.3f} | {metrics['fold_ece'][k]:.3f} |" for k in metrics["fold_top1"]
    )
    recalls = "\n".join(
        f"| {c} | {r:.3f} | {metrics['class_images'][c]} |"
        for c, r in sorted(metrics["class_recall"].items(), key=lambda item: item[1])
    )
    return (
        f"# {task}: {metrics['folds']}-fold cross-validation\n\n"
        f"Overrides: {' '.join(f'-S {o}' for o in overrides) or '(none)'}\n\n"
        f"{metrics['images']} test images, each tested once by the fold's model that never saw it.\n\n"
        f"| pooled | value |\n|---|---|\n"
        f"| top-1 | {metrics['top1']:.3f} |\n"
        f"| macro-F1 | {metrics['macro_f1']:.3f} |\n"
        f"| balanced accuracy (mean recall per class) | {metrics['balanced_accuracy']:.3f} |\n"
        f"| ECE (calibrated) | {metrics['ece']:.3f} |\n"
        f"| ECE before the temperature | {metrics['ece_uncalibrated']:.3f} |\n"
        f"| ECE of a perfectly calibrated model on these images | {metrics['ece_perfect_calibration']:.3f} |\n"
        f"| NLL before → after the temperature | {metrics['nll_uncalibrated']:.3f} → {metrics['nll']:.3f} |\n"
        f'| answered (not "unknown") | {metrics["answered"]:.1%}, {metrics["answered_top1"]:.1%} of them right |\n\n'
        f"| fold | top-1 | ECE |\n|---|---|---|\n{rows}\n\n"
        f"| class | recall | images |\n|---|---|---|\n{recalls}\n\n"
        "![reliability](reliability.png) ![before the temperature](reliability_uncalibrated.png)\n"
    )


def write_pooled(out: Path, task: str, pooled: pd.DataFrame, overrides: list[str]) -> dict:
    """`predictions.csv` (every fold's test rows), `metrics.json`, both reliability diagrams and `report.md`."""
    metrics = pooled_metrics(pooled)
    out.mkdir(parents=True, exist_ok=True)
    correct = (pooled["actual"] == pooled["predicted"]).to_numpy()
    for column, name, ece, what in (
        ("confidence", "reliability.png", metrics["ece"], "calibrated"),
        (
            "confidence_uncalibrated",
            "reliability_uncalibrated.png",
            metrics["ece_uncalibrated"],
            "before the temperature",
        ),
    ):
        table = reliability_table(pooled[column].to_numpy(), correct)
        plot_reliability(table, ece, f"{task}: {metrics['folds']} folds pooled, {what}", out / name)
    io.write_csv(out / "predictions.csv", pooled)
    io.write_json(out / "metrics.json", metrics)
    io.write_text(out / "report.md", markdown(task, metrics, overrides))
    return metrics


def _committed(ref: str, path: Path) -> str:
    """A file as the experiment `ref` committed it (the reports are git-tracked, `cache: false`)."""
    relative = path.relative_to(paths.PROJECT_ROOT).as_posix()
    shown = subprocess.run(["git", "show", f"{ref}:{relative}"], cwd=paths.PROJECT_ROOT, capture_output=True, text=True)
    if shown.returncode:
        raise io.DataError(f"{ref}: {relative} is not in the experiment ({shown.stderr.strip().splitlines()[-1]})")
    return shown.stdout


def experiment_ref(name: str) -> str:
    """The git ref DVC keeps experiment `name` under (refs/exps/<baseline>/<name>)."""
    refs = subprocess.run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], cwd=paths.PROJECT_ROOT,
                          capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    found = [ref for ref in refs if ref.endswith(f"/{name}")]
    if len(found) != 1:
        raise io.DataError(f"dvc experiment {name!r}: {len(found)} refs under refs/exps, expected one")
    return found[0]


def fold_predictions(ref: str, task: str, fold: int, folds: int) -> tuple[pd.DataFrame, str]:
    """Fold `fold`'s test predictions, as its experiment `ref` committed them, and its training's MLflow run id."""
    split_json = split_report_path(task)
    split = SplitReport.parse(_committed(ref, split_json), f"{ref}:{split_json.relative_to(paths.PROJECT_ROOT)}")
    test = split.test_fold or "a test_fraction draw"
    if test != f"{fold} of {folds}":
        raise io.DataError(
            f"{split_json.relative_to(paths.PROJECT_ROOT)}: test is {test!r}, not fold {fold} of {folds}:"
            " cross-validation needs a source without a test split of its own"
        )
    run_json = train_run_path(task)
    run_id = TrainRun.parse(_committed(ref, run_json), f"{ref}:{run_json.relative_to(paths.PROJECT_ROOT)}").run_id
    frame = pd.read_csv(StringIO(_committed(ref, paths.REPORTS / "evaluate" / task / "predictions.csv")))
    return frame.assign(fold=fold, run_id=run_id), run_id


def track(task: str, folds: int, overrides: list[str], metrics: dict, out: Path, fold_runs: list[str]) -> str:
    """One MLflow run for the pooled result, with the folds' training runs nested under it."""
    from pipeline import tracking

    tracking.configure()
    import mlflow

    with tracking.start_run(task, f"crossval-{folds}-folds") as run:
        mlflow.set_tags({"task": task, "crossval": "pooled", "crossval.fold_runs": ",".join(fold_runs)})
        mlflow.log_params({"folds": folds, "overrides": " ".join(overrides) or "(none)"})
        mlflow.log_metrics({f"crossval/{k}": float(v) for k, v in metrics.items() if not isinstance(v, dict)})
        mlflow.log_metrics(
            {tracking.metric_name(f"crossval/recall/{c}"): r for c, r in metrics["class_recall"].items()}
        )
        mlflow.log_artifacts(str(out), artifact_path="crossval")
    client = mlflow.MlflowClient()
    for fold_run in fold_runs:
        client.set_tag(fold_run, "mlflow.parentRunId", run.info.run_id)
    return run.info.run_id


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("-S", "--set-param", action="append", default=[], dest="overrides",
                        help="passed to every fold's dvc exp run (the data source, a recipe to compare)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.folds < 2:
        raise io.DataError(f"crossval: --folds {args.folds}: at least 2 folds are needed")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    frames, fold_runs = [], []
    for fold in tqdm(range(args.folds), desc=f"crossval {args.task}", unit="fold"):
        name = f"crossval-{args.task}-{stamp}-fold{fold}"
        flags = [f"split.folds={args.folds}", f"split.test_fold={fold}", *args.overrides]
        command = [sys.executable, "-m", "dvc", "exp", "run", "--temp", "-n", name]
        ran = subprocess.run([*command, *(x for f in flags for x in ("-S", f)), f"evaluate@{args.task}"],
                             cwd=paths.PROJECT_ROOT)  # fmt: skip
        if ran.returncode:
            raise io.DataError(f"crossval: fold {fold}'s dvc exp run {name} failed (exit {ran.returncode}, see above)")
        frame, run_id = fold_predictions(experiment_ref(name), args.task, fold, args.folds)
        frames.append(frame)
        fold_runs.append(run_id)
    out = paths.REPORTS / "crossval" / args.task
    metrics = write_pooled(out, args.task, pd.concat(frames, ignore_index=True), args.overrides)
    run_id = track(args.task, args.folds, args.overrides, metrics, out, fold_runs)
    print(
        f"crossval {args.task}: {metrics['images']} images over {metrics['folds']} folds: top-1 {metrics['top1']:.3f},"
        f" ECE {metrics['ece_uncalibrated']:.3f} → {metrics['ece']:.3f} (perfect calibration:"
        f" {metrics['ece_perfect_calibration']:.3f}), NLL {metrics['nll_uncalibrated']:.3f} → {metrics['nll']:.3f},"
        f" {metrics['answered']:.1%} answered; {out.relative_to(paths.PROJECT_ROOT)}/, MLflow run {run_id};"
        f" the folds are experiments crossval-{args.task}-{stamp}-fold* (dvc exp show)"
    )


if __name__ == "__main__":
    from pipeline import cli

    cli.run(main)

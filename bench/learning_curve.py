"""How much more labelled data would a group need? A learning curve of the frozen-feature probe (`bench/probe.py`),
cross-validated over every labelled picture of a task's split, with the training folds cut to fractions of their
pictures: all groups together, then one group alone (the others kept whole). The probe stands in for fine-tuning,
which costs 40 minutes a cross-validation here where the probe's whole curve takes a few; it ranks how the scores
grow with pictures, not what the fine-tuned model would reach.

    python bench/learning_curve.py --task theme --group "Bulk Bricks" --plot docs/learning_curve_theme.png
    python bench/learning_curve.py --task theme --group "Bulk Bricks" --finetune 0.4   # the proxy checked

`--finetune F` instead fine-tunes the task's recipe (`train.<task>` in params.yaml) on every fold with the group cut
to F of its training pictures and prints the pooled scores: one point of the curve for the real model (a fold's
training takes minutes, so the whole check about as long as `make real-themes-crossval`).

Run it after `split@<task>` (e.g. `dvc exp run <the real switch> split@theme`). It prints the pooled top-1,
macro-F1 and the group's recall per fraction, and where a power law through the group's recall reaches `--target`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.probe import choose_c, features, fitted_probe  # noqa: E402
from pipeline import params, paths, plotting  # noqa: E402
from pipeline.backbones import BackboneClassifier  # noqa: E402
from pipeline.evaluation import summarise  # noqa: E402
from pipeline.onnx_model import OnnxClassifier  # noqa: E402
from pipeline.out_of_fold import fold_layout  # noqa: E402
from pipeline.training import train  # noqa: E402

FRACTIONS = (0.2, 0.4, 0.6, 0.8, 1.0)


def labelled_pictures(dataset: Path) -> pd.DataFrame:
    """Every picture of the split once (a refit split lists the validation pictures under train too): its `file`
    in the split, `label`, `sha256`, and its `path`."""
    table = pd.read_csv(dataset / "split.csv", usecols=["file", "label", "sha256"], dtype={"label": str})
    table = table.drop_duplicates("sha256").reset_index(drop=True)
    return table.assign(path=[str(dataset / f) for f in table["file"]])


def pooled_scores(y: np.ndarray, probs: np.ndarray, names: list[str]) -> dict[str, float]:
    """Top-1, macro-F1 and each class's recall over every fold's answers."""
    metrics, table, _ = summarise(y, probs, names, {})
    return {"top1": metrics["top1"], "macro_f1": metrics["macro_f1"], **dict(zip(table["class"], table["recall"]))}


def kept(y: np.ndarray, train: np.ndarray, fraction: float, group: int | None, rng: np.random.Generator) -> np.ndarray:
    """`fraction` of the training pictures of each class (of `group` alone when given), at least one a class."""
    keep = []
    for label in np.unique(y[train]):
        members = train[y[train] == label]
        if group is None or label == group:
            members = rng.choice(members, max(1, round(fraction * len(members))), replace=False)
        keep.append(members)
    return np.sort(np.concatenate(keep))


def curve(x, x_mirror, y, names, folds, c, group: int | None, repeats: int, seed: int) -> pd.DataFrame:
    """Pooled scores per fraction and repeat: each fold's test pictures answered by a probe on its cut training set."""
    rows = []
    for fraction in FRACTIONS:
        for repeat in range(1 if fraction == 1.0 else repeats):
            rng = np.random.default_rng([seed, repeat, int(fraction * 100)])
            probs, trained_on = np.zeros((len(y), len(names))), []
            for k in np.unique(folds):
                train = kept(y, np.flatnonzero(folds != k), fraction, group, rng)
                trained_on.append(len(train) if group is None else int((y[train] == group).sum()))
                model = fitted_probe(np.concatenate([x[train], x_mirror[train]]), np.tile(y[train], 2), c)
                probs[folds == k] = model.predict_proba(x[folds == k])
            rows.append({"fraction": fraction, "repeat": repeat, "training_pictures": float(np.mean(trained_on)),
                         **pooled_scores(y, probs, names)})  # fmt: skip
            print(f"  {fraction:.0%} (repeat {repeat}): {rows[-1]}", flush=True)
    return pd.DataFrame(rows)


def finetuned(dataset: Path, pictures: pd.DataFrame, y, names, folds, fraction: float, group: int, settings,
              seed: int) -> dict:  # fmt: skip
    """Pooled scores of the recipe fine-tuned on each fold's training pictures, `group` cut to `fraction` (the
    probe curve's first repeat draws the same pictures), laid out and trained as `calibrate.folds` does
    (`pipeline.out_of_fold`): the fold's test pictures as validation, never scored per epoch, the last weights kept."""
    rng = np.random.default_rng([seed, 0, int(fraction * 100)])
    probs = np.zeros((len(y), len(names)))
    settings = settings.model_copy(update={"overrides": {**settings.overrides, "val": False}})
    with tempfile.TemporaryDirectory(dir=dataset.parent, prefix=f".learning-curve-{dataset.name}-") as tmp:
        for k in np.unique(folds):
            trained, test = kept(y, np.flatnonzero(folds != k), fraction, group, rng), np.flatnonzero(folds == k)
            rows = pictures.iloc[np.concatenate([trained, test])]
            layout = Path(tmp) / f"fold{k}"
            held_out = fold_layout(dataset, rows, pd.Series(folds[rows.index], index=rows.index), k, layout)
            result = train(settings, layout, Path(tmp) / f"run{k}", seed, refit=True)
            files = [
                layout / "val" / label / Path(file).name for file, label in zip(held_out["file"], held_out["label"])
            ]
            probs[test] = OnnxClassifier([result.onnx]).probabilities(files, 64)
            print(f"  fold {k}: {len(trained)} training pictures, {int((y[trained] == group).sum())} of the group",
                  flush=True)  # fmt: skip
    return pooled_scores(y, probs, names)


def pictures_for(recall: pd.Series, target: float) -> tuple[float, float, float]:
    """A power law `1 − recall = a·n^−b` through the mean recall per size (index: n); the n where it reaches
    `target`. It bends towards 1, so it asks for more pictures than `pictures_log_linear`."""
    slope, intercept = np.polyfit(np.log(recall.index), np.log(np.clip(1 - recall, 1e-3, None)), 1)
    a, b = float(np.exp(intercept)), float(-slope)
    return a, b, (a / (1 - target)) ** (1 / b) if b > 0 else float("inf")


def pictures_log_linear(recall: pd.Series, target: float, last: int = 3) -> float:
    """The n where `recall = α + β·ln n`, a line through the `last` sizes' mean recall, reaches `target`: the
    steeper, more hopeful reading of the same points."""
    beta, alpha = np.polyfit(np.log(recall.index[-last:]), recall.to_numpy()[-last:], 1)
    return float(np.exp((target - alpha) / beta)) if beta > 0 else float("inf")


def plot(overall: pd.DataFrame, alone: pd.DataFrame, group: str, fit: tuple[float, float, float], hopeful: float,
         target: float, title: str, target_path: Path) -> None:  # fmt: skip
    plt = plotting.pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for column, colour in (("top1", "#4C72B0"), ("macro_f1", "#55A868"), (group, "#C44E52")):
        means = overall.groupby("training_pictures")[column].mean()
        left.plot(means.index, means.values, "o-", color=colour, label=column)
    left.set_xlabel("training pictures per fold (every group cut alike)")
    left.set_ylabel("pooled over the folds")
    left.legend(fontsize=8)
    means = alone.groupby("training_pictures")[group].mean()
    right.scatter(alone["training_pictures"], alone[group], color="#C44E52", alpha=0.3, s=12)
    right.plot(means.index, means.values, "o", color="#C44E52", label=f"{group} recall (mean of repeats)")
    a, b, needed = fit
    span = np.linspace(means.index.min(), max(means.index.max(), min(needed, 10 * means.index.max())), 100)
    right.plot(
        span, 1 - a * span**-b, "--", color="grey", label=f"1 - {a:.2f} n^-{b:.2f}: {target:.2f} at {needed:.0f}"
    )
    right.axvline(
        hopeful, color="grey", linewidth=0.8, label=f"a line in ln n (last three): {target:.2f} at {hopeful:.0f}"
    )
    right.axhline(target, color="black", linewidth=0.8, linestyle=":", label=f"target {target:.2f}")
    right.set_xlabel(f"{group} training pictures per fold (other groups whole)")
    right.set_ylabel("pooled recall")
    right.legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    plotting.save(fig, target_path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="theme")
    parser.add_argument("--group", required=True, help="the class whose recall is followed, e.g. 'Bulk Bricks'")
    parser.add_argument("--backbone", default="efficientnet-lite1")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--target", type=float, default=0.70)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--plot", type=Path, help="where the curve's PNG goes")
    parser.add_argument("--finetune", type=float, help="fine-tune on every fold with the group cut to this fraction")
    args = parser.parse_args()

    from sklearn.model_selection import StratifiedKFold

    config = params.load()
    dataset = paths.YOLO / config.known_task(args.task)
    pictures = labelled_pictures(dataset)
    names = sorted(pictures["label"].unique())
    if args.group not in names:
        raise SystemExit(f"--group {args.group!r}: not a class of {args.task} ({', '.join(names)})")
    y = pictures["label"].map(names.index).to_numpy()
    folds = np.zeros(len(y), dtype=int)
    for k, (_, test) in enumerate(StratifiedKFold(args.folds, shuffle=True, random_state=args.seed).split(y, y)):
        folds[test] = k
    if args.finetune is not None:
        group = names.index(args.group)
        print(f"{args.task}: {len(y)} labelled pictures, {args.folds} folds, the recipe fine-tuned on each")
        scores = finetuned(
            dataset, pictures, y, names, folds, args.finetune, group, config.train_for(args.task), args.seed
        )
        print(f"fine-tuned, {args.group} cut to {args.finetune:.0%}: {scores}")
        return
    imgsz = config.train_for(args.task).imgsz
    model = BackboneClassifier(args.backbone, nc=1000, verbose=False).eval()
    files = list(pictures["path"])
    x, x_mirror = features(model, imgsz, files), features(model, imgsz, files, mirror=True)
    train0 = np.flatnonzero(folds != 0)
    c = choose_c(
        np.concatenate([x[train0], x_mirror[train0]]), np.tile(y[train0], 2), np.tile(np.arange(len(train0)) % 5, 2)
    )
    print(f"{args.task}: {len(y)} labelled pictures, {args.folds} folds, {args.backbone} probe @ {imgsz} px, C {c}")
    print("every group cut alike:")
    overall = curve(x, x_mirror, y, names, folds, c, None, args.repeats, args.seed)
    print(f"{args.group} cut, the others whole:")
    alone = curve(x, x_mirror, y, names, folds, c, names.index(args.group), args.repeats, args.seed)
    means = alone.groupby("training_pictures")[args.group].mean()
    fit, hopeful = pictures_for(means, args.target), pictures_log_linear(means, args.target)
    labelled = args.folds / (args.folds - 1)  # a fold trains on (folds - 1) / folds of the labelled pictures
    print(
        overall.groupby("fraction")[["training_pictures", "top1", "macro_f1", args.group]].mean().round(3).to_string()
    )
    print(alone.groupby("fraction")[["training_pictures", "top1", "macro_f1", args.group]].mean().round(3).to_string())
    print(f"{args.group} now: {int((y == names.index(args.group)).sum())} labelled pictures; recall {args.target:.2f} "
          f"at about {hopeful * labelled:.0f} (a line in ln n through the last three sizes) to {fit[2] * labelled:.0f} "
          f"labelled (the power law 1 - {fit[0]:.3f} n^-{fit[1]:.3f} through all five)")  # fmt: skip
    title = f"{args.task}: {args.backbone} probe, {args.folds}-fold pooled, {len(y)} labelled pictures"
    if args.plot:
        plot(overall, alone, args.group, fit, hopeful, args.target, title, args.plot)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()

"""DVC stage `calibrate@<task>`: fit the confidence temperature and the "unknown" threshold on the calibration
split, or on out-of-fold predictions (`calibrate.folds`) → `reports/calibrate/<task>.json`, which evaluate applies
and register stores with the model."""

import sys
from pathlib import Path

from pipeline import calibration, cli, io, onnx_model, out_of_fold, params, paths, tracking
from pipeline.evaluation import labelled_images, top_k_accuracy
from pipeline.training import resolved


def main() -> None:
    config = params.load()
    task = config.known_task(sys.argv[1])
    run, model = onnx_model.trained(task)
    dataset = paths.YOLO / task
    if config.calibrate.folds:
        settings = resolved(config.train_for(task), task)
        oof = out_of_fold.predictions(dataset, settings, config.calibrate.folds, config.seed, config.calibrate.batch)
        if oof.names != model.names:
            raise io.DataError(f"{dataset}: out-of-fold classes {oof.names} differ from the model's {model.names}")
        probs, y_true, held_out = oof.probs, oof.y_true, True
        fitted_on = f"out-of-fold predictions of {len(y_true)} training images ({oof.folds} folds)"
    else:
        probs, y_true, held_out = held_out_probabilities(task, config, model, dataset)
        fitted_on = f"{len(y_true)} images"
    fitted = calibration.fit(probs, y_true, config.calibrate.in_distribution_recall, held_out)
    assert fitted.nll_before is not None and fitted.nll_after is not None  # calibration.fit sets both
    io.write_json(paths.REPORTS / "calibrate" / f"{task}.json", fitted.to_json())

    tracking.add_to_run(run.run_id, {
        "calibration/temperature": fitted.temperature,
        "calibration/unknown_threshold": fitted.unknown_threshold,
        "calibration/nll_before": fitted.nll_before,
        "calibration/nll_after": fitted.nll_after,
        **({"calibration/out_of_fold_top1": top_k_accuracy(y_true, probs, 1)} if config.calibrate.folds else {}),
    })  # fmt: skip
    note = "" if held_out else " (in-sample: no calibration split, and the validation images were trained on)"
    if fitted.temperature <= calibration.TEMPERATURE_BOUNDS[0] * 1.001:
        note += "; the temperature is at its lower bound: the model is right and sure on every calibration image"
    print(
        f"calibrate@{task}: temperature {fitted.temperature:.3f}, NLL {fitted.nll_before:.4f} → {fitted.nll_after:.4f}"
        f" on {fitted_on}; unknown below {fitted.unknown_threshold:.3f}"
        f" ({fitted.in_distribution_recall:.0%} of known-class images answered){note}"
    )


def held_out_probabilities(task: str, config: params.Params, model, dataset: Path):
    """`(probabilities, true classes, held out?)` of the calibration split, else of val (held out unless
    `split.refit` trained on it)."""
    images = labelled_images(dataset / "calibration") if (dataset / "calibration").is_dir() else None
    held_out = images is not None and not images.empty
    if images is None or images.empty:  # split.calibration_fraction: 0
        images, held_out = labelled_images(dataset / "val"), not config.split.refit
    unknown = sorted(set(images["label"]) - set(model.names))
    if unknown:
        raise io.DataError(f"{dataset}: calibration classes {unknown} were not in training")
    probs = model.probabilities(list(images["path"]), config.calibrate.batch, progress=f"calibrate {task}")
    return probs, images["label"].map(model.names.index).to_numpy(), held_out


if __name__ == "__main__":
    cli.run(main)

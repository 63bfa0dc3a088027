"""DVC stage `calibrate@<task>`: fit the confidence temperature and the "unknown" threshold on the calibration
split → `reports/calibrate/<task>.json`, which evaluate applies and register stores with the model."""

import sys

from pipeline import calibration, cli, io, onnx_model, params, paths, tracking
from pipeline.evaluation import labelled_images


def main() -> None:
    config = params.load()
    task = config.known_task(sys.argv[1])
    run, model = onnx_model.trained(task)
    dataset = paths.YOLO / task
    images = labelled_images(dataset / "calibration") if (dataset / "calibration").is_dir() else None
    held_out = images is not None and not images.empty
    # split.calibration_fraction: 0 — validation, trained on too when split.refit is on
    if images is None or images.empty:
        images, held_out = labelled_images(dataset / "val"), not config.split.refit
    unknown = sorted(set(images["label"]) - set(model.names))
    if unknown:
        raise io.DataError(f"{dataset}: calibration classes {unknown} were not in training")
    probs = model.probabilities(list(images["path"]), config.calibrate.batch, progress=f"calibrate {task}")
    y_true = images["label"].map(model.names.index).to_numpy()
    fitted = calibration.fit(probs, y_true, config.calibrate.in_distribution_recall, held_out)
    assert fitted.nll_before is not None and fitted.nll_after is not None  # calibration.fit sets both
    io.write_json(paths.REPORTS / "calibrate" / f"{task}.json", fitted.to_json())

    tracking.add_to_run(run.run_id, {
        "calibration/temperature": fitted.temperature,
        "calibration/unknown_threshold": fitted.unknown_threshold,
        "calibration/nll_before": fitted.nll_before,
        "calibration/nll_after": fitted.nll_after,
    })  # fmt: skip
    note = "" if held_out else " (in-sample: no calibration split, and the validation images were trained on)"
    if fitted.temperature <= calibration.TEMPERATURE_BOUNDS[0] * 1.001:
        note += "; the temperature is at its lower bound: the model is right and sure on every calibration image"
    print(
        f"calibrate@{task}: temperature {fitted.temperature:.3f}, NLL {fitted.nll_before:.4f} → {fitted.nll_after:.4f}"
        f" on {fitted.images} images; unknown below {fitted.unknown_threshold:.3f}"
        f" ({fitted.in_distribution_recall:.0%} of known-class images answered){note}"
    )


if __name__ == "__main__":
    cli.run(main)

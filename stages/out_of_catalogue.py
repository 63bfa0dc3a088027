"""DVC stage `out_of_catalogue@<task>`: the trained model on pictures of none of its classes → how many it calls
"unknown", in `reports/out_of_catalogue/<task>/` and on the training's MLflow run."""

import sys

import numpy as np
import pandas as pd

from pipeline import cli, io, onnx_model, out_of_catalogue, params, paths, tracking
from pipeline.calibration import Calibration


def main() -> None:
    config = params.load()
    task = config.known_task(sys.argv[1])
    folder = config.out_of_catalogue_dir(task)
    key = f"params.yaml: out_of_catalogue.{task}"
    if not folder.is_dir():
        raise io.DataError(f"{key}: {folder} is not a folder")
    files = io.list_files(folder)
    if not files:
        raise io.DataError(f"{key}: {folder} holds no files")
    run, model = onnx_model.trained(task)
    fitted = Calibration.read(paths.REPORTS / "calibrate" / f"{task}.json")
    raw, _, verdicts = model.classify(files, config.evaluate.batch, progress=f"out of catalogue {task}")
    readable = [f for f, v in zip(files, verdicts) if v is None]
    rejects = pd.DataFrame(
        [
            {"path": f.relative_to(folder).as_posix(), "reason": str(v)}
            for f, v in zip(files, verdicts)
            if v is not None
        ],
        columns=["path", "reason"],
    )
    if not readable:
        raise io.DataError(f"{key}: none of the {len(files)} files in {folder} is a readable image")
    probs = fitted.apply(raw)
    confidence = probs.max(axis=1)
    predicted = list(np.asarray(model.names)[probs.argmax(axis=1)])
    # the test split's calibrated confidences, as evaluate@<task> wrote them
    test = pd.read_csv(paths.REPORTS / "evaluate" / task / "predictions.csv")
    metrics = out_of_catalogue.summarise(test["confidence"].to_numpy(), confidence, fitted.unknown_threshold)
    metrics["rejected"] = int(len(rejects))

    out = io.reset_dir(paths.REPORTS / "out_of_catalogue" / task)
    out_of_catalogue.plot_confidence(test["confidence"].to_numpy(), confidence, fitted.unknown_threshold,
                                     f"{task}: test images against out-of-catalogue pictures", out / "confidence.png")  # fmt: skip
    out_of_catalogue.plot_most_confident(readable, predicted, confidence, fitted.unknown_threshold,
                                         out / "most_confident.png")  # fmt: skip
    io.write_csv(out / "answers.csv", pd.DataFrame({
        "path": [f.relative_to(folder).as_posix() for f in readable],
        "predicted": predicted, "confidence": confidence.round(6), "answer": fitted.labels(probs, model.names),
    }))  # fmt: skip
    io.write_csv(out / "rejects.csv", rejects)
    io.write_text(
        out / "report.md", out_of_catalogue.markdown(task, config.out_of_catalogue[task], metrics, len(rejects))
    )
    io.write_json(out / "metrics.json", metrics)

    tracking.add_to_run(run.run_id, {f"out_of_catalogue/{k}": v for k, v in metrics.items()}, out, "out_of_catalogue")
    print(
        f'out_of_catalogue@{task}: {metrics["unknown"]:.1%} of {metrics["images"]} pictures in {folder} are "unknown"'
        f" ({metrics['answered_in_distribution']:.1%} of test images answered), AUROC {metrics['auroc']:.3f}; "
        f"{len(rejects)} unreadable files skipped → {out}"
    )


if __name__ == "__main__":
    cli.run(main)

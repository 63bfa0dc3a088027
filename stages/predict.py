"""DVC stage `predict@<task>`: batch-classify a folder with the registry's `champion` → `data/predictions/<task>.csv`.

Files that are not readable images are skipped and listed with their reason in `data/predictions/<task>_rejects.csv`;
the answers a person should look at (every "unknown", then the least confident) go to
`data/predictions/<task>_review.csv`, the upload page's review queue.
"""

import sys

from pipeline import cli, io, params, paths, registry, tracking
from pipeline.prediction import predict_folder, write_review


def main() -> None:
    config = params.load()
    task = config.known_task(sys.argv[1])
    folder = config.predict.input_dir(task)
    if not folder.is_dir():
        raise io.DataError(f"params.yaml: predict.input.{task}: {folder} is not a folder")
    tracking.configure()
    version, source = registry.registered_source(task)
    uri = f"models:/{registry.model_name(task)}@{registry.ALIAS} (v{version})"
    classifier: object
    if config.predict.engine == "ray":
        from pipeline.ray_engine import RayClassifier

        classifier = RayClassifier(source)
    else:
        classifier = registry.load_classifier(source)
    try:
        result = predict_folder(classifier, folder, config.predict.batch, config.predict.top_k, f"predict {task}")
    except io.DataError as exc:
        raise io.DataError(f"params.yaml: predict.input.{task}: {exc}") from None
    target = paths.PREDICTIONS / f"{task}.csv"
    rejects = paths.PREDICTIONS / f"{task}_rejects.csv"
    review = paths.PREDICTIONS / f"{task}_review.csv"
    with result:
        result.answers.write_csv(target, order_by="rowid")
        result.rejects.write_csv(rejects, order_by="rowid")
        queued, unknown = write_review(result.answers, folder, config.predict.review, review)
        answered, rejected = len(result.answers), len(result.rejects)
    print(
        f"predict@{task}: {answered} of {result.files} files classified by {uri} "
        f"({config.predict.engine} engine) → {target}; "
        f"{rejected} skipped as unreadable (listed with reasons in {rejects}); "
        f"{queued} to review ({unknown} unknown) → {review}"
    )


if __name__ == "__main__":
    cli.run(main)

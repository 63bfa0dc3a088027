"""DVC stage `predict@<task>`: batch-classify a folder with the registry's `champion` → `data/predictions/<task>.csv`."""

import json
import sys

import pandas as pd
from tqdm import tqdm

from pipeline import cli, io, params, paths, registry, tracking
from pipeline.inference import chunks
from pipeline.manifest import TASKS


def main() -> None:
    task = TASKS[sys.argv[1]].name
    config = params.load()
    folder = config.predict.input_dir(task)
    images = io.list_images(folder) if folder.is_dir() else []
    if not images:
        raise io.DataError(f"params.yaml: predict.input.{task}: no images in {folder}")
    tracking.configure()
    import mlflow

    uri = f"models:/{registry.model_name(task)}@{registry.ALIAS}"
    model = mlflow.pyfunc.load_model(uri)
    rows = []
    with tqdm(total=len(images), desc=f"predict {task}", unit="img") as bar:
        for batch in chunks(images, config.predict.batch):
            frame = pd.DataFrame({"image": [p.read_bytes() for p in batch]})
            out = model.predict(frame, params={"top_k": config.predict.top_k, "batch": config.predict.batch})
            for path, label, confidence, labels, probs in zip(
                batch, out["label"], out["confidence"], out["top_k_labels"], out["top_k_probabilities"]
            ):
                top = [[str(lab), round(float(p), 6)] for lab, p in zip(labels, probs)]
                rows.append(
                    {
                        "path": path.relative_to(folder).as_posix(),
                        "label": label,
                        "confidence": round(float(confidence), 6),
                        f"top{config.predict.top_k}": json.dumps(top),
                    }
                )
            bar.update(len(batch))
    target = paths.PREDICTIONS / f"{task}.csv"
    io.write_csv(target, pd.DataFrame(rows))
    print(f"predict@{task}: {len(rows)} images classified by {uri} → {target}")


if __name__ == "__main__":
    cli.run(main)

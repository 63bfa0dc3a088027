"""Batch prediction on Ray Data (`predict.engine: ray`): the champion's pyfunc loaded once per actor, the folder's
files streamed through the actors in batches, for folders that outgrow one process.

Local Ray by default (an in-process cluster on this machine's cores); a cluster through `RAY_ADDRESS`, whose nodes
run this project's environment and reach the files at the same path (a shared mount) and the model through the
tracking server. The answers have the in-process engine's shape, so the predictions CSV, rejects and review queue
are the same."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import paths


class _Answerer:
    """One Ray actor: the champion, loaded once, answering batches of file paths."""

    def __init__(self, source: str, top_k: int, batch: int) -> None:
        from pipeline.registry import load_classifier

        self.model = load_classifier(source)
        self.top_k, self.batch = top_k, batch

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, list]:
        answers, verdicts = self.model.answer([Path(p) for p in rows["path"]], self.top_k, self.batch)
        readable = iter(answers.itertuples(index=False))
        out: dict[str, list] = {"path": [], "reason": [], "answer": []}
        for path, verdict in zip(rows["path"], verdicts):
            out["path"].append(str(path))
            out["reason"].append("" if verdict is None else str(verdict))
            out["answer"].append("" if verdict is not None else json.dumps(_row(next(readable))))
        return out


def _row(answer) -> dict:
    return {
        "label": answer.label,
        "confidence": float(answer.confidence),
        "top_k_labels": list(answer.top_k_labels),
        "top_k_probabilities": [float(p) for p in answer.top_k_probabilities],
        "probabilities": [float(p) for p in answer.probabilities],
    }


def start() -> None:
    """Join the cluster `RAY_ADDRESS` names, else start a local one; workers import this project and see the same
    tracking server."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report sent home
    forwarded = {
        k: os.environ[k] for k in ("MLFLOW_TRACKING_URI", "PYTHONPATH", "NETWORK_GUARD_LOG") if k in os.environ
    }
    pythonpath = os.pathsep.join(filter(None, [str(paths.PROJECT_ROOT), forwarded.get("PYTHONPATH")]))
    ray.init(
        address=os.environ.get("RAY_ADDRESS"),
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {**forwarded, "PYTHONPATH": pythonpath, "RAY_USAGE_STATS_ENABLED": "0"}},
    )


class RayClassifier:
    """The champion at `source` behind `LegoClassifier.answer`'s interface, answered by a pool of Ray actors."""

    def __init__(self, source: str, actors: int | None = None) -> None:
        self.source, self.actors = source, actors

    def answer(
        self, files: Sequence[Path], k: int = 5, batch: int = 32, progress: str | None = None
    ) -> tuple[pd.DataFrame, list[str | None]]:
        """One row per readable file, and per file `None` or why it has none. `actors` defaults to one per CPU of
        the cluster but one, which Ray Data keeps for its own tasks (a pool holding every CPU can stall,
        ray-project/ray#44687)."""
        import ray

        start()
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # rows come back in the files' order
        context.enable_progress_bars = progress is not None
        actors = self.actors or max(1, int(ray.cluster_resources().get("CPU", 2)) - 1)
        dataset = ray.data.from_items([{"path": str(path)} for path in files], override_num_blocks=max(1, actors * 4))
        answered = dataset.map_batches(
            _Answerer,
            fn_constructor_kwargs={"source": self.source, "top_k": k, "batch": batch},
            batch_size=batch,
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=1,
        ).to_pandas()
        rows = [json.loads(a) for a in answered["answer"] if a]
        verdicts = [reason or None for reason in answered["reason"]]  # why a file has no answer, as printed
        columns = ["label", "confidence", "top_k_labels", "top_k_probabilities", "probabilities"]
        return pd.DataFrame(rows, columns=columns), verdicts

"""Benchmark: how each stage's cost per image and its memory grow with the data, and what the data costs on disk.

For each size N it copies the project into a temporary git repository, renders N synthetic minifigure pictures
(10 classes, 80% in the source's train split, 64 px: the cost of rendering is not what is measured) and runs the
stages one at a time (`dvc repro --single-item`): the data stages (download, label, validate, split) and the
inference ones on the model a tiny training leaves (train on at most 500 pictures, 1 epoch, 32 px; then calibrate,
evaluate, register, predict over the test split). Per stage it prints seconds, images per second (N over seconds)
and peak RSS of the stage's processes; per size, once the data stages have run, the bytes of the workspace's data
plus the DVC cache (each file once, however many links it has) over the bytes of the rendered source pictures. Last line:
`growth=<max over stages of (s/image at the largest N) / (s/image at the smallest)>` (1.0: cost per image flat).

    python bench/scale.py [--sizes 1000 10000 100000] [--keep]

Time: about 2 minutes at N = 1,000 and 6 at 10,000 on 2 cores; 100,000 needs an hour or more. `--keep` leaves the
temporary repositories (their paths are printed) to look at with `dvc status` or `du`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ["pipeline", "stages", "dvc.yaml", "params.yaml", ".gitignore", ".dvcignore", ".dvc/config",
           ".dvc/.gitignore", "data/feedback/README.md", "data/custom/README.md"]  # fmt: skip
CLASSES = 10
STAGES = ["download", "catalogue", "scrape", "feedback", "label", "validate", "split@minifigure",
          "pretrain@minifigure", "train@minifigure", "calibrate@minifigure", "evaluate@minifigure",
          "register@minifigure", "predict@minifigure"]  # fmt: skip
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]


def project(root: Path, size: int) -> Path:
    """The project at `root` with the minifigure task alone, rendering `size` pictures, trained as little as it can."""
    for name in PROJECT:
        source, target = ROOT / name, root / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    params = yaml.safe_load((root / "params.yaml").read_text())
    for section in (params["tasks"], params["train"], params["pretrain"], params["predict"]["input"]):
        section.pop("theme", None)
    per_class = size // CLASSES
    params["synthetic"]["minifigures"] = {
        "classes": CLASSES, "train_per_class": per_class - per_class // 5, "test_per_class": per_class // 5,
        "image_size": 64,
    }  # fmt: skip
    params["synthetic"]["sets"] = {"count": 16, "image_height": 64}  # the out-of-catalogue check is not measured
    params["out_of_catalogue"] = {}
    train = params["train"]["minifigure"]
    train.update(epochs=1, imgsz=32, batch=64)
    train["overrides"] = {**train["overrides"], "fraction": min(1.0, 500 / size)}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"}
    for command in (["git", "init", "-q"], ["git", "add", "-A"], [*GIT, "commit", "-qm", "bench"]):
        subprocess.run(command, cwd=root, env=env, check=True, capture_output=True)
    return root


def run_stage(root: Path, stage: str) -> tuple[float, int]:
    """Seconds and peak RSS (bytes) of `dvc repro` of this one stage (GNU time: the largest process it waited for)."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"}
    done = subprocess.run(["/usr/bin/time", "-f", "%e %M", "dvc", "repro", "--single-item", stage], cwd=root, env=env,
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode:
        raise SystemExit(f"{stage} failed at {root}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    seconds, kilobytes = done.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(kilobytes) * 1024


def unique_bytes(*folders: Path) -> int:
    """Bytes of every regular file under `folders`, each inode once (hard links into the cache count once)."""
    seen, total = set(), 0
    for folder in folders:
        for dirpath, _, files in os.walk(folder):
            for name in files:
                info = os.lstat(os.path.join(dirpath, name))
                if (info.st_dev, info.st_ino) not in seen and not os.path.islink(os.path.join(dirpath, name)):
                    seen.add((info.st_dev, info.st_ino))
                    total += info.st_size
    return total


def source_bytes(root: Path) -> int:
    folder = root / "data" / "raw" / "minifigures"
    return sum(p.stat().st_size for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def measure(size: int, keep: bool) -> dict[str, tuple[float, int]]:
    root = Path(tempfile.mkdtemp(prefix=f"bench-scale-{size}-"))
    try:
        project(root, size)
        timings, disk = {}, 0.0
        for stage in STAGES:
            timings[stage] = run_stage(root, stage)
            if stage == "split@minifigure":  # the data alone: models and reports come after
                disk = unique_bytes(root / "data", root / ".dvc" / "cache") / source_bytes(root)
        print(f"\nN={size}  after split: disk (workspace data/ + DVC cache) / source picture bytes = {disk:.2f}")
        print(f"{'stage':24s} {'seconds':>8s} {'images/s':>10s} {'peak RSS MB':>12s}")
        for stage, (seconds, rss) in timings.items():
            print(f"{stage:24s} {seconds:8.1f} {size / seconds:10.1f} {rss / 2**20:12.0f}")
        return timings
    finally:
        if keep:
            print(f"kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    sizes = sorted(args.sizes)
    results = {size: measure(size, args.keep) for size in sizes}
    small, large = sizes[0], sizes[-1]
    growth = {s: (results[large][s][0] / large) / (results[small][s][0] / small) for s in STAGES}
    worst = max(growth, key=lambda s: growth[s])
    print(f"\nworst growth of seconds per image from N={small} to N={large}: {worst}")
    print(f"growth={growth[worst]:.2f}")


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: how each stage's cost per image and its memory grow with the data, and what the data costs on disk.

For each size N it copies the project into a temporary git repository, renders N synthetic minifigure pictures
(10 classes, 80% in the source's train split, 64 px: the cost of rendering is not what is measured) and runs the
stages one at a time (`dvc repro --single-item`): the data stages (download, label, validate, split) and the
inference ones on the model a tiny training leaves (train on at most 500 pictures, 1 epoch, 32 px; then calibrate,
evaluate, register, predict over the test split). Per stage it prints seconds, images per second (N over seconds)
and two peaks of resident memory: the stage's own Python process (`python -m stages.…`) and DVC's (which hashes,
caches and links the stage's outputs); per size, once the data stages have run, the bytes the pictures take on disk
(under data/ and in the DVC cache, each inode once, however many links it has) over the bytes of the source pictures. Last line:
`growth=<max over stages of (s/image at the largest N) / (s/image at the smallest)>` (1.0: cost per image flat),
after the same ratio for the stages' own peak memory (`memory_growth=`) and, per stage, the peak memory each process
takes per extra picture (KB) between the smallest and the largest N, and (with three sizes or more) between the two
largest: the data stages hold 10,000 rows at a time, so their peak grows until N = 10,000 and is flat past it.
Per size it also times a second, whole `dvc repro`, which must find nothing to run.

    python bench/scale.py [--sizes 1000 10000 100000] [--keep]

Time on 2 cores: about a minute at N = 1,000, 7 at 100,000. `--keep` leaves the
temporary repositories (their paths are printed) to look at with `dvc status` or `du`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.io import IMAGE_SUFFIXES, list_images  # noqa: E402
from tests.project_repo import data_bytes, make_repo  # noqa: E402  (the project copy the integration tests run)

CLASSES = 10
STAGES = ["download", "catalogue", "scrape", "feedback", "label", "validate", "split@minifigure",
          "pretrain@minifigure", "train@minifigure", "calibrate@minifigure", "evaluate@minifigure",
          "register@minifigure", "predict@minifigure"]  # fmt: skip


def project(root: Path, size: int) -> Path:
    """The project at `root` with the minifigure task alone, rendering `size` pictures, trained as little as it can."""
    per_class = size // CLASSES
    overrides = {
        "synthetic": {
            "minifigures": {"classes": CLASSES, "train_per_class": per_class - per_class // 5,
                            "test_per_class": per_class // 5, "image_size": 64},
            "sets": {"count": 16, "image_height": 64},  # the out-of-catalogue check is not measured
        },
        "out_of_catalogue": {},
        "train": {"minifigure": {"epochs": 1, "imgsz": 32, "batch": 64, "overrides": {"fraction": min(1.0, 500 / size)}}},
    }  # fmt: skip
    return make_repo(root, overrides, environment(root), tasks=["minifigure"])


# Loaded by every Python process the bench starts (PYTHONPATH): at exit each one records its own peak RSS, so that a
# stage's memory is told apart from DVC's (GNU time's %M would give the larger of the two). The peak is the address
# space's own (VmHWM): getrusage's ru_maxrss keeps the peak of the process it was forked from across exec, so a stage
# that DVC starts would report DVC's memory at that moment (325 MB for label at 100,000 pictures, against its own 203).
PROBE = """import atexit, json, os, sys
def _peak(folder=os.environ.get("BENCH_RSS_DIR")):
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    with open(os.path.join(folder, f"{os.getpid()}.json"), "w") as out:
        json.dump({"argv": sys.argv, "rss": peak}, out)
if os.environ.get("BENCH_RSS_DIR"):
    atexit.register(_peak)
"""


def environment(root: Path) -> dict[str, str]:
    probe = root.parent / f"{root.name}-probe"
    probe.mkdir(exist_ok=True)
    (probe / "sitecustomize.py").write_text(PROBE)
    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow' / 'mlflow.db'}",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(probe), os.environ.get("PYTHONPATH")]))}  # fmt: skip


def peaks(reports: Path) -> tuple[int, int]:
    """The largest peak RSS (bytes) of the stage's own processes and of DVC's, from the probe's reports."""
    stage, dvc = 0, 0
    for report in reports.glob("*.json"):
        record = json.loads(report.read_text())
        if any(arg.startswith("stages.") for arg in record["argv"]) or "stages" in Path(record["argv"][0]).parts:
            stage = max(stage, record["rss"])
        elif Path(record["argv"][0]).name == "dvc":
            dvc = max(dvc, record["rss"])
    return stage, dvc


def run_stage(root: Path, *stage: str) -> tuple[float, int, int]:
    """Seconds of `dvc repro` of this one stage (or of the whole pipeline with no stage named), the stage process's
    peak RSS and DVC's (bytes)."""
    args = ["--single-item", *stage] if stage else []
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as reports:
        done = subprocess.run(["/usr/bin/time", "-f", "%e", "dvc", "repro", *args], cwd=root,
                              env=environment(root) | {"BENCH_RSS_DIR": reports}, capture_output=True, text=True)  # fmt: skip
        if done.returncode:
            raise SystemExit(f"{stage or 'dvc repro'} failed at {root}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        if not stage and "Running stage" in done.stdout:
            raise SystemExit(f"a second dvc repro at {root} ran stages again:\n{done.stdout[-2000:]}")
        return float(done.stderr.strip().splitlines()[-1]), *peaks(Path(reports))


def source_bytes(root: Path) -> int:
    """The pictures the data stages brought (`data/raw`): what every later copy would multiply."""
    return sum(p.stat().st_size for p in list_images(root / "data" / "raw"))


def measure(size: int, keep: bool) -> dict[str, tuple[float, int, int]]:
    root = Path(tempfile.mkdtemp(prefix=f"bench-scale-{size}-"))
    try:
        project(root, size)
        timings, disk = {}, 0.0
        for stage in STAGES:
            timings[stage] = run_stage(root, stage)
            if stage == "split@minifigure":  # the data alone: models and reports come after
                disk = data_bytes(root, IMAGE_SUFFIXES) / source_bytes(root)
        no_op, *_ = run_stage(root)  # everything is up to date: what DVC's checks alone cost
        print(
            f"\nN={size}  after split: pictures on disk (data/ and its DVC cache objects) / source bytes = {disk:.2f}"
        )
        print(f"   a second `dvc repro` (nothing to run): {no_op:.1f} s")
        print(f"{'stage':24s} {'seconds':>8s} {'images/s':>10s} {'stage MB':>9s} {'dvc MB':>7s}  (peak RSS)")
        for stage, (seconds, rss, dvc_rss) in timings.items():
            print(f"{stage:24s} {seconds:8.1f} {size / seconds:10.1f} {rss / 2**20:9.0f} {dvc_rss / 2**20:7.0f}")
        return timings
    finally:
        shutil.rmtree(root.parent / f"{root.name}-probe", ignore_errors=True)
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
    memory = {s: results[large][s][1] / results[small][s][1] for s in STAGES if results[small][s][1]}
    heaviest = max(memory, key=lambda s: memory[s])
    for lower in dict.fromkeys([small, sizes[-2]] if len(sizes) > 2 else [small]):
        if large > lower:  # what each process holds per picture: the slope of its peak between two sizes
            print(f"\npeak memory per extra picture from N={lower} to N={large} (KB): stage's own / DVC's")
            for stage in sorted(STAGES, key=lambda s: results[lower][s][1] - results[large][s][1]):
                own, dvc = (
                    (results[large][stage][i] - results[lower][stage][i]) / (large - lower) / 1024 for i in (1, 2)
                )
                print(f"   {stage:24s} {own:6.2f} {dvc:6.2f}")
    print(f"\nworst growth of a stage's own peak memory from N={small} to N={large}: {heaviest}")
    print(f"memory_growth={memory[heaviest]:.2f}")
    print(f"worst growth of seconds per image from N={small} to N={large}: {worst}")
    print(f"growth={growth[worst]:.2f}")


if __name__ == "__main__":
    sys.exit(main())

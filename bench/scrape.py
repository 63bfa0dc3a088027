"""Benchmark: the BrickInsights scraper against a plain sequential `requests` loop, then a kill -9 and resume.

Both fetch the same generated sets from the local emulator, which adds `--latency` to every request
(what a real server's round trip costs). Then a scrape in a subprocess is killed with SIGKILL once half
the images are served, resumed in this process, and the output folder is checked for duplicates (a set
logged or stored twice, the same bytes under two names) and corrupt files (temp leftovers, files that
do not decode or do not match the logged sha256). Last line: `speedup=<x.x> duplicates=<n> corrupt=<n>`.

    python bench/scrape.py [--sets 200] [--latency 0.05] [--workers 16]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin

import requests
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.manifest import SETS_LOG  # noqa: E402
from pipeline.paths import PROJECT_ROOT  # noqa: E402
from pipeline.providers.brickinsights import scrape  # noqa: E402
from tests.emulators.brickinsights import BrickInsights, api_path, generated_catalogue, image_path  # noqa: E402

KILL_SCRIPT = """
import sys
from pathlib import Path
from pipeline.providers.brickinsights import scrape
scrape(sys.argv[4:], Path(sys.argv[1]), base_url=sys.argv[2], rate_limit=0, workers=int(sys.argv[3]))
"""


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def sequential(base_url: str, ids: list[str], out: Path) -> None:
    """The baseline: one keep-alive session, GET the record, GET the image, write the file."""
    out.mkdir(parents=True)
    with requests.Session() as session:
        for set_id in ids:
            body = session.get(f"{base_url}/api/sets/{set_id}", headers={"Accept": "application/json"}).json()
            image = session.get(urljoin(base_url, body["image_urls"]["genericnx400"]))
            (out / f"{set_id}.jpg").write_bytes(image.content)


def kill_midway(server: BrickInsights, ids: list[str], out: Path, workers: int) -> int:
    """Run a scrape in a subprocess and SIGKILL it once half the images are served; returns images served."""
    served = Counter()
    half = threading.Event()

    def count(path: str) -> None:
        served[path.startswith("/crop/")] += 1
        if served[True] >= len(ids) // 2:
            half.set()

    server.hook = count
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    args = [sys.executable, "-c", KILL_SCRIPT, str(out), server.url, str(workers), *ids]
    process = subprocess.Popen(args, cwd=PROJECT_ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        if not half.wait(60):
            raise RuntimeError("the scrape to kill never got halfway")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        server.hook = None
    return served[True]


def set_hits(server: BrickInsights, set_id: str) -> int:
    return server.hits[api_path(set_id)] + server.hits[image_path(set_id)]


def resume(server: BrickInsights, ids: list[str], out: Path, workers: int) -> dict[str, int]:
    """Resume the killed scrape; counts what the log held and what was fetched again that was complete."""
    complete = [r["set_id"] for r in read_log(out) if r.get("status") == "ok"]
    before = {i: set_hits(server, i) for i in complete}
    records = scrape(ids, out, base_url=server.url, rate_limit=0, workers=workers)
    refetched = sum(set_hits(server, i) > before[i] for i in complete)
    ok = sum(r["status"] == "ok" for r in records)
    return {"complete": len(set(complete)), "refetched": refetched, "ok": ok}


def read_log(out: Path) -> list[dict]:
    """Every parseable line (a kill may tear the last one)."""
    records = []
    for line in (out / SETS_LOG).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def duplicates(out: Path) -> int:
    """Extra log records per set, extra files per set, and extra files with the same bytes."""
    logged = Counter(r["set_id"] for r in read_log(out))
    files = [p for p in (out / "images").iterdir() if not p.name.startswith(".")]
    stems = Counter(p.stem for p in files)
    contents = Counter(hashlib.sha256(p.read_bytes()).hexdigest() for p in files)
    return sum(n - 1 for counter in (logged, stems, contents) for n in counter.values())


def corrupt(out: Path) -> int:
    """Temp leftovers, files that do not decode, and files or ok records whose sha256 disagree."""
    records = {r["set_id"]: r for r in read_log(out)}
    bad = {p.name for p in (out / "images").iterdir() if p.name.startswith(".") or not decodes(p)}
    for path in (out / "images").iterdir():
        record = records.get(path.stem, {})
        if record.get("sha256") != hashlib.sha256(path.read_bytes()).hexdigest():
            bad.add(path.name)
    for record in records.values():
        if record["status"] == "ok" and not (out / record["image"]).is_file():
            bad.add(record["image"])
    return len(bad)


def decodes(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, SyntaxError, ValueError):
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    catalogue = generated_catalogue(args.sets)
    ids = list(catalogue)
    with BrickInsights(catalogue, latency=args.latency) as server, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        fast = timed(lambda: scrape(ids, out / "scrape", base_url=server.url, rate_limit=0, workers=args.workers))
        plain = timed(lambda: sequential(server.url, ids, out / "plain"))
        served = kill_midway(server, ids, out / "resume", args.workers)
        resumed = resume(server, ids, out / "resume", args.workers)
        found = {"duplicates": duplicates(out / "resume"), "corrupt": corrupt(out / "resume")}
    speedup = plain / fast
    print(f"{'run':<28}{'sets':>6}{'seconds':>10}{'sets/s':>10}")
    print(f"{'sequential requests':<28}{len(ids):>6}{plain:>10.2f}{len(ids) / plain:>10.1f}")
    print(f"{f'scrape, {args.workers} workers':<28}{len(ids):>6}{fast:>10.2f}{len(ids) / fast:>10.1f}")
    print(
        f"kill -9 after {served} images: {resumed['complete']} complete in the log, {resumed['ok']}/{len(ids)} ok after resume, {resumed['refetched']} complete sets fetched again"
    )
    print(f"speedup={speedup:.1f} duplicates={found['duplicates']} corrupt={found['corrupt']}")


if __name__ == "__main__":
    main()

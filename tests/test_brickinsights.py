"""The BrickInsights scraper against its emulator over real loopback HTTP: faults, rate limit, resume, kill."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from pipeline.http import Client
from pipeline.io import DataError, sha256_file
from pipeline.manifest import SETS_LOG
from pipeline.paths import PROJECT_ROOT
from pipeline.providers.brickinsights import scrape
from tests.emulators.brickinsights import BrickInsights, api_path, generated_catalogue, image_path, real_catalogue

IDS = ["7078-1", "75575-1"]


@pytest.fixture
def server() -> Iterator[BrickInsights]:
    with BrickInsights() as emulator:
        yield emulator


def client(retries: int = 2, timeout: float = 2.0, rate_limit: float = 0.0) -> Client:
    """A client with short backoffs, so retries cost milliseconds."""
    return Client(rate_limit=rate_limit, retries=retries, backoff=0.05, timeout=timeout)


def run(server: BrickInsights, ids: list[str], out: Path, **kwargs) -> list[dict]:
    kwargs.setdefault("client", client())
    return scrape(ids, out, base_url=server.url, **kwargs)


def log_records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / SETS_LOG).read_text().splitlines()]


def leftovers(out: Path) -> list[str]:
    """Temp or partial files in images/ (anything not named `<set_id>.jpg`)."""
    return sorted(p.name for p in (out / "images").iterdir() if p.name.startswith(".") or p.suffix != ".jpg")


def set_hits(server: BrickInsights, set_id: str) -> int:
    return server.hits[api_path(set_id)] + server.hits[image_path(set_id)]


def assert_ok(record: dict, out: Path, served: bytes) -> None:
    """The record is ok and its file decodes, matches the logged hash and the served bytes."""
    assert record["status"] == "ok" and record["error"] is None
    path = out / record["image"]
    with Image.open(path) as image:
        image.load()
    assert sha256_file(path) == record["sha256"] == hashlib.sha256(served).hexdigest()


def test_success_writes_decodable_images_and_log(server: BrickInsights, tmp_path: Path) -> None:
    records = run(server, IDS, tmp_path)
    assert [r["set_id"] for r in records] == IDS
    for record in records:
        assert_ok(record, tmp_path, server.images[record["set_id"]])
    first = records[0]
    assert (first["name"], first["year"], first["image"]) == ("King's Battle Chariot", 2009, "images/7078-1.jpg")
    assert first["image_url"] == f"{server.url}/crop/genericnx400/sets/7078-1.jpg"
    assert log_records(tmp_path) == records
    assert leftovers(tmp_path) == []


def test_image_size_picks_the_url(server: BrickInsights, tmp_path: Path) -> None:
    records = run(server, IDS[:1], tmp_path, image_size="small")
    assert records[0]["image_url"].endswith("/crop/small/sets/7078-1.jpg")
    assert server.hits[image_path("7078-1", "small")] == 1


def test_unknown_set_is_not_found_without_image(server: BrickInsights, tmp_path: Path) -> None:
    records = run(server, ["7078-1", "0000-9"], tmp_path)
    assert records[1] == {"set_id": "0000-9", "name": None, "year": None, "image_url": None, "image": None,
                          "sha256": None, "status": "not_found", "error": None}  # fmt: skip
    assert not list((tmp_path / "images").glob("0000-9*"))
    assert server.hits[api_path("0000-9")] == 1


def test_missing_values_arrive_as_none_strings(tmp_path: Path) -> None:
    catalogue = generated_catalogue(1)
    (set_id,) = catalogue
    with BrickInsights(catalogue) as server:
        server.bodies[set_id].update(name="None", year="None")
        records = run(server, [set_id], tmp_path)
    assert (records[0]["name"], records[0]["year"], records[0]["status"]) == (None, None, "ok")


def test_429_honours_retry_after_then_succeeds(server: BrickInsights, tmp_path: Path) -> None:
    server.fail(api_path("7078-1"), 429, times=1)
    start = time.monotonic()
    records = run(server, IDS[:1], tmp_path)
    assert time.monotonic() - start >= 0.95
    assert_ok(records[0], tmp_path, server.images["7078-1"])
    assert server.hits[api_path("7078-1")] == 2


def test_500_is_retried_then_succeeds(server: BrickInsights, tmp_path: Path) -> None:
    server.fail(image_path("7078-1"), 500, times=2)
    records = run(server, IDS[:1], tmp_path)
    assert_ok(records[0], tmp_path, server.images["7078-1"])
    assert server.hits[image_path("7078-1")] == 3


def test_timeout_is_retried_then_succeeds(server: BrickInsights, tmp_path: Path) -> None:
    server.delay(api_path("7078-1"), 1.0, times=1)
    records = run(server, IDS[:1], tmp_path, client=client(timeout=0.3))
    assert_ok(records[0], tmp_path, server.images["7078-1"])
    assert server.hits[api_path("7078-1")] >= 2


def test_permanent_timeout_fails_that_set_only(server: BrickInsights, tmp_path: Path) -> None:
    server.delay(api_path("7078-1"), 2.0, times=None)
    records = run(server, IDS, tmp_path, client=client(retries=1, timeout=0.2))
    assert records[0]["status"] == "failed" and "/api/sets/7078-1" in records[0]["error"]
    assert records[1]["status"] == "ok"
    assert not list((tmp_path / "images").glob("7078-1*"))


def test_truncated_body_is_retried_then_ok(server: BrickInsights, tmp_path: Path) -> None:
    server.truncate(image_path("7078-1"), times=1)
    records = run(server, IDS[:1], tmp_path)
    assert_ok(records[0], tmp_path, server.images["7078-1"])
    assert server.hits[image_path("7078-1")] == 2
    assert leftovers(tmp_path) == []


def test_always_truncated_body_fails_and_leaves_nothing(server: BrickInsights, tmp_path: Path) -> None:
    server.truncate(image_path("7078-1"), times=None)
    records = run(server, IDS, tmp_path)
    assert records[0]["status"] == "failed" and records[0]["image"] is None and records[0]["sha256"] is None
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["75575-1.jpg"]


def test_corrupt_image_fails_and_writes_nothing(server: BrickInsights, tmp_path: Path) -> None:
    server.corrupt("7078-1")
    records = run(server, IDS, tmp_path)
    assert (records[0]["status"], records[0]["error"]) == ("failed", "corrupt image")
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["75575-1.jpg"]


def test_messages_never_carry_query_strings(server: BrickInsights, tmp_path: Path) -> None:
    server.bodies["7078-1"]["image_urls"]["genericnx400"] += "?signature=secret"
    server.fail(image_path("7078-1"), 500, times=None)
    records = run(server, IDS, tmp_path, client=client(retries=1))
    assert records[0]["status"] == "failed"
    assert "secret" not in json.dumps(records) and "secret" not in (tmp_path / SETS_LOG).read_text()


def test_rate_limit_is_global_across_workers(tmp_path: Path) -> None:
    catalogue = generated_catalogue(5)
    with BrickInsights(catalogue) as server:
        timings = {}
        for rate in (5.0, 0.0):
            start = time.monotonic()
            scrape(list(catalogue), tmp_path / str(rate), base_url=server.url, rate_limit=rate, workers=4)
            timings[rate] = time.monotonic() - start
    assert sum(server.hits.values()) == 20  # 10 requests per run
    assert timings[5.0] >= 1.7 > timings[0.0] + 1.0


def test_resume_fetches_only_failed_and_missing_sets(tmp_path: Path) -> None:
    catalogue = generated_catalogue(6)
    ids = list(catalogue)
    with BrickInsights(catalogue) as server:
        server.fail(ids[2], 500, times=None)
        first = run(server, ids, tmp_path, client=client(retries=1))
        assert [r["status"] for r in first] == ["ok", "ok", "failed", "ok", "ok", "ok"]
        before = Counter(server.hits)
        server.clear()
        second = run(server, ids, tmp_path)
        new = {i: set_hits(server, i) - before[api_path(i)] - before[image_path(i)] for i in ids}
    assert new == {i: (2 if i == ids[2] else 0) for i in ids}
    for record in second:
        assert_ok(record, tmp_path, catalogue[record["set_id"]])
    assert [r["set_id"] for r in log_records(tmp_path)] == ids


def test_resume_refetches_changed_files_and_ignores_a_torn_line(tmp_path: Path) -> None:
    catalogue = generated_catalogue(3)
    ids = list(catalogue)
    with BrickInsights(catalogue) as server:
        run(server, ids, tmp_path)
        (tmp_path / "images" / f"{ids[0]}.jpg").write_bytes(b"tampered")
        (tmp_path / "images" / f"{ids[1]}.jpg").unlink()
        with open(tmp_path / SETS_LOG, "a") as log:
            log.write('{"set_id": "' + ids[2] + '", "status": "fai')
        records = run(server, ids, tmp_path)
    assert [set_hits(server, i) for i in ids] == [4, 4, 2]
    for record in records:
        assert_ok(record, tmp_path, catalogue[record["set_id"]])
    assert [r["set_id"] for r in log_records(tmp_path)] == ids


def test_log_keeps_requested_ids_and_leaves_other_images(tmp_path: Path) -> None:
    catalogue = generated_catalogue(3)
    ids = list(catalogue)
    with BrickInsights(catalogue) as server:
        run(server, ids, tmp_path)
        records = run(server, ids[:1], tmp_path)
    assert log_records(tmp_path) == records and len(records) == 1
    assert len(list((tmp_path / "images").glob("*.jpg"))) == 3


KILL_SCRIPT = """
import sys
from pathlib import Path
from pipeline.http import Client
from pipeline.providers.brickinsights import scrape
scrape(sys.argv[3:], Path(sys.argv[1]), base_url=sys.argv[2], workers=4, client=Client(retries=1, backoff=0.05))
"""


def test_killed_run_resumes_without_duplicates_or_refetches(tmp_path: Path) -> None:
    catalogue = generated_catalogue(40)
    ids = list(catalogue)
    served = Counter()
    enough = threading.Event()

    def count_images(path: str) -> None:
        served[path.startswith("/crop/")] += 1
        if served[True] >= 12:
            enough.set()

    with BrickInsights(catalogue, latency=0.02, hook=count_images) as server:
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        args = [sys.executable, "-c", KILL_SCRIPT, str(tmp_path), server.url, *ids]
        process = subprocess.Popen(args, cwd=PROJECT_ROOT, env=env, stderr=subprocess.DEVNULL)
        try:
            assert enough.wait(30), "the scrape never got going"
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        assert process.returncode == -signal.SIGKILL
        logged = {r["set_id"]: r for r in log_records(tmp_path)}
        complete = [i for i, r in logged.items() if r["status"] == "ok"]
        assert 0 < len(complete) < len(ids)
        (tmp_path / "images" / f".{ids[-1]}.jpg.crash.tmp").write_bytes(b"half a file")  # what a kill can leave
        before = Counter(server.hits)
        records = run(server, ids, tmp_path)
    assert all(set_hits(server, i) == before[api_path(i)] + before[image_path(i)] for i in complete)
    for record in records:
        assert_ok(record, tmp_path, catalogue[record["set_id"]])
    assert [r["set_id"] for r in log_records(tmp_path)] == ids
    assert leftovers(tmp_path) == [] and len(list((tmp_path / "images").iterdir())) == len(ids)


def test_every_set_failing_raises_naming_the_service(server: BrickInsights, tmp_path: Path) -> None:
    for set_id in IDS:
        server.fail(set_id, 500, times=None)
    with pytest.raises(DataError, match=rf"{server.url}: all 2 sets failed; first error: .*HTTP 500"):
        run(server, IDS, tmp_path, client=client(retries=1))
    assert [r["status"] for r in log_records(tmp_path)] == ["failed", "failed"]


def test_service_down_raises_naming_the_service(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(DataError, match=rf"{url}: all 1 sets failed; first error: .*ConnectionError"):
        scrape(["7078-1"], tmp_path, base_url=url, client=client(retries=1))


def test_real_images_come_through_byte_identical(shared_data: Path, tmp_path: Path) -> None:
    catalogue = real_catalogue()
    assert len(catalogue) == 12
    with BrickInsights(catalogue) as server:
        records = run(server, list(catalogue), tmp_path, workers=4)
    for record in records:
        assert record["status"] == "ok"
        original = shared_data / "set-images" / f"{record['set_id']}.jpg"
        assert (tmp_path / record["image"]).read_bytes() == original.read_bytes()

"""A BrickInsights emulator: `/api/sets/{id}` bodies shaped like the real ones, `/crop/<size>/sets/<id>.jpg`
images, and injectable faults (429 with Retry-After, 500, delays, truncated bodies, corrupt images, latency).

    with BrickInsights() as server:
        server.fail("7078-1", 429, times=1)
        scrape(["7078-1"], out, base_url=server.url)
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from PIL import Image

from tests.emulators import SHARED, Emulator

SIZES = (
    "small",
    "medium",
    "large",
    "teaser",
    "teaser_compact",
    "generic140xn",
    "generic200xn",
    "genericnx400",
    "original",
)
SAMPLES = {"7078-1": ("King's Battle Chariot", 2009), "75575-1": ("Ilu Discovery", 2023)}  # as recorded
NOT_FOUND = {"error": "Set not found"}
API_PATH = re.compile(r"^/api/sets/(?P<id>[^/]+)$")
IMAGE_PATH = re.compile(r"^/crop/(?P<size>[^/]+)/sets/(?P<id>[^/]+)\.jpg$")


def api_path(set_id: str) -> str:
    return f"/api/sets/{set_id}"


def image_path(set_id: str, size: str = "genericnx400") -> str:
    return f"/crop/{size}/sets/{set_id}.jpg"


def generated_jpeg(seed: str, size: tuple[int, int] = (96, 128)) -> bytes:
    """A small JPEG whose pixels depend on `seed`, so different sets never share bytes."""
    rng = random.Random(hashlib.sha256(seed.encode()).digest())
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(12):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        image.paste(tuple(rng.randrange(256) for _ in range(3)), (x, y, x + size[0] // 4, y + size[1] // 4))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def set_body(set_id: str, *, number: int = 1, name: str | None = None, year: int | None = 2009) -> dict:
    """An API body like the samples: numbers as strings, "None" for missing, site-relative image paths."""
    return {
        "id": 10000 + number,
        "set_id": set_id,
        "name": name or f"Set {set_id}",
        "year": str(year) if year is not None else "None",
        "image": f"sets/{set_id}.jpg",
        "average_rating": "None" if number % 2 else "71",
        "review_count": "1",
        "url": f"https://brickinsights.com/sets/{set_id}",
        "image_urls": {size: image_path(set_id, size) for size in SIZES},
        "reviews": [
            {"review_url": f"https://brickset.com/reviews/set-{set_id}", "snippet": "None", "review_amount": "1",
             "rating_original": "3.9", "rating_converted": "78.00", "author_name": "None", "embed": "None"}
        ],
    }  # fmt: skip


def real_catalogue() -> dict[str, bytes]:
    """The 12 real set images from ../shared (empty when it is absent)."""
    folder = SHARED / "set-images"
    return {p.stem: p.read_bytes() for p in sorted(folder.glob("*.jpg"))} if folder.is_dir() else {}


def sample_bodies() -> dict[str, dict]:
    """The two recorded API bodies, or generated equivalents where ../shared is absent."""
    bodies = {}
    for number, (set_id, (name, year)) in enumerate(SAMPLES.items(), start=1):
        path = SHARED / "api-samples" / f"brickinsights_set_{set_id}.json"
        recorded = json.loads(path.read_text()) if path.is_file() else None
        bodies[set_id] = recorded or set_body(set_id, number=number, name=name, year=year)
    return bodies


def default_catalogue() -> dict[str, bytes]:
    """Real images where available (12 sets, else 12 generated ones) plus the two sample sets."""
    images = real_catalogue() or {f"{9000 + n}-1": generated_jpeg(f"{9000 + n}-1", (300, 400)) for n in range(12)}
    return {**images, **{set_id: generated_jpeg(set_id, (300, 400)) for set_id in SAMPLES}}


def generated_catalogue(count: int, size: tuple[int, int] = (64, 48)) -> dict[str, bytes]:
    """`count` sets with small distinct JPEGs (for the benchmark and the kill/resume tests)."""
    return {f"{10000 + n}-1": generated_jpeg(f"{10000 + n}-1", size) for n in range(count)}


@dataclass
class Fault:
    """One injected fault for a key (a set id, matching its API and image paths, or an exact path)."""

    kind: str  # "status" | "delay" | "truncate" | "corrupt"
    times: int | None  # the first N matching hits, or None for every hit
    status: int = 0
    seconds: float = 0.0
    hits: int = 0


class BrickInsights(Emulator):
    """The emulator; `hits` is a lock-protected twin of `requests` that concurrent tests can trust."""

    def __init__(
        self,
        catalogue: dict[str, bytes] | None = None,
        *,
        bodies: dict[str, dict] | None = None,
        latency: float = 0.0,
        hook: Callable[[str], None] | None = None,
    ):
        super().__init__(self._route)
        self.server.handle_error = lambda *_: None  # clients that time out and hang up are expected here
        # The base handler sends headers and body in two writes; with Nagle on, every keep-alive
        # response then waits ~40 ms for a delayed ACK, which would swamp the `latency` we emulate.
        self.server.RequestHandlerClass.disable_nagle_algorithm = True
        self.images = default_catalogue() if catalogue is None else dict(catalogue)
        samples = sample_bodies() if catalogue is None else {}
        self.bodies = {i: (bodies or {}).get(i) or samples.get(i) or set_body(i, number=n)
                       for n, i in enumerate(self.images, start=1)}  # fmt: skip
        self.latency = latency
        self.hook = hook
        self.hits: Counter[str] = Counter()
        self.faults: dict[str, list[Fault]] = {}
        self._lock = threading.Lock()

    def fail(self, key: str, status: int, times: int | None = 1) -> None:
        """Answer `status` (429 comes with `Retry-After: 1`) to the first `times` hits (None: always)."""
        self._add(key, Fault("status", times, status=status))

    def delay(self, key: str, seconds: float, times: int | None = 1) -> None:
        """Wait `seconds` before answering (longer than the client's timeout emulates a hung server)."""
        self._add(key, Fault("delay", times, seconds=seconds))

    def truncate(self, key: str, times: int | None = 1) -> None:
        """Promise the full Content-Length, send half the body, then close the connection."""
        self._add(key, Fault("truncate", times))

    def corrupt(self, key: str, times: int | None = None) -> None:
        """Serve the first 300 bytes of the image: a valid JPEG header that fails to decode."""
        self._add(key, Fault("corrupt", times))

    def clear(self, key: str | None = None) -> None:
        """Remove the faults of `key`, or all of them: the service recovers."""
        with self._lock:
            if key is None:
                self.faults.clear()
            else:
                self.faults.pop(key, None)

    def _add(self, key: str, fault: Fault) -> None:
        with self._lock:
            self.faults.setdefault(key, []).append(fault)

    def _active(self, path: str, set_id: str | None) -> list[Fault]:
        """The faults that fire for this hit (each counts its own hits)."""
        with self._lock:
            self.hits[path] += 1
            firing = []
            for key in (path, set_id):
                for fault in self.faults.get(key or "", []):
                    if fault.times is None or fault.hits < fault.times:
                        fault.hits += 1
                        firing.append(fault)
            return firing

    def _route(self, handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes] | str | None:
        path = handler.path.split("?")[0]
        match = API_PATH.match(path) or IMAGE_PATH.match(path)
        set_id = match["id"] if match else None
        if self.hook:
            self.hook(path)
        if self.latency:
            time.sleep(self.latency)
        faults = self._active(path, set_id)
        for fault in faults:
            if fault.kind == "delay":
                time.sleep(fault.seconds)
            if fault.kind == "status":
                retry_after = {"Retry-After": "1"} if fault.status == 429 else {}
                return fault.status, {"Content-Type": "text/plain", **retry_after}, b"injected fault"
        response = self._answer(path, set_id, corrupt=any(f.kind == "corrupt" for f in faults))
        if response and any(f.kind == "truncate" for f in faults):
            return _send_truncated(handler, *response)
        return response

    def _answer(self, path: str, set_id: str | None, *, corrupt: bool) -> tuple[int, dict[str, str], bytes] | None:
        if set_id is None:
            return None
        if API_PATH.match(path):
            body = self.bodies.get(set_id, NOT_FOUND)
            return 200, {"Content-Type": "application/json"}, json.dumps(body, indent=2).encode()
        image = self.images.get(set_id)
        if image is None or IMAGE_PATH.match(path)["size"] not in SIZES:
            return None
        return 200, {"Content-Type": "image/jpeg"}, image[:300] if corrupt else image


def _send_truncated(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> str:
    handler.send_response(status)
    for key, value in headers.items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body[: len(body) // 2])
    handler.wfile.flush()
    handler.close_connection = True
    return "handled"

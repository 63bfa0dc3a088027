"""Kaggle emulator: the dataset-download API and the storage host its 302 points to, on two ports.

Like the live pair (www.kaggle.com → storage.googleapis.com): the API checks a Bearer token or HTTP
basic auth (401 for unknown credentials, 403 for a valid user without access, 404 for an unknown
dataset) and redirects to a signed URL (`?X-Goog-Signature=…`); the storage host refuses a bad
signature (403), serves the zip with Content-Length, honours `Range` (206 + Content-Range, 416 past
the end) and can be told to drop the connection after N bytes, ignore `Range`, or serve corrupt bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from PIL import Image

from tests.emulators import SHARED, Emulator

DATASET = "ihelon/lego-minifigures-classification"
REAL_LAYOUT = SHARED / "lego-minifigures"
SIGNING_KEY = b"emulator-signing-key"
API_PREFIX = "/api/v1/datasets/download/"
RANGE = re.compile(r"bytes=(\d+)-(\d*)$")
UNIVERSES = ("marvel", "star-wars", "harry-potter")


def make_layout(root: Path, per_class: int = 2) -> Path:
    """A small Kaggle-layout folder (37-class schema: index/test/metadata CSVs) for when ../shared is absent."""
    index, test, meta = ["path,class_id"], ["path,class_id"], ["class_id,lego_ids,lego_names,minifigure_name"]
    for class_id, universe in enumerate(UNIVERSES, start=1):
        for i in range(per_class + 1):
            rel = f"test/{class_id:03d}.jpg" if i == per_class else f"{universe}/{class_id:04d}/{i + 1:03d}.jpg"
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (64, 64), (60 * class_id, 40 * i, 90)).save(path, quality=90)
            (test if i == per_class else index).append(f"{rel},{class_id}")
        meta.append(f"{class_id},[7600{class_id}],['Set {class_id}'],FIGURE {class_id}")
    for name, lines in (("index.csv", index), ("test.csv", test), ("metadata.csv", meta)):
        (root / name).write_text("\n".join(lines) + "\n")
    return root


def zip_folder(folder: Path) -> bytes:
    """Every file under `folder`, at its relative path (Kaggle's archives have no top-level folder)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def minifigures_zip(workdir: Path) -> bytes:
    """The real Kaggle copy zipped when ../shared is present, else a generated small layout."""
    if REAL_LAYOUT.is_dir():
        return zip_folder(REAL_LAYOUT)
    return zip_folder(make_layout(workdir / "generated-layout"))


def evil_zip() -> bytes:
    """A Kaggle-looking zip with an entry that would escape the extraction folder."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.csv", "path,class_id\n")
        archive.writestr("../evil.txt", "escaped")
    return buffer.getvalue()


def corrupted(data: bytes) -> bytes:
    """The same length with bytes flipped in the middle, so an entry's CRC (or a header) no longer matches."""
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]


def sign(path: str) -> str:
    return hmac.new(SIGNING_KEY, path.encode(), hashlib.sha256).hexdigest()


class KaggleService:
    """`with KaggleService(zip_bytes) as kaggle:` → `kaggle.url` (the API) and `kaggle.storage` (signed URLs).

    Test knobs: `cuts` (per storage hit, drop the connection after that many body bytes), `ignore_range`,
    `corrupt`. Records: `api_auth` / `storage_auth` (Authorization header per hit, None when absent),
    `ranges` (Range header per storage hit), `bytes_sent` (body bytes the storage host wrote).
    """

    def __init__(
        self,
        archive: bytes,
        *,
        dataset: str = DATASET,
        tokens: frozenset[str] = frozenset({"kgat-good", "kgat-no-access"}),
        users: dict[str, str] | None = None,
        no_access: frozenset[str] = frozenset({"kgat-no-access", "bob"}),
    ):
        self.archive = archive
        self.dataset = dataset
        self.tokens = tokens
        self.users = users if users is not None else {"alice": "alice-key", "bob": "bob-key"}
        self.no_access = no_access
        self.cuts: list[int] = []
        self.ignore_range = False
        self.corrupt = False
        self.api_auth: list[str | None] = []
        self.storage_auth: list[str | None] = []
        self.ranges: list[str | None] = []
        self.bytes_sent = 0
        self._lock = threading.Lock()
        self.api = Emulator(self._api_route)
        self.storage = Emulator(self._storage_route)

    @property
    def url(self) -> str:
        return self.api.url

    @property
    def storage_path(self) -> str:
        return f"/kaggle-data-sets/{self.dataset}/archive.zip"

    def __enter__(self) -> KaggleService:
        self.api.__enter__()
        self.storage.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.api.__exit__(*exc)
        self.storage.__exit__(*exc)

    def _identity(self, header: str | None) -> str | None:
        """The token or user name the Authorization header proves, or None."""
        scheme, _, value = (header or "").partition(" ")
        if scheme == "Bearer" and value in self.tokens:
            return value
        if scheme == "Basic":
            try:
                user, _, key = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return None
            return user if user in self.users and hmac.compare_digest(self.users[user], key) else None
        return None

    def _api_route(self, handler: BaseHTTPRequestHandler):
        header = handler.headers.get("Authorization")
        self.api_auth.append(header)
        path = urlsplit(handler.path).path
        if not path.startswith(API_PREFIX):
            return None
        identity = self._identity(header)
        if identity is None:
            return 401, {"Content-Type": "application/json"}, b'{"code":401,"message":"Unauthenticated"}'
        if identity in self.no_access:
            body = b'{"code":403,"message":"Permission \'datasets.get\' was denied"}'
            return 403, {"Content-Type": "application/json"}, body
        if path[len(API_PREFIX) :].strip("/") != self.dataset:
            return 404, {"Content-Type": "application/json"}, b'{"code":404,"message":"Not found"}'
        target = f"{self.storage.url}{self.storage_path}?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Expires=600"
        return 302, {"Location": f"{target}&X-Goog-Signature={sign(self.storage_path)}"}, b""

    def _storage_route(self, handler: BaseHTTPRequestHandler):
        self.storage_auth.append(handler.headers.get("Authorization"))
        self.ranges.append(handler.headers.get("Range"))
        parts = urlsplit(handler.path)
        if parts.path != self.storage_path:
            return None
        signature = parse_qs(parts.query).get("X-Goog-Signature", [""])[0]
        if not hmac.compare_digest(signature, sign(parts.path)):
            return 403, {"Content-Type": "application/xml"}, b"<Error><Code>SignatureDoesNotMatch</Code></Error>"
        return self._serve(handler, corrupted(self.archive) if self.corrupt else self.archive)

    def _serve(self, handler: BaseHTTPRequestHandler, data: bytes):
        """200 or 206 per the Range header; a pending cut drops the connection part-way through the body."""
        total = len(data)
        headers = {"Content-Type": "application/zip", "Accept-Ranges": "bytes"}
        status, start, end = 200, 0, total - 1
        match = RANGE.match(handler.headers.get("Range") or "")
        if match and not self.ignore_range:
            start = int(match.group(1))
            end = min(int(match.group(2) or total - 1), total - 1)
            if start >= total:
                return 416, {"Content-Range": f"bytes */{total}"}, b""
            status, headers["Content-Range"] = 206, f"bytes {start}-{end}/{total}"
        body = data[start : end + 1]
        with self._lock:
            cut = self.cuts.pop(0) if self.cuts else None
            self.bytes_sent += len(body) if cut is None else min(cut, len(body))
        if cut is None:
            return status, headers, body
        return self._cut(handler, status, headers, body, cut)

    @staticmethod
    def _cut(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes, cut: int) -> str:
        """Announce the whole body, send `cut` bytes of it, then close the connection (a killed transfer)."""
        handler.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body[:cut])
        handler.wfile.flush()
        handler.close_connection = True
        return "handled"

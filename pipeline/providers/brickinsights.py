"""BrickInsights scraper: set records from `/api/sets/{id}` and their product images, resumable.

Every finished set is appended to `sets.jsonl` at once, so a killed run loses nothing; a re-run
skips sets already complete on disk and fetches only the missing or failed ones. All requests go
through one shared `Client`, so its rate limit is global across the worker threads.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path, PurePosixPath
from typing import IO
from urllib.parse import quote, urljoin, urlsplit

from PIL import Image
from tqdm import tqdm

from pipeline.http import Client, safe_url
from pipeline.io import DataError, atomic_path, sha256_file, write_text
from pipeline.manifest import SETS_LOG

IMAGES = "images"
SET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # also keeps ids from escaping images/
MAX_ERROR = 200


def scrape(
    set_ids: Sequence[str],
    out_dir: Path,
    *,
    base_url: str,
    image_size: str = "genericnx400",
    rate_limit: float = 1.0,
    workers: int = 4,
    timeout: float = 30.0,
    retries: int = 5,
    client: Client | None = None,
) -> list[dict]:
    """Fetch each set's record and image into `out_dir`; returns one record per id, in input order.

    `rate_limit`, `timeout` and `retries` configure the client made here; a given `client` is used as is.
    Raises `DataError` only if every requested set failed (the service is most likely down).
    """
    out_dir = Path(out_dir)
    ids = list(dict.fromkeys(set_ids))
    (out_dir / IMAGES).mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(out_dir / IMAGES)
    log = out_dir / SETS_LOG
    latest = _read_log(log)
    _write_log(log, latest.values())  # drops a torn last line before appending to the file
    done = {i: latest[i] for i in ids if i in latest and _is_complete(latest[i], out_dir)}
    todo = [i for i in ids if i not in done]
    client = client or Client(rate_limit=rate_limit, retries=retries, timeout=timeout)
    fetched = _run(todo, done, out_dir, log, client, base_url, image_size, workers)
    records = [done.get(i) or fetched[i] for i in ids]
    _write_log(log, records)
    _raise_if_all_failed(records, base_url)
    return records


def _run(
    todo: list[str],
    done: dict[str, dict],
    out_dir: Path,
    log: Path,
    client: Client,
    base_url: str,
    image_size: str,
    workers: int,
) -> dict[str, dict]:
    """Fetch `todo` on a thread pool, logging each record as it lands; pending work is cancelled on error."""
    counts = Counter(r["status"] for r in done.values())
    results: dict[str, dict] = {}
    bar = tqdm(total=len(done) + len(todo), initial=len(done), desc="scrape sets", unit="set")
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="brickinsights")
    try:
        with open(log, "a", encoding="utf-8") as handle:
            futures = [pool.submit(_fetch_set, client, base_url, i, image_size, out_dir) for i in todo]
            for future in as_completed(futures):
                record = future.result()
                _append(handle, record)
                results[record["set_id"]] = record
                counts[record["status"]] += 1
                bar.set_postfix({k: counts[k] for k in ("ok", "not_found", "failed")}, refresh=False)
                bar.update(1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    return results


def _fetch_set(client: Client, base_url: str, set_id: str, image_size: str, out_dir: Path) -> dict:
    """One set's record; any data or network error becomes a `failed` record, never an exception."""
    record = _record(set_id)
    if not SET_ID.match(set_id):
        return {**record, "error": "invalid set id"}
    try:
        body = client.get_json(f"{base_url.rstrip('/')}/api/sets/{quote(set_id, safe='')}")
        if not isinstance(body, dict):
            raise DataError(f"{safe_url(base_url)}: unexpected API response")
        if "error" in body:
            record["status"] = "not_found"
        else:
            url = _image_url(body, base_url, image_size)
            record.update(name=_text(body.get("name")), year=_int(body.get("year")), image_url=safe_url(url))
            record.update(_download(client, url, set_id, out_dir))
    except (DataError, OSError) as exc:
        record["error"] = _short_error(exc)
    if record["status"] != "ok":
        _remove_images(out_dir / IMAGES, set_id)
    return record


def _record(set_id: str) -> dict:
    """The record's full shape, so every line of the log has the same keys."""
    return {"set_id": set_id, "name": None, "year": None, "image_url": None, "image": None, "sha256": None,
            "status": "failed", "error": None}  # fmt: skip


def _image_url(body: dict, base_url: str, image_size: str) -> str:
    """The absolute image URL; the API gives site-relative paths such as `/crop/genericnx400/sets/7078-1.jpg`."""
    urls = body.get("image_urls")
    path = _text(urls.get(image_size)) if isinstance(urls, dict) else None
    if path is None:
        raise DataError(f"no '{image_size}' image")
    return urljoin(base_url.rstrip("/") + "/", path)


def _download(client: Client, url: str, set_id: str, out_dir: Path) -> dict:
    """Write the image via a temp file in images/; it is renamed into place only if Pillow decodes it."""
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower() or ".jpg"
    target = out_dir / IMAGES / f"{set_id}{suffix}"
    data = client.get_bytes(url)
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
        _check_decodes(tmp)
        digest = sha256_file(tmp)
    return {"image": target.relative_to(out_dir).as_posix(), "sha256": digest, "status": "ok"}


def _check_decodes(path: Path) -> None:
    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise DataError("corrupt image") from None


def _text(value: object) -> str | None:
    text = None if value is None else str(value).strip()
    return None if text in (None, "", "None") else text


def _int(value: object) -> int | None:
    text = _text(value)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _short_error(exc: Exception) -> str:
    """A one-line reason; exceptions outside our own carry URLs with queries, so only their type is kept."""
    text = str(exc) if isinstance(exc, DataError) else type(exc).__name__
    return text.splitlines()[0][:MAX_ERROR] if text else type(exc).__name__


def _is_complete(record: dict, out_dir: Path) -> bool:
    """Not found is final; ok counts only while the image on disk still has the logged hash."""
    if record.get("status") == "not_found":
        return True
    if record.get("status") != "ok" or not record.get("image") or not record.get("sha256"):
        return False
    path = out_dir / record["image"]
    return path.is_file() and sha256_file(path) == record["sha256"]


def _read_log(path: Path) -> dict[str, dict]:
    """The latest record per set id; unreadable lines (a torn last line after a kill) are skipped."""
    latest: dict[str, dict] = {}
    if not path.is_file():
        return latest
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("set_id"), str):
            latest.pop(record["set_id"], None)
            latest[record["set_id"]] = record
    return latest


def _write_log(path: Path, records: Iterable[dict]) -> None:
    write_text(path, "".join(json.dumps(r) + "\n" for r in records))


def _append(handle: IO[str], record: dict) -> None:
    """Called only from the thread collecting results, so lines never interleave; flushed so a kill keeps it."""
    handle.write(json.dumps(record) + "\n")
    handle.flush()


def _remove_images(images: Path, set_id: str) -> None:
    """A set that did not end ok keeps no image, so images/ never holds a file the log does not vouch for."""
    for path in images.iterdir():
        if path.stem == set_id and path.is_file():
            path.unlink(missing_ok=True)


def _remove_stale_temps(images: Path) -> None:
    """Temp files survive only a hard kill mid-write; they are never a finished image."""
    for tmp in images.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def _raise_if_all_failed(records: list[dict], base_url: str) -> None:
    if records and all(r["status"] == "failed" for r in records):
        raise DataError(f"{safe_url(base_url)}: all {len(records)} sets failed; first error: {records[0]['error']}")

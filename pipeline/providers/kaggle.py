"""Kaggle dataset download: credentials, the 302 to signed storage, a resumable `.part`, zip verification.

The API answer is a redirect to a signed URL on another host; it is followed by hand so the Kaggle
credentials only ever go to the Kaggle host. A killed download leaves `<zip>.part`, which the next call
resumes with `Range`. Secrets (token, key, the signed URL's query) never reach a message or a log.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote, urljoin

import requests
import urllib3
from tqdm import tqdm

from pipeline.http import Client, HTTPError, safe_url
from pipeline.io import DataError

KAGGLE_URL = "https://www.kaggle.com"
CHUNK = 1 << 16
HOW_TO = (
    "set KAGGLE_API_TOKEN (or ~/.kaggle/access_token), or KAGGLE_USERNAME and KAGGLE_KEY (or ~/.kaggle/kaggle.json)"
)
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")

Credentials = tuple[str, str | tuple[str, str]]


class _Interrupted(Exception):
    """The body stopped early; what arrived is kept in the `.part` for the next attempt."""


def _config_dir(env: Mapping[str, str], home: Path | None) -> Path:
    """`KAGGLE_CONFIG_DIR`, else `<home>/.kaggle` (home looked up per call, so a changed HOME is seen)."""
    if env.get("KAGGLE_CONFIG_DIR"):
        return Path(env["KAGGLE_CONFIG_DIR"])
    return Path(home or Path.home()) / ".kaggle"


def _token_file(path: Path) -> str | None:
    if not path.is_file():
        return None
    token = path.read_text().strip()
    if not token:
        raise DataError(f"{path}: empty Kaggle token file; {HOW_TO}")
    return token


def _key_file(path: Path) -> tuple[str, str] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        user, key = data["username"], data["key"]
    except (ValueError, KeyError, TypeError):
        raise DataError(f'{path}: not a Kaggle kaggle.json (expected {{"username": …, "key": …}})') from None
    return str(user), str(key)


def credentials(env: Mapping[str, str] = os.environ, home: Path | None = None) -> Credentials:
    """`("bearer", token)` or `("basic", (user, key))`: environment first (token, then user/key), then files."""
    if env.get("KAGGLE_API_TOKEN"):
        return "bearer", env["KAGGLE_API_TOKEN"]
    if env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY"):
        return "basic", (env["KAGGLE_USERNAME"], env["KAGGLE_KEY"])
    folder = _config_dir(env, home)
    token = _token_file(folder / "access_token")
    if token:
        return "bearer", token
    pair = _key_file(folder / "kaggle.json")
    if pair:
        return "basic", pair
    raise DataError(
        f"no Kaggle credentials: {HOW_TO}; or use sources.minifigures.provider 'local' or 'synthetic', which work offline"
    )


def _auth_kwargs(creds: Credentials) -> dict:
    """Request keyword arguments carrying the credentials (only ever passed to the Kaggle host)."""
    kind, secret = creds
    if kind == "bearer":
        return {"headers": {"Authorization": f"Bearer {secret}"}}
    return {"auth": secret}


def dataset_url(base_url: str, dataset: str) -> str:
    owner, _, slug = dataset.partition("/")
    if not owner or not slug or "/" in slug:
        raise DataError(f"Kaggle dataset {dataset!r}: expected 'owner/slug'")
    return f"{base_url.rstrip('/')}/api/v1/datasets/download/{quote(owner)}/{quote(slug)}"


def _refused(exc: HTTPError, dataset: str) -> DataError:
    access = "; the account may lack access to it" if exc.status == 403 else ""
    return DataError(f"Kaggle refused the credentials (HTTP {exc.status}) for dataset {dataset}{access}: {HOW_TO}")


def _open(client: Client, url: str, dataset: str, creds: Credentials, offset: int) -> requests.Response:
    """The zip response: ask Kaggle (with credentials), then follow its redirect without them."""
    ranged = {"Accept-Encoding": "identity", **({"Range": f"bytes={offset}-"} if offset else {})}
    auth = _auth_kwargs(creds)
    auth["headers"] = {**auth.get("headers", {}), **ranged}
    try:
        response = client.request(url, stream=True, allow_redirects=False, **auth)
    except HTTPError as exc:
        if exc.status in (401, 403):
            raise _refused(exc, dataset) from None
        if exc.status == 404:
            raise DataError(f"{safe_url(url)}: Kaggle has no dataset {dataset} (HTTP 404)") from None
        raise
    if not response.is_redirect:
        return response
    location = urljoin(url, response.headers["Location"])
    response.close()
    try:
        return client.request(location, stream=True, headers=ranged)
    except HTTPError as exc:
        if exc.status in (401, 403):
            raise DataError(f"{exc} (the signed download URL was refused; run again for a fresh one)") from None
        raise


def _span(response: requests.Response, offset: int) -> tuple[int, int | None]:
    """`(first byte, total size)` of the body: 206 continues at `offset`, 200 restarts at zero."""
    if response.status_code != 206:
        length = response.headers.get("Content-Length")
        return 0, int(length) if length else None
    match = CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    if not match or int(match.group(1)) != offset:
        raise DataError(f"{safe_url(response.url)}: answered Range {offset}- with an unusable Content-Range")
    return offset, None if match.group(3) == "*" else int(match.group(3))


def _stream(response: requests.Response, part: Path, dataset: str, offset: int) -> int | None:
    """Append (206) or rewrite (200) `part` with the raw body, returning the total size.

    Raw reads (the body is asked unencoded, so offsets are file offsets) hand over every byte that
    arrived before a drop; `iter_content` can lose the last partial chunk, which a resume would re-fetch.
    """
    try:
        start, total = _span(response, offset)
    except DataError:
        part.unlink(missing_ok=True)  # a resume that cannot be trusted: the next run starts clean
        raise
    with open(part, "ab" if start else "wb") as out, tqdm(
        total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024, desc=f"download {dataset}"
    ) as bar:  # fmt: skip
        try:
            while chunk := response.raw.read(CHUNK, decode_content=False):
                out.write(chunk)
                bar.update(len(chunk))
        except urllib3.exceptions.HTTPError:  # dropped, truncated or timed out (urllib3 wraps socket errors)
            raise _Interrupted() from None
    size = part.stat().st_size
    if total is not None and size < total:
        raise _Interrupted()
    return total


def _verify(part: Path, total: int | None, source: str) -> None:
    """A complete, readable zip of the announced size; otherwise remove the `.part` (the next run starts clean)."""
    size = part.stat().st_size
    problem = f"{size} bytes, expected {total}" if total is not None and size != total else None
    if problem is None:
        try:
            with zipfile.ZipFile(part) as archive:
                bad = archive.testzip()
            problem = f"corrupt entry {bad!r}" if bad is not None else None
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            problem = f"not a valid zip ({exc})"
    if problem:
        part.unlink(missing_ok=True)
        raise DataError(f"{source}: downloaded zip is corrupt ({problem}); removed it, run again to restart")


def _attempt(client: Client, url: str, dataset: str, creds: Credentials, part: Path) -> tuple[int | None, str]:
    """One request, resuming from the `.part` size; `(total, safe source URL)` or `_Interrupted`."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(client, url, dataset, creds, offset)
    except HTTPError as exc:
        if exc.status != 416 or not offset:
            raise
        return None, safe_url(url)  # nothing left past `offset`: the .part is whole, or the zip check says not
    with response:
        return _stream(response, part, dataset, offset), safe_url(response.url)


def download(
    dataset: str,
    target_zip: Path,
    *,
    base_url: str = KAGGLE_URL,
    client: Client | None = None,
    env: Mapping[str, str] = os.environ,
    home: Path | None = None,
) -> Path:
    """Download Kaggle dataset `owner/slug` to `target_zip`, resuming a `.part` left by an earlier run."""
    creds = credentials(env, home)
    url = dataset_url(base_url, dataset)
    client = client or Client()
    target_zip = Path(target_zip)
    target_zip.parent.mkdir(parents=True, exist_ok=True)
    part = target_zip.with_suffix(".zip.part")
    for attempt in range(client.retries + 1):
        try:
            total, source = _attempt(client, url, dataset, creds, part)
            break
        except _Interrupted:
            if attempt == client.retries:
                raise DataError(
                    f"{safe_url(url)}: download of {dataset} interrupted {attempt + 1} times; "
                    f"{part.name} kept, run again to resume"
                ) from None
            client.sleep(client.backoff * 2**attempt)
    _verify(part, total, source)
    os.replace(part, target_zip)
    return target_zip

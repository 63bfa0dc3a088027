"""Rebrickable catalogue: the no-key CSV dumps, or the API v3 lists when `REBRICKABLE_API_KEY` is set.

Both end as `cache_dir/{sets,themes}.csv` in the dump's shape, read back with `read_catalogue`, so the
rest of the pipeline never knows which one ran. The key travels only in the `Authorization` header, to
the API's own host, and never into a message.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
from tqdm import tqdm

from pipeline.http import Client, HTTPError, safe_url
from pipeline.io import DataError, atomic_path, write_csv
from pipeline.themes import SETS_COLUMNS, THEMES_COLUMNS, read_catalogue

DUMPS_URL = "https://cdn.rebrickable.com/media/downloads"
API_URL = "https://rebrickable.com/api/v3"
KEY_ENV = "REBRICKABLE_API_KEY"
REFUSED = f"Rebrickable refused the API key ({KEY_ENV})"
RATE_LIMIT = 1.0  # Rebrickable answers 429 beyond about one request a second
TABLES = (("sets.csv", SETS_COLUMNS), ("themes.csv", THEMES_COLUMNS))


def _client(client: Client | None) -> Client:
    return client or Client(rate_limit=RATE_LIMIT)


def _gunzip(body: bytes, url: str) -> bytes:
    """The CSV inside a `.csv.gz` (or the body as is, when a proxy already decoded it)."""
    if body[:2] != b"\x1f\x8b":
        return body
    try:
        return gzip.decompress(body)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{safe_url(url)}: not a readable gzip file ({exc})") from None


def _check_header(data: bytes, columns: list[str], url: str) -> None:
    """Refuse a dump without the expected columns before it replaces a good cached copy."""
    header = data.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").strip().split(",")
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"{safe_url(url)}: missing column(s) {missing} (expected a Rebrickable dump CSV)")


def download_dumps(
    base_url: str, cache_dir: Path, *, client: Client | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fetch `{sets,themes}.csv.gz` (no key), save them as `cache_dir/{sets,themes}.csv`, return `(sets, themes)`."""
    client = _client(client)
    tables = {}
    for name, columns in TABLES:
        url = f"{base_url.rstrip('/')}/{name}.gz"
        tables[name] = _gunzip(client.get_bytes(url), url)
        _check_header(tables[name], columns, url)
    for name, data in tables.items():
        with atomic_path(Path(cache_dir) / name) as tmp:
            tmp.write_bytes(data)
    return read_catalogue(cache_dir)


def _page(client: Client, url: str, key: str) -> dict:
    """One list page; a refused key becomes one line that names the variable, never the key."""
    try:
        body = client.get_json(url, headers={"Authorization": f"key {key}"})
    except HTTPError as exc:
        if exc.status in (401, 403):
            raise DataError(REFUSED) from None
        raise
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise DataError(f"{safe_url(url)}: not a Rebrickable API list page (no 'results')")
    return body


def _follow(client: Client, url: str, key: str, what: str) -> list[dict]:
    """Every result of a paginated list, following `next` (on the same host only: it gets the key)."""
    host, seen, rows = urlsplit(url).hostname, set(), []
    with tqdm(desc=f"rebrickable {what}", unit="row") as bar:
        while url:
            if urlsplit(url).hostname != host or url in seen:
                raise DataError(f"{safe_url(url)}: unexpected 'next' link in the {what} list (off-host or a loop)")
            seen.add(url)
            body = _page(client, url, key)
            bar.total = body.get("count")
            rows.extend(body["results"])
            bar.update(len(body["results"]))
            url = body.get("next") or ""
    return rows


def _frame(rows: list[dict], columns: list[str], what: str) -> pd.DataFrame:
    missing = sorted({c for row in rows for c in columns if c not in row})
    if missing:
        raise DataError(f"Rebrickable API {what}: result(s) without field(s) {missing}")
    return pd.DataFrame.from_records(rows, columns=columns)


def fetch_api(
    api_url: str, key: str, *, client: Client | None = None, page_size: int = 1000
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`(sets, themes)` from API v3, in the dumps' columns (a root theme's `parent_id` is NaN)."""
    client = _client(client)
    base = api_url.rstrip("/")
    themes = _frame(
        _follow(client, f"{base}/lego/themes/?page_size={page_size}", key, "themes"), THEMES_COLUMNS, "themes"
    )
    sets = _frame(_follow(client, f"{base}/lego/sets/?page_size={page_size}", key, "sets"), SETS_COLUMNS, "sets")
    themes["parent_id"] = pd.to_numeric(themes["parent_id"], errors="coerce").astype(float)
    return sets, themes


def fetch_catalogue(
    base_url: str,
    api_url: str,
    cache_dir: Path,
    *,
    env: Mapping[str, str] = os.environ,
    client: Client | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The API when `REBRICKABLE_API_KEY` is set, else the dumps; either way cached as the dump's CSVs."""
    key = env.get(KEY_ENV, "").strip()
    if not key:
        return download_dumps(base_url, cache_dir, client=client)
    sets, themes = fetch_api(api_url, key, client=client)
    write_csv(Path(cache_dir) / "sets.csv", sets)
    write_csv(Path(cache_dir) / "themes.csv", themes.astype({"parent_id": "Int64"}))  # "5", not "5.0", as in the dump
    return read_catalogue(cache_dir)

"""Rebrickable emulator: the no-key CSV dumps and the API v3 lists `/lego/themes/` and `/lego/sets/`.

Dumps: `/media/downloads/{sets,themes}.csv.gz`, gzip of the dump CSVs (sets with or without the newer
`img_url` column). API: `Authorization: key <KEY>` required (401 otherwise), Django-REST pagination
(`page`, `page_size` capped at 1000, bodies of count/next/previous/results with absolute URLs, 404
"Invalid page."), and optionally 429 + Retry-After on the first N API hits, as the live throttle does.
"""

from __future__ import annotations

import gzip
import json
import math
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import pandas as pd

from tests.emulators import SHARED, Emulator

DUMP = SHARED / "rebrickable-2021"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
JSON = {"Content-Type": "application/json"}

# The dump subset in ../shared/data/api-samples, used when ../shared is absent.
FALLBACK_THEMES = [
    (1, "Technic", None), (5, "Model", 1), (6, "Airport", 5), (13, "Riding Cycle", 5), (158, "Star Wars", None),
    (171, "Ultimate Collector Series", 158), (186, "Castle", None), (193, "Fantasy Era", 186),
    (254, "Bulk Bricks", None), (390, "Fabuland", None), (411, "Legoland", None), (413, "Building", 411),
    (535, "Collectible Minifigures", None), (537, "Series 2 Minifigures", 535),
]  # fmt: skip
FALLBACK_SETS = [
    ("2544-1", "Motorcycle", 1998, 13, 27), ("341-2", "Cathy Cat's & Morty Mouse's Cottage", 1979, 390, 115),
    ("3460-1", "2 x 4 White Bricks", 2003, 254, 50), ("362-1", "Windmill", 1975, 413, 211),
    ("7078-1", "King's Battle Chariot", 2009, 193, 103), ("75192-1", "UCS Millennium Falcon", 2017, 171, 7541),
    ("8684-2", "Spartan Warrior", 2010, 537, 8),
]  # fmt: skip


def catalogue() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 2021 dump from ../shared when present, else the sample subset: `(sets, themes)`."""
    if DUMP.is_dir():
        return pd.read_csv(DUMP / "sets.csv", dtype={"set_num": str}), pd.read_csv(DUMP / "themes.csv")
    sets = pd.DataFrame(FALLBACK_SETS, columns=["set_num", "name", "year", "theme_id", "num_parts"])
    return sets, pd.DataFrame(FALLBACK_THEMES, columns=["id", "name", "parent_id"])


def with_img_url(sets: pd.DataFrame) -> pd.DataFrame:
    """The current dump's sixth column."""
    return sets.assign(img_url=[f"https://cdn.rebrickable.com/media/sets/{s}.jpg" for s in sets["set_num"]])


def _set_record(row: dict) -> dict:
    return {
        **{key: row[key] for key in ("set_num", "name", "year", "theme_id", "num_parts")},
        "set_img_url": f"https://cdn.rebrickable.com/media/sets/{row['set_num']}.jpg",
        "set_url": f"https://rebrickable.com/sets/{row['set_num']}/",
        "last_modified_dt": "2021-08-01T00:00:00.000000Z",
    }


def _theme_record(row: dict) -> dict:
    parent = row["parent_id"]
    return {"id": int(row["id"]), "parent_id": None if pd.isna(parent) else int(parent), "name": row["name"]}


class RebrickableService:
    """`with RebrickableService(sets, themes, key=...) as rb:` → `rb.dumps_url`, `rb.api_url`.

    Knobs: `throttle` (answer 429 to that many API hits first), `retry_after` (header value), `img_url`,
    `link_host` (pagination links on another host).
    Records: `auth` (Authorization header per API hit), `page_sizes` (page_size asked per API hit).
    """

    def __init__(self, sets: pd.DataFrame, themes: pd.DataFrame, *, key: str = "rb-key", img_url: bool = True):
        self.key = key
        self.img_url = img_url
        self.throttle = 0
        self.retry_after = "1"
        self.link_host: str | None = None  # `next`/`previous` name this host instead of the request's Host
        self.auth: list[str | None] = []
        self.page_sizes: list[int] = []
        self.dumps = {
            "sets.csv.gz": gzip.compress((with_img_url(sets) if img_url else sets).to_csv(index=False).encode()),
            "themes.csv.gz": gzip.compress(themes.astype({"parent_id": "Int64"}).to_csv(index=False).encode()),
        }
        self.lists = {
            "sets": [_set_record(r) for r in sets.to_dict("records")],
            "themes": [_theme_record(r) for r in themes.to_dict("records")],
        }
        self.server = Emulator(self._route)

    @property
    def dumps_url(self) -> str:
        return f"{self.server.url}/media/downloads"

    @property
    def api_url(self) -> str:
        return f"{self.server.url}/api/v3"

    @property
    def requests(self):
        return self.server.requests

    def __enter__(self) -> RebrickableService:
        self.server.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.server.__exit__(*exc)

    def _route(self, handler: BaseHTTPRequestHandler):
        parts = urlsplit(handler.path)
        if parts.path.startswith("/media/downloads/"):
            name = parts.path.rsplit("/", 1)[1]
            return (200, {"Content-Type": "application/gzip"}, self.dumps[name]) if name in self.dumps else None
        for kind in self.lists:
            if parts.path == f"/api/v3/lego/{kind}/":
                return self._api(handler, kind, parse_qs(parts.query))
        return None

    def _api(self, handler: BaseHTTPRequestHandler, kind: str, query: dict[str, list[str]]):
        header = handler.headers.get("Authorization")
        self.auth.append(header)
        if self.throttle > 0:
            self.throttle -= 1
            detail = f"Request was throttled. Expected available in {self.retry_after} second."
            return 429, {**JSON, "Retry-After": self.retry_after}, json.dumps({"detail": detail}).encode()
        if header != f"key {self.key}":
            detail = "Invalid token." if header else "Authentication credentials were not provided."
            return 401, JSON, json.dumps({"detail": detail}).encode()
        try:
            page = int(query.get("page", ["1"])[0])
            size = min(int(query.get("page_size", [str(DEFAULT_PAGE_SIZE)])[0]), MAX_PAGE_SIZE)
        except ValueError:
            return 404, JSON, b'{"detail":"Invalid page."}'
        self.page_sizes.append(size)
        return self._page(handler, kind, page, size)

    def _page(self, handler: BaseHTTPRequestHandler, kind: str, page: int, size: int):
        rows = self.lists[kind]
        pages = max(1, math.ceil(len(rows) / max(size, 1)))
        if not 1 <= page <= pages or size < 1:
            return 404, JSON, b'{"detail":"Invalid page."}'
        base = f"http://{self.link_host or handler.headers['Host']}/api/v3/lego/{kind}/?"
        body = {
            "count": len(rows),
            "next": f"{base}page={page + 1}&page_size={size}" if page < pages else None,
            "previous": None if page == 1 else (f"{base}page={page - 1}&" if page > 2 else base) + f"page_size={size}",
            "results": rows[(page - 1) * size : page * size],
        }
        return 200, JSON, json.dumps(body).encode()

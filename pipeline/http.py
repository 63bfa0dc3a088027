"""The one HTTP client setup shared by every data source: session, retries with backoff, global rate limit.

Every retry — 429 (honouring `Retry-After`, capped), 5xx, refused connections, timeouts, dropped or
truncated bodies — is one loop here, with exponential backoff and jitter, so each attempt passes the
shared rate limiter and the attempts never multiply with urllib3's own; urllib3's `Retry` only
follows redirects and parses `Retry-After`. Secrets never appear in messages: URLs lose their query string and credentials.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pipeline.io import DataError

USER_AGENT = "lego-pipeline/0.1 (+https://github.com/; research dataset builder)"
RETRY_STATUSES = (429, 500, 502, 503, 504)
T = TypeVar("T")
MAX_RETRY_AFTER = 120.0  # seconds; a server asking for longer fails the attempt budget instead of hanging
BODY_ERRORS = (
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
)


class HTTPError(DataError):
    """A request that failed for good (after retries); the message names the URL, never a secret."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class _RedactQueries(logging.Filter):
    """urllib3 logs request URLs with their query strings (signatures, keys): drop the queries."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = re.sub(r"\?[^\s\"']*", "?<redacted>", record.getMessage()), ()
        return True


for _name in ("urllib3.connectionpool", "urllib3.util.retry"):
    logging.getLogger(_name).addFilter(_RedactQueries())


def safe_url(url: str) -> str:
    """The URL without user info or query string (where signed URLs and keys travel)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class RateLimiter:
    """At most `rate` request starts per second across all threads (`0` = unlimited)."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


@dataclass
class Client:
    """A `requests.Session` with retries, a timeout and a rate limit; use one per source."""

    rate_limit: float = 0.0
    retries: int = 5
    backoff: float = 0.5
    timeout: float = 30.0
    headers: dict[str, str] | None = None
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.rate_limit)
        retry = Retry(  # redirects only: every other retry is the loop in `_attempts`
            total=None,
            connect=0,
            read=0,
            status=0,
            other=0,
            redirect=10,
            backoff_factor=self.backoff,
            backoff_jitter=self.backoff,
            raise_on_status=False,
        )
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry, pool_connections=64, pool_maxsize=64)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers.update(self.headers or {})

    def _backoff(self, attempt: int) -> float:
        return self.backoff * (2**attempt) + random.uniform(0, self.backoff)

    def _wait_after(self, response: requests.Response, attempt: int) -> float:
        header = response.headers.get("Retry-After")
        try:
            retry_after = Retry().parse_retry_after(header) if header else 0.0
        except Exception:  # urllib3 raises InvalidHeader on garbage; fall back to our backoff
            retry_after = 0.0
        return min(max(retry_after, self._backoff(attempt)), MAX_RETRY_AFTER)

    def _attempts(self, url: str, read: Callable[[requests.Response], T], stream: bool, **kwargs) -> T:
        """One loop for every retry: each attempt waits for the rate limiter, then backs off on failure."""
        problem = ""
        for attempt in range(self.retries + 1):
            self.limiter.wait()
            try:
                response = self.session.get(url, timeout=self.timeout, stream=stream, **kwargs)
                if response.status_code in RETRY_STATUSES and attempt < self.retries:
                    problem = f"HTTP {response.status_code}"
                    response.close()
                    self.sleep(self._wait_after(response, attempt))
                    continue
                if response.status_code >= 400:
                    response.close()
                    tried = f" after {attempt + 1} attempts" if response.status_code in RETRY_STATUSES else ""
                    raise HTTPError(
                        f"{safe_url(response.url)}: HTTP {response.status_code}{tried}", response.status_code
                    )
                return read(response)
            except BODY_ERRORS as exc:
                problem = type(exc).__name__
                if attempt < self.retries:
                    self.sleep(self._backoff(attempt))
        raise HTTPError(f"{safe_url(url)}: {problem} after {self.retries + 1} attempts")

    def request(self, url: str, *, stream: bool = False, **kwargs) -> requests.Response:
        """GET `url` (rate-limited, retried); the caller reads the body (e.g. streaming to disk)."""
        return self._attempts(url, lambda response: response, stream, **kwargs)

    def get_bytes(self, url: str, **kwargs) -> bytes:
        """The whole body; a truncated or dropped body is retried like any failed attempt."""
        return self._attempts(url, lambda response: response.content, False, **kwargs)

    def get_json(self, url: str, **kwargs) -> object:
        body = self.get_bytes(url, headers={"Accept": "application/json", **kwargs.pop("headers", {})}, **kwargs)
        try:
            return json.loads(body)
        except ValueError:
            raise HTTPError(f"{safe_url(url)}: response is not JSON") from None

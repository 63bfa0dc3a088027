"""The one HTTP client: retries never multiply, every attempt passes the rate limiter, secrets stay out."""

from __future__ import annotations

import socket
import time

import pytest

from pipeline.http import Client, HTTPError, safe_url
from tests.emulators import Emulator


def always(status: int, headers: dict | None = None):
    return lambda handler: (status, headers or {}, b"{}")


def test_a_failing_status_is_tried_exactly_retries_plus_one_times():
    with Emulator(always(500)) as server:
        with pytest.raises(HTTPError, match="HTTP 500 after 3 attempts"):
            Client(retries=2, backoff=0.01).get_bytes(f"{server.url}/x")
        assert server.requests["/x"] == 3


def test_a_refused_connection_is_tried_exactly_retries_plus_one_times():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = []
    with pytest.raises(HTTPError, match="ConnectionError after 3 attempts"):
        Client(retries=2, backoff=0.01, sleep=sleeps.append).get_bytes(f"http://127.0.0.1:{port}/x")
    assert len(sleeps) == 2


def test_retries_pass_the_rate_limiter_and_honour_retry_after():
    with Emulator(always(429, {"Retry-After": "0"})) as server:
        start = time.monotonic()
        with pytest.raises(HTTPError, match="429"):
            Client(retries=4, backoff=0.0, rate_limit=5).get_bytes(f"{server.url}/x")
        assert server.requests["/x"] == 5
        assert time.monotonic() - start >= 0.75  # 5 attempts at 5/s: 4 intervals of 0.2 s


def test_retry_after_is_waited_for():
    hits = []

    def route(handler):
        hits.append(time.monotonic())
        return (429, {"Retry-After": "1"}, b"") if len(hits) == 1 else (200, {}, b"ok")

    with Emulator(route) as server:
        assert Client(retries=2, backoff=0.01).get_bytes(f"{server.url}/x") == b"ok"
    assert hits[1] - hits[0] >= 0.9


def test_messages_drop_query_strings_and_credentials():
    assert (
        safe_url("https://user:secret@host:8443/path/file.zip?X-Goog-Signature=abc&key=k")
        == "https://host:8443/path/file.zip"
    )
    with Emulator(always(404)) as server, pytest.raises(HTTPError) as caught:
        Client(retries=0).get_bytes(f"{server.url}/x?token=secret")
    assert "secret" not in str(caught.value) and "HTTP 404" in str(caught.value)

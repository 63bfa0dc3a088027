"""Rebrickable provider against the loopback emulator: CSV dumps, paginated API v3, throttling, key secrecy."""

from __future__ import annotations

import logging
import math
import time

import pandas as pd
import pytest

from pipeline.http import Client
from pipeline.io import DataError
from pipeline.providers import rebrickable
from pipeline.themes import SETS_COLUMNS, THEMES_COLUMNS
from tests.emulators.rebrickable import RebrickableService, catalogue

KEY = "rb-secret-key-123"


@pytest.fixture(scope="module")
def source() -> tuple[pd.DataFrame, pd.DataFrame]:
    return catalogue()


@pytest.fixture
def service(source):
    with RebrickableService(*source, key=KEY) as running:
        yield running


def client() -> Client:
    return Client(retries=3, backoff=0.05, timeout=10)


def assert_same_catalogue(got: tuple[pd.DataFrame, pd.DataFrame], source: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    sets, themes = got
    assert list(sets.columns) == SETS_COLUMNS and list(themes.columns) == THEMES_COLUMNS
    pd.testing.assert_frame_equal(sets.reset_index(drop=True), source[0][SETS_COLUMNS], check_dtype=False)
    pd.testing.assert_frame_equal(themes.reset_index(drop=True), source[1][THEMES_COLUMNS], check_dtype=False)


@pytest.mark.parametrize("img_url", [True, False], ids=["current-dump", "2021-dump"])
def test_dumps_download_and_parse(source, tmp_path, img_url):
    with RebrickableService(*source, img_url=img_url) as service:
        got = rebrickable.download_dumps(service.dumps_url, tmp_path / "cache", client=client())
    assert_same_catalogue(got, source)
    header = (tmp_path / "cache" / "sets.csv").read_text().split("\n", 1)[0]
    assert header.endswith(",img_url") == img_url
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["sets.csv", "themes.csv"]


def test_api_pagination_returns_every_row(service, source, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    page_size = max(2, math.ceil(len(source[0]) / 4))
    sets, themes = rebrickable.fetch_api(service.api_url, KEY, client=client(), page_size=page_size)
    assert_same_catalogue((sets, themes), source)
    assert themes["parent_id"].isna().sum() == source[1]["parent_id"].isna().sum()
    assert service.requests["/api/v3/lego/sets/"] == math.ceil(len(source[0]) / min(page_size, 1000)) >= 3
    assert set(service.page_sizes) <= {page_size, 1000}
    assert set(service.auth) == {f"key {KEY}"}
    captured = capsys.readouterr()
    assert KEY not in captured.out + captured.err + caplog.text


def test_throttled_requests_wait_for_retry_after(service, source):
    service.throttle = 1
    started = time.monotonic()
    sets, _ = rebrickable.fetch_api(service.api_url, KEY, client=client(), page_size=1000)
    assert time.monotonic() - started >= 0.9  # Retry-After: 1 was honoured
    assert len(sets) == len(source[0])
    assert service.throttle == 0 and service.requests["/api/v3/lego/themes/"] >= 2


def test_wrong_key_is_a_clear_error_without_the_key(service, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "rb-wrong-key-456"
    with pytest.raises(DataError) as info:
        rebrickable.fetch_api(service.api_url, wrong, client=client())
    assert str(info.value) == "Rebrickable refused the API key (REBRICKABLE_API_KEY)"
    captured = capsys.readouterr()
    assert wrong not in captured.out + captured.err + caplog.text


def test_a_next_link_to_another_host_is_not_followed(service, source):
    service.link_host = "localhost:9"
    with pytest.raises(DataError, match="unexpected 'next' link"):
        rebrickable.fetch_api(service.api_url, KEY, client=client(), page_size=max(1, len(source[1]) // 2))
    assert service.requests["/api/v3/lego/themes/"] == 1


@pytest.mark.parametrize("with_key", [True, False], ids=["api", "dumps"])
def test_fetch_catalogue_uses_the_api_iff_a_key_is_set(service, source, tmp_path, with_key):
    env = {"REBRICKABLE_API_KEY": KEY} if with_key else {"REBRICKABLE_API_KEY": ""}
    cache = tmp_path / "cache"
    got = rebrickable.fetch_catalogue(service.dumps_url, service.api_url, cache, env=env, client=client())
    assert_same_catalogue(got, source)
    api_hits = service.requests["/api/v3/lego/sets/"] + service.requests["/api/v3/lego/themes/"]
    dump_hits = service.requests["/media/downloads/sets.csv.gz"] + service.requests["/media/downloads/themes.csv.gz"]
    assert (api_hits > 0, dump_hits) == ((True, 0) if with_key else (False, 2))
    themes_csv = (cache / "themes.csv").read_text()
    assert ".0," not in themes_csv and not themes_csv.rstrip().endswith(".0")  # parent ids as in the dump

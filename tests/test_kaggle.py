"""Kaggle provider against the loopback emulator: credentials, redirect, resume, verification, secrecy."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from pipeline.http import Client
from pipeline.io import DataError
from pipeline.providers import kaggle, kaggle_layout
from tests.emulators.kaggle import DATASET, REAL_LAYOUT, KaggleService, evil_zip, minifigures_zip

TOKEN = "kgat-good"
TOKEN_ENV = {"KAGGLE_API_TOKEN": TOKEN}
SIGNATURE = "X-Goog-Signature"


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> bytes:
    return minifigures_zip(tmp_path_factory.mktemp("kaggle-source"))


@pytest.fixture
def service(archive):
    with KaggleService(archive) as running:
        yield running


def client(retries: int = 3) -> Client:
    return Client(retries=retries, backoff=0.05, timeout=10)


def fetch(service: KaggleService, target: Path, env: dict[str, str] = TOKEN_ENV, retries: int = 3) -> Path:
    return kaggle.download(DATASET, target, base_url=service.url, client=client(retries), env=env, home=target.parent)


def leaked(capsys, caplog, *secrets: str) -> bool:
    """Whether any secret reached stdout, stderr or the log (reads the captured output once)."""
    captured = capsys.readouterr()
    return any(secret in text for secret in secrets for text in (captured.out, captured.err, caplog.text))


def write_home(home: Path, token: str | None = None, user: tuple[str, str] | None = None) -> Path:
    folder = home / ".kaggle"
    folder.mkdir(parents=True, exist_ok=True)
    if token:
        (folder / "access_token").write_text(token + "\n")
    if user:
        (folder / "kaggle.json").write_text(json.dumps({"username": user[0], "key": user[1]}))
    return home


@pytest.mark.parametrize(
    ("env", "token_file", "json_file", "expected"),
    [
        (
            {"KAGGLE_API_TOKEN": "env-tok", "KAGGLE_USERNAME": "u", "KAGGLE_KEY": "k"},
            "f-tok",
            ("fu", "fk"),
            ("bearer", "env-tok"),
        ),
        ({"KAGGLE_USERNAME": "u", "KAGGLE_KEY": "k"}, "f-tok", ("fu", "fk"), ("basic", ("u", "k"))),
        ({"KAGGLE_USERNAME": "u"}, "f-tok", ("fu", "fk"), ("bearer", "f-tok")),
        ({}, None, ("fu", "fk"), ("basic", ("fu", "fk"))),
        ({}, "f-tok", None, ("bearer", "f-tok")),
    ],
    ids=["env-token", "env-user-key", "access-token-file", "kaggle-json", "access-token-only"],
)
def test_credentials_precedence(tmp_path, capsys, caplog, env, token_file, json_file, expected):
    caplog.set_level(logging.DEBUG)
    home = write_home(tmp_path, token_file, json_file)
    assert kaggle.credentials(env, home) == expected
    assert not leaked(capsys, caplog, "env-tok", "f-tok", "fk")


def test_credentials_honour_kaggle_config_dir(tmp_path):
    write_home(tmp_path / "elsewhere", token="cfg-tok")
    env = {"KAGGLE_CONFIG_DIR": str(tmp_path / "elsewhere" / ".kaggle")}
    assert kaggle.credentials(env, tmp_path / "empty-home") == ("bearer", "cfg-tok")


def test_no_credentials_is_one_line_that_says_what_to_do(tmp_path):
    with pytest.raises(DataError) as info:
        kaggle.credentials({}, tmp_path)
    message = str(info.value)
    assert "\n" not in message
    for hint in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "kaggle.json", "local", "synthetic", "offline"):
        assert hint in message


def test_malformed_kaggle_json_names_the_file_not_its_content(tmp_path):
    write_home(tmp_path)
    (tmp_path / ".kaggle" / "kaggle.json").write_text('{"username": "u", "kee": "s3cret-value"')
    with pytest.raises(DataError, match="kaggle.json") as info:
        kaggle.credentials({}, tmp_path)
    assert "s3cret-value" not in str(info.value)


@pytest.mark.parametrize(
    ("env", "secret"),
    [(TOKEN_ENV, TOKEN), ({"KAGGLE_USERNAME": "alice", "KAGGLE_KEY": "alice-key"}, "alice-key")],
    ids=["bearer", "basic"],
)
def test_download_follows_the_redirect_without_sending_credentials(
    service, archive, tmp_path, capsys, caplog, env, secret
):
    caplog.set_level(logging.DEBUG)
    target = fetch(service, tmp_path / "minifigures.zip", env)
    assert target.read_bytes() == archive
    assert not target.with_suffix(".zip.part").exists()
    assert service.api_auth[0] and service.api_auth[0].split()[0] in ("Bearer", "Basic")
    assert service.storage_auth == [None]  # the storage host never saw the Kaggle credentials
    assert service.storage.requests[service.storage_path] == 1
    assert not leaked(capsys, caplog, secret)


@pytest.mark.parametrize(
    ("env", "secret", "status"),
    [
        ({"KAGGLE_API_TOKEN": "kgat-wrong"}, "kgat-wrong", 401),
        ({"KAGGLE_USERNAME": "alice", "KAGGLE_KEY": "wrong-key"}, "wrong-key", 401),
        ({"KAGGLE_API_TOKEN": "kgat-no-access"}, "kgat-no-access", 403),
        ({"KAGGLE_USERNAME": "bob", "KAGGLE_KEY": "bob-key"}, "bob-key", 403),
    ],
    ids=["bad-token", "bad-key", "token-without-access", "user-without-access"],
)
def test_refused_credentials_are_a_clear_error_without_the_secret(
    service, tmp_path, capsys, caplog, env, secret, status
):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DataError) as info:
        fetch(service, tmp_path / "minifigures.zip", env)
    message = str(info.value)
    assert "Kaggle refused the credentials" in message and f"HTTP {status}" in message and "\n" not in message
    assert secret not in message and not leaked(capsys, caplog, secret)
    assert service.storage.requests.total() == 0
    assert not list(tmp_path.glob("minifigures.zip*"))


def test_unknown_dataset_is_named(service, tmp_path):
    with pytest.raises(DataError, match="no dataset someone/else"):
        kaggle.download("someone/else", tmp_path / "x.zip", base_url=service.url, client=client(), env=TOKEN_ENV)


def test_killed_download_leaves_a_part_that_the_next_run_resumes(service, archive, tmp_path, capsys):
    cut = len(archive) // 3
    service.cuts = [cut]
    target = tmp_path / "minifigures.zip"
    with pytest.raises(DataError, match="interrupted") as info:
        fetch(service, target, retries=0)
    assert SIGNATURE not in str(info.value)
    part = target.with_suffix(".zip.part")
    assert part.stat().st_size == cut and not target.exists()

    fetch(service, target)
    assert service.ranges == [None, f"bytes={cut}-"]
    assert service.bytes_sent == len(archive)  # nothing fetched twice
    assert target.read_bytes() == archive and not part.exists()
    assert SIGNATURE not in capsys.readouterr().err


def test_a_dropped_connection_is_resumed_within_one_call(service, archive, tmp_path):
    step = len(archive) // 4
    service.cuts = [step, step]
    target = fetch(service, tmp_path / "minifigures.zip")
    assert service.ranges == [None, f"bytes={step}-", f"bytes={2 * step}-"]
    assert service.bytes_sent == len(archive)
    assert target.read_bytes() == archive


def test_a_server_that_ignores_range_restarts_from_zero(service, archive, tmp_path):
    target = tmp_path / "minifigures.zip"
    target.with_suffix(".zip.part").write_bytes(b"stale bytes from another version")
    service.ignore_range = True
    fetch(service, target)
    assert service.ranges[0] is not None and service.bytes_sent == len(archive)
    assert target.read_bytes() == archive


def test_a_complete_part_is_finished_without_refetching(service, archive, tmp_path):
    target = tmp_path / "minifigures.zip"
    target.with_suffix(".zip.part").write_bytes(archive)
    fetch(service, target)
    assert service.bytes_sent == 0 and target.read_bytes() == archive


def test_a_corrupt_zip_is_an_error_and_leaves_nothing(service, tmp_path):
    service.corrupt = True
    with pytest.raises(DataError, match="corrupt") as info:
        fetch(service, tmp_path / "minifigures.zip")
    message = str(info.value)
    assert service.storage.url + service.storage_path in message and "?" not in message
    assert not list(tmp_path.glob("minifigures.zip*"))


def test_an_escaping_zip_entry_is_refused_at_ingest(tmp_path):
    with KaggleService(evil_zip()) as service:
        target = fetch(service, tmp_path / "downloads" / "evil.zip")
    with pytest.raises(DataError, match="outside the target"):
        kaggle_layout.ingest(target, tmp_path / "out" / "minifigures")
    assert not list(tmp_path.rglob("evil.txt"))


def test_the_downloaded_zip_ingests_into_the_kaggle_layout(service, tmp_path):
    target = fetch(service, tmp_path / "minifigures.zip")
    rows = kaggle_layout.ingest(target, tmp_path / "raw" / "minifigures").frame()
    assert (tmp_path / "raw" / "minifigures" / "index.csv").is_file()
    assert (rows["split_hint"] == "test").any()
    if REAL_LAYOUT.is_dir():
        assert rows["class_id"].nunique() == 37
        assert set(rows["universe"].dropna()) == {"marvel", "star-wars", "harry-potter", "jurassic-world"}


def test_debug_logs_do_not_hold_the_signed_query(service, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    fetch(service, tmp_path / "minifigures.zip")
    assert SIGNATURE not in caplog.text

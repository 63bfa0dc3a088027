"""Tests for pipeline.validation: real image files in tmp_path, a real GX 1.x run, real Data Docs."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from pipeline.data_docs import make_offline, offline_text
from pipeline.disk_table import DiskTable
from pipeline.image_checks import check_images
from pipeline.params import DEFAULT_TASKS, Validate, declared
from pipeline.validation import (
    SUITE_NAME,
    Failure,
    ValidationReport,
    check_manifest,
    validate_manifest,
)
from tests.browser import CHROMIUM, offline_page

COLUMNS = [
    "path", "sha256", "source", "split_hint", "character", "universe", "set_num", "theme",
    "theme_group", "width", "height", "bytes", "format", "mode",
]  # fmt: skip

# (relative path, size, mode, format, manifest fields)
IMAGES = [
    ("data/raw/minifigures/marvel/0001/001.jpg", (64, 48), "RGB", "JPEG",
     {"source": "minifigures", "split_hint": "train", "character": "01-spider-man", "universe": "marvel"}),
    ("data/raw/minifigures/marvel/0001/002.jpg", (48, 64), "RGB", "JPEG",
     {"source": "minifigures", "split_hint": "test", "character": "01-spider-man", "universe": "marvel"}),
    ("data/raw/minifigures/star-wars/0002/001.png", (40, 40), "RGBA", "PNG",
     {"source": "minifigures", "split_hint": "train", "character": "02-yoda", "universe": "star-wars"}),
    ("data/raw/sets/7078-1/001.jpg", (80, 60), "L", "JPEG",
     {"source": "sets", "set_num": "7078-1", "theme": "Castle", "theme_group": "castle"}),
    ("data/raw/sets/6086-1/001.png", (50, 70), "P", "PNG",
     {"source": "sets", "set_num": "6086-1", "theme": "Castle", "theme_group": "castle"}),
    ("data/raw/custom/01-spider-man/a.jpg", (96, 96), "RGB", "JPEG",
     {"source": "custom", "character": "01-spider-man"}),
]  # fmt: skip

TASKS = declared(DEFAULT_TASKS)


def _write_image(path: Path, size: tuple[int, int], mode: str, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    color = {"RGB": (200, 30, 30), "RGBA": (10, 200, 10, 128), "L": 128, "P": 3}[mode]
    Image.new(mode, size, color).save(path, format=fmt)


def _row(root: Path, rel: str, fields: dict) -> dict:
    file = root / rel
    data = file.read_bytes()
    with Image.open(file) as im:
        width, height, fmt, mode = im.width, im.height, im.format, im.mode
    row = dict.fromkeys(COLUMNS, "")
    row.update(fields)
    row.update(
        path=rel, sha256=hashlib.sha256(data).hexdigest(), width=width, height=height,
        bytes=len(data), format=fmt, mode=mode,
    )  # fmt: skip
    return row


def _as_read_from_csv(rows: list[dict], tmp_path: Path) -> pd.DataFrame:
    """Round-trip through CSV so dtypes and NaNs are what the pipeline really sees."""
    csv = tmp_path / "manifest.csv"
    pd.DataFrame(rows, columns=COLUMNS).to_csv(csv, index=False)
    return pd.read_csv(csv)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    for rel, size, mode, fmt, _ in IMAGES:
        _write_image(root / rel, size, mode, fmt)
    return root


@pytest.fixture
def rows(root: Path) -> list[dict]:
    return [_row(root, rel, fields) for rel, _, _, _, fields in IMAGES]


@pytest.fixture
def settings() -> Validate:
    return Validate()


def _run(rows: list[dict], root: Path, tmp_path: Path, settings: Validate) -> ValidationReport:
    """What the validate stage does: the manifest's images checked into a table on disk, the suite run over it."""
    _as_read_from_csv(rows, tmp_path)
    return check_manifest(tmp_path / "manifest.csv", root, settings, tmp_path / "docs", TASKS)


def _checked(manifest: pd.DataFrame, root: Path) -> pd.DataFrame:
    return pd.concat(check_images([manifest], root, len(manifest)))


def _only(report: ValidationReport, expectation: str, column: str) -> Failure:
    found = [f for f in report.failures if f.expectation == expectation and f.column == column]
    assert len(found) == 1, report.summary()
    return found[0]


# --------------------------------------------------------------------------------------------------
# check_images
# --------------------------------------------------------------------------------------------------


def test_check_images_records_what_is_on_disk(root, rows, tmp_path):
    checked = _checked(_as_read_from_csv(rows, tmp_path), root)

    assert len(checked) == len(IMAGES)
    assert list(checked.columns[: len(COLUMNS)]) == COLUMNS
    assert checked["decodes"].tolist() == [True] * len(IMAGES)
    assert checked["hash_matches"].tolist() == [True] * len(IMAGES)
    assert checked["actual_width"].tolist() == [float(s[0]) for _, s, _, _, _ in IMAGES]
    assert checked["actual_height"].tolist() == [float(s[1]) for _, s, _, _, _ in IMAGES]
    assert checked["actual_mode"].tolist() == [m for _, _, m, _, _ in IMAGES]
    assert checked["actual_bytes"].tolist() == [float(r["bytes"]) for r in rows]
    assert checked["decode_error"].isna().all()


def test_check_images_missing_and_corrupt_files(root, rows, tmp_path):
    (root / IMAGES[0][0]).unlink()
    corrupt = root / IMAGES[1][0]
    corrupt.write_bytes(corrupt.read_bytes()[:200])  # header intact, scan data truncated
    checked = _checked(_as_read_from_csv(rows, tmp_path), root)

    missing = checked.iloc[0]
    assert bool(missing["decodes"]) is False
    assert not missing["hash_matches"]
    assert math.isnan(missing["actual_bytes"])
    assert math.isnan(missing["actual_width"]) and math.isnan(missing["actual_height"])
    assert "FileNotFoundError" in missing["decode_error"]

    broken = checked.iloc[1]
    assert not broken["decodes"]
    assert not broken["hash_matches"]
    assert broken["actual_bytes"] == 200.0
    assert isinstance(broken["decode_error"], str) and broken["decode_error"]

    assert checked["decodes"].iloc[2:].all()


# --------------------------------------------------------------------------------------------------
# validate_manifest
# --------------------------------------------------------------------------------------------------


def test_clean_manifest_passes_and_writes_data_docs(root, rows, tmp_path, settings):
    report = _run(rows, root, tmp_path, settings)

    assert report.success is True, report.summary()
    assert report.failures == []
    assert report.rows == len(IMAGES)
    assert report.evaluated >= 20
    assert report.successful == report.evaluated
    assert report.summary() == f"all {report.evaluated} expectations passed on {len(IMAGES)} rows"

    index = tmp_path / "docs" / "index.html"
    assert index.is_file()
    html = index.read_text()
    assert "<html" in html.lower()
    assert SUITE_NAME in html
    pages = list((tmp_path / "docs" / "validations").rglob("*.html"))
    assert len(pages) == 1
    assert pages[0].relative_to(tmp_path / "docs").as_posix() in html


def test_corrupt_image_fails_decodes(root, rows, tmp_path, settings):
    bad = root / rows[3]["path"]
    bad.write_bytes(bad.read_bytes()[:200])
    report = _run(rows, root, tmp_path, settings)

    assert report.success is False
    failure = _only(report, "expect_column_values_to_be_in_set", "decodes")
    assert failure.unexpected_count == 1
    assert failure.element_count == len(IMAGES)
    assert failure.examples[0]["path"] == rows[3]["path"]
    assert failure.examples[0]["value"] is False
    hashes = _only(report, "expect_column_values_to_be_in_set", "hash_matches")
    assert hashes.unexpected_count == 1

    text = report.summary()
    assert "expect_column_values_to_be_in_set" in text
    assert "decodes" in text
    assert f"1 of {len(IMAGES)} rows" in text
    assert rows[3]["path"] in text


def test_bad_sha256_fails_regex(root, rows, tmp_path, settings):
    rows[0]["sha256"] = "NOT-A-HASH"
    report = _run(rows, root, tmp_path, settings)

    failure = _only(report, "expect_column_values_to_match_regex", "sha256")
    assert failure.unexpected_count == 1
    assert failure.examples == [{"path": rows[0]["path"], "value": "NOT-A-HASH"}]
    # the file no longer matches its (bogus) hash either
    assert _only(report, "expect_column_values_to_be_in_set", "hash_matches").unexpected_count == 1
    assert len(report.failures) == 2, report.summary()


def test_duplicate_path_fails_uniqueness(root, rows, tmp_path, settings):
    rows.append(dict(rows[2]))
    report = _run(rows, root, tmp_path, settings)

    failure = _only(report, "expect_column_values_to_be_unique", "path")
    assert failure.unexpected_count == 2
    assert {ex["path"] for ex in failure.examples} == {rows[2]["path"]}
    assert len(report.failures) == 1, report.summary()
    assert report.rows == len(IMAGES) + 1


def test_sets_row_without_set_num_fails(root, rows, tmp_path, settings):
    rows[4]["set_num"] = ""
    report = _run(rows, root, tmp_path, settings)

    failure = _only(report, "expect_column_values_to_not_be_null", "set_num")
    assert failure.unexpected_count == 1
    assert failure.element_count == 2  # only the two `sets` rows are in scope
    assert failure.condition == "source == sets"
    assert failure.examples[0]["path"] == rows[4]["path"]
    assert len(report.failures) == 1, report.summary()


def test_minifigure_row_without_character_fails(root, rows, tmp_path, settings):
    rows[2]["character"] = ""
    report = _run(rows, root, tmp_path, settings)

    failure = _only(report, "expect_column_values_to_not_be_null", "character")
    assert failure.unexpected_count == 1
    assert failure.element_count == 3  # the minifigures rows: custom and feedback rows may belong to another task
    assert failure.examples[0]["path"] == rows[2]["path"]
    assert len(report.failures) == 1, report.summary()


def test_custom_row_with_a_class_for_no_task_fails(root, rows, tmp_path, settings):
    rows[5]["character"] = ""
    report = _run(rows, root, tmp_path, settings)

    failure = _only(report, "expect_column_values_to_be_in_set", "labelled")
    assert failure.unexpected_count == 1 and failure.element_count == 1
    assert failure.examples[0]["path"] == rows[5]["path"]
    assert len(report.failures) == 1, report.summary()


def test_empty_split_hint_passes_but_unknown_value_fails(root, rows, tmp_path, settings):
    rows[0]["split_hint"] = "validation"
    report = _run(rows, root, tmp_path, settings)

    failure = _only(report, "expect_column_values_to_be_in_set", "split_hint")
    assert failure.unexpected_count == 1
    assert failure.examples == [{"path": rows[0]["path"], "value": "validation"}]
    assert len(report.failures) == 1, report.summary()


def test_small_image_fails_min_side(root, rows, tmp_path, settings):
    rel = "data/raw/minifigures/marvel/0003/tiny.jpg"
    _write_image(root / rel, (16, 40), "RGB", "JPEG")
    rows.append(_row(root, rel, {"source": "minifigures", "character": "03-tiny"}))
    report = _run(rows, root, tmp_path, settings)

    failure = _only(report, "expect_column_values_to_be_between", "width")
    assert failure.unexpected_count == 1
    assert failure.examples == [{"path": rel, "value": 16}]
    assert len(report.failures) == 1, report.summary()  # height 40 >= 32 is fine

    report = _run(rows, root, tmp_path, Validate(min_side=8, max_side=90))
    assert _only(report, "expect_column_values_to_be_between", "width").examples == [
        {"path": rows[5]["path"], "value": 96}
    ]


def test_header_size_mismatch_and_mode(root, rows, tmp_path, settings):
    rows[0]["width"] = 65  # manifest disagrees with the decoded image
    report = _run(rows, root, tmp_path, Validate(modes=["RGB", "L", "P"]))

    pair = _only(report, "expect_column_pair_values_to_be_equal", "actual_width,width")
    assert pair.unexpected_count == 1
    assert pair.examples == [{"path": rows[0]["path"], "value": [64.0, 65]}]
    mode = _only(report, "expect_column_values_to_be_in_set", "actual_mode")
    assert mode.examples == [{"path": rows[2]["path"], "value": "RGBA"}]
    assert len(report.failures) == 2, report.summary()


def test_report_json_is_flat_and_serialisable(root, rows, tmp_path, settings):
    rows[0]["sha256"] = "x" * 64
    rows.append(dict(rows[1]))
    report = _run(rows, root, tmp_path, settings)
    data = json.loads(json.dumps(report.to_json()))

    assert data["success"] is False
    assert data["rows"] == len(IMAGES) + 1
    assert data["expectations"] == report.evaluated
    assert data["failed"] == 3  # regex, hash_matches, uniqueness
    assert data["passed"] == data["expectations"] - 3
    names = sorted((f["expectation"], f["column"]) for f in data["failures"])
    assert names == [
        ("expect_column_values_to_be_in_set", "hash_matches"),
        ("expect_column_values_to_be_unique", "path"),
        ("expect_column_values_to_match_regex", "sha256"),
    ]
    assert all(isinstance(f["unexpected_count"], int) for f in data["failures"])


def test_missing_columns_are_reported(tmp_path, settings):
    with DiskTable(tmp_path / "checked.db", ["path"], name="manifest") as table:
        table.append(pd.DataFrame({"path": ["a.jpg"]}))
        with pytest.raises(ValueError, match="decodes"):
            validate_manifest(table, settings, tmp_path / "docs", TASKS)


# --------------------------------------------------------------------------------------------------
# Data Docs without network (pipeline.data_docs)
# --------------------------------------------------------------------------------------------------


def test_offline_text_points_known_cdn_tags_home_and_reports_the_rest():
    page = (
        '<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>\n'
        '<script src="https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js" '
        'integrity="sha384-x" crossorigin="anonymous"></script>\n'
        '<script src="https://cdn.example.org/new-library.js"></script>\n'
        '<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=2026"/>\n'
        '<link rel="shortcut icon" href="../../../static/images/favicon.ico"/>\n'
        '<a href="https://greatexpectations.io">GX</a>'
    )
    text, unknown = offline_text(page, "../../../../static")

    assert '<link rel="stylesheet" href="../../../../static/vendor/bootstrap/bootstrap.min.css">' in text
    assert "popper" not in text  # Bootstrap's bundle holds it
    assert unknown == {"https://cdn.example.org/new-library.js"} and "new-library.js" in text
    assert '<img src="../../../../static/images/logo-long.png"/>' in text
    assert 'href="../../../../static/images/favicon.ico"' in text  # GX's path was a folder short
    assert '<a href="https://greatexpectations.io">' in text  # a link, not a load


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (apt-get install chromium)")
def test_data_docs_open_without_network_with_their_runs_and_icons(root, rows, tmp_path, settings):
    bad = root / rows[3]["path"]
    bad.write_bytes(bad.read_bytes()[:200])
    _run(rows, root, tmp_path, settings)
    docs = tmp_path / "docs"
    assert make_offline(docs) == set()
    assert "https://" not in (docs / "static" / "styles" / "data_docs_default_styles.css").read_text()

    with offline_page() as (page, requested, errors):
        page.goto((docs / "index.html").as_uri())
        run = page.locator("tr.clickable-row").first  # drawn from the page's data, as bootstrap-table would
        run.locator("i.fa-times").wait_for(timeout=30_000)  # the failed run's icon
        assert page.evaluate("document.fonts.check('900 16px \"Font Awesome 6 Free\"')")
        run.click()
        page.wait_for_url("**/validations/**/*.html")
        page.get_by_text("Unsuccessful Expectations").wait_for()
        assert page.locator("nav img").evaluate("img => img.naturalWidth") > 0  # GX's logo, from the site
    assert errors == []
    assert [url for url in requested if not url.startswith("file:")] == []

"""The real clients through the real stages: `dvc repro label` with params.yaml pointing at local emulators
of Kaggle, BrickInsights and Rebrickable. Proves the params contract keys, resume through DVC
(`persist: true`), and that secrets reach no file the pipeline writes.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.conftest import guarded_environment
from tests.emulators.brickinsights import BrickInsights, api_path, default_catalogue
from tests.emulators.kaggle import KaggleService, minifigures_zip
from tests.emulators.rebrickable import RebrickableService, catalogue
from tests.project_repo import make_repo, sh

pytestmark = pytest.mark.integration

TOKEN = "kgat-good"
UNKNOWN_SET = "99999-9"


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    sets, themes = catalogue()
    with (
        KaggleService(minifigures_zip(tmp_path_factory.mktemp("kaggle"))) as kaggle,
        BrickInsights(default_catalogue()) as brickinsights,
        RebrickableService(sets, themes) as rebrickable,
    ):
        yield kaggle, brickinsights, rebrickable


@pytest.fixture(scope="module")
def run(tmp_path_factory, services):
    kaggle, brickinsights, rebrickable = services
    root = tmp_path_factory.mktemp("live")
    ids = [*sorted(default_catalogue()), UNKNOWN_SET]
    (root.parent / "ids.txt").write_text("# sets to scrape\n" + "\n".join(ids) + "\n")
    params = {
        "sources": {
            "minifigures": {"provider": "kaggle", "base_url": kaggle.url},
            "sets": {
                "provider": "brickinsights",
                "base_url": brickinsights.url,
                "ids_file": str(root.parent / "ids.txt"),
                "rate_limit": 0,
                "workers": 4,
                "retries": 2,
                "timeout": 5,
            },  # fmt: skip
            "themes": {"provider": "rebrickable", "base_url": rebrickable.dumps_url, "api_url": rebrickable.api_url},
        }
    }
    env = guarded_environment(root.parent / "network.log")
    env |= {"KAGGLE_API_TOKEN": TOKEN, "HOME": str(root.parent)}
    env.pop("REBRICKABLE_API_KEY", None)
    repo = make_repo(root / "repo", params, env)
    first = sh(["dvc", "repro", "label"], repo, env)
    api_hits = sum(brickinsights.requests[api_path(i)] for i in ids)
    again = sh(["dvc", "repro", "--force", "scrape"], repo, env)
    return {"repo": repo, "ids": ids, "first": first, "again": again, "api_hits": api_hits, "services": services}


def test_kaggle_download_feeds_the_same_ingestion(run):
    manifest = pd.read_csv(run["repo"] / "data" / "manifest.csv")
    figures = manifest[manifest["source"] == "minifigures"]
    assert len(figures) > 0 and (figures["split_hint"] == "test").any()
    assert figures["universe"].notna().all()
    assert (run["repo"] / "data" / "cache" / "kaggle").is_dir()


def test_brickinsights_sets_are_scraped_and_labelled_from_rebrickable(run):
    log = [json.loads(line) for line in (run["repo"] / "data" / "raw" / "sets" / "sets.jsonl").read_text().splitlines()]
    assert [r["set_id"] for r in log] == run["ids"]
    status = {r["set_id"]: r["status"] for r in log}
    assert status.pop(UNKNOWN_SET) == "not_found"
    assert set(status.values()) == {"ok"}
    manifest = pd.read_csv(run["repo"] / "data" / "manifest.csv")
    sets = manifest[manifest["source"] == "sets"].set_index("set_num")
    if "2544-1" in sets.index:
        assert sets.at["2544-1", "theme_path"] == "Technic > Model > Riding Cycle"
    report = json.loads((run["repo"] / "reports" / "label.json").read_text())
    assert report["sets_fetched"] == len(run["ids"]) - 1
    assert (
        report["sets_labelled"] + report["excluded_unmapped_theme"] + report["excluded_not_in_catalogue"]
        == report["sets_fetched"]
    )


def test_forced_scrape_resumes_without_refetching(run):
    _, brickinsights, _ = run["services"]
    assert "Running stage 'scrape'" in run["again"].stdout
    assert sum(brickinsights.requests[api_path(i)] for i in run["ids"]) == run["api_hits"]


def test_no_secret_in_anything_the_pipeline_wrote(run):
    repo = run["repo"]
    written = [
        p
        for p in repo.rglob("*")
        if p.is_file()
        and ".git" not in p.parts
        and p.suffix in {".yaml", ".lock", ".json", ".jsonl", ".csv", ".txt", ".log"}
    ]
    assert any(p.name == "dvc.lock" for p in written)
    for path in written:
        assert TOKEN not in path.read_text(errors="ignore"), path
    for result in (run["first"], run["again"]):
        assert TOKEN not in result.stdout + result.stderr

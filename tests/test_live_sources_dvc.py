"""The real clients through the real stages: `dvc repro label` with params.yaml pointing at local emulators
of Kaggle, BrickInsights and Rebrickable. Proves the params contract keys, resume through DVC
(`persist: true`), that the catalogue is fetched once per run, and that secrets reach no file the pipeline writes.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.conftest import guarded_environment
from tests.emulators.brickinsights import BrickInsights, api_path, default_catalogue, generated_jpeg
from tests.emulators.kaggle import KaggleService, minifigures_zip
from tests.emulators.rebrickable import FALLBACK_SETS, FALLBACK_THEMES, RebrickableService, catalogue
from tests.project_repo import TINY, make_repo, sh

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


@pytest.fixture(scope="module")
def catalogue_run(tmp_path_factory):
    """BrickInsights without `ids_file`: its set ids come from the catalogue, which the label stage needs too."""
    sets = pd.DataFrame(FALLBACK_SETS, columns=["set_num", "name", "year", "theme_id", "num_parts"])
    themes = pd.DataFrame(FALLBACK_THEMES, columns=["id", "name", "parent_id"])
    images = {set_num: generated_jpeg(set_num, (120, 90)) for set_num in sets["set_num"]}
    root = tmp_path_factory.mktemp("catalogue")
    with BrickInsights(images) as brickinsights, RebrickableService(sets, themes) as rebrickable:
        params = {
            "synthetic": TINY["synthetic"],
            "sources": {
                "sets": {"provider": "brickinsights", "base_url": brickinsights.url, "max_sets": 4, "rate_limit": 0},
                "themes": {
                    "provider": "rebrickable",
                    "base_url": rebrickable.dumps_url,
                    "api_url": rebrickable.api_url,
                },
            },
        }
        env = guarded_environment(root / "network.log")
        env.pop("REBRICKABLE_API_KEY", None)
        repo = make_repo(root / "repo", params, env)
        first = sh(["dvc", "repro", "label"], repo, env)
        dumps = {name: rebrickable.requests[f"/media/downloads/{name}"] for name in ("sets.csv.gz", "themes.csv.gz")}
        again = sh(["dvc", "repro", "label"], repo, env)
        dumps_again = {name: rebrickable.requests[f"/media/downloads/{name}"] for name in dumps}
    return {"repo": repo, "first": first.stdout, "again": again.stdout, "dumps": dumps, "dumps_again": dumps_again}


def test_the_catalogue_is_fetched_and_labelled_once_per_run(catalogue_run):
    assert catalogue_run["dumps"] == {"sets.csv.gz": 1, "themes.csv.gz": 1}
    assert catalogue_run["first"].count("Running stage 'catalogue'") == 1
    assert "Running stage" not in catalogue_run["again"] and catalogue_run["dumps_again"] == catalogue_run["dumps"]


def test_brickinsights_scrapes_the_sets_the_catalogue_stage_labelled(catalogue_run):
    repo = catalogue_run["repo"]
    labelled = pd.read_csv(repo / "data" / "raw" / "catalogue" / "labelled_sets.csv", dtype={"set_num": str})
    log = [json.loads(line) for line in (repo / "data" / "raw" / "sets" / "sets.jsonl").read_text().splitlines()]
    groups = dict(zip(labelled["set_num"], labelled["theme_group"]))
    every_group = {"Bulk Bricks", "Minifig", "Technic/Bionicle", "Young Children"}
    assert len(log) == 4 and all(r["status"] == "ok" for r in log)
    assert {groups[r["set_id"]] for r in log} == every_group  # max_sets 4, interleaved across the groups
    report = json.loads((repo / "reports" / "label.json").read_text())
    assert report["sets_labelled"] == 4 and report["per_group"] == dict.fromkeys(sorted(every_group), 1)

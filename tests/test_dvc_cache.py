"""Each picture's bytes are stored once (workspace, split layout and DVC cache are links to one inode), and nothing
writes through a link into the cache: DVC's protected mode holds, and a re-run or a user's edit leaves it intact."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
import yaml

from pipeline.io import IMAGE_SUFFIXES, list_images
from tests.conftest import guarded_environment
from tests.project_repo import TINY, data_bytes, make_repo, sh

pytestmark = pytest.mark.integration


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def cache_object(root: Path, path: Path) -> Path:
    digest = md5(path)
    return root / ".dvc" / "cache" / "files" / "md5" / digest[:2] / digest[2:]


def cache_is_intact(root: Path) -> list[str]:
    """The cache objects whose bytes no longer hash to their own name (DVC names each object by its md5)."""
    objects = [p for p in (root / ".dvc" / "cache" / "files" / "md5").rglob("*") if p.is_file()]
    assert objects
    return [str(p) for p in objects if not p.name.endswith(".dir") and md5(p) != p.parent.name + p.name]


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> tuple[Path, dict]:
    env = guarded_environment(tmp_path_factory.mktemp("guard") / "network-attempts.log")
    root = make_repo(tmp_path_factory.mktemp("repo"), TINY, env, tasks=["minifigure"])
    sh(["dvc", "repro", "split@minifigure"], root, env)
    return root, env


def test_pictures_are_stored_once_however_many_places_show_them(repo):
    root, _ = repo
    source = sum(p.stat().st_size for p in list_images(root / "data" / "raw"))
    stored = data_bytes(root, IMAGE_SUFFIXES)
    assert source > 0 and stored / source <= 1.3, f"data/ and its cache objects: {stored / source:.2f}x the pictures"
    picture = list_images(root / "data" / "yolo" / "minifigure" / "train")[0]
    raw = root / "data" / "raw" / "minifigures"
    twin = next(p for p in list_images(raw) if md5(p) == md5(picture))
    assert picture.stat().st_ino == twin.stat().st_ino == cache_object(root, picture).stat().st_ino


def test_workspace_pictures_are_read_only_links_into_the_cache(repo):
    root, _ = repo
    for picture in list_images(root / "data" / "yolo")[:5] + list_images(root / "data" / "raw")[:5]:
        assert not picture.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), picture
        assert picture.stat().st_ino == cache_object(root, picture).stat().st_ino


def test_an_edit_after_dvc_unprotect_leaves_the_cache_intact(repo):
    root, env = repo
    picture = list_images(root / "data" / "yolo" / "minifigure" / "train")[0]
    original, kept = md5(picture), cache_object(root, picture)
    sh(["dvc", "unprotect", "data/yolo/minifigure"], root, env)
    with open(picture, "ab") as handle:  # an edit in place, as an image editor saving over the file would
        handle.write(b"edited")
    assert md5(picture) != original and md5(kept) == original and cache_is_intact(root) == []
    assert "split@minifigure" in sh(["dvc", "status"], root, env).stdout
    sh(["dvc", "checkout", "--force", "data/yolo/minifigure"], root, env)
    assert md5(picture) == original and picture.stat().st_ino == kept.stat().st_ino


def test_a_rerun_replaces_links_and_never_writes_through_them(repo):
    root, env = repo
    before = {p: p.stat().st_mtime_ns for p in (root / ".dvc" / "cache").rglob("*") if p.is_file()}
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["split"]["val_fraction"] = 0.3  # split and nothing upstream runs again, over the same pictures
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert "Running stage 'split@minifigure'" in sh(["dvc", "repro", "split@minifigure"], root, env).stdout
    assert cache_is_intact(root) == []
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in before.items())

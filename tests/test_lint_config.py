"""The pre-commit hooks run what `make lint` runs (the same tools from .venv, the same options): a check added to
one and not the other would let a commit pass locally that CI refuses."""

from __future__ import annotations

import re

import yaml

from pipeline.paths import PROJECT_ROOT


def lint_recipe() -> set[str]:
    text = (PROJECT_ROOT / "Makefile").read_text()
    recipe = re.search(r"^lint:.*\n((?:\t.*\n)+)", text, re.MULTILINE)
    assert recipe, "Makefile: no lint target"
    return {line.strip().removesuffix(" .") for line in recipe.group(1).splitlines()}


def hooks() -> set[str]:
    config = yaml.safe_load((PROJECT_ROOT / ".pre-commit-config.yaml").read_text())
    return {hook["entry"].removeprefix(".venv/bin/") for repo in config["repos"] for hook in repo["hooks"]}


def test_pre_commit_hooks_mirror_make_lint():
    assert hooks() == lint_recipe()
    assert lint_recipe() >= {"ruff check", "ruff format --check"}

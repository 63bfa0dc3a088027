"""Every stage's code dependencies in dvc.yaml are what it runs: each project module its `python -m stages.<name>`
imports, directly or through other project modules (imports inside functions count: they run too), is covered by
a `deps` entry, and no code entry covers nothing it imports. A miss lets `dvc repro` call stale results up to date;
an extra one re-runs a stage for nothing."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from pipeline.paths import PROJECT_ROOT

PACKAGES = ("pipeline", "stages")


def module_file(name: str) -> Path | None:
    """The file of a project module (`pipeline.x`, `pipeline.x.y`), None for anything else (a library, an
    attribute imported from a module)."""
    parts = name.split(".")
    if parts[0] not in PACKAGES:
        return None
    base = PROJECT_ROOT.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else None


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[Path]:
    """The project files `path` imports, with the packages (`__init__.py`) importing them passes through."""
    names: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    files: set[Path] = set()
    for name in names:
        parts = name.split(".")
        for end in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ first
            found = module_file(".".join(parts[:end]))
            if found is not None:
                files.add(found)
    return files


def closure(start: Path) -> set[Path]:
    seen, todo = set(), [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(imported(path) - seen)
    return {path for path in seen if not docstring_only(path)}  # an __init__.py with a docstring runs nothing


def docstring_only(path: Path) -> bool:
    body = ast.parse(path.read_text()).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


def stages() -> dict[str, tuple[Path, list[Path]]]:
    """Each stage's module and the code entries of its deps."""
    found = {}
    for name, stage in yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"].items():
        body = stage.get("do", stage)
        module = re.search(r"python -m (stages\.\w+)", body["cmd"]).group(1)
        deps = [next(iter(d)) if isinstance(d, dict) else d for d in body.get("deps", [])]
        code = [PROJECT_ROOT / d for d in deps if d.split("/")[0] in PACKAGES]
        found[name] = (module_file(module), code)
    return found


def covered(path: Path, deps: list[Path]) -> bool:
    return any(path == dep or dep in path.parents for dep in deps)


@pytest.mark.parametrize("stage", sorted(stages()))
def test_a_stage_lists_every_project_module_it_runs_and_no_other(stage):
    module, deps = stages()[stage]
    runs = closure(module)
    missing = sorted(path.relative_to(PROJECT_ROOT).as_posix() for path in runs if not covered(path, deps))
    extra = sorted(dep.relative_to(PROJECT_ROOT).as_posix() for dep in deps if not any(covered(p, [dep]) for p in runs))
    twice = sorted(
        dep.relative_to(PROJECT_ROOT).as_posix() for dep in deps if covered(dep, [d for d in deps if d != dep])
    )
    assert not missing, f"dvc.yaml stage {stage}: deps miss {missing}"
    assert not extra, f"dvc.yaml stage {stage}: deps list {extra}, which it does not import"
    assert not twice, f"dvc.yaml stage {stage}: deps list {twice} inside another entry"


def test_the_import_walk_follows_lazy_relative_and_package_imports(tmp_path):
    """The walk itself: the register stage reaches the ONNX runtime wrapper only through registry's imports."""
    runs = {path.relative_to(PROJECT_ROOT).as_posix() for path in closure(PROJECT_ROOT / "stages" / "register.py")}
    assert {"stages/register.py", "pipeline/registry.py", "pipeline/onnx_model.py", "pipeline/tracking.py"} <= runs
    assert not any(name.startswith(("tests/", ".venv/")) for name in runs)

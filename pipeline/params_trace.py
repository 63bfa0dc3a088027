"""Which params a stage reads, to check them against its `params:` in dvc.yaml.

With `PIPELINE_PARAMS_TRACE=<folder>` set, `params.load()` starts tracing: every key of params.yaml a stage reads
(a leaf, or a whole mapping such as `train`) is written to `<folder>/<stage>@<task>.json` when the process ends.
`tests/test_pipeline_integration.py` runs the pipeline with it and fails when dvc.yaml misses a key a stage reads
(DVC would then serve stale results) or lists one it never reads (needless re-runs). Off, it costs nothing: the
models are only patched once a traced load happens.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from pathlib import Path

from pydantic import BaseModel

TRACE_ENV = "PIPELINE_PARAMS_TRACE"

_paths: dict[int, str] = {}  # id(model) → its key path in params.yaml ("train.minifigure.")
_kept: list[BaseModel] = []  # keeps traced models alive, so their ids are not reused
_read: set[str] = set()


def enabled() -> bool:
    return bool(os.environ.get(TRACE_ENV))


def start(params: BaseModel, section: type[BaseModel]) -> None:
    """Trace reads of `params` (instances of `section` and its subclasses) until the process ends."""
    if not _paths:
        _patch(section)
        atexit.register(_write, Path(os.environ[TRACE_ENV]))
    _register(params, "")


def _register(model: BaseModel, prefix: str) -> None:
    _paths[id(model)] = prefix
    _kept.append(model)
    for name, field in type(model).model_fields.items():
        value = object.__getattribute__(model, name)
        key = f"{prefix}{field.alias or name}"
        if isinstance(value, BaseModel):
            _register(value, f"{key}.")
        elif isinstance(value, dict):
            for item, member in value.items():
                if isinstance(member, BaseModel):
                    _register(member, f"{key}.{item}.")


def _patch(section: type[BaseModel]) -> None:
    def traced_getattribute(self: BaseModel, name: str) -> object:
        value = object.__getattribute__(self, name)
        prefix = _paths.get(id(self)) if name[:1] != "_" else None
        fields = type(self).model_fields
        if prefix is not None and name in fields and not isinstance(value, BaseModel):
            _read.add(f"{prefix}{fields[name].alias or name}")
        return value

    copy = section.model_copy

    def traced_copy(self: BaseModel, *args: object, **kwargs: object) -> BaseModel:
        clone = copy(self, *args, **kwargs)  # type: ignore[arg-type]
        if id(self) in _paths:  # a changed copy of a section is still that section
            _register(clone, _paths[id(self)])
        return clone

    section.__getattribute__ = traced_getattribute  # type: ignore[assignment,method-assign]
    section.model_copy = traced_copy  # type: ignore[assignment,method-assign]


def _write(folder: Path) -> None:
    stage = Path(sys.argv[0]).stem + "".join(f"@{arg}" for arg in sys.argv[1:2])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stage}.json").write_text(json.dumps(sorted(_read), indent=1) + "\n")

"""Data validation of the image manifest: image-level checks plus a Great Expectations suite.

Two steps:

* `check_images(chunks, root, total)` opens and fully decodes every image listed in the manifest and
  adds what it actually found (`decodes`, `actual_width`, `actual_height`, `actual_mode`,
  `actual_bytes`, `hash_matches`, `decode_error`); `check_manifest` writes those rows, a chunk at a
  time, into a SQLite table (`pipeline.disk_table`).
* `validate_manifest(checked, settings, docs_dir, tasks)` runs a GX Core 1.x Expectation Suite over that
  table (in an ephemeral context, through GX's SQLite table asset: the checks run as SQL queries, so
  memory does not grow with the manifest), renders GX Data Docs into `docs_dir` and returns a small,
  JSON-friendly `ValidationReport`.

GX 1.x objects used (the 0.x API — `ge.from_pandas`, `context.sources`, `validator.expect_*` — is
gone): `gx.get_context(mode="ephemeral")`, `context.data_sources.add_sqlite(...)
.add_table_asset(...).add_batch_definition_whole_table(...)`, `gx.ExpectationSuite` +
`great_expectations.expectations.Expect*`, row conditions as
`great_expectations.expectations.row_conditions.Column(...)` objects (string `row_condition` with
`condition_parser="pandas"` is deprecated since GX 1.9), `gx.ValidationDefinition`,
`gx.Checkpoint` with `gx.checkpoint.UpdateDataDocsAction`.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.disk_table import CHUNK_ROWS, DiskTable, quoted
from pipeline.image_checks import CHECK_COLUMNS, check_images
from pipeline.params import SHARED_SOURCES, Task, Validate

os.environ["GX_ANALYTICS_ENABLED"] = "False"  # no network: never send usage statistics

SUITE_NAME = "lego_manifest"
SITE_NAME = "manifest_docs"
SOURCES = ("minifigures", "sets", "custom", "feedback")
SPLIT_HINTS = ("train", "val", "test")
LABELLED = "labelled"  # computed before the suite runs: the row has a class in some task's label column
SHA256_REGEX = r"^[0-9a-f]{64}$"
EXAMPLES = 5
FLAGS = ("decodes", "hash_matches", LABELLED)  # true or false: SQLite keeps them as 1 or 0, the report as booleans
# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def _example_text(example: dict) -> str:
    path, value = example.get("path"), example.get("value")
    if path is None:
        return repr(value)
    if value == path:
        return str(path)
    return f"{path} ({value!r})"


@dataclass(frozen=True)
class Failure:
    """One failed expectation.

    `examples` holds up to 5 dicts `{"path": ..., "value": ...}` (JSON-safe; `value` is the
    offending value, a list for column-pair expectations).
    """

    expectation: str
    column: str
    unexpected_count: int
    examples: list = field(default_factory=list)
    element_count: int = 0
    condition: str = ""
    error: str = ""

    def line(self) -> str:
        where = f" where {self.condition}" if self.condition else ""
        text = (
            f"FAILED {self.expectation} on {self.column}{where}: {self.unexpected_count} of {self.element_count} rows"
        )
        if self.error:
            text += f" (error: {self.error})"
        if self.examples:
            text += "; e.g. " + ", ".join(_example_text(ex) for ex in self.examples[:EXAMPLES])
        return text


@dataclass(frozen=True)
class ValidationReport:
    success: bool
    rows: int
    evaluated: int
    successful: int
    failures: list[Failure] = field(default_factory=list)
    docs_index: str = ""

    def summary(self) -> str:
        if self.success and not self.failures:
            return f"all {self.evaluated} expectations passed on {self.rows} rows"
        head = f"{len(self.failures)} of {self.evaluated} expectations failed on {self.rows} rows"
        return "\n".join([head, *(f"  {f.line()}" for f in self.failures)])

    def to_json(self) -> dict:
        return {
            "success": bool(self.success),
            "rows": int(self.rows),
            "expectations": int(self.evaluated),
            "passed": int(self.successful),
            "failed": int(self.evaluated - self.successful),
            "failures": [asdict(f) for f in self.failures],
        }


def _plain(value: Any) -> Any:
    """Make a value from a GX result JSON-safe (numpy scalars, NaN, tuples)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


# --------------------------------------------------------------------------------------------------
# Expectation suite
# --------------------------------------------------------------------------------------------------


def build_suite(settings: Validate, tasks: Sequence[Task]):  # -> gx.ExpectationSuite
    """The manifest's expectations (not yet added to a context): the file checks, and for each task its class
    column filled on every row of the providers that feed it (custom and feedback rows belong to one task each)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    suite = gx.ExpectationSuite(name=SUITE_NAME)
    expectations: list[gxe.Expectation] = [
        gxe.ExpectColumnValuesToNotBeNull(column="path"),
        gxe.ExpectColumnValuesToBeUnique(column="path"),
        gxe.ExpectColumnValuesToNotBeNull(column="sha256"),
        gxe.ExpectColumnValuesToMatchRegex(column="sha256", regex=SHA256_REGEX),
        gxe.ExpectColumnValuesToNotBeNull(column="source"),
        gxe.ExpectColumnValuesToBeInSet(column="source", value_set=list(SOURCES)),
        # nulls are skipped by map expectations, so an empty split_hint passes
        gxe.ExpectColumnValuesToBeInSet(column="split_hint", value_set=list(SPLIT_HINTS)),
        *(
            gxe.ExpectColumnValuesToNotBeNull(column=task.label, row_condition=Column("source").is_in(providers))
            for task in tasks
            if (providers := [s for s in task.sources if s not in SHARED_SOURCES])
        ),
        # a <task>/<class>/ folder image with no class in any task's column belongs to no task
        gxe.ExpectColumnValuesToBeInSet(
            column=LABELLED, value_set=[True], row_condition=Column("source").is_in(list(SHARED_SOURCES))
        ),
        gxe.ExpectColumnValuesToNotBeNull(column="set_num", row_condition=Column("source") == "sets"),
        gxe.ExpectColumnValuesToBeInSet(column="decodes", value_set=[True]),
        gxe.ExpectColumnValuesToBeInSet(column="hash_matches", value_set=[True]),
    ]
    for col in ("width", "height"):
        expectations += [
            gxe.ExpectColumnValuesToNotBeNull(column=col),
            gxe.ExpectColumnValuesToBeBetween(column=col, min_value=settings.min_side, max_value=settings.max_side),
        ]
    expectations += [
        gxe.ExpectColumnPairValuesToBeEqual(column_A="actual_width", column_B="width"),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="actual_height", column_B="height"),
        gxe.ExpectColumnValuesToNotBeNull(column="bytes"),
        gxe.ExpectColumnValuesToBeBetween(column="bytes", min_value=1, max_value=settings.max_bytes),
        gxe.ExpectColumnValuesToBeInSet(column="actual_mode", value_set=list(settings.modes)),
    ]
    for exp in expectations:
        suite.add_expectation(exp)
    return suite


def _condition_text(condition: Any) -> str:
    if condition is None or condition == "":
        return ""
    from great_expectations.expectations.row_conditions import deserialize_row_condition

    try:
        return repr(deserialize_row_condition(condition))
    except Exception:  # noqa: BLE001 - only for display
        return str(condition)


def _failure(result: Any) -> Failure:
    cfg = result.expectation_config
    kwargs = cfg.kwargs
    if "column" in kwargs:
        column = str(kwargs["column"])
    elif "column_A" in kwargs:
        column = f"{kwargs['column_A']},{kwargs['column_B']}"
    else:
        column = ",".join(kwargs.get("column_list", [])) or "-"
    res = dict(result.result or {})
    values = list(res.get("partial_unexpected_list") or [])
    indices = list(res.get("partial_unexpected_index_list") or [])
    examples = []
    for i in range(max(len(values), len(indices))):
        idx = indices[i] if i < len(indices) else None
        path = idx.get("path") if isinstance(idx, dict) else None
        value = values[i] if i < len(values) else None
        if column in FLAGS and value is not None:
            value = bool(value)
        examples.append({"path": _plain(path), "value": _plain(value)})
    condition = _condition_text(kwargs.get("row_condition"))
    error = ""
    if result.exception_info and result.exception_info.get("raised_exception"):
        error = str(result.exception_info.get("exception_message") or "exception")
    return Failure(
        expectation=str(cfg.type),
        column=column,
        unexpected_count=int(res.get("unexpected_count") or 0),
        examples=examples[:EXAMPLES],
        element_count=int(res.get("element_count") or 0),
        condition=condition,
        error=error,
    )


def _clear_site(docs_dir: Path) -> None:
    """Remove a previous GX site in `docs_dir` (only GX's own entries), so stale runs don't show."""
    for name in ("index.html",):
        (docs_dir / name).unlink(missing_ok=True)
    for name in ("validations", "expectations", "static"):
        shutil.rmtree(docs_dir / name, ignore_errors=True)


def check_manifest(
    manifest: Path, root: Path, settings: Validate, docs_dir: Path, tasks: Sequence[Task]
) -> ValidationReport:
    """`check_images` over the manifest at `manifest` (image paths relative to `root`), a chunk of rows at a time
    into a table on disk, then `validate_manifest` over that table."""
    columns = list(pd.read_csv(manifest, nrows=0).columns)
    total = sum(len(chunk) for chunk in pd.read_csv(manifest, usecols=[0], chunksize=CHUNK_ROWS))
    with (
        tempfile.TemporaryDirectory(prefix="validate-") as scratch,
        DiskTable(Path(scratch) / "checked.db", [*columns, *CHECK_COLUMNS], name="manifest") as checked,
    ):
        for rows in check_images(pd.read_csv(manifest, chunksize=CHUNK_ROWS), root, total):
            checked.append(rows)
        return validate_manifest(checked, settings, docs_dir, tasks)


def validate_manifest(
    checked: DiskTable, settings: Validate, docs_dir: Path, tasks: Sequence[Task]
) -> ValidationReport:
    """Run the manifest Expectation Suite on `checked` (manifest rows with `check_images`' columns).

    Writes GX Data Docs into `docs_dir` (`docs_dir/index.html` links to the validation result).
    Nothing else is written: the GX context is ephemeral (in memory).
    """
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.data_context.types.base import ProgressBarsConfig

    docs_dir = Path(docs_dir).resolve()
    docs_dir.mkdir(parents=True, exist_ok=True)
    _clear_site(docs_dir)

    missing = [
        c
        for c in (
            "path",
            "sha256",
            "source",
            "split_hint",
            *dict.fromkeys(task.label for task in tasks),
            "set_num",
            "width",
            "height",
            "bytes",
            *CHECK_COLUMNS,
        )
        if c not in checked.columns
    ]
    if missing:
        raise ValueError(f"manifest is missing columns {missing} (run check_images first)")
    labels = dict.fromkeys(task.label for task in tasks)
    checked.add_column(LABELLED, " OR ".join(f"{quoted(label)} IS NOT NULL" for label in labels))

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    for site in list(context.config.data_docs_sites or {}):
        context.delete_data_docs_site(site)
    context.add_data_docs_site(
        SITE_NAME,
        {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,  # type: ignore[typeddict-unknown-key]  # GX's TypedDict lacks it
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    batch_definition = (
        context.data_sources.add_sqlite("manifest", connection_string=f"sqlite:///{checked.path}")
        .add_table_asset("manifest", table_name=checked.name)
        .add_batch_definition_whole_table("manifest")
    )
    suite = context.suites.add(build_suite(settings, tasks))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="manifest", data=batch_definition, suite=suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="manifest",
            validation_definitions=[definition],
            actions=[UpdateDataDocsAction(name="data_docs", site_names=[SITE_NAME])],
            result_format={
                "result_format": "SUMMARY",
                "partial_unexpected_count": EXAMPLES,
                "unexpected_index_column_names": ["path"],
            },
        )
    )
    run = checkpoint.run()
    (result,) = run.run_results.values()

    stats = result.statistics
    failures = [_failure(r) for r in result.results if not r.success]
    index = docs_dir / "index.html"
    return ValidationReport(
        success=bool(result.success),
        rows=len(checked),
        evaluated=int(stats["evaluated_expectations"]),
        successful=int(stats["successful_expectations"]),
        failures=failures,
        docs_index=str(index) if index.exists() else "",
    )

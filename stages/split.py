"""DVC stage `split@<task>`: stratified, leakage-free split into `data/yolo/<task>/{train,val,calibration,test}/<class>/`."""

import sys
import tempfile
from pathlib import Path

from pipeline import cli, io, params, paths
from pipeline.manifest import iter_task_rows
from pipeline.providers import data_source
from pipeline.records import SplitReport, split_report_path
from pipeline.split import SplitTable, assign, materialise


def main() -> None:
    config = params.load()
    task = config.task(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="split-") as scratch, SplitTable(Path(scratch) / "rows.db") as table:
        for rows in iter_task_rows(paths.MANIFEST, task):
            table.add(rows)
        if not table.count():
            raise io.DataError(f"{paths.MANIFEST}: no labelled rows for task '{task.name}' (column '{task.label}')")
        report = assign(table, config.split, config.seed)
        # what the data is: registered with the model (see stages/register.py)
        record = SplitReport.model_validate(report | data_source(config, table.sources()))
        materialise(table, paths.PROJECT_ROOT, paths.YOLO / task.name)
    record.write(split_report_path(task.name))
    print(
        f"split@{task.name}: {record.images} over {record.classes} classes, data version {record.data_version}"
        f" ({record.data_source})" + (f"; test: {record.test_fold}" if record.test_fold else "")
    )


if __name__ == "__main__":
    cli.run(main)

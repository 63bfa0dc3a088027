"""DVC stage `split@<task>`: stratified, leakage-free split into `data/yolo/<task>/{train,val,calibration,test}/<class>/`."""

import sys

from pipeline import cli, io, params, paths
from pipeline.manifest import read_task_rows
from pipeline.providers import data_source
from pipeline.records import SplitReport, split_report_path
from pipeline.split import assign, materialise


def main() -> None:
    config = params.load()
    task = config.task(sys.argv[1])
    rows = read_task_rows(paths.MANIFEST, task)
    if rows.empty:
        raise io.DataError(f"{paths.MANIFEST}: no labelled rows for task '{task.name}' (column '{task.label}')")
    assigned, report = assign(rows, config.split, config.seed)
    # what the data is: registered with the model (see stages/register.py)
    record = SplitReport.model_validate(report | data_source(config, set(rows["source"])))
    out = paths.YOLO / task.name
    table = materialise(assigned, paths.PROJECT_ROOT, out)
    io.write_csv(out / "split.csv", table)
    record.write(split_report_path(task.name))
    print(
        f"split@{task.name}: {record.images} over {record.classes} classes, data version {record.data_version}"
        f" ({record.data_source})" + (f"; test: {record.test_fold}" if record.test_fold else "")
    )


if __name__ == "__main__":
    cli.run(main)

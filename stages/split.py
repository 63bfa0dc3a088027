"""DVC stage `split@<task>`: stratified, leakage-free split into `data/yolo/<task>/{train,val,calibration,test}/<class>/`."""

import sys

import pandas as pd

from pipeline import cli, io, params, paths
from pipeline.manifest import TASKS, task_rows
from pipeline.providers import data_source
from pipeline.split import assign, materialise


def main() -> None:
    task = TASKS[sys.argv[1]]
    config = params.load()
    rows = task_rows(pd.read_csv(paths.MANIFEST), task)
    if rows.empty:
        raise io.DataError(f"{paths.MANIFEST}: no labelled rows for task '{task.name}' (column '{task.label}')")
    assigned, report = assign(rows, config.split, config.seed)
    report |= data_source(config, task.name)  # what the data is: registered with the model (see stages/register.py)
    out = paths.YOLO / task.name
    table = materialise(assigned, paths.PROJECT_ROOT, out)
    io.write_csv(out / "split.csv", table)
    io.write_json(paths.REPORTS / "split" / f"{task.name}.json", report)
    print(
        f"split@{task.name}: {report['images']} over {report['classes']} classes, data version {report['data_version']}"
        f" ({report['data_source']})" + (f"; test: {report['test_fold']}" if "test_fold" in report else "")
    )


if __name__ == "__main__":
    cli.run(main)

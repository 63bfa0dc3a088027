"""DVC stage `label`: themes for sets (and minifigures) from the catalogue stage's labelled sets; writes the manifest
of every image."""

from pipeline import cli, io, params, paths
from pipeline.labelling import RawFolders, write_manifest
from pipeline.providers.kaggle_layout import INDEX, KaggleIndex
from pipeline.themes import read_labelled

REPORT = paths.REPORTS / "label.json"
EXCLUDED = paths.REPORTS / "label" / "excluded_sets.csv"  # one row per logged set that has no manifest row


def main() -> None:
    tasks = params.load().declared_tasks()
    labelled = read_labelled(paths.LABELLED_SETS)
    layout = KaggleIndex(paths.RAW_MINIFIGURES).chunks() if (paths.RAW_MINIFIGURES / INDEX).is_file() else []
    raw = RawFolders(paths.RAW_MINIFIGURES, paths.RAW_SETS, paths.RAW_CUSTOM, paths.RAW_FEEDBACK)
    report = write_manifest(layout, labelled, raw, paths.PROJECT_ROOT, tasks, paths.MANIFEST, EXCLUDED)
    report["excluded_sets"] = EXCLUDED.relative_to(paths.PROJECT_ROOT).as_posix()
    io.write_json(REPORT, report)
    excluded_at = report["excluded_sets"]
    print(f"label: {report['images']} images in {paths.MANIFEST}; excluded sets: {report['excluded_not_in_catalogue']} "
          f"not in catalogue, {report['excluded_unmapped_theme']} in no theme group (listed in {excluded_at})")  # fmt: skip


if __name__ == "__main__":
    cli.run(main)

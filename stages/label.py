"""DVC stage `label`: themes for sets (and minifigures) from the catalogue stage's labelled sets; writes the manifest
of every image."""

from pipeline import cli, io, manifest, params, paths
from pipeline.providers.kaggle_layout import EMPTY_LAYOUT, read_layout
from pipeline.themes import read_labelled

REPORT = paths.REPORTS / "label.json"
EXCLUDED = paths.REPORTS / "label" / "excluded_sets.csv"  # one row per logged set that has no manifest row


def main() -> None:
    tasks = params.load().declared_tasks()
    labelled = read_labelled(paths.LABELLED_SETS)
    root = paths.PROJECT_ROOT
    layout = read_layout(paths.RAW_MINIFIGURES) if (paths.RAW_MINIFIGURES / "index.csv").is_file() else EMPTY_LAYOUT
    figures = manifest.minifigure_rows(layout, paths.RAW_MINIFIGURES, root, labelled)
    custom = manifest.task_folder_rows(paths.RAW_CUSTOM, root, tasks, "custom")
    feedback = manifest.task_folder_rows(paths.RAW_FEEDBACK, root, tasks, manifest.FEEDBACK)
    log = manifest.read_sets_log(paths.RAW_SETS)
    set_images, report, excluded = manifest.set_rows(log, paths.RAW_SETS, root, labelled)
    table = manifest.build([figures, custom, set_images, feedback], tasks)
    io.write_csv(paths.MANIFEST, table)
    report = {
        "images": int(len(table)),
        "minifigure_images": int(len(figures)),
        "minifigures_with_theme": int(figures["theme"].notna().sum()) if len(figures) else 0,
        "custom_images": int(len(custom)),
        "feedback_images": int(len(feedback)),
        **report,
        "excluded_sets": EXCLUDED.relative_to(paths.PROJECT_ROOT).as_posix(),
    }
    io.write_csv(EXCLUDED, excluded)
    io.write_json(REPORT, report)
    excluded_at = report["excluded_sets"]
    print(f"label: {len(table)} images in {paths.MANIFEST}; excluded sets: {report['excluded_not_in_catalogue']} "
          f"not in catalogue, {report['excluded_unmapped_theme']} in no theme group (listed in {excluded_at})")  # fmt: skip


if __name__ == "__main__":
    cli.run(main)

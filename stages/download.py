"""DVC stage `download`: minifigure photos in Kaggle's layout → `data/raw/minifigures/`, and the user's own
classes (`sources.custom.path`) → `data/raw/custom/`."""

from pipeline import cli, params, paths
from pipeline.providers import copy_custom, fetch_minifigures


def main() -> None:
    config = params.load()
    rows = fetch_minifigures(config, paths.RAW_MINIFIGURES)
    custom = copy_custom(config, paths.RAW_CUSTOM)
    print(
        f"download: {len(rows)} images, {rows['class_id'].nunique()} classes → {paths.RAW_MINIFIGURES}; {custom} custom images"
    )


if __name__ == "__main__":
    cli.run(main)

"""DVC stage `download`: minifigure photos in Kaggle's layout → `data/raw/minifigures/`, and your own classes
(`sources.custom.path`, `<task>/<class>/<images>`) → `data/raw/custom/`."""

from pipeline import cli, params, paths
from pipeline.providers import copy_custom, fetch_minifigures


def main() -> None:
    config = params.load()
    listed = fetch_minifigures(config, paths.RAW_MINIFIGURES)
    custom = copy_custom(config, paths.RAW_CUSTOM)
    own = ", ".join(f"{task} {sum(c.values())} in {len(c)} classes" for task, c in custom.items() if c) or "none"
    images, classes = (len(listed), listed.classes) if listed else (0, 0)
    print(f"download: {images} images, {classes} classes → {paths.RAW_MINIFIGURES}; own images: {own}")


if __name__ == "__main__":
    cli.run(main)

"""DVC stage `download`: minifigure photos in Kaggle's layout → `data/raw/minifigures/`."""

from pipeline import cli, params, paths
from pipeline.providers import fetch_minifigures


def main() -> None:
    rows = fetch_minifigures(params.load(), paths.RAW_MINIFIGURES)
    print(f"download: {len(rows)} images, {rows['class_id'].nunique()} classes → {paths.RAW_MINIFIGURES}")


if __name__ == "__main__":
    cli.run(main)

"""DVC stage `scrape`: LEGO set product images and their records → `data/raw/sets/` (BrickInsights: the sets the
catalogue stage labelled, unless `ids_file` names them)."""

from pipeline import cli, params, paths
from pipeline.providers import fetch_sets


def main() -> None:
    records = fetch_sets(params.load(), paths.RAW_SETS)
    ok = sum(r["status"] == "ok" for r in records)
    print(f"scrape: {ok} of {len(records)} sets with an image → {paths.RAW_SETS}")


if __name__ == "__main__":
    cli.run(main)

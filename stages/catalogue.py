"""DVC stage `catalogue`: the Rebrickable catalogue (`sources.themes`) → `data/raw/catalogue/{sets,themes}.csv`, and
every set in it labelled with its theme path and `theme_groups` group → `data/raw/catalogue/labelled_sets.csv`.

Fetched and labelled once per run: the scrape stage (BrickInsights picks its set ids from the labelled sets) and
the label stage read the table rather than fetch the catalogue themselves."""

from pipeline import cli, params, paths
from pipeline.providers import fetch_catalogue
from pipeline.themes import label_sets, write_labelled


def main() -> None:
    config = params.load()
    sets, themes = fetch_catalogue(config, paths.CATALOGUE)
    labelled = label_sets(sets, themes, config.theme_groups, config.themes_left_out)
    write_labelled(paths.LABELLED_SETS, labelled)
    grouped = int(labelled["theme_group"].notna().sum())
    print(f"catalogue: {len(sets)} sets, {len(themes)} themes, {grouped} sets in a theme group → {paths.CATALOGUE}")


if __name__ == "__main__":
    cli.run(main)

"""The page `dvc plots show` and `dvc plots diff` write, with its charting scripts inside it, so it opens offline.

DVC's own page loads Vega, Vega-Lite and Vega-Embed from a CDN: on a machine without network the training curves
stay blank. DVC takes a page template (`plots.html_template`) with a `{plot_divs}` placeholder; this one holds the
three libraries, bundled by the pinned `vl-convert-python` from the copies inside its wheel (nothing is fetched), and
has no `{scripts}` placeholder, where DVC would put the CDN tags. `make install` writes it to `.dvc/tmp/plots.html`
and points this clone's `.dvc/config.local` at it; the committed config stays DVC's default, so a clone set up
some other way still gets DVC's own page rather than a template that is not there.

    python -m pipeline.plots_page [REPO]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from pipeline.io import atomic_path

VEGA_LITE = "5.21"  # DVC's plot templates are Vega-Lite 5 specifications
TEMPLATE = Path(".dvc") / "tmp" / "plots.html"
DVC_PLACEHOLDERS = ("{plot_divs}", "{scripts}", "{refresh_tag}")  # dvc_render.html.HTML fills these anywhere


def page(bundle: str) -> str:
    """DVC's own page layout with `bundle` inline where its CDN script tags would go (UTF-8, as DVC writes it)."""
    from dvc_render.html import PAGE_HTML

    found = [placeholder for placeholder in DVC_PLACEHOLDERS if placeholder in bundle]
    if found:
        raise ValueError(f"the Vega bundle contains DVC's placeholder {found[0]}: DVC would fill it in")
    script = bundle.replace("</script", "<\\/script")
    return PAGE_HTML.replace("{scripts}", f'<meta charset="utf-8">\n    <script>{script}</script>')


def vega_bundle() -> str:
    """Vega, Vega-Lite and Vega-Embed as one script that sets `window.vegaEmbed`, from vl-convert's wheel."""
    import vl_convert

    # no snippet: the standard bundle (the stub marks the optional snippet as required)
    return vl_convert.javascript_bundle(None, vl_version=VEGA_LITE)  # type: ignore[arg-type]


def install(repo: Path) -> Path:
    """Write the page into `repo` and make it this clone's `plots.html_template` (`.dvc/config.local`)."""
    target = repo / TEMPLATE
    with atomic_path(target) as tmp:
        tmp.write_text(page(vega_bundle()), encoding="utf-8")  # DVC reads it as UTF-8, whatever the locale
    relative = target.relative_to(repo / ".dvc")  # DVC resolves the setting against .dvc/
    subprocess.run(
        [sys.executable, "-m", "dvc", "config", "--local", "plots.html_template", str(relative)], cwd=repo, check=True
    )
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", nargs="?", type=Path, default=Path("."), help="the DVC repository (default: here)")
    target = install(parser.parse_args(argv).repo)
    print(f"dvc plots: {target} (charting scripts inline: the page opens without network)")


if __name__ == "__main__":
    main()

"""Great Expectations' Data Docs, made to open without network.

GX's pages load Bootstrap, Popper, jQuery, Font Awesome, bootstrap-table (with its filter and date-picker add-ons),
a dark theme and Vega from CDNs, and GX's logo from its S3 bucket with the time of rendering in the address.
Offline they open unstyled, without their pass/fail icons, and the index is empty: bootstrap-table draws the list
of validation runs from data in the page. `make_offline(site)` points every page at copies in `static/vendor/`,
taken from pinned packages (XStatic's Bootstrap, jQuery and Font Awesome; vl-convert-python's Vega bundle) and GX's
own logo, and draws the index tables with a small stand-in for bootstrap-table, which no package the project
installs from ships. Left out: the dark theme and the tables' search, filter and paging controls. GX's links to its
web site stay links.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from pipeline.io import atomic_path

VENDOR = Path("static") / "vendor"
LOGO = "logo-long.png"  # GX copies its images into the site, in static/images/
GX_ASSETS = re.compile(r"https://great-expectations-web-assets\.s3[\w.-]*\.amazonaws\.com/[^'\")\s]*")
# GX's relative paths to its own images (a validation page's favicon is one folder short)
SITE_IMAGES = re.compile(r"(?<=[\"'(])(?:\.\.?/)+static/images/")
TAG = re.compile(r"<(?:script|link)\b[^>]*?\b(?:src|href)=\"(https?://[^\"]+)\"[^>]*>(?:\s*</script>)?")

# Each CDN address on GX's pages: the vendored file that stands for it, or None where the page does without it.
REPLACEMENTS: dict[str, str | None] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/bootstrap.bundle.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": None,  # inside Bootstrap's bundle
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "font-awesome/css/all.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": None,
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": None,
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": None,
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": None,
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": None,
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": None,
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": None,
    "https://cdn.jsdelivr.net/npm/vega@5": "vega.js",  # Vega, Vega-Lite and Vega-Embed in one script
    "https://cdn.jsdelivr.net/npm/vega-lite@5": None,
    "https://cdn.jsdelivr.net/npm/vega-embed@6": None,
}

# bootstrap-table's call as GX makes it, `$(table).bootstrapTable({columns, data, sortName, sortOrder, rowStyle,
# rowAttributes, toolbar})`, drawn as a plain Bootstrap table: every row, sorted as asked, and a click on a row
# raises bootstrap-table's `click-row.bs.table` event, which GX's pages follow as a link. Other calls (clearing
# filters) have nothing to act on, so the toolbar that offers them is hidden.
BOOTSTRAP_TABLE = """\
(function ($) {
  "use strict";
  function named(f) { return typeof f === "function" ? f : window[f]; }
  $.fn.bootstrapTable = function (options) {
    if (typeof options !== "object") { return this; }
    return this.each(function () {
      var $table = $(this).addClass("table table-hover"), columns = options.columns || [];
      var rows = (options.data || []).slice(), sortBy = columns.filter(function (c) {
        return c.field === options.sortName; })[0];
      if (sortBy) {
        var key = sortBy.sortName || sortBy.field, sign = options.sortOrder === "desc" ? -1 : 1;
        rows.sort(function (a, b) { return a[key] < b[key] ? -sign : a[key] > b[key] ? sign : 0; });
      }
      var $head = $("<tr>");
      columns.forEach(function (c) { $head.append($("<th>").text(c.title || "").css("text-align", c.align || "")); });
      var $body = $("<tbody>"), style = named(options.rowStyle), attributes = named(options.rowAttributes);
      rows.forEach(function (row, i) {
        var $row = $("<tr>").attr(attributes ? attributes(row, i) : {}).css(style ? style(row, i).css || {} : {});
        columns.forEach(function (c) {
          $row.append($("<td>").html(row[c.field] === undefined ? "" : row[c.field]).css("text-align", c.align || ""));
        });
        $row.on("click", function () { $table.trigger("click-row.bs.table", [row, $row]); });
        $body.append($row);
      });
      $table.empty().append($("<thead>").append($head), $body);
      if (options.toolbar) { $(options.toolbar).hide(); }
    });
  };
})(jQuery);
"""


def vendor(site: Path) -> None:
    """Copy the libraries the pages use into `site/static/vendor/`."""
    from xstatic.pkg import bootstrap, font_awesome, jquery

    from pipeline.plots_page import vega_bundle

    target = site / VENDOR
    shutil.rmtree(target, ignore_errors=True)
    (target / "bootstrap").mkdir(parents=True)
    for name in ("css/bootstrap.min.css", "js/bootstrap.bundle.min.js"):
        shutil.copyfile(Path(bootstrap.BASE_DIR) / name, target / "bootstrap" / Path(name).name)
    shutil.copyfile(Path(jquery.BASE_DIR) / "jquery.min.js", target / "jquery.min.js")
    for name in ("css/all.min.css", "webfonts", "LICENSE.txt"):  # the style sheet finds its fonts at ../webfonts/
        source, copy = Path(font_awesome.BASE_DIR) / name, target / "font-awesome" / name
        if source.is_dir():
            shutil.copytree(source, copy)
        else:
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, copy)
    (target / "bootstrap-table.js").write_text(BOOTSTRAP_TABLE, encoding="utf-8")
    (target / "vega.js").write_text(vega_bundle(), encoding="utf-8")


def offline_text(text: str, static: str) -> tuple[str, set[str]]:
    """`text` (a page or a style sheet) with GX's CDN tags pointed at `static` (the site's `static/` folder relative
    to the file) or dropped, its hosted images replaced by its logo, and the paths to its own images made right;
    also the external addresses `text` still loads, which `REPLACEMENTS` does not know."""
    unknown: set[str] = set()

    def tag(match: re.Match) -> str:
        url = match.group(1)
        if url not in REPLACEMENTS:
            unknown.add(url)
            return match.group(0)
        local = REPLACEMENTS[url]
        if local is None:
            return ""
        path = f"{static}/vendor/{local}"
        if match.group(0).startswith("<link"):
            return f'<link rel="stylesheet" href="{path}">'
        return f'<script src="{path}"></script>'

    text = SITE_IMAGES.sub(f"{static}/images/", TAG.sub(tag, text))
    return GX_ASSETS.sub(f"{static}/images/{LOGO}", text), unknown


def make_offline(site: Path) -> set[str]:
    """Rewrite the Data Docs site at `site` to load nothing from the network; returns the external addresses left
    (none for the GX version pinned: a test opens the pages in a browser with no network)."""
    vendor(site)
    left: set[str] = set()
    for path in sorted([*site.rglob("*.html"), *(site / "static" / "styles").glob("*.css")]):
        static = Path(os.path.relpath(site / "static", path.parent)).as_posix()
        text, unknown = offline_text(path.read_text(encoding="utf-8"), static)
        left |= unknown
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return left

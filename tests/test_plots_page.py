"""`dvc plots show` with the project's page template: the training curves draw in a browser with no network.

A real DVC repository with a CSV plot, the template installed as `make install` does, `dvc plots show` run by DVC
itself, and Debian's Chromium opening the page: the curves draw and the page asks for nothing but its own file.
DVC's default page would fetch Vega from a CDN and draw nothing here.
"""

from __future__ import annotations

import sys

import pytest

from pipeline.paths import PROJECT_ROOT
from pipeline.plots_page import page
from tests.browser import CHROMIUM, offline_page
from tests.conftest import guarded_environment
from tests.project_repo import sh


def test_the_bundle_goes_inline_where_dvc_would_put_its_cdn_tags():
    html = page("window.vegaEmbed = 1; '</script>'")
    assert "{plot_divs}" in html and "{refresh_tag}" in html and "{scripts}" not in html
    assert "window.vegaEmbed = 1; '<\\/script>'" in html and html.count("</script>") == 1
    with pytest.raises(ValueError, match=r"placeholder \{plot_divs\}"):
        page("const s = '{plot_divs}'")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (apt-get install chromium)")
def test_dvc_plots_show_draws_the_curves_without_network(tmp_path):
    log = tmp_path / "network-attempts.log"
    env = guarded_environment(log)
    repo = tmp_path / "repo"
    (repo / "reports").mkdir(parents=True)
    (repo / "reports" / "results.csv").write_text("epoch,loss\n1,0.9\n2,0.5\n3,0.3\n")
    (repo / "dvc.yaml").write_text(
        "plots:\n  - Training loss:\n      x: epoch\n      y:\n        reports/results.csv: loss\n"
    )
    sh([sys.executable, "-m", "dvc", "init", "--no-scm"], repo, env)
    sh([sys.executable, "-m", "pipeline.plots_page", str(repo)], PROJECT_ROOT, env)
    assert "html_template = tmp/plots.html" in (repo / ".dvc" / "config.local").read_text()
    sh([sys.executable, "-m", "dvc", "plots", "show", "-o", "out"], repo, env)
    html = (repo / "out" / "index.html").read_text()
    assert "cdn.jsdelivr.net" not in html and "vegaEmbed('#Training_loss'" in html

    with offline_page() as (browser_page, requested, errors):
        browser_page.goto((repo / "out" / "index.html").as_uri())
        browser_page.locator("#Training_loss canvas, #Training_loss svg").first.wait_for(timeout=30_000)
    assert errors == []
    assert [url for url in requested if not url.startswith("file:")] == []
    assert not log.exists() or log.read_text() == "", log.read_text()  # neither DVC nor the template tried

"""`make app PORT=8501`: the upload page on 127.0.0.1, offline (no usage statistics, no file watcher, no browser).

Streamlit serves its front end and fonts from its own wheel; this sets every switch that would reach out.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pipeline import cli, offline, params, paths

PAGE = Path(__file__).with_name("page.py")


def streamlit_flags(host: str, port: int, max_upload_mb: int) -> list[str]:
    settings = {
        "server.address": host,
        "server.port": port,
        "server.headless": "true",  # no browser opened, no e-mail prompt
        "server.maxUploadSize": max_upload_mb,
        "server.fileWatcherType": "none",
        "server.runOnSave": "false",
        "browser.gatherUsageStats": "false",  # no telemetry
        "global.developmentMode": "false",
        "client.toolbarMode": "viewer",  # no "Deploy" button (it links to Streamlit's cloud)
        "client.showErrorDetails": "type",  # a visitor sees what went wrong, not a traceback
    }
    return [f"--{key}={value}" for key, value in settings.items()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8501)
    args = parser.parse_args(argv)
    config = params.load()
    offline.configure()
    os.environ["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(paths.PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    streamlit = cli.console_script("streamlit")
    store = os.environ.get("MLFLOW_TRACKING_URI", paths.tracking_uri())
    print(f"upload page on http://{args.host}:{args.port} (champions from {store})")
    sys.stdout.flush()
    os.chdir(paths.PROJECT_ROOT)
    os.execv(streamlit, [streamlit, "run", str(PAGE), *streamlit_flags(args.host, args.port, config.app.max_upload_mb)])


if __name__ == "__main__":
    cli.run(main)

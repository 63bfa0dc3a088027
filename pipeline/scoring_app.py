"""The app `make serve` runs: MLflow's scoring server, with its API pages served from a wheel instead of CDNs.

`mlflow models serve` runs `mlflow.pyfunc.scoring_server.app:app` under uvicorn. That is a plain FastAPI app, whose
`/docs` (Swagger UI) and `/redoc` pages load their scripts from cdn.jsdelivr.net: blank on a closed network, and a
request to a third party from every other one. This module puts that app behind `fastapi_offline.FastAPIOffline`,
whose `/docs` and `/redoc` load Swagger UI and ReDoc from its pinned wheel and show the scoring app's OpenAPI
document; `/invocations`, `/ping`, `/health` and `/version` are MLflow's own, unchanged.
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from mlflow.pyfunc import scoring_server

MODEL_VARIABLE = "LEGO_SERVED_MODEL"
TITLE_VARIABLE = "LEGO_SERVED_TITLE"  # the API pages' heading, e.g. `lego-minifigure v3 (champion)`


def create_app(model_uri: str, title: str | None = None) -> FastAPI:
    """MLflow's scoring server for the pyfunc model at `model_uri`, its API pages offline and headed `title`."""
    scoring = scoring_server.init(scoring_server.load_model_with_mlflow_config(model_uri))
    scoring.title = title or scoring.title
    app = FastAPIOffline(title=scoring.title)
    app.openapi = scoring.openapi  # type: ignore[method-assign]  # FastAPI's documented way to supply the schema
    app.mount("/", scoring)  # everything but the API pages and their assets
    return app


def from_environment() -> FastAPI:
    """`uvicorn --factory pipeline.scoring_app:from_environment`: the model at `$LEGO_SERVED_MODEL`."""
    return create_app(os.environ[MODEL_VARIABLE], os.environ.get(TITLE_VARIABLE))

"""The app `make serve` runs: MLflow's scoring server, with its API pages served from a wheel instead of CDNs.

`mlflow models serve` runs `mlflow.pyfunc.scoring_server.app:app` under uvicorn. That is a plain FastAPI app, whose
`/docs` (Swagger UI) and `/redoc` pages load their scripts from cdn.jsdelivr.net: blank on a closed network, and a
request to a third party from every other one. This module builds the same app and replaces those two pages by
ones that load Swagger UI and ReDoc from the pinned `fastapi-offline` wheel; `/invocations`, `/ping`, `/health` and
`/version` are MLflow's own, unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from mlflow.pyfunc import scoring_server

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/static-offline-docs"
MODEL_VARIABLE = "LEGO_SERVED_MODEL"
TITLE_VARIABLE = "LEGO_SERVED_TITLE"  # the API pages' heading, e.g. `lego-minifigure v3 (champion)`


def offline_api_pages(app: FastAPI) -> FastAPI:
    """Replace FastAPI's `/docs`, its OAuth2 redirect and `/redoc` by pages whose scripts come from `ASSETS`."""
    docs, redoc, redirect = app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url
    assert app.openapi_url is not None, "the API pages need the app's OpenAPI document"
    openapi, title = app.openapi_url, app.title
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in {docs, redoc, redirect}]
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="offline-api-pages")
    favicon = f"{ASSETS_URL}/favicon.png"
    if docs is not None:

        @app.get(docs, include_in_schema=False)
        def swagger_ui() -> HTMLResponse:
            return get_swagger_ui_html(
                openapi_url=openapi, title=f"{title} - Swagger UI", oauth2_redirect_url=redirect,
                swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=favicon, swagger_ui_parameters=app.swagger_ui_parameters,
            )  # fmt: skip

        if redirect is not None:

            @app.get(redirect, include_in_schema=False)
            def swagger_ui_redirect() -> HTMLResponse:
                return get_swagger_ui_oauth2_redirect_html()

    if redoc is not None:

        @app.get(redoc, include_in_schema=False)
        def redoc_page() -> HTMLResponse:
            return get_redoc_html(
                openapi_url=openapi, title=f"{title} - ReDoc", redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=favicon, with_google_fonts=False,
            )  # fmt: skip

    return app


def create_app(model_uri: str, title: str | None = None) -> FastAPI:
    """MLflow's scoring server for the pyfunc model at `model_uri`, its API pages offline and headed `title`."""
    app = scoring_server.init(scoring_server.load_model_with_mlflow_config(model_uri))
    app.title = title or app.title
    return offline_api_pages(app)


def from_environment() -> FastAPI:
    """`uvicorn --factory pipeline.scoring_app:from_environment`: the model at `$LEGO_SERVED_MODEL`."""
    return create_app(os.environ[MODEL_VARIABLE], os.environ.get(TITLE_VARIABLE))

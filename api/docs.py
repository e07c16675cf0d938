"""``/docs``: Swagger UI from files this process serves, not from a CDN.

FastAPI's own ``/docs`` page loads Swagger UI's script and stylesheet from jsDelivr and
its favicon from fastapi.tiangolo.com: offline it is a blank page. The same page is
served here with Swagger UI's dist from the ``swagger-ui-bundle-v2`` package (Swagger
UI 5, which reads OpenAPI 3.1) under ``/docs/assets``. ReDoc ships no local copy, so
the app serves none (``redoc_url=None``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"


def install_docs(app: FastAPI, title: str) -> None:
    """Serve ``/docs`` and its assets from this process (create the app with
    ``docs_url=None``)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=Path(str(swagger_ui_path))), name="swagger-ui")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{title} · docs",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
            # Swagger UI would fetch a badge from validator.swagger.io for the document.
            swagger_ui_parameters={"validatorUrl": None},
        )

"""Interactive API documentation: Swagger UI at ``/api/docs/swagger-ui``.

flask-smorest renders the page; its scripts and styles come from the ``swagger-ui-bundle``
package and are served from here, so the page works offline (no CDN)."""
from __future__ import annotations

from flask import Blueprint, Flask, send_from_directory

SWAGGER_UI_PATH = "swagger-ui"
ASSETS_URL = "/api/docs/swagger-ui-assets/"

blp = Blueprint("docs_assets", __name__)


@blp.get(ASSETS_URL + "<path:filename>")
def swagger_ui_asset(filename: str):
    """A file of the Swagger UI distribution shipped by ``swagger-ui-bundle`` (404 if unknown)."""
    from swagger_ui_bundle import swagger_ui_path

    return send_from_directory(swagger_ui_path, filename, max_age=86400)


def configure_swagger_ui(app: Flask) -> None:
    """Point flask-smorest's Swagger UI page at the locally served assets (call before ``Api``)."""
    app.config.update(OPENAPI_SWAGGER_UI_PATH=SWAGGER_UI_PATH, OPENAPI_SWAGGER_UI_URL=ASSETS_URL,
                      OPENAPI_SWAGGER_UI_CONFIG={"persistAuthorization": False, "tryItOutEnabled": False})
    app.register_blueprint(blp)

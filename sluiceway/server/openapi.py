"""The OpenAPI document, generated from the code: served at /openapi.json and checked in at docs/reference/openapi.json.

    python -m sluiceway.server.openapi docs/reference/openapi.json

rewrites the checked-in copy; tests/server/test_openapi.py fails while it is stale.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .problems import ProblemDetails


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` include the problem-details schema the routes' error responses refer to."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}").pop("$defs", {}).items():
                schemas[name] = schema
            schemas["ProblemDetails"] = {
                key: value
                for key, value in ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}").items()
                if key != "$defs"
            }
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def render(app: FastAPI) -> str:
    """The document as it is checked in: indented, keys in the order FastAPI gives them, one final newline."""
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """Write the document to the file named in `argv` (or print it), from an application made only to be described: auth
    off, its store in a throwaway home."""
    import os
    import tempfile

    from .. import config
    from .app import create_app

    with tempfile.TemporaryDirectory(prefix="sluiceway-openapi-") as home:
        os.environ["SLUICEWAY_HOME"] = home
        text = render(create_app(config.load(None, {"SLUICEWAY_SERVER__AUTH__ENABLED": "false"})))
    if argv:
        with open(argv[0], "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

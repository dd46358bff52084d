"""The web console: four HTML pages and their static files (no build step, plain ES modules).

The pages call only the public /v1 API from the browser with the token the user signs in
with (kept in the tab's sessionStorage).  HTML gets the console CSP (api/security.py): scripts
and styles only from this origin, nothing inline.  Not part of the API contract.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse
from starlette.staticfiles import StaticFiles

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"
STATIC_PREFIX = "/console/"
PAGES = {"/": "index.html", "/proofs": "proofs.html", "/overlays": "overlays.html",
         "/health": "health.html"}

router = APIRouter(include_in_schema=False)


def _page(name: str):
    def page() -> FileResponse:
        # no-cache: revalidated each time, so a new build's page never pairs with old scripts
        return FileResponse(CONSOLE_DIR / name, media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": "no-cache"})

    return page


for _path, _name in PAGES.items():
    router.add_api_route(_path, _page(_name), methods=["GET"], name=f"console:{_name}")


def install(app) -> None:
    app.include_router(router)
    app.mount(STATIC_PREFIX.rstrip("/"), StaticFiles(directory=CONSOLE_DIR), name="console")

"""The web app: the shell page for every screen, /sw.js, the manifest and static files."""

import os
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from app.pwa.precache import APP_ROUTES, MANIFEST_FILE, STATIC_DIRS, WEB_DIR, ShellCache

# Shell files are revalidated on every use (ETag/304): the worker, not the HTTP cache,
# keeps them offline, and a stale HTTP copy would fail the worker's hash check.
REVALIDATE = "no-cache"


class RevalidatedFiles(StaticFiles):
    """StaticFiles (Range, ETag, 304) with an explicit revalidate-always policy."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = REVALIDATE
        return response


def _shell_cache(request: Request) -> ShellCache:
    cache: ShellCache = request.app.state.shell
    return cache


router = APIRouter(include_in_schema=False)


def shell(request: Request) -> Response:
    """The app shell: the same page for every screen, so the worker can answer any of them."""
    html = _shell_cache(request).current().shell_html
    return Response(html, media_type="text/html; charset=utf-8",
                    headers={"Cache-Control": REVALIDATE})


for _route in APP_ROUTES:
    router.add_api_route(_route, shell, methods=["GET", "HEAD"])


@router.get("/sw.js")
def service_worker(request: Request) -> Response:
    """The service worker with this build's precache manifest written in."""
    return Response(_shell_cache(request).current().sw_js, media_type="text/javascript",
                    headers={"Cache-Control": REVALIDATE})


@router.get(f"/{MANIFEST_FILE}")
def web_manifest(request: Request) -> Response:
    """The web app manifest (name, colours, icons) that makes the app installable."""
    body = (_shell_cache(request).web_dir / MANIFEST_FILE).read_bytes()
    return Response(body, media_type="application/manifest+json",
                    headers={"Cache-Control": REVALIDATE})


def mount_pwa(app: FastAPI, build: str, web_dir: Path = WEB_DIR) -> None:
    """Serve the web app; `build` (APP_BUILD) tags the shown version and the worker's bytes."""
    app.state.shell = ShellCache(web_dir, build)
    app.include_router(router)
    for folder in STATIC_DIRS:
        files = RevalidatedFiles(directory=web_dir / folder, check_dir=False)
        app.mount(f"/{folder}", files, name=folder)

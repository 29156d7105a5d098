"""The web app: server-rendered pages over the same per-user ``Session`` the API uses.

Pages sign in with an API token kept in a cookie (``auth``), show a project at a version
carried in the URL (``pages``), serve the images they draw on (``images``) and, for
admins, the audit (``audit``). Templates and static files ship in the package.

>>> install(app)  # doctest: +SKIP
"""

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from annolog.api.http.web import audit, auth, diffs, images, live, pages, stats, urls
from annolog.api.http.web.render import STATIC, PageRoute
from annolog.core.errors import NotFoundError

_unknown = APIRouter(prefix=urls.ROOT, route_class=PageRoute, include_in_schema=False)


@_unknown.get("/{path:path}")
def _no_page(path: str) -> Response:
    """Any other address under the pages is a 404 page, not the API's problem details."""
    raise NotFoundError(f"there is no page at {urls.ROOT}/{path}")


def install(app: FastAPI) -> None:
    """Add the pages to ``app``: ``/`` leads to them, static files under ``/ui/static``."""
    app.mount(f"{urls.ROOT}/static", StaticFiles(directory=STATIC), name="web-static")
    for module in (auth, pages, images, diffs, stats, live, audit):
        app.include_router(module.router)
    app.include_router(_unknown)  # last: it matches every address under the pages

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse(urls.projects())


__all__ = ["install"]

"""The HTTP API: FastAPI over the same ``Session`` the embedded SDK uses.

>>> app = create_app(build_service(load_settings()))  # doctest: +SKIP
"""

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from annolog.api.http import arrays, audit, diffs, files, problems, projects, system, web
from annolog.api.http.deps import printable_parameters
from annolog.api.service import Service
from annolog.api.tokens import Tokens


def create_app(service: Service, *, tokens: Tokens | None = None) -> FastAPI:
    """The API over ``service``; it keeps no state of its own, so processes can run side by side.

    Its docs (/docs, /redoc) load their scripts and styles from this server, not from a CDN,
    so they work on a machine without internet.
    """
    app = FastAPIOffline(
        title="annolog",
        summary="Versioned training data on an event log",
        description="Every change is an event; every version can be read or replayed. Errors are RFC 9457 "
        "problem details. Authenticate with `Authorization: Bearer <token>` (`annolog token create`).",
        version="0.1.0",
        responses=problems.RESPONSES,
        dependencies=[Depends(printable_parameters)],
    )
    app.state.service = service
    app.state.tokens = tokens or Tokens(service.engine)
    problems.install(app)
    for module in (system, projects, files, diffs, arrays, audit):
        app.include_router(module.router)
    web.install(app)
    return app


def from_settings() -> FastAPI:
    """The app over the stack the ``ANNOLOG_*`` settings name (uvicorn's factory for workers)."""
    from annolog.api.bootstrap import build_service
    from annolog.api.settings import load_settings

    return create_app(build_service(load_settings()))


__all__ = ["create_app", "from_settings"]

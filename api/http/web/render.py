"""Pages as HTML: the templates, the headers every page carries, and errors as pages.

Domain errors take their status from ``problems.status_of`` (the one map of errors to
statuses); a page shows them as HTML rather than problem details, and a 401 is the
sign-in form itself, so a reader who follows a link while signed out signs in where
they are and goes on to the page they asked for.
"""

import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape

from annolog.api.http.problems import status_of
from annolog.api.http.web import shapes, urls
from annolog.core.errors import AnnologError

STATIC = Path(__file__).parent / "static"

SECURITY_HEADERS = {
    # Everything the pages load is this server's: no inline script, no other origin.
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # a page shows what its reader may see now; never from a shared cache
}


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("annolog.api.http.web"), autoescape=select_autoescape(), trim_blocks=True
    )
    environment.globals |= {"urls": urls, "shapes": shapes.shapes, "color": shapes.color}
    environment.filters["json"] = _json
    return environment


templates = Jinja2Templates(env=_environment())


def page(request: Request, template: str, *, status: int = 200, **context: Any) -> Response:
    """``template`` rendered with ``context``, with the pages' security headers."""
    raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
    context.setdefault("then", urls.within_version(raw_path, request.url.query))
    response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def error_page(request: Request, status: int, message: str) -> Response:
    if status == 401:
        response = page(request, "signin.html", status=401, message=message, next=_here(request))
        response.headers["WWW-Authenticate"] = 'Bearer realm="annolog"'  # the cookie holds a bearer token
        return response
    return page(request, "error.html", status=status, message=message, code=status)


def _here(request: Request) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return request.url.path + query


def _invalid(error: RequestValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())


class PageRoute(APIRoute):
    """A route whose errors are pages: the status the API would answer, the body in HTML."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handle(request)
            except AnnologError as error:
                return error_page(request, status_of(error), str(error))
            except RequestValidationError as error:
                return error_page(request, 422, _invalid(error))

        return answer

"""Signing in to the pages: an API token, checked, kept in an HttpOnly, SameSite=Strict cookie.

The cookie holds the token itself, so it is checked on every request like a bearer token
(revoked or expired: signed out at once), and pages build the same per-user ``Session``
the API does. Only the pages and their GET helpers read the cookie; the API stays
bearer-only, so it has no cross-site request surface. Strict keeps the cookie off every
request another site starts; the two POSTs here also refuse a foreign ``Origin``, since
signing in sets a cookie rather than reading one (login CSRF).
"""

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Cookie, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse

from annolog.api.http.deps import ServiceDep, TokensDep, token_holds
from annolog.api.http.web import urls
from annolog.api.http.web.render import PageRoute, page
from annolog.api.session import Session
from annolog.core.errors import AccessDenied, NotAuthenticated

COOKIE = "annolog_session"

router = APIRouter(prefix=urls.ROOT, route_class=PageRoute, include_in_schema=False)


def _cookie_token(token: Annotated[str | None, Cookie(alias=COOKIE)] = None) -> str | None:
    return token


CookieTokenDep = Annotated[str | None, Depends(_cookie_token)]


def _page_session(service: ServiceDep, tokens: TokensDep, token: CookieTokenDep) -> Session:
    if not token:
        raise NotAuthenticated("sign in with an API token to see this page")
    return Session(service, tokens.authenticate(token).name)


PageSessionDep = Annotated[Session, Depends(_page_session)]
"""The reader's ``Session``, from the cookie; a 401 (the sign-in form) without a valid one."""


def _cookie_token_holds(tokens: TokensDep, token: CookieTokenDep) -> Callable[[], bool]:
    return token_holds(tokens, token)


CookieTokenHoldsDep = Annotated[Callable[[], bool], Depends(_cookie_token_holds)]
"""Whether the cookie's token still holds, asked again by a page's live stream."""


def _same_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise AccessDenied(f"a sign-in or sign-out from another site ({origin}) is refused")


@router.get("/signin")
def signin_form(request: Request, next: str | None = None) -> Response:
    return page(request, "signin.html", next=urls.safe_next(next))


@router.post("/signin", dependencies=[Depends(_same_origin)])
def signin(
    request: Request, tokens: TokensDep, token: Annotated[str, Form()], next: Annotated[str | None, Form()] = None
) -> Response:
    token = token.strip()
    try:
        tokens.authenticate(token)
    except NotAuthenticated as error:
        return page(request, "signin.html", status=401, message=str(error), next=urls.safe_next(next))
    response = RedirectResponse(urls.safe_next(next), status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/", secure=request.url.scheme == "https")
    return response


@router.post("/signout", dependencies=[Depends(_same_origin)])
def signout(request: Request) -> Response:
    response = RedirectResponse(urls.signin(), status_code=303)
    response.delete_cookie(COOKIE, httponly=True, samesite="strict", path="/", secure=request.url.scheme == "https")
    return response

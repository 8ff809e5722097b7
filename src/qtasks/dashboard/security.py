"""Who may see the dashboard and act through it.

- Access: open on a loopback bind; elsewhere the command refuses to start without
  ``--auth user:password`` (HTTP Basic) or ``--token`` (``Authorization: Bearer``, or
  ``?token=`` once, which sets a cookie). Both compare in constant time.
- Actions (cancel, requeue, purge) are POST only, with a CSRF token (``checked_form``):
  a random value set in a ``SameSite=Strict`` cookie and repeated in every form (double
  submit); a POST whose Origin names another site is refused too.
- Every page is sent with a Content-Security-Policy allowing only the dashboard's own
  scripts and styles (no inline script), ``X-Frame-Options: DENY`` and ``nosniff``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "qtasks_csrf"
CSRF_FIELD = "csrf_token"
TOKEN_COOKIE = "qtasks_token"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the dashboard on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Access:
    """What a request must show: a user and password (Basic), or a token; neither: open."""

    user: str | None = None
    password: str | None = None
    token: str | None = None

    @classmethod
    def parse(cls, auth: str | None, token: str | None) -> Access:
        """From ``--auth user:password`` and ``--token``; ``ValueError`` for a bad form."""
        user = password = None
        if auth is not None:
            user, colon, password = auth.partition(":")
            if not colon or not user or not password:
                raise ValueError("--auth takes user:password (both non-empty)")
        if token is not None and len(token) < 16:
            raise ValueError("--token must be at least 16 characters")
        return cls(user=user, password=password, token=token)

    @property
    def open(self) -> bool:
        return self.user is None and self.token is None

    def allows(self, request: Request) -> bool:
        if self.open:
            return True
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if self.token is not None:
            offered = value if scheme.lower() == "bearer" else request.cookies.get(TOKEN_COOKIE)
            if offered and hmac.compare_digest(offered.encode(), self.token.encode()):
                return True
        if self.user is not None and self.password is not None and scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            same_user = hmac.compare_digest(user.encode(), self.user.encode())
            same_password = hmac.compare_digest(password.encode(), self.password.encode())
            return same_user and same_password
        return False


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


class Guard:
    """ASGI middleware: access, CSRF for every POST, and the security headers."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        refusal = await self._refusal(request)
        if refusal is not None:
            await _with_headers(refusal)(scope, receive, send)
            return
        csrf = request.cookies.get(CSRF_COOKIE)
        scope.setdefault("state", {})["csrf"] = csrf or secrets.token_urlsafe(32)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
                if csrf is None:
                    cookie = (
                        f"{CSRF_COOKIE}={scope['state']['csrf']}; Path=/; HttpOnly; "
                        "SameSite=Strict"
                    )
                    headers.append((b"set-cookie", cookie.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, sending)

    async def _refusal(self, request: Request) -> Response | None:
        token = request.query_params.get("token")
        expected = self.access.token
        if (
            token is not None
            and expected is not None
            and request.method == "GET"
            and hmac.compare_digest(token.encode(), expected.encode())
        ):
            url = request.url.remove_query_params("token")
            response = RedirectResponse(str(url), status_code=303)
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
            return response
        if not self.access.allows(request):
            headers = {"WWW-Authenticate": 'Basic realm="qtasks"'} if self.access.user else {}
            return PlainTextResponse("authentication required", 401, headers=headers)
        if request.method not in ("GET", "HEAD", "POST"):
            return PlainTextResponse("method not allowed", 405)
        if request.method == "POST" and not _same_origin(request):
            return PlainTextResponse("cross-site request refused", 403)
        return None


async def checked_form(request: Request) -> FormData:
    """The form of a POST, once its CSRF token matched its cookie (else 403)."""
    form = await request.form()
    cookie = request.cookies.get(CSRF_COOKIE, "")
    field = str(form.get(CSRF_FIELD, ""))
    if not cookie or not hmac.compare_digest(cookie.encode(), field.encode()):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
    return form


def _with_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers[name] = value
    return response

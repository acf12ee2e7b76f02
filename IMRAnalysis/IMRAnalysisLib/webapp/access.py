"""Who may use the workstation: whoever holds the access token printed at start, one browser session at a time.

The server answers anyone who can reach its port, so every HTTP request (the page, its
scripts, the websocket, the downloads) must carry the token: as ``?token=`` in the
printed address, then as a cookie the page's first answer sets. The page also gives the
token to wslink as its websocket secret (trame's page reads ``secret`` from its address
and removes it), so wslink's public default secret opens nothing.

One scene serves the page, so a second session would change the first user's masks and
threshold under them: while a session's websocket is open, another page is told the
workstation is in use (and retries), another websocket is refused.
"""

from __future__ import annotations

import os
import secrets
from typing import Awaitable, Callable

from aiohttp import web

from ..errors import InputError

TOKEN_ENV = "IMR_APP_TOKEN"  # a token chosen by a script instead of a random one
TOKEN_QUERY = "token"
SECRET_QUERY = "secret"  # where trame's page reads its websocket secret
MIN_TOKEN_LENGTH = 16
PAGE_PATHS = ("/", "/index.html")
WEBSOCKET_PATH = "/ws"  # trame's websocket route
IN_USE_RETRY_S = 3
FORBIDDEN = "403: this IMR workstation needs the access token of its address (printed by 'imr-analysis app')\n"
IN_USE = "409: the IMR workstation is open in another browser session; one session at a time\n"
IN_USE_PAGE = f"""<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="{IN_USE_RETRY_S}">
<title>IMR workstation in use</title></head>
<body id="imr-in-use"><p>The IMR workstation is open in another browser tab or window: it serves one
session at a time, so that no one changes another's masks. Close the other session; this page
retries every {IN_USE_RETRY_S} s.</p></body></html>
"""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def access_token() -> str:
    """``$IMR_APP_TOKEN`` when set (for scripts), else a new random token for this server start."""
    given = os.environ.get(TOKEN_ENV, "").strip()
    if not given:
        return secrets.token_urlsafe(32)
    if len(given) < MIN_TOKEN_LENGTH:
        raise InputError(f"{TOKEN_ENV} must be at least {MIN_TOKEN_LENGTH} characters: a short token is guessed")
    return given


def address(host: str, port: int, token: str) -> str:
    """The address to open, token included; a wildcard host is reached on this machine as 127.0.0.1."""
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/?{TOKEN_QUERY}={token}"


class AccessGuard:
    """An aiohttp middleware: the token for every request, the page's secret, one websocket session."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.sessions = 0  # websockets open now

    def install(self, web_server) -> None:
        """Guard a wslink web server before it starts (aiohttp takes middlewares until then)."""
        web_server.app.middlewares.append(self.middleware)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self._holds_token(request):
            return web.Response(status=403, text=FORBIDDEN)
        if request.path in PAGE_PATHS:
            if self.sessions:
                return web.Response(status=409, text=IN_USE_PAGE, content_type="text/html")
            if request.query.get(SECRET_QUERY) != self.token:
                return self._page_with_secret(request)
        if request.path == WEBSOCKET_PATH:
            if self.sessions:
                return web.Response(status=409, text=IN_USE)
            self.sessions += 1
            try:
                return await handler(request)  # returns when the websocket closes
            finally:
                self.sessions -= 1
        return await handler(request)

    def _holds_token(self, request: web.Request) -> bool:
        given = request.query.get(TOKEN_QUERY) or request.cookies.get(self._cookie(request)) or ""
        return secrets.compare_digest(given.encode(), self.token.encode())

    @staticmethod
    def _cookie(request: web.Request) -> str:
        """Named after the port: two workstations on one host keep their own cookies."""
        return f"imr_token_{request.url.port}"

    def _page_with_secret(self, request: web.Request) -> web.Response:
        """Redirect to the page with the token as trame's secret, and set the cookie its scripts and downloads need."""
        query = {key: value for key, value in request.query.items() if key not in (TOKEN_QUERY, SECRET_QUERY)}
        location = request.url.with_path("/index.html").with_query({**query, SECRET_QUERY: self.token})
        response = web.Response(status=302, headers={"Location": str(location.relative())})
        response.set_cookie(self._cookie(request), self.token, httponly=True, samesite="Strict", path="/")
        return response

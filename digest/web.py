"""``digest serve``: the public endpoints behind the links in every email.

GET /u/<token>   a page with a button (mail scanners follow links: GET never unsubscribes)
POST /u/<token>  unsubscribe at once: RFC 8058 one-click (List-Unsubscribe=One-Click, form
                 or multipart body, no cookies, 200 and never a redirect) or the page's button
GET|POST /r/<token>  resubscribe;  GET|POST /c/<token>  confirm a double opt-in
GET /health      liveness and database check

Pages carry strict security headers; a bad token is a 400 that changes nothing; bodies
over 16 KB are refused; errors never show a stack trace."""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from digest.config import Config
from digest.errors import InputError
from digest.tokens import BadToken, Signer, signer_for
from digest.unsubscribe import confirm, resubscribe, unsubscribe

MAX_BODY = 16 * 1024
log = logging.getLogger("digest.web")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}
STYLE = """body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:32rem;margin:4rem auto;
padding:0 1rem;color:#1f2328;line-height:1.5}h1{font-size:1.4rem}button{font-size:1rem;padding:.6rem 1.2rem;
border:0;border-radius:6px;background:#5b21b6;color:#fff;cursor:pointer}.muted{color:#6b7280;font-size:.9rem}
@media (prefers-color-scheme:dark){body{background:#111418;color:#e6e8eb}.muted{color:#9ca3af}}"""


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status)


def button_form(label: str) -> str:
    """A form that posts back to the same URL (a relative action: no open redirect possible)."""
    hidden = '<input type="hidden" name="confirm" value="yes">'
    return f'<form method="post">{hidden}<button type="submit">{label}</button></form>'


class Limits:
    """ASGI middleware: security headers on every answer, and a cap on request bodies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > MAX_BODY:
            await _plain(413 if declared.isdigit() else 400, "request body too large or malformed")(
                scope, receive, send
            )
            return
        received = 0

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY:
                raise BodyTooLarge
            return message

        async def secure_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, limited_receive, secure_send)
        except BodyTooLarge:
            await _plain(413, "request body too large")(scope, receive, secure_send)


class BodyTooLarge(Exception):
    pass


def _plain(status: int, message: str) -> PlainTextResponse:
    return PlainTextResponse(message, status_code=status, headers=SECURITY_HEADERS)


def create_app(engine: Engine, config: Config) -> Limits:
    signer = signer_for(engine, config.settings.secret_keys)
    name = html.escape(config.newsletter.name)

    def verified(purpose: str, request: Request) -> tuple[int, int] | None:
        try:
            return signer.verify(purpose, str(request.path_params["token"]))
        except BadToken:
            return None

    invalid = page("Link not valid", "<h1>This link is not valid</h1><p>It may have been cut short by your mail "
                   "program. Use the link from the email again.</p>", status=400)  # fmt: skip

    async def unsubscribe_page(request: Request) -> Response:
        ids = verified("unsubscribe", request)
        if ids is None:
            return invalid
        if request.method == "GET":
            return page(f"Unsubscribe from {name}", f"<h1>Unsubscribe from {name}?</h1><p>You will get no more "
                        f"weekly emails.</p>{button_form('Unsubscribe')}")  # fmt: skip
        form = await request.form()
        method = "one-click" if form.get("List-Unsubscribe") == "One-Click" else "link"
        unsubscribe(engine, ids[0], ids[1], method)
        log.info("unsubscribe via %s", method)
        again = signer.sign("resubscribe", ids[0], ids[1])
        return page("Unsubscribed", f"<h1>You are unsubscribed</h1><p>{name} will not email you again.</p>"
                    f'<p class="muted">Changed your mind? <a href="/r/{again}">Resubscribe</a>.</p>')  # fmt: skip

    async def resubscribe_page(request: Request) -> Response:
        ids = verified("resubscribe", request)
        if ids is None:
            return invalid
        if request.method == "GET":
            return page(f"Resubscribe to {name}", f"<h1>Get {name} again?</h1>{button_form('Resubscribe')}")
        await request.form()
        done = resubscribe(engine, ids[0])
        message = "Welcome back: you will get next week's digest." if done else "This address cannot be resubscribed."
        return page("Resubscribe", f"<h1>{message}</h1>")

    async def confirm_page(request: Request) -> Response:
        ids = verified("confirm", request)
        if ids is None:
            return invalid
        if request.method == "GET":
            return page(f"Confirm {name}", f"<h1>Confirm your subscription to {name}</h1>{button_form('Confirm')}")
        await request.form()
        done = confirm(engine, ids[0])
        return page("Confirmed", "<h1>Thank you: you are subscribed.</h1>" if done else "<h1>Nothing to confirm.</h1>")

    async def health(_: Request) -> Response:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            return JSONResponse({"status": "database unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def not_found(_: Request, __: Exception) -> Response:
        return page("Not found", "<h1>Not found</h1>", status=404)

    async def server_error(_: Request, __: Exception) -> Response:
        return page("Error", "<h1>Something went wrong</h1><p>Please try again later.</p>", status=500)

    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {404: not_found, 500: server_error}
    app = Starlette(
        routes=[
            Route("/u/{token}", unsubscribe_page, methods=["GET", "POST"]),
            Route("/r/{token}", resubscribe_page, methods=["GET", "POST"]),
            Route("/c/{token}", confirm_page, methods=["GET", "POST"]),
            Route("/health", health, methods=["GET"]),
        ],
        exception_handlers=handlers,
    )
    # Starlette would answer /u/x/ with a 307 to /u/x on the Host the client named: a
    # redirect anywhere a request says. Paths match exactly or are not found.
    app.router.redirect_slashes = False
    return Limits(app)


def check_listen(host: str, port: int) -> None:
    """Fail with one clear line when the address is taken, before uvicorn logs its own."""
    import socket

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve(engine: Engine, config: Config, host: str, port: int) -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    uvicorn.run(create_app(engine, config), host=host, port=port, access_log=False, log_level="warning",
                server_header=False, proxy_headers=False)  # fmt: skip


__all__ = ["Signer", "create_app", "serve"]

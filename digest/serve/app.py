"""``digest serve``: the public endpoints behind the links in every email.

GET /u/<token>   a page with a button (mail scanners follow links: GET never unsubscribes)
POST /u/<token>  unsubscribe at once: RFC 8058 one-click (List-Unsubscribe=One-Click, form
                 or multipart body, no cookies, 200 and never a redirect) or the page's button
GET /r/<token>   a page offering to come back; POST mails a confirmation link to the address
GET /c/<token>   a page with a button; POST confirms (double opt-in, or coming back)
GET /health      200 when the database answers, 503 within 2 s when it does not

GET and HEAD never change anything: every change is its own POST route. Pages carry strict
security headers; a bad token is a 400 that changes nothing; the database is never waited
on for more than 1.5 s (503, Retry-After); bodies over 16 KB are refused; errors never show
a stack trace (``digest.serve.guard``)."""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from digest.config import Config
from digest.db import connection, create_db_engine
from digest.deliver.confirmation import send_confirmation
from digest.errors import BadToken, InputError
from digest.models import Subscriber
from digest.publicid import SAMPLE_PUBLIC_ID
from digest.serve.guard import HEADER_WAIT, LOCK_WAIT, Limits, OffLoop, TimedH11Protocol, Unavailable, plain
from digest.serve.links import ask_to_return, confirm, unsubscribe
from digest.tokens import Link, Signer, signer_for

log = logging.getLogger("digest.serve.app")
STYLE = """body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:32rem;margin:4rem auto;
padding:0 1rem;color:#1f2328;line-height:1.5}h1{font-size:1.4rem}button{font-size:1rem;padding:.6rem 1.2rem;
border:0;border-radius:6px;background:#5b21b6;color:#fff;cursor:pointer}.muted{color:#6b7280;font-size:.9rem}
@media (prefers-color-scheme:dark){body{background:#111418;color:#e6e8eb}.muted{color:#9ca3af}}"""


def page(title: str, body: str, status: int = 200, background: BackgroundTask | None = None) -> HTMLResponse:
    document = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status, background=background)


def button_form(label: str) -> str:
    """A form that posts back to the same URL (a relative action: no open redirect possible)."""
    hidden = '<input type="hidden" name="confirm" value="yes">'
    return f'<form method="post">{hidden}<button type="submit">{label}</button></form>'


def create_app(engine: Engine, config: Config) -> Limits:
    """The application: the link routes, their error pages, and the limits around them."""
    site = Site(engine, config)
    app = Starlette(routes=site.routes(), exception_handlers=site.handlers())
    # Starlette would answer /u/x/ with a 307 to /u/x on the Host the client named: a
    # redirect anywhere a request says. Paths match exactly or are not found.
    app.router.redirect_slashes = False
    return Limits(app)


class Site:
    """The pages and actions of ``digest serve``; database calls run off the event loop."""

    def __init__(self, engine: Engine, config: Config) -> None:
        self.engine, self.config = engine, config
        self.signer = signer_for(engine, config.settings.secret_keys)
        self.name = html.escape(config.newsletter.name)
        self.db = OffLoop()

    def routes(self) -> list[Route]:
        """GET shows a page with a button; the change is the same path's POST."""
        name = self.name
        return [
            Route("/u/{token}", self.shown("unsubscribe", f"Unsubscribe from {name}", f"<h1>Unsubscribe from "
                  f"{name}?</h1><p>You will get no more weekly emails.</p>{button_form('Unsubscribe')}"),
                  methods=["GET"]),
            Route("/u/{token}", self.unsubscribe_post, methods=["POST"]),
            Route("/r/{token}", self.shown("resubscribe", f"Resubscribe to {name}", f"<h1>Get {name} again?</h1>"
                  f"<p>We will email you a link to confirm.</p>{button_form('Resubscribe')}"), methods=["GET"]),
            Route("/r/{token}", self.resubscribe_post, methods=["POST"]),
            Route("/c/{token}", self.shown("confirm", f"Confirm {name}", f"<h1>Confirm your subscription to "
                  f"{name}</h1>{button_form('Confirm')}"), methods=["GET"]),
            Route("/c/{token}", self.confirm_post, methods=["POST"]),
            Route("/health", self.health, methods=["GET"]),
        ]  # fmt: skip

    def handlers(self) -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
        return {404: _not_found, 500: _server_error, Unavailable: _unavailable}

    def verified(self, purpose: str, request: Request) -> Link | None:
        try:
            return self.signer.verify(purpose, str(request.path_params["token"]))
        except BadToken:
            return None

    def shown(self, purpose: str, title: str, body: str) -> Callable[[Request], Awaitable[Response]]:
        """A GET (and HEAD) page: it shows a button and changes nothing (link scanners follow links)."""

        async def show(request: Request) -> Response:
            link = self.verified(purpose, request)
            if link is None:
                return _invalid()
            return _test_copy() if link.public_id == SAMPLE_PUBLIC_ID else page(title, body)

        return show

    async def unsubscribe_post(self, request: Request) -> Response:
        link = self.verified("unsubscribe", request)
        if link is None:
            return _invalid()
        if link.public_id == SAMPLE_PUBLIC_ID:
            return _test_copy()
        method = "one-click" if await _one_click(request) else "link"
        public_id = await self.db.run(unsubscribe, self.engine, link, method)
        log.info("unsubscribe via %s", method)
        back = self.signer.sign("resubscribe", public_id, link.issue_id) if public_id else ""
        again = f'<p class="muted">Changed your mind? <a href="/r/{back}">Resubscribe</a>.</p>' if back else ""
        return page("Unsubscribed", f"<h1>You are unsubscribed</h1><p>{self.name} will not email you again.</p>"
                    f"{again}")  # fmt: skip

    async def resubscribe_post(self, request: Request) -> Response:
        link = self.verified("resubscribe", request)
        if link is None:
            return _invalid()
        asked = await self.db.run(ask_to_return, self.engine, link)
        done = BackgroundTask(_mail_confirmation, self.engine, self.config, *asked) if asked is not None else None
        return page("Check your inbox", "<h1>Check your inbox</h1><p>If this address may come back, we have "
                    "sent it a link. Click the link in that email to get the digest again.</p>",
                    background=done)  # fmt: skip

    async def confirm_post(self, request: Request) -> Response:
        link = self.verified("confirm", request)
        if link is None:
            return _invalid()
        done = await self.db.run(confirm, self.engine, link)
        return page("Confirmed", "<h1>Thank you: you are subscribed.</h1>" if done else "<h1>Nothing to confirm.</h1>")

    async def health(self, _: Request) -> Response:
        await self.db.run(_ping, self.engine)
        return JSONResponse({"status": "ok"})


def _test_copy() -> Response:
    return page("A test copy", "<h1>This link is from a test copy or a preview</h1><p>It does nothing. In the "
                "email a reader gets, this link acts for that reader.</p>")  # fmt: skip


def _invalid() -> Response:
    return page("Link not valid", "<h1>This link is not valid</h1><p>It may have been cut short by your mail "
                "program. Use the link from the email again.</p>", status=400)  # fmt: skip


async def _unavailable(_: Request, __: Exception) -> Response:
    return plain(503, "the database is not answering; try again shortly", {"Retry-After": "5"})


async def _not_found(_: Request, __: Exception) -> Response:
    return page("Not found", "<h1>Not found</h1>", status=404)


async def _server_error(_: Request, __: Exception) -> Response:
    return page("Error", "<h1>Something went wrong</h1><p>Please try again later.</p>", status=500)


def _ping(engine: Engine) -> None:
    with connection(engine) as conn:
        conn.execute(text("SELECT 1"))


async def _one_click(request: Request) -> bool:
    """An RFC 8058 one-click POST (List-Unsubscribe=One-Click, as a form or multipart). A body
    that cannot be parsed still unsubscribes: the token is what counts, never the form."""
    try:
        form = await request.form()
    except (HTTPException, ValueError, KeyError):
        return False
    return form.get("List-Unsubscribe") == "One-Click"


def _mail_confirmation(engine: Engine, config: Config, reader: Subscriber, asked: int) -> None:
    """After the answer: mail the confirmation link (a failure is logged, never shown)."""
    try:
        send_confirmation(engine, config, reader, asked)
    except Exception as exc:  # the reader may ask again; the operator sees why in the log
        log.warning("could not mail a confirmation link: %s", exc)


def check_listen(host: str, port: int) -> None:
    """Fail with one clear line when the address is taken, before uvicorn logs its own."""
    import socket

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve(engine: Engine, config: Config, host: str, port: int) -> None:
    """Serve on ``host:port``; requests use an engine of their own whose waits fit the 2 s budget."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    serving = create_db_engine(config.settings.database_url, wait=LOCK_WAIT)
    app = create_app(serving, config)
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning", server_header=False,
                proxy_headers=False, http=TimedH11Protocol, timeout_keep_alive=int(HEADER_WAIT // 2))  # fmt: skip


__all__ = ["Signer", "create_app", "serve"]

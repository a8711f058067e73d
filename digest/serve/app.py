"""``digest serve``: the public endpoints behind the links in every email.

GET /u/<token>   a page with a button (mail scanners follow links: GET never unsubscribes)
POST /u/<token>  unsubscribe at once: RFC 8058 one-click (List-Unsubscribe=One-Click, form
                 or multipart body, no cookies, 200 and never a redirect) or the page's button
GET /r/<token>   a page offering to come back; POST mails a confirmation link to the address
GET /c/<token>   a page with a button; POST confirms (double opt-in, or coming back)
GET /p/<token>   the reader's preference center; POST saves it (with the form's CSRF token)
GET /v/<token>   the issue this reader was mailed, as mailed (view in browser)
GET /subscribe   a signup form; POST (email, optional name and preferences) mails a confirmation
                 link before it answers, the same answer whoever the address is (rate-limited)
GET /archive/    the sent issues (newest first); /archive/YYYY-Www one issue's public version;
                 /archive/feed.xml (Atom) and /archive/feed.json (JSON Feed 1.1); off with
                 newsletter.archive: false
GET /health      200 when the database answers, 503 within 2 s when it does not
POST /hooks/<p>  a mail provider's bounce and complaint events (ses, postmark, sendgrid, mailgun),
                 each authenticated the provider's way (``digest.serve.webhooks``)

GET and HEAD never change anything: every change is its own POST route. Pages carry strict
security headers; a bad token is a 400 that changes nothing; the database is never waited
on for more than 1.5 s (503, Retry-After); bodies over 16 KB are refused; errors never show
a stack trace (``digest.serve.guard``)."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from digest.addresses import normalise_email
from digest.build.reading import scope_of
from digest.config import Config
from digest.db import connection, create_db_engine
from digest.deliver.confirmation import send_confirmation
from digest.errors import BadToken, InputError
from digest.models import Subscriber
from digest.publicid import SAMPLE_PUBLIC_ID
from digest.serve import preferences, signup
from digest.serve.archive import IN_FEEDS, Archive
from digest.serve.guard import HEADER_WAIT, LOCK_WAIT, Limits, OffLoop, TimedH11Protocol, Unavailable, plain
from digest.serve.links import ask_to_return, confirm, unsubscribe
from digest.serve.pages import Pages
from digest.serve.preference_form import (
    FAMILIES,
    Choices,
    Posted,
    choices_of,
    pause_options,
    read_as,
    read_form,
    seniority_options,
)
from digest.serve.view import Viewer
from digest.serve.webhooks import Webhooks
from digest.status import Status
from digest.timeutil import utcnow
from digest.tokens import Link, Signer, signer_for

log = logging.getLogger("digest.serve.app")
MAIL_WAIT = 10.0  # how long a signup's answer waits for its confirmation mail
PRIVATE = {"X-Robots-Tag": "noindex, nofollow"}  # a reader's own pages: a shared link is not for search engines
_WEEK = re.compile(r"\d{4}-W\d{2}")


def button_form(label: str) -> str:
    """A form that posts back to the same URL (a relative action: no open redirect possible)."""
    hidden = '<input type="hidden" name="confirm" value="yes">'
    return f'<form method="post">{hidden}<button type="submit">{label}</button></form>'


def create_app(engine: Engine, config: Config, clock: Callable[[], datetime] = utcnow) -> Limits:
    """The application: the link routes, their error pages, and the limits around them."""
    site = Site(engine, config, clock)
    app = Starlette(routes=site.routes(), exception_handlers=site.handlers())
    # Starlette would answer /u/x/ with a 307 to /u/x on the Host the client named: a
    # redirect anywhere a request says. Paths match exactly or are not found.
    app.router.redirect_slashes = False
    return Limits(app)


class Site:
    """The pages and actions of ``digest serve``; database calls run off the event loop."""

    def __init__(self, engine: Engine, config: Config, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine, self.config, self.clock = engine, config, clock
        self.signer = signer_for(engine, config.settings.secret_keys)
        self.name = html.escape(config.newsletter.name)
        self.db = OffLoop()
        self.pages = Pages(config)
        self.viewer = Viewer(engine, config, self.signer)
        self.archive = Archive(engine, config)
        self.mail = OffLoop(threads=4, wait=MAIL_WAIT)  # a confirmation is mailed before the answer
        self.webhooks = Webhooks(engine, config, clock)
        self.scope = scope_of(config)  # how a reader without roles is read, on their page

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
            Route("/p/{token}", self.preferences_get, methods=["GET"]),
            Route("/p/{token}", self.preferences_post, methods=["POST"]),
            Route("/v/{token}", self.view, methods=["GET"]),
            Route("/subscribe", self.subscribe_get, methods=["GET"]),
            Route("/subscribe", self.subscribe_post, methods=["POST"]),
            Route("/health", self.health, methods=["GET"]),
            Route("/hooks/{provider}", self.webhooks.post, methods=["POST"]),
        ] + (self.archive_routes() if self.config.newsletter.archive else [])  # fmt: skip

    def archive_routes(self) -> list[Route]:
        return [
            Route("/archive/", self.archive_index, methods=["GET"]),
            Route("/archive", self.archive_index, methods=["GET"]),
            Route("/archive/feed.xml", self.archive_atom, methods=["GET"]),
            Route("/archive/feed.json", self.archive_json, methods=["GET"]),
            Route("/archive/{week}", self.archive_issue, methods=["GET"]),
        ]

    def handlers(self) -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
        return {404: self.not_found, 500: self.server_error, Unavailable: _unavailable}

    def page(self, title: str, body: str, status: int = 200, background: BackgroundTask | None = None) -> HTMLResponse:
        """A short page (templates/pages/message.html) around a body digest made itself."""
        return HTMLResponse(self.pages.message(title, body), status_code=status, background=background)

    def check_inbox(self) -> Response:
        return self.page("Check your inbox", "<h1>Check your inbox</h1><p>If this address can get the digest, we "
                         "have emailed it a link. Click the link in that email to confirm; nothing is sent before "
                         "you do.</p>")  # fmt: skip

    def test_copy(self) -> Response:
        return self.page("A test copy", "<h1>This link is from a test copy or a preview</h1><p>It does nothing. In "
                         "the email a reader gets, this link acts for that reader.</p>")  # fmt: skip

    def invalid(self) -> Response:
        return self.page("Link not valid", "<h1>This link is not valid</h1><p>It may have been cut short by your "
                         "mail program. Use the link from the email again.</p>", status=400)  # fmt: skip

    def missing(self) -> Response:
        return self.page("Not found", "<h1>Not found</h1>", status=404)

    async def not_found(self, _: Request, __: Exception) -> Response:
        return self.missing()

    async def server_error(self, _: Request, __: Exception) -> Response:
        return self.page("Error", "<h1>Something went wrong</h1><p>Please try again later.</p>", status=500)

    def reader_link(self, purpose: str, request: Request) -> Link | Response:
        """The link a genuine token for ``purpose`` names, or the page to answer instead: a
        link not valid, or one from a test copy (it names nobody)."""
        link = self.verified(purpose, request)
        if link is None:
            return self.invalid()
        return self.test_copy() if link.public_id == SAMPLE_PUBLIC_ID else link

    def verified(self, purpose: str, request: Request) -> Link | None:
        try:
            return self.signer.verify(purpose, str(request.path_params["token"]))
        except BadToken:
            return None

    def shown(self, purpose: str, title: str, body: str) -> Callable[[Request], Awaitable[Response]]:
        """A GET (and HEAD) page: it shows a button and changes nothing (link scanners follow links)."""

        async def show(request: Request) -> Response:
            link = self.reader_link(purpose, request)
            return link if not isinstance(link, Link) else self.page(title, body)

        return show

    async def unsubscribe_post(self, request: Request) -> Response:
        link = self.reader_link("unsubscribe", request)
        if not isinstance(link, Link):
            return link
        method = "one-click" if await _one_click(request) else "link"
        public_id = await self.db.run(unsubscribe, self.engine, link, method)
        log.info("unsubscribe via %s", method)
        back = self.signer.sign("resubscribe", public_id, link.issue_id) if public_id else ""
        again = f'<p class="muted">Changed your mind? <a href="/r/{back}">Resubscribe</a>.</p>' if back else ""
        return self.page("Unsubscribed", f"<h1>You are unsubscribed</h1><p>{self.name} will not email you again.</p>"
                    f"{again}")  # fmt: skip

    async def resubscribe_post(self, request: Request) -> Response:
        link = self.verified("resubscribe", request)
        if link is None:
            return self.invalid()
        asked = await self.db.run(ask_to_return, self.engine, link)
        done = BackgroundTask(_mail_confirmation, self.engine, self.config, *asked) if asked is not None else None
        return self.page("Check your inbox", "<h1>Check your inbox</h1><p>If this address may come back, we have "
                    "sent it a link. Click the link in that email to get the digest again.</p>",
                    background=done)  # fmt: skip

    async def confirm_post(self, request: Request) -> Response:
        link = self.verified("confirm", request)
        if link is None:
            return self.invalid()
        done = await self.db.run(confirm, self.engine, link)
        return self.page(
            "Confirmed", "<h1>Thank you: you are subscribed.</h1>" if done else "<h1>Nothing to confirm.</h1>"
        )

    async def preferences_get(self, request: Request) -> Response:
        link = self.reader_link("preferences", request)
        if not isinstance(link, Link):
            return link
        shown = await self.db.run(preferences.load, self.engine, link)
        if shown is None:
            return self.invalid()
        return self._preferences_page(request, link, shown, choices_of(shown))

    async def preferences_post(self, request: Request) -> Response:
        link = self.reader_link("preferences", request)
        if not isinstance(link, Link):
            return link
        try:
            form = await request.form()
        except (HTTPException, ValueError, KeyError):
            return self.page("Not saved", "<h1>That form could not be read</h1><p>Nothing was saved.</p>", status=400)
        now = self.clock()
        token = str(request.path_params["token"])
        posted = read_form(form)
        fresh = self.signer.form_token_valid(token, str(form.get("csrf") or ""), now.timestamp())
        if not fresh or posted.errors:  # shown again as posted, with what is wrong
            shown = await self.db.run(preferences.load, self.engine, link)
            if shown is None:
                return self.invalid()
            stale = "This form was out of date, so nothing was saved yet: check your choices and save again."
            return self._preferences_page(request, link, shown, posted.shown, notice="" if fresh else stale,
                                          posted=posted if fresh else None, status=400)  # fmt: skip
        saved = await self.db.run(preferences.save, self.engine, link, posted, now)
        if saved is None:
            return self.invalid()
        shown, changed = saved
        log.info("preferences saved from the page (%s)", ", ".join(changed) or "no change")
        notice = "Saved: your next issue follows these choices." if changed else "Nothing changed."
        if changed and shown.status != Status.ACTIVE:
            notice = "Saved."
        elif shown.paused_until and shown.paused_until > now:
            notice += f" No email until {shown.paused_until:%-d %B %Y}."
        return self._preferences_page(request, link, shown, choices_of(shown), notice=notice)

    def _preferences_page(self, request: Request, link: Link, shown: Subscriber, form: Choices,
                          notice: str = "", posted: Posted | None = None, status: int = 200) -> Response:  # fmt: skip
        now = self.clock()
        token = str(request.path_params["token"])
        resubscribe = ""
        if shown.status == Status.UNSUBSCRIBED:
            resubscribe = "/r/" + self.signer.sign("resubscribe", shown.public_id, link.issue_id)
        body = self.pages.render(
            "preferences.html", title="Your choices", email=shown.email, form=form, families=FAMILIES,
            read_as=read_as(shown.roles, shown.seniority, self.scope),
            seniorities=seniority_options(form.seniority), pauses=pause_options(shown.paused_until, now),
            errors=posted.errors if posted else {}, notice=notice,
            status_note=_STATUS_NOTES.get(Status(shown.status), ""),
            resubscribe_url=resubscribe, csrf=self.signer.form_token(token, now.timestamp()),
            unsubscribe_url="/u/" + self.signer.sign("unsubscribe", shown.public_id, link.issue_id),
        )  # fmt: skip
        return HTMLResponse(body, status_code=status, headers=PRIVATE)

    async def view(self, request: Request) -> Response:
        link = self.reader_link("view", request)
        if not isinstance(link, Link):
            return link
        mailed = await self.db.run(self.viewer.html, link)
        if mailed is None:
            return self.page("Not found", "<h1>This email is not here</h1><p>It may not have been sent to this address "
                        "yet.</p>", status=404)  # fmt: skip
        return HTMLResponse(mailed, headers=PRIVATE)

    async def subscribe_get(self, _: Request) -> Response:
        return self._subscribe_page()

    def _subscribe_page(self, error: str = "", email: str = "", name: str = "", roles: tuple[str, ...] = (),
                        audience: str = "both", status: int = 200) -> Response:  # fmt: skip
        body = self.pages.render("subscribe.html", title=f"Subscribe to {self.config.newsletter.name}", error=error,
                                 email=email, name=name, roles=roles, audience=audience, families=FAMILIES)  # fmt: skip
        return HTMLResponse(body, status_code=status)

    async def subscribe_post(self, request: Request) -> Response:
        """Posted from our form or another site's: no CSRF token by design; a honeypot, limits."""
        try:
            form = await request.form()
        except (HTTPException, ValueError, KeyError):
            return self._subscribe_page("That form could not be read. Please try again.", status=400)
        typed = str(form.get("email") or "")
        posted = read_form(form)
        if form.get("website"):  # the trap field people never see: a bot, answered as a person
            log.info("signup: a bot filled in the trap field")
            return self.check_inbox()
        try:
            address = normalise_email(typed)
        except InputError:
            address = ""
        if not address or posted.errors:
            error = "Please give an email address such as name@example.com."
            if address:
                error = "Please look at your choices: " + " ".join(posted.errors.values())
            shown = posted.shown
            families = tuple(sorted(shown.families))
            return self._subscribe_page(error, typed[:320], shown.name, families, shown.audience, status=400)
        now = self.clock()
        client = request.client.host if request.client else "unknown"
        secret = self.signer.keys[0]
        if not await self.db.run(signup.client_allowed, self.engine, secret, client, now):
            return self.page("Try again later", "<h1>Too many sign-ups from here</h1><p>Please try again in an "
                        "hour.</p>", status=429)  # fmt: skip
        record = {k: v for k, v in posted.record.items() if v not in ("", [], None) or k == "name"}
        asked = await self.db.run(signup.sign_up, self.engine, secret, address, record, now)
        if asked is not None:
            await self.mail.run(_mail_confirmation, self.engine, self.config, *asked)
        return self.check_inbox()

    async def archive_index(self, _: Request) -> Response:
        entries = await self.db.run(self.archive.entries)
        return HTMLResponse(self.pages.render("archive.html", title="Past issues", entries=entries))

    async def archive_issue(self, request: Request) -> Response:
        week = str(request.path_params["week"]).upper()
        public = await self.db.run(self.archive.issue, week) if _WEEK.fullmatch(week) else None
        if public is None:
            return self.missing()
        return HTMLResponse(self.pages.render("archive_issue.html", title=public.entry.label, public=public))

    async def archive_atom(self, _: Request) -> Response:
        body = self.archive.atom(self.config.settings.base_url, await self.db.run(self._feed_content))
        return Response(body, media_type="application/atom+xml; charset=utf-8")

    async def archive_json(self, _: Request) -> Response:
        body = self.archive.json_feed(self.config.settings.base_url, await self.db.run(self._feed_content))
        return Response(body, media_type="application/feed+json; charset=utf-8")

    def _feed_content(self) -> dict[str, str]:
        """Each of the newest issues' public picks, as HTML for the feeds."""
        content = {}
        for entry in self.archive.entries()[:IN_FEEDS]:
            public = self.archive.issue(entry.week)
            if public is not None:
                content[entry.week] = self.pages.render("archive_items.html", public=public)
        return content

    async def health(self, _: Request) -> Response:
        await self.db.run(_ping, self.engine)
        return JSONResponse({"status": "ok"})


_STATUS_NOTES: dict[Status, str] = {
    Status.PENDING: "Your subscription is not confirmed yet: the link in our confirmation email starts it.",
    Status.UNSUBSCRIBED: "You are unsubscribed, so you get no email; your choices are kept in case you come back.",
    Status.BOUNCED: "Our emails to this address could not be delivered, so we no longer send any.",
    Status.COMPLAINED: "This address reported our email as spam, so we no longer send any.",
}


async def _unavailable(_: Request, __: Exception) -> Response:
    return plain(503, "the database is not answering; try again shortly", {"Retry-After": "5"})


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

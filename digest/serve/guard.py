"""What keeps ``digest serve`` answering whatever the clients and the database do.

* ``OffLoop``: database work runs in a few threads, never on the event loop, and a request
  waits for it at most ``wait`` seconds: a locked SQLite file or a PostgreSQL server that
  does not answer costs that request a 503 (with Retry-After), never the other requests.
* ``Limits``: security headers on every answer; a request body is read whole before the
  app sees it, within ``BODY_WAIT`` seconds (408) and ``MAX_BODY`` bytes (413; a provider's
  webhook under ``/hooks/``, which batches events, ``MAX_HOOK_BODY``), whether declared by
  Content-Length or sent chunked.
* ``TimedH11Protocol``: a connection that opens and sends nothing, or half a request's
  headers, is closed after ``HEADER_WAIT`` seconds (uvicorn itself only times out idle
  keep-alive connections)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import OperationalError
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from digest.errors import DatabaseError

T = TypeVar("T")
MAX_BODY = 16 * 1024
MAX_HOOK_BODY = 1024 * 1024  # SendGrid and SES batch events into one request
BODY_WAIT = 10.0
HEADER_WAIT = 10.0
DB_WAIT = 1.5  # a page answers within 2 s, or says 503
LOCK_WAIT = 1.2  # what serve's engine waits for a lock or a statement: it gives up first, so a 503 changed nothing
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class Unavailable(Exception):
    """The database did not answer in time (or every thread is waiting on it)."""


class OffLoop:
    """Run blocking database calls in ``threads`` threads, each waited for at most ``wait`` s."""

    def __init__(self, threads: int = 8, wait: float = DB_WAIT) -> None:
        self.wait = wait
        self._threads = threads
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="digest-db")
        self._slots: asyncio.Semaphore | None = None

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._threads)
        slots = self._slots
        deadline = loop.time() + self.wait
        try:
            await asyncio.wait_for(slots.acquire(), self.wait)
        except TimeoutError:
            raise Unavailable from None
        future = loop.run_in_executor(self._pool, call, *args)

        def finished(done: asyncio.Future[T]) -> None:  # the slot frees when the thread is done
            slots.release()
            if not done.cancelled():
                done.exception()  # seen, even when nobody waits any more (no "never retrieved" noise)

        future.add_done_callback(finished)
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(0.0, deadline - loop.time()))
        except (TimeoutError, DatabaseError, OperationalError):  # no answer in time; locked, unreachable, timed out
            raise Unavailable from None


def plain(status: int, message: str, headers: dict[str, str] | None = None) -> PlainTextResponse:
    return PlainTextResponse(message, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        body += bytes(message.get("body", b""))
        if len(body) > limit:
            raise BodyTooLarge
        if not message.get("more_body", False):
            return body


class Limits:
    """ASGI middleware: security headers on every answer, and bodies bounded in size and time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def secure_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        limit = MAX_HOOK_BODY if str(scope.get("path", "")).startswith("/hooks/") else MAX_BODY
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await plain(413 if declared.isdigit() else 400, "request body too large or malformed")(scope, receive, send)
            return
        no_body = declared in (None, b"0") and b"transfer-encoding" not in headers
        if no_body or scope.get("method") in ("GET", "HEAD"):  # nothing to read, or nothing a GET would use
            await self.app(scope, _no_body(receive), secure_send)  # (and no 100 Continue)
            return
        try:
            body = await asyncio.wait_for(_read_body(receive, limit), BODY_WAIT)
        except BodyTooLarge:
            await plain(413, "request body too large")(scope, receive, send)
            return
        except TimeoutError:
            await plain(408, "the request body did not arrive in time")(scope, receive, send)
            return
        except ClientGone:
            return
        replay: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, replayed, secure_send)


def _no_body(receive: Receive) -> Receive:
    sent = False

    async def empty() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": b"", "more_body": False}

    return empty


class TimedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing a connection whose request headers have not all
    arrived ``HEADER_WAIT`` seconds after it opened or after its previous answer."""

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm()  # the headers are in: the app (and Limits' body deadline) take over

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(HEADER_WAIT, self._give_up)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _give_up(self) -> None:
        self._header_timer = None
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()

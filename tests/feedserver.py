"""A real HTTP server on loopback for feed tests: conditional GET, gzip, errors, stalls."""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml"
    gzip: bool = False
    conditional: bool = True  # honour If-None-Match / If-Modified-Since
    stall: float = 0.0  # seconds to wait before answering
    redirect: str | None = None
    drip: float = 0.0  # seconds between single bytes of the body
    last_modified: str = "Wed, 01 Jul 2026 10:00:00 GMT"


@dataclass
class FeedServer:
    routes: dict[str, Route] = field(default_factory=dict)
    log: list[tuple[str, int, int]] = field(default_factory=list)  # (path, status, body bytes sent)
    url: str = ""
    agents: list[str] = field(default_factory=list)

    def hits(self, path: str) -> list[tuple[str, int, int]]:
        return [entry for entry in self.log if entry[0] == path]


def _handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            server.agents.append(self.headers.get("User-Agent", ""))
            route = server.routes.get(self.path)
            if route is None:
                return self._send(404, b"not found", {})
            if route.stall:
                time.sleep(route.stall)
            if route.redirect:
                return self._send(302, b"", {"Location": route.redirect})
            etag = '"' + hashlib.sha256(route.body).hexdigest()[:16] + '"'
            if route.conditional and route.status == 200 and self.headers.get("If-None-Match") == etag:
                return self._send(304, b"", {"ETag": etag})
            body, headers = route.body, {"ETag": etag, "Last-Modified": route.last_modified}
            headers["Content-Type"] = route.content_type
            if route.gzip and "gzip" in self.headers.get("Accept-Encoding", ""):
                body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
            if route.drip:
                return self._drip(route, body, headers)
            self._send(route.status, body, headers)

        def _drip(self, route: Route, body: bytes, headers: dict[str, str]) -> None:
            server.log.append((self.path, route.status, len(body)))
            self.send_response(route.status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(route.drip)

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            server.log.append((self.path, status, len(body)))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

    return Handler


@contextmanager
def serve(routes: dict[str, Route] | None = None) -> Iterator[FeedServer]:
    state = FeedServer(routes=dict(routes or {}))
    ThreadingHTTPServer.request_queue_size = 128
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()

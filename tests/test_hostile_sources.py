"""Hostile sources beside good ones, through ``digest ingest`` in its own process.

A feed that drips, one that never answers, a 200 MB feed, a gzip bomb that inflates to
1 GB, a redirect loop, an XML entity bomb, bytes that are not a feed, a feed in the wrong
encoding, and items carrying script, event handlers, javascript: and data: links, CSS that
hides content and tracking pixels. Each ends within its limits with a one-line error or
cleaned content, the good sources beside them are stored, and the whole run stays within
its time and memory."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from digest.models import Job
from tests.conftest import ROOT
from tests.test_ingest_http import ENTITY_BOMB

pytestmark = pytest.mark.slow

RSS = (ROOT / "samples" / "product-jobs.rss").read_bytes()
ATOM = (ROOT / "samples" / "platform-jobs.atom").read_bytes()
MB = 1024 * 1024
HOSTILE_ITEMS = b"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Hostile</title>
<item><title>Acme: Product Manager</title><link>https://acme.example/jobs/1</link><guid>h1</guid>
<description><![CDATA[<p onclick="steal()">Own the roadmap.</p><script>alert(document.cookie)</script>
<a href="javascript:alert(1)">apply</a> <a href="data:text/html;base64,PHNjcmlwdD4=">more</a>
<div style="display:none">hidden keyword stuffing</div><img src="https://track.example/pixel.gif" width="1" height="1">
<iframe src="https://evil.example/"></iframe><style>body{display:none}</style>
<a href="https://acme.example/jobs/1">Apply here</a></p>]]></description></item>
<item><title>Beta: Senior Product Designer</title><link>javascript:alert(2)</link><guid>h2</guid>
<description>Design things.</description></item>
</channel></rss>"""
LATIN1 = RSS.decode().replace("Product Manager", "Product Manager \u2013 Zürich").encode("latin-1", "replace")


def chunks(total: int, piece: bytes) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield piece
        sent += len(piece)


def huge_feed() -> Iterator[bytes]:
    """200 MB of well-formed RSS items, made as it is sent."""
    yield b'<?xml version="1.0"?><rss version="2.0"><channel><title>Huge</title>'
    item = b"<item><title>Co: Product Manager</title><link>https://huge.example/j</link></item>" * 100
    yield from chunks(200 * MB, item)


def gzip_bomb() -> tuple[bytes, int]:
    """One gzip member of 16 MB of spaces, repeated: a valid stream that inflates to 1 GB."""
    member = gzip.compress(b" " * (16 * MB), compresslevel=9)
    return member, 64


@contextmanager
def hostile_server() -> Iterator[tuple[str, list[str]]]:
    member, repeats = gzip_bomb()
    routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}

    def plain(body: bytes, content_type: str = "application/rss+xml") -> Callable[[BaseHTTPRequestHandler], None]:
        def answer(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)

        return answer

    def huge(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.end_headers()  # no length: read until the server hangs up
        for piece in huge_feed():
            handler.wfile.write(piece)

    def bomb(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", str(len(member) * repeats))
        handler.end_headers()
        for _ in range(repeats):
            handler.wfile.write(member)

    def drip(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(RSS)))
        handler.end_headers()
        for byte in RSS:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.5)

    def silent(_: BaseHTTPRequestHandler) -> None:
        time.sleep(60)

    def loop(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", "/loop")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    routes.update({
        "/good": plain(RSS), "/good-atom": plain(ATOM, "application/atom+xml"), "/huge": huge, "/gzip-bomb": bomb,
        "/drip": drip, "/silent": silent, "/loop": loop, "/entity-bomb": plain(ENTITY_BOMB),
        "/noise": plain(os.urandom(50_000), "application/octet-stream"), "/latin1-as-utf8": plain(LATIN1),
        "/hostile-html": plain(HOSTILE_ITEMS),
    })  # fmt: skip

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            answer = routes.get(self.path)
            with suppress(BrokenPipeError, ConnectionResetError):
                if answer is None:
                    self.send_error(404)
                else:
                    answer(self)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", list(routes)
    finally:
        httpd.shutdown()
        httpd.server_close()


def ingest_process(
    env: dict[str, str], folder: Path, base: str, names: list[str]
) -> tuple[int, str, str, float, float]:
    """``digest ingest --json`` over ``names`` in its own process: exit code, stdout,
    stderr, seconds, and the process's peak RSS in MB."""
    folder.mkdir(exist_ok=True)
    sources = "\n".join(f"  - {{name: {n}, url: '{base}/{n}'}}" for n in names)
    (folder / "sources.yaml").write_text(
        f"ingest: {{timeout: 5, connect_timeout: 2, max_bytes: 10000000, max_redirects: 3}}\nsources:\n{sources}\n"
    )
    started = time.monotonic()
    with (folder / "out").open("wb") as out, (folder / "err").open("wb") as err:
        process = subprocess.Popen([sys.executable, "-m", "digest", "ingest", "--json"], cwd=folder,
                                   env={**os.environ, **env, "DIGEST_SOURCES": str(folder / "sources.yaml")},
                                   stdout=out, stderr=err)  # fmt: skip
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    return code, (folder / "out").read_text(), (folder / "err").read_text(), seconds, usage.ru_maxrss / 1024


def test_hostile_sources_end_within_their_limits(engine: Engine, env: dict[str, str], tmp_path: Path) -> None:
    with hostile_server() as (base, paths):
        names = [p.strip("/") for p in paths]
        good = ingest_process(env, tmp_path / "good", base, ["good", "good-atom"])
        code, out, errors, elapsed, peak_mb = ingest_process(env, tmp_path / "all", base, names)
    assert good[0] == 0, good[2]
    assert code == 4, errors  # 4: some sources failed, the rest were stored
    assert "Traceback" not in errors
    report = {s["name"]: s for s in json.loads(out)["sources"]}
    print(f"\nhostile sources: {len(report)} in {elapsed:.1f} s, peak RSS {peak_mb:.0f} MB "
          f"(the two good sources alone: {good[3]:.1f} s, {good[4]:.0f} MB)")  # fmt: skip
    for name in names:
        s = report[name]
        print(f"  {name:15} {s['status']:6} seen {s['seen']:3} new {s['new']:3}  {s['error'] or ''}")
    assert report["good"]["new"] == 0 and report["good"]["error"] is None, "stored by the first run"
    assert report["hostile-html"]["error"] is None and report["hostile-html"]["new"] >= 1
    for name in ("huge", "gzip-bomb"):
        assert "limit" in (report[name]["error"] or ""), report[name]
    for name in ("drip", "silent"):
        assert "5s" in (report[name]["error"] or ""), report[name]
    assert "redirect" in (report["loop"]["error"] or "")
    assert report["noise"]["error"] is not None and report["noise"]["new"] == 0
    assert report["latin1-as-utf8"]["error"] is None and report["latin1-as-utf8"]["seen"] > 0
    assert report["entity-bomb"]["error"] is not None or report["entity-bomb"]["new"] <= 1
    assert all("\n" not in (s["error"] or "") for s in report.values()), "each error is one line"
    assert elapsed < 30, "every source ends within its 5 s timeout, fetched side by side"
    assert peak_mb - good[4] < 100, "a 200 MB feed and a 1 GB bomb are cut at the 10 MB limit, never held whole"
    with Session(engine) as session:
        jobs = session.exec(select(Job)).all()
    stored = " ".join(j.title + " " + j.summary + " " + j.html + " " + j.url for j in jobs).lower()
    for hostile in ("<script", "onclick", "javascript:", "data:text", "track.example", "<iframe", "<style",
                    "display:none", "alert("):  # fmt: skip
        assert hostile not in stored, hostile
    assert any("own the roadmap" in j.summary.lower() for j in jobs), "the clean text of a hostile item is kept"
    assert not any("lollol" in j.title + j.summary for j in jobs), "entities are never expanded"

"""Fuzzing the public endpoint with hypothesis, through a real uvicorn server on loopback.

Whatever arrives (any method, path, query, content type, body, or bytes that are not HTTP
at all), ``digest serve`` answers without a 5xx, a stack trace, a redirect or a cookie,
with its security headers, and changes nobody's subscription unless a genuine token for
that purpose was posted. A genuine token changed in any way is refused."""

from __future__ import annotations

import socket
import string
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from digest.build.issue import build_issue, find_issue
from digest.config import Config
from digest.models import Subscriber
from digest.tokens import Signer
from tests.conftest import KEY
from tests.helpers import add_reader, ingest_samples
from tests.webserver import running

READERS = 3
ANSWERS = {200, 400, 404, 405, 413}  # 200 only for /health and genuine tokens
LEAKS = ("Traceback", 'File "', "sqlalchemy", "Exception", "Error:", "starlette", "uvicorn", "@example.com")
SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
TOKEN_CHARS = string.ascii_letters + string.digits + "-_"


@pytest.fixture
def live(engine: Engine, sample_config: Config) -> Iterator[tuple[httpx.Client, Signer, int, list[str]]]:
    config = replace(sample_config, settings=replace(sample_config.settings, secret_keys=(KEY,)))
    ingest_samples(engine, config)
    build_issue(engine, config)
    issue = find_issue(engine, None).id or 0
    readers = [add_reader(engine, f"fuzz{i}@example.com", f"Reader {i}").public_id for i in range(READERS)]
    with running(engine, config) as base, httpx.Client(base_url=base, follow_redirects=False, timeout=10) as client:
        yield client, Signer.from_keys(config.settings.secret_keys), issue, readers


def statuses(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return [s.status for s in session.exec(select(Subscriber).order_by(col(Subscriber.id)))]


def well_behaved(response: httpx.Response) -> None:
    assert response.status_code in ANSWERS, (response.status_code, response.text[:300])
    for leak in LEAKS:
        assert leak not in response.text, (leak, response.text[:300])
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff" and headers["cache-control"] == "no-store"
    assert "location" not in headers and "set-cookie" not in headers
    if response.status_code != 405 and "html" in headers.get("content-type", ""):
        assert headers["content-security-policy"].startswith("default-src 'none'")


segments = st.text(st.characters(codec="utf-8"), max_size=40)
paths = st.one_of(
    st.builds(lambda prefix, rest: prefix + quote(rest, safe="/=&?%"),
              st.sampled_from(["/u/", "/r/", "/c/", "/health", "/", "//evil.example/", "/u/..%2f", "/static/", "/u"]),
              segments),
    st.builds(lambda parts: "/" + "/".join(quote(p, safe="") for p in parts), st.lists(segments, max_size=4)),
    st.builds(lambda route, token: f"/{route}/{token}", st.sampled_from("urc"), st.text(TOKEN_CHARS, max_size=60)),
)  # fmt: skip
CONTENT_TYPES = [
    None, "application/x-www-form-urlencoded", "multipart/form-data", "multipart/form-data; boundary=xyz",
    "multipart/form-data; boundary=", "text/plain", "application/json", "application/x-www-form-urlencoded; charset=x",
]  # fmt: skip
bodies = st.one_of(
    st.binary(max_size=2048),
    st.just(b"List-Unsubscribe=One-Click"),
    st.builds(lambda n: b"a=" + b"x" * n, st.integers(16 * 1024 - 2, 20 * 1024)),
    st.builds(lambda k: b"&".join(b"k%d=v" % i for i in range(k)), st.integers(0, 3000)),
    st.builds(lambda b: b"--xyz\r\nContent-Disposition: form-data; name=\"" + b + b"\"\r\n\r\nOne-Click\r\n--xyz--\r\n",
              st.binary(max_size=64)),
)  # fmt: skip


def test_any_request_is_answered_safely(engine: Engine, live: tuple[httpx.Client, Signer, int, list[str]]) -> None:
    client, _, _, _ = live
    seen: Counter[int] = Counter()

    @SETTINGS
    @given(
        method=st.sampled_from(["GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"]),
        path=paths,
        query=st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3),
        content_type=st.sampled_from(CONTENT_TYPES),
        body=bodies,
        host=st.sampled_from(["127.0.0.1", "evil.example", "digest.test:8080"]),
    )
    def one(method: str, path: str, query: dict[str, str], content_type: str | None, body: bytes, host: str) -> None:
        headers = {"content-type": content_type} if content_type else {}
        headers["host"] = host
        url = str(client.base_url).rstrip("/") + path  # absolute: httpx refuses relative paths like //x
        response = client.request(method, url, params=query, content=body, headers=headers)
        seen[response.status_code] += 1
        well_behaved(response)

    one()
    print(f"\nserve fuzz: {sum(seen.values())} requests, answers {dict(sorted(seen.items()))}")
    assert statuses(engine) == ["active"] * READERS, "no request without a genuine token changed a subscription"
    assert client.get("/health").json() == {"status": "ok"}


def mutations(token: str) -> st.SearchStrategy[str]:
    index = st.integers(0, len(token) - 1)
    return st.one_of(
        st.builds(lambda i, c: token[:i] + c + token[i + 1 :], index, st.sampled_from(TOKEN_CHARS)),
        st.builds(lambda i, c: token[:i] + c + token[i:], index, st.sampled_from(TOKEN_CHARS + "=.!~%2F")),
        st.builds(lambda i: token[:i] + token[i + 1 :], index),
        st.builds(lambda i: token[:i], index),
        st.builds(lambda s: token + s, st.text(TOKEN_CHARS + "=", min_size=1, max_size=4)),
        st.just(token.swapcase()),
    ).filter(lambda changed: changed != token)


def test_a_changed_token_is_refused(engine: Engine, live: tuple[httpx.Client, Signer, int, list[str]]) -> None:
    client, signer, issue, readers = live
    genuine = signer.sign("unsubscribe", readers[0], issue)
    tried = Counter[int]()

    @SETTINGS
    @given(mutations(genuine), st.sampled_from(["u", "r", "c"]))
    def one(token: str, route: str) -> None:
        response = client.post(f"/{route}/{quote(token, safe='')}", data={"List-Unsubscribe": "One-Click"})
        tried[response.status_code] += 1
        well_behaved(response)
        assert response.status_code in (400, 404), (token, response.status_code)

    one()
    print(f"\nchanged tokens: {sum(tried.values())} posted, answers {dict(tried)}")
    assert statuses(engine) == ["active"] * READERS
    for route in ("r", "c"):  # a genuine token is bound to its purpose
        assert client.post(f"/{route}/{genuine}", data={"confirm": "yes"}).status_code == 400
    assert statuses(engine) == ["active"] * READERS
    assert client.post(f"/u/{genuine}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert statuses(engine) == ["unsubscribed", "active", "active"]


def test_bytes_that_are_not_http_get_a_400_or_a_closed_socket(
    live: tuple[httpx.Client, Signer, int, list[str]],
) -> None:
    """Malformed request lines and headers straight onto the socket: the server answers 400
    (or hangs up) and goes on serving."""
    client = live[0]
    address = (str(client.base_url.host), int(client.base_url.port or 80))
    seen: Counter[bytes] = Counter()

    @SETTINGS
    @given(st.one_of(st.binary(min_size=1, max_size=600), http_like))
    @example(b"POST http://evil.example/ HTTP/9.9\r\nExpect: 100-continue\r\nExpect: 100-continue")  # no body to read
    @example(b"GET * HTTP/9.9\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\nHost:\r\nExpect: 100-continue")
    @example(b"POST /u/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\nHost:")  # bad chunk
    def one(raw: bytes) -> None:
        with socket.create_connection(address, timeout=5) as conn:
            conn.sendall(raw + b"\r\n\r\n")
            answer = b""
            try:
                conn.shutdown(socket.SHUT_WR)
                while chunk := conn.recv(65536):
                    answer += chunk
            except (ConnectionResetError, BrokenPipeError, TimeoutError):
                pass
        while answer.startswith(b"HTTP/1.1 100 "):  # an interim answer (Expect: 100-continue): the final one follows
            answer = answer.partition(b"\r\n\r\n")[2]  # or the server hangs up on a bad body (a reset may drop its 400)
        status = answer.split(b"\r\n", 1)[0].split(b" ")[1:2]
        seen[status[0] if status else b"closed"] += 1
        assert not answer or status in ([b"400"], [b"404"], [b"405"], [b"413"], [b"200"]), answer[:200]
        assert b"Traceback" not in answer

    one()
    print(f"\nraw bytes: {sum(seen.values())} connections, answers {dict(seen)}")
    assert client.get("/health").json() == {"status": "ok"}, "the server still serves"


http_like = st.builds(
    lambda method, target, version, headers: method + b" " + target + b" " + version + b"\r\n" + headers,
    st.sampled_from([b"GET", b"POST", b"G\x00T", b"", b"POST POST"]),
    st.one_of(st.sampled_from([b"/health", b"/u/x", b"*", b"http://evil.example/", b""]), st.binary(max_size=40)),
    st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b"HTTP/9.9", b"", b"HTTP/1.1 extra"]),
    st.lists(st.sampled_from([b"Content-Length: 5", b"Content-Length: -1", b"Content-Length: 99999999999",
                              b"Content-Length: 1\r\nContent-Length: 2", b"Transfer-Encoding: chunked",
                              b"Transfer-Encoding: gzip, chunked", b"Host:", b"X: \xff\xfe", b": no name",
                              b"Bad Header Line", b"Expect: 100-continue"]), max_size=4).map(b"\r\n".join),
)  # fmt: skip

"""Fetching sources: http(s) with conditional GET and hard limits, or local files."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from digest import __version__
from digest.config import Ingest
from digest.errors import FetchError, SourceError

USER_AGENT = f"digest/{__version__} (weekly job digest; feed reader; +https://pypi.org/project/digest/)"


@dataclass(frozen=True)
class Fetched:
    """A fetch result; ``body`` is None when the source has not changed since last time."""

    body: bytes | None
    status: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class Request:
    name: str
    location: str  # an http(s) URL or an absolute file path
    etag: str | None = None
    last_modified: str | None = None


def read_file(request: Request, limits: Ingest) -> Fetched:
    path = Path(request.location)
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise FetchError(f"file is {size:,} bytes, over the {limits.max_bytes:,} byte limit")
        body = path.read_bytes()
    except FileNotFoundError:
        raise FetchError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise FetchError(f"is a folder, not a file: {path}") from None
    except OSError as exc:
        raise FetchError(f"cannot read {path}: {exc.strerror or exc}") from None
    tag = hashlib.sha256(body).hexdigest()
    if tag == request.etag:
        return Fetched(None, "unchanged", tag)
    return Fetched(body, "file", tag)


async def fetch_http(client: httpx.AsyncClient, request: Request, limits: Ingest) -> Fetched:
    headers = {}
    if request.etag:
        headers["If-None-Match"] = request.etag
    if request.last_modified:
        headers["If-Modified-Since"] = request.last_modified
    try:
        async with asyncio.timeout(limits.timeout):
            return await _get(client, request, headers, limits)
    except TimeoutError:
        raise FetchError(f"no complete answer within {limits.timeout:g}s") from None
    except httpx.TooManyRedirects:
        raise FetchError(f"more than {limits.max_redirects} redirects") from None
    except httpx.ConnectTimeout:
        raise FetchError(f"could not connect within {limits.connect_timeout:g}s") from None
    except httpx.TimeoutException:
        raise FetchError(f"timed out after {limits.timeout:g}s") from None
    except httpx.DecodingError:
        raise FetchError("the compressed body is damaged") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc or 'connection failed'}") from None


async def _get(client: httpx.AsyncClient, request: Request, headers: dict[str, str], limits: Ingest) -> Fetched:
    async with client.stream("GET", request.location, headers=headers) as response:
        if response.status_code == 304:
            return Fetched(None, "304", request.etag, request.last_modified)
        if response.status_code >= 400 or response.status_code < 200:
            raise FetchError(f"HTTP {response.status_code} {response.reason_phrase}".strip())
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limits.max_bytes and not response.headers.get("content-encoding"):
            raise FetchError(f"body is {int(declared):,} bytes, over the {limits.max_bytes:,} byte limit")
        chunks, total = [], 0
        async for chunk in response.aiter_bytes():
            total += len(chunk)
            if total > limits.max_bytes:
                raise FetchError(f"body is over the {limits.max_bytes:,} byte limit")
            chunks.append(chunk)
        return Fetched(
            b"".join(chunks),
            str(response.status_code),
            response.headers.get("etag"),
            response.headers.get("last-modified"),
        )


def make_client(limits: Ingest) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(limits.timeout, connect=limits.connect_timeout),
        follow_redirects=True,
        max_redirects=limits.max_redirects,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
        limits=httpx.Limits(max_connections=limits.concurrency * 2),
    )


async def fetch_all(requests: Sequence[Request], limits: Ingest) -> dict[str, Fetched | SourceError]:
    """Fetch every request concurrently (at most ``limits.concurrency`` at once)."""
    gate = asyncio.Semaphore(limits.concurrency)
    async with make_client(limits) as client:

        async def one(request: Request) -> Fetched | SourceError:
            async with gate:
                try:
                    if request.location.startswith(("http://", "https://")):
                        return await fetch_http(client, request, limits)
                    return await asyncio.to_thread(read_file, request, limits)
                except SourceError as exc:
                    return exc

        results = await asyncio.gather(*(one(r) for r in requests))
    return {request.name: result for request, result in zip(requests, results, strict=True)}

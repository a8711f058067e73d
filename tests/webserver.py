"""Run ``digest serve``'s app under a real uvicorn server on loopback, in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

import uvicorn
from sqlalchemy import Engine

from digest.config import Config
from digest.serve.app import create_app
from digest.serve.guard import TimedH11Protocol
from tests.smtpserver import free_port


@contextmanager
def running(engine: Engine, config: Config, port: int | None = None,
            clock: Callable[[], datetime] | None = None) -> Iterator[str]:  # fmt: skip
    port = port or free_port()
    app = create_app(engine, config) if clock is None else create_app(engine, config, clock)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False, http=TimedH11Protocol))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)

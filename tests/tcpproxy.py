"""A TCP proxy on loopback that can freeze: the network between digest and its database
going silent (connections stay open, nothing more gets through, new ones hang)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class Proxy:
    def __init__(self, target: tuple[str, int], listen: str = "127.0.0.1") -> None:
        self.target = target
        self.frozen = threading.Event()
        self.listener = socket.create_server((listen, 0))
        self.port = int(self.listener.getsockname()[1])
        self._closing = threading.Event()
        self._sockets: list[socket.socket] = []

    def serve(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self._sockets.append(client)
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        while self.frozen.is_set() and not self._closing.is_set():  # a new connection that never gets through
            self._closing.wait(0.05)
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        self._sockets.append(upstream)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while chunk := source.recv(65536):
                while self.frozen.is_set() and not self._closing.is_set():
                    self._closing.wait(0.05)  # hold the bytes: the other side hears nothing
                sink.sendall(chunk)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Both ends of every connection hear it end. A plain close() would not do: while a pump
        thread waits in recv() on a socket, closing it sends nothing, so a PostgreSQL backend on the
        far side would wait for its client, and hold its row locks, for as long as this process
        lives (the next test's TRUNCATE then waited on them for ever)."""
        self._closing.set()
        self.listener.close()
        for sock in self._sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                sock.close()


@contextmanager
def proxy(target: tuple[str, int], listen: str = "127.0.0.1") -> Iterator[Proxy]:
    """``listen``: the address to listen on (a test host's link, see tests/netns.py)."""
    running = Proxy(target, listen)
    thread = threading.Thread(target=running.serve, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.close()

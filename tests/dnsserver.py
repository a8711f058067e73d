"""A real DNS server on loopback (UDP, in a thread) that answers TXT questions from a dict,
built on dnspython's message parsing: the resolver under test talks to it over the wire."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


@contextmanager
def dns_server(txt: dict[str, list[str]]) -> Iterator[str]:
    """Yields "127.0.0.1:PORT". ``txt``: name -> TXT strings (a name not listed is NXDOMAIN).
    The dict may be changed while the server runs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def answer(wire: bytes) -> bytes:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        if name not in txt:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.TXT:
            quoted = [" ".join(f'"{chunk}"' for chunk in _chunks(value)) for value in txt[name]]
            response.answer.append(dns.rrset.from_text_list(question.name, 60, dns.rdataclass.IN, "TXT", quoted))
        return response.to_wire()

    def serve() -> None:
        while not stop.is_set():
            try:
                wire, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            sock.sendto(answer(wire), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        sock.close()


def _chunks(value: str) -> list[str]:
    """A TXT string holds 255 bytes at most: a long record (a DKIM key) is several."""
    return [value[i : i + 255] for i in range(0, len(value), 255)] or [""]

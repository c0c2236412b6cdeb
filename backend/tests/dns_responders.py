"""Small real DNS servers on loopback for tests: one that answers (optionally late), one that never does.

Each binds a UDP port on 127.0.0.1 in the test's event loop and builds replies with dnspython:
the SOA of the zone it serves for the zone's own name, NXDOMAIN for anything else. `drop_next`
swallows that many queries (a lost packet); `stop()` and `start()` take it off and back on the
same port, as a crashed and restarted server would.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: DnsResponder) -> None:
        self.owner = owner
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.owner.handle(self, data, addr)


class DnsResponder:
    def __init__(self, zone: str = "corp.example", *, delay: float = 0.0, silent: bool = False) -> None:
        self.zone = dns.name.from_text(zone)
        self.delay = delay
        self.silent = silent
        self.port = 0
        self.queries = 0  # every datagram received
        self.answered = 0
        self.dropped = 0
        self.drop_next = 0
        self.qnames: list[str] = []
        self._protocol: _Protocol | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._protocol is not None

    async def start(self) -> DnsResponder:
        """Bind (the same port again after a stop, a free one the first time)."""
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_datagram_endpoint(lambda: _Protocol(self), local_addr=("127.0.0.1", self.port))
        assert protocol.transport is not None
        self.port = protocol.transport.get_extra_info("sockname")[1]
        self._protocol = protocol
        return self

    def stop(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None

    def handle(self, protocol: _Protocol, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.queries += 1
        if self.silent:
            return
        if self.drop_next > 0:
            self.drop_next -= 1
            self.dropped += 1
            return
        try:
            query = dns.message.from_wire(data)
        except Exception:
            return
        reply = dns.message.make_response(query)
        question = query.question[0] if query.question else None
        if question is not None:
            self.qnames.append(question.name.to_text())
        if question is not None and question.name == self.zone and question.rdtype == dns.rdatatype.SOA:
            reply.answer.append(
                dns.rrset.from_text(
                    self.zone, 300, "IN", "SOA", f"ns1.{self.zone} hostmaster.{self.zone} 1 3600 600 86400 300"
                )
            )
        elif question is not None and not question.name.is_subdomain(self.zone):
            reply.set_rcode(dns.rcode.NXDOMAIN)
        wire = reply.to_wire()

        def send() -> None:
            # Only if still bound by the same socket: a stopped responder answers nothing.
            if self._protocol is protocol and protocol.transport is not None:
                protocol.transport.sendto(wire, addr)
                self.answered += 1

        if self.delay > 0:
            asyncio.get_running_loop().call_later(self.delay, send)
        else:
            send()

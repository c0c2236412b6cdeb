"""A raw WebSocket client that completes the handshake and then never answers a ping.

`websockets.client.ClientProtocol` is sans-I/O: it parses what we feed it and queues what it
would send (including the pong it owes for every ping). We write only the handshake request and
drop everything it queues afterwards, so the server sees a peer that stopped answering pings.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable

from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri


@dataclasses.dataclass
class SilentResult:
    status: int | None = None  # the handshake response's HTTP status
    subprotocol: str | None = None
    texts: list[str] = dataclasses.field(default_factory=list)  # text frames received
    pings: int = 0  # pings received (none of them answered)
    close_code: int | None = None  # code of the server's close frame; None if the TCP connection just ended
    close_reason: str = ""
    eof: bool = False


async def silent_client(url: str, subprotocols: list[str] | None = None, within: float = 10) -> SilentResult:
    """Open `url`, send the handshake request only, then read until the server closes or `within` seconds.

    Raises TimeoutError when the server neither closes nor ends the connection in that time.
    """
    uri = parse_uri(url)
    protocol = ClientProtocol(uri, subprotocols=subprotocols)  # type: ignore[arg-type]
    protocol.send_request(protocol.connect())
    result = SilentResult()
    reader, writer = await asyncio.open_connection(uri.host, uri.port)
    try:
        writer.write(b"".join(protocol.data_to_send()))  # the handshake request: the only bytes we send
        await writer.drain()
        async with asyncio.timeout(within):
            while result.close_code is None:
                data = await reader.read(65536)
                if data:
                    protocol.receive_data(data)
                else:
                    protocol.receive_eof()
                    result.eof = True
                for event in protocol.events_received():
                    if isinstance(event, Response):
                        result.status = event.status_code
                        result.subprotocol = event.headers.get("Sec-WebSocket-Protocol")
                    elif event.opcode is Opcode.TEXT:
                        result.texts.append(bytes(event.data).decode())
                    elif event.opcode is Opcode.PING:
                        result.pings += 1
                    elif event.opcode is Opcode.CLOSE:
                        assert protocol.close_rcvd is not None
                        result.close_code = protocol.close_rcvd.code
                        result.close_reason = protocol.close_rcvd.reason
                protocol.data_to_send()  # drop the pongs (and the close reply) it queued: never sent
                if result.eof or protocol.state is State.CLOSED:
                    break
        return result
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def until(predicate: Callable[[], bool], within: float = 5, what: str = "condition") -> None:
    """Wait (polling) until `predicate()` holds; fails with `what` after `within` seconds."""
    try:
        async with asyncio.timeout(within):
            while True:
                if predicate():
                    return
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out after {within}s waiting for: {what}") from None

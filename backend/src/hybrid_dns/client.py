"""`hybrid_dns.client`: follow a Hybrid DNS server's event stream from a script, and read its history.

    import asyncio
    from hybrid_dns.client import Client

    async def main() -> None:
        async with Client("http://127.0.0.1:8000", token=TOKEN, event_types=["zone_created", "zone_deleted"],
                          filter={"zones": ["corp.example"], "min_severity": "warning"}) as client:
            async for event in client.events():
                print(event.seq, event.type, event.summary)

    asyncio.run(main())

A client of WebSocket protocol v1 (docs/protocol.md), written as the document's "Writing a client"
says, and importing nothing from the server (it is what `hybrid-dns events tail` runs):

- It signs in with a token (from `hybrid-dns token` or a login) or a username and password (then
  it signs in again by itself when the session expires: close 4001).
- It opens the connection types that carry what was asked for (`admin` for an admin, else the
  fewest of the role's types that cover the event types), unsubscribes from the other types, and
  merges the streams, dropping an event that arrives twice (by `id`).
- A dropped connection is reopened with backoff (full jitter, capped) and resumed with
  `since`/`epoch`, so nothing is lost or repeated across a dropped connection or a server restart.
  A `reset` (the server cannot replay) is filled from `GET /api/events` when the history still has
  the events (`fill_gaps`), else reported; an epoch change (the history was lost) is reported.
- A terminal close (4400-4499: bad request, bad token, forbidden) raises `Refused`: reconnecting
  would get the same answer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import csv
import io
import logging
import random
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

__all__ = [
    "AuthError",
    "Client",
    "ClientError",
    "ConnectError",
    "Event",
    "GaveUp",
    "Refused",
    "Reset",
    "UsageError",
    "format_event",
]

log = logging.getLogger("hybrid_dns.client")

SUBPROTOCOL = "hybrid-dns.v1"
SESSION_EXPIRED = 4001
SEVERITIES = ("info", "warning", "error", "critical")
EXPORT_COLUMNS: tuple[str, ...] = (  # the CSV export's columns, as the server writes them
    *("seq", "id", "timestamp", "type", "category", "severity", "actor"),
    *("zone", "name", "record_type", "summary", "data"),
)
_DEDUP_IDS = 10_000  # ids remembered to drop an event that arrives twice
_QUEUE = 1000  # events read ahead of the consumer; past that the socket is not read (back-pressure)
_PAGE = 500  # GET /api/events page size (its maximum)
_MAX_MESSAGE = 16 * 2**20  # a batch stops growing at ~512 KiB, but one event has no size cap


def is_terminal(code: int | None) -> bool:
    """4400-4499: do not reconnect (docs/protocol.md, "Close codes")."""
    return code is not None and 4400 <= code <= 4499


# --- errors ---------------------------------------------------------------------------------


class ClientError(Exception):
    """Something the client cannot go on from; the message says what, for a person."""


class UsageError(ClientError, ValueError):
    """Bad input from the caller (an unknown event type, a bad URL): nothing was sent."""


class ConnectError(ClientError):
    """The server could not be reached (before the stream ever started)."""


class AuthError(ClientError):
    """The server refused the credentials, or the session expired with no way to sign in again."""


class Refused(ClientError):
    """The server closed the stream with a terminal code (4400-4499): reconnecting would get the same."""

    def __init__(self, code: int, reason: str, connection_type: str) -> None:
        super().__init__(f"the server refused the {connection_type} stream ({code}): {reason or 'no reason given'}")
        self.code = code
        self.reason = reason
        self.connection_type = connection_type


class GaveUp(ClientError):
    """max_reconnect_attempts consecutive attempts failed."""


class _RetryLater(Exception):
    def __init__(self, message: str, wait: float = 0.0) -> None:
        super().__init__(message)
        self.wait = wait


# --- what the stream carries ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """One event, as the server sent it (`raw`, every key, also those this client does not know)."""

    type: str
    id: str
    seq: int
    category: str
    severity: str
    timestamp: str
    actor: str | None
    data: dict[str, Any]
    about: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_frame(cls, frame: Mapping[str, Any]) -> Event:
        about = frame.get("about")
        data = frame.get("data")
        return cls(
            type=str(frame.get("type", "")),
            id=str(frame.get("id", "")),
            seq=int(frame.get("seq", 0)),
            category=str(frame.get("category", "")),
            severity=str(frame.get("severity", "info")),
            timestamp=str(frame.get("timestamp", "")),
            actor=frame.get("actor") if isinstance(frame.get("actor"), str) else None,
            data=data if isinstance(data, dict) else {},
            about=about if isinstance(about, dict) else None,
            raw=dict(frame),
        )

    @property
    def time(self) -> datetime:
        """The event's time (aware, UTC); `.astimezone()` gives local time."""
        return datetime.fromisoformat(self.timestamp)

    @property
    def summary(self) -> str:
        """`about.summary`, the server's one line about the event (a fallback for servers without it)."""
        if self.about and isinstance(self.about.get("summary"), str) and self.about["summary"]:
            return str(self.about["summary"])
        title = self.type.replace("_", " ").capitalize()
        for key in ("zone", "name", "domain", "forwarder", "username", "message", "alert"):
            value = self.data.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                return f"{title}: {value}"
        return title


@dataclass(frozen=True, slots=True)
class Reset:
    """The server could not replay what a connection missed (docs/protocol.md, "Resume")."""

    connection_type: str
    reason: str  # epoch_changed, history_expired, too_far_behind
    epoch: str | None
    last_seq: int | None
    filled: int  # missed events fetched from GET /api/events instead
    may_have_missed: bool  # True when events may be missing from what was yielded


def format_event(event: Event, tz: Any = None) -> str:
    """One readable line: local time with its zone, severity, type, actor, summary, seq.

    Characters that could steer a terminal (control characters) are shown escaped."""
    try:
        when = event.time.astimezone(tz)
        stamp = f"{when:%Y-%m-%d %H:%M:%S}.{when.microsecond // 1000:03d} {when.tzname() or when.strftime('%z')}"
    except ValueError:
        stamp = event.timestamp
    actor = event.actor or "-"
    return _printable(f"{stamp}  {event.severity:<8}  {event.type:<23}  {actor:<12}  {event.summary}  #{event.seq}")


def _printable(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


# --- filters, on the client side ------------------------------------------------------------

_FILTER_PARAMS = {  # filter key -> GET /api/events query parameter
    "zones": "zone",
    "min_severity": "min_severity",
    "categories": "category",
    "actors": "actor",
    "record_types": "record_type",
    "text": "text",
}


def filter_params(filter: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The filter as `GET /api/events` query parameters (lists repeat the parameter)."""
    params: list[tuple[str, str]] = []
    for key, value in (filter or {}).items():
        name = _FILTER_PARAMS.get(key)
        if name is None or value is None:
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            params.append((name, str(item)))
    return params


def _norm(name: Any) -> str | None:
    return name.lower().rstrip(".") if isinstance(name, str) and name else None


def matches(filter: Mapping[str, Any] | None, frame: Mapping[str, Any]) -> bool:
    """The filter's rules (docs/protocol.md): AND across keys, OR within a list. The server applies
    them; the client applies them again only to events it fetched over HTTP to fill a gap."""
    if not filter:
        return True
    about = frame.get("about") if isinstance(frame.get("about"), dict) else {}
    assert isinstance(about, dict)
    zones = [z for z in (_norm(z) for z in filter.get("zones") or ()) if z]
    if zones:
        names = [n for n in (_norm(about.get("zone")), _norm(about.get("name"))) if n]
        if not any(n == z or n.endswith("." + z) for n in names for z in zones):
            return False
    minimum = filter.get("min_severity")
    if minimum in SEVERITIES:
        severity = frame.get("severity")
        if severity not in SEVERITIES or SEVERITIES.index(severity) < SEVERITIES.index(minimum):
            return False
    if filter.get("categories") and frame.get("category") not in set(filter["categories"]):
        return False
    if filter.get("actors") and frame.get("actor") not in set(filter["actors"]):
        return False
    if filter.get("record_types"):
        wanted = {str(t).upper() for t in filter["record_types"]}
        if about.get("record_type") not in wanted:
            return False
    text = filter.get("text")
    if text:
        summary = about.get("summary")
        if not isinstance(summary, str) or str(text).casefold() not in summary.casefold():
            return False
    return True


# --- the client -----------------------------------------------------------------------------


@dataclass(eq=False)
class _Stream:
    """One WebSocket connection of the client, and where it is in the stream."""

    connection_type: str
    keep: frozenset[str]  # event types yielded from it
    drop: tuple[str, ...]  # its other event types, unsubscribed after connecting
    cursor: int | None  # highest seq read (sent as `since` when reconnecting)
    epoch: str | None
    yielded: int | None = None  # highest seq handed to the consumer
    attempt: int = 0


_Item = tuple[_Stream, int | None, str | None, Event | Reset | None]


class Client:
    """A client of one server (or of a load balancer in front of several).

    `url` is the server's base URL (http(s)://host:port[/prefix]; ws(s):// is taken too). Give a
    `token`, or `username` and `password`. `event_types` (default: every type the role may see)
    and `filter` (the protocol's filter object, e.g. `{"zones": ["corp.example"]}`) choose what
    `events()` yields. `since`/`epoch` start from a position instead of from now (`position`
    says where the client is, for a later start).
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        event_types: Iterable[str] | None = None,
        filter: Mapping[str, Any] | None = None,
        since: int | None = None,
        epoch: str | None = None,
        connection_types: Iterable[str] | None = None,
        reconnect_interval: float = 0.5,
        reconnect_max_interval: float = 30.0,
        max_reconnect_attempts: int | None = None,
        fill_gaps: bool = True,
        on_notice: Callable[[str], None] | None = None,
        on_reset: Callable[[Reset], None] | None = None,
        timeout: float = 10.0,
    ) -> None:
        if token is None and (username is None or password is None):
            raise UsageError("give a token, or a username and a password")
        if since is not None and since < 0:
            raise UsageError("since must be a non-negative integer")
        if reconnect_interval <= 0 or reconnect_max_interval <= 0:
            raise UsageError("reconnect intervals must be positive")
        self.http_url, self.ws_url = _base_urls(url)
        self._token = token
        self._fixed_token = token is not None and password is None
        self._username = username
        self._password = password
        self.event_types = tuple(dict.fromkeys(event_types)) if event_types else None
        self.filter = dict(filter) if filter else None
        self._since = since
        self._epoch = epoch
        self._asked_connection_types = tuple(dict.fromkeys(connection_types)) if connection_types else None
        self.reconnect_interval = reconnect_interval
        self.reconnect_max_interval = reconnect_max_interval
        self.max_reconnect_attempts = max_reconnect_attempts
        self.fill_gaps = fill_gaps
        self._on_notice = on_notice
        self._on_reset = on_reset
        self.timeout = timeout
        self._http: httpx.AsyncClient | None = None
        self.user: str | None = None
        self.role: str | None = None
        self.config: dict[str, Any] = {}
        self._streams: list[_Stream] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()

    # -- set-up ---------------------------------------------------------------------------

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Sign in (when given a password), learn who we are and what the server offers, and plan
        the connections. `events()` calls it when needed."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.http_url, timeout=self.timeout, headers={"user-agent": "hybrid-dns-client"}
            )
        try:
            if self._token is None:
                await self._login()
            me = await self._get_json("/api/auth/me")
            self.config = await self._get_json("/api/websocket/config")
        except httpx.TransportError as exc:
            raise ConnectError(f"cannot reach {self.http_url}: {_describe(exc)}") from None
        except _RetryLater as exc:  # throttled sign-in, or 503
            raise ClientError(str(exc)) from None
        self.user, self.role = str(me["username"]), str(me["role"])
        self._streams = self._plan()

    async def close(self) -> None:
        await self._stop_streams()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _plan(self) -> list[_Stream]:
        """The connection types to open, and which of their event types to keep."""
        by_type: dict[str, list[str]] = self.config.get("connection_types") or {}
        allowed = [t for t in (self.config.get("roles") or {}).get(self.role or "", []) if t in by_type]
        known = set(self.config.get("event_types") or {}) or {t for types in by_type.values() for t in types}
        if self.event_types is not None:
            unknown = sorted(set(self.event_types) - known)
            if unknown:
                raise UsageError(f"unknown event types: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        reachable = {t for ct in allowed for t in by_type[ct]}
        wanted = set(self.event_types) if self.event_types is not None else reachable
        if not wanted <= reachable:
            refused = ", ".join(sorted(wanted - reachable))
            raise UsageError(f"the role {self.role} does not receive: {refused}")
        if self._asked_connection_types is not None:
            bad = [t for t in self._asked_connection_types if t not in allowed]
            if bad:
                raise UsageError(f"the role {self.role} may not open: {', '.join(bad)} (may: {', '.join(allowed)})")
            chosen = list(self._asked_connection_types)
        elif "admin" in allowed:
            chosen = ["admin"]  # every event type on one connection
        else:  # the fewest connection types that cover what is wanted (greedy; there are five)
            chosen, left = [], set(wanted)
            while left:
                best = max(sorted(allowed), key=lambda ct: len(left & set(by_type[ct])))
                chosen.append(best)
                left -= set(by_type[best])
        streams = []
        for ct in chosen:
            carried = by_type[ct]
            keep = frozenset(t for t in carried if t in wanted)
            if not keep:
                continue
            drop = tuple(sorted(t for t in carried if t not in keep))
            streams.append(_Stream(ct, keep, drop, cursor=self._since, epoch=self._epoch, yielded=self._since))
        if not streams:
            raise UsageError("none of the role's connection types carries the event types asked for")
        return streams

    # -- where we are ---------------------------------------------------------------------

    @property
    def position(self) -> tuple[str | None, int | None]:
        """(epoch, seq): start a later client with `since=seq, epoch=epoch` to get what came after
        what this one yielded. With several connections it is the lowest of their positions, so a
        later start may see a few events again, never miss one."""
        seqs = [s.yielded for s in self._streams]
        epochs = [s.epoch for s in self._streams if s.epoch]
        seq = None if not seqs or any(v is None for v in seqs) else min(v for v in seqs if v is not None)
        return (epochs[0] if epochs else self._epoch), seq

    @property
    def token(self) -> str | None:
        """The token in use (a new one after signing in again)."""
        return self._token

    @property
    def connection_types(self) -> list[str]:
        return [s.connection_type for s in self._streams]

    # -- the stream ------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[Event]:
        """Every event asked for, as it happens, until the caller stops or a terminal error (raised).

        Reconnects and resumes by itself. Events of one connection come in seq order; with
        several connections (a non-admin role and event types spread over several types), each
        connection's events keep their order and the streams interleave as they arrive."""
        if self._http is None:
            await self.connect()
        await self._stop_streams()
        for stream in self._streams:  # a second call goes on from what the first one yielded
            stream.cursor = stream.yielded
        queue: asyncio.Queue[_Item | BaseException] = asyncio.Queue(maxsize=_QUEUE)
        self._tasks = [asyncio.create_task(self._follow(s, queue)) for s in self._streams]
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                stream, cursor, _epoch, payload = item
                if cursor is not None:
                    stream.yielded = cursor
                if isinstance(payload, Reset):
                    if self._on_reset is not None:
                        self._on_reset(payload)
                elif isinstance(payload, Event):
                    if payload.id in self._seen:
                        self._seen.move_to_end(payload.id)
                        continue
                    self._seen[payload.id] = None
                    if len(self._seen) > _DEDUP_IDS:
                        self._seen.popitem(last=False)
                    yield payload
        finally:
            await self._stop_streams()

    async def _stop_streams(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _follow(self, stream: _Stream, queue: asyncio.Queue[_Item | BaseException]) -> None:
        """One connection: connect, read, and on a close reconnect with backoff, until terminal."""
        try:
            while True:
                wait = 0.0
                try:
                    code, reason = await self._session(stream, queue)
                except _RetryLater as exc:
                    code, reason, wait = None, str(exc), exc.wait
                except (OSError, InvalidHandshake, TimeoutError, httpx.TransportError) as exc:
                    code, reason = None, _describe(exc)
                if is_terminal(code):
                    assert code is not None
                    raise Refused(code, reason, stream.connection_type)
                if code == SESSION_EXPIRED:
                    if self._fixed_token:
                        raise AuthError(f"the session ended ({reason or 'session expired'}): get a new token")
                    self._token = None  # sign in again before reconnecting
                stream.attempt += 1
                if self.max_reconnect_attempts is not None and stream.attempt > self.max_reconnect_attempts:
                    raise GaveUp(f"gave up after {self.max_reconnect_attempts} attempts to reconnect: {reason}")
                cap = min(self.reconnect_max_interval, self.reconnect_interval * 2 ** (stream.attempt - 1))
                delay = max(wait, random.uniform(0, cap))  # full jitter
                what = f"closed ({code}{' ' + reason if reason else ''})" if code is not None else f"failed: {reason}"
                self._notice(f"{stream.connection_type} connection {what}; reconnecting in {delay:.1f} s")
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the consumer, which raises it
            await queue.put(exc)

    async def _session(self, stream: _Stream, queue: asyncio.Queue[_Item | BaseException]) -> tuple[int | None, str]:
        """One connection's life; returns its close code and reason."""
        if self._token is None:
            await self._login()
        assert self._token is not None and self.user is not None
        query: dict[str, Any] = {}
        if stream.cursor is not None:
            query["since"] = stream.cursor
            if stream.epoch:
                query["epoch"] = stream.epoch
        if self.filter is not None:
            query["filter"] = orjson.dumps(self.filter).decode()
        url = f"{self.ws_url}/ws/{stream.connection_type}/{quote(self.user, safe='')}"
        if query:
            url += "?" + urlencode(query)
        async with connect(
            url,
            subprotocols=[Subprotocol(SUBPROTOCOL), Subprotocol(f"bearer.{self._token}")],
            open_timeout=self.timeout,
            close_timeout=2,
            max_size=_MAX_MESSAGE,
            user_agent_header="hybrid-dns-client",
        ) as ws:
            try:
                async for raw in ws:
                    if not isinstance(raw, str) or raw == "pong":
                        continue
                    await self._frame(ws, stream, orjson.loads(raw), queue)
            except ConnectionClosed:
                pass
            except asyncio.CancelledError:  # the caller stopped: a normal closure (not 1011)
                with contextlib.suppress(Exception):
                    await ws.close(1000, "client stopped")
                raise
            return ws.close_code, ws.close_reason or ""

    async def _frame(
        self, ws: ClientConnection, stream: _Stream, frame: Any, queue: asyncio.Queue[_Item | BaseException]
    ) -> None:
        if not isinstance(frame, dict):
            return
        kind = frame.get("type")
        if kind == "connected":
            stream.attempt = 0
            if self.filter is not None and "filter" not in frame:
                raise ClientError("this server does not support event filters (its `connected` frame has no filter)")
            resuming = stream.cursor is not None
            where = f"epoch {frame.get('epoch')}, seq {frame.get('last_seq')}"
            if not resuming:  # from now: what came before is history (GET /api/events)
                stream.cursor = _int(frame.get("last_seq"))
                stream.epoch = frame.get("epoch") or stream.epoch
                await queue.put((stream, stream.cursor, stream.epoch, None))
                self._notice(f"{stream.connection_type}: connected ({where})")
            else:
                if not stream.epoch:  # since without epoch: this is the epoch the seqs are of
                    stream.epoch = frame.get("epoch")
                self._notice(f"{stream.connection_type}: connected ({where}), resuming after seq {stream.cursor}")
            if stream.drop:  # the replay uses the full set; live frames after this follow it
                await ws.send(orjson.dumps({"type": "unsubscribe", "event_types": list(stream.drop)}).decode())
        elif kind == "batch":
            for event in frame.get("events") or ():
                if isinstance(event, dict):
                    await self._event(stream, event, queue)
        elif kind == "resumed":
            to_seq = _int(frame.get("to_seq"))
            if to_seq is not None:
                stream.cursor = max(stream.cursor or 0, to_seq)
            await queue.put((stream, stream.cursor, stream.epoch, None))
            self._notice(f"{stream.connection_type}: resumed: {frame.get('replayed')} missed events replayed")
        elif kind == "reset":
            await self._reset(stream, frame, queue)
        elif kind == "error":
            self._notice(f"{stream.connection_type}: server error frame: {frame.get('code')}: {frame.get('message')}")
        elif "seq" in frame and "id" in frame:
            await self._event(stream, frame, queue)
        # pong, subscriptions, acked, stats, presence: nothing to do for a follower

    async def _event(self, stream: _Stream, frame: dict[str, Any], queue: asyncio.Queue[_Item | BaseException]) -> None:
        seq = _int(frame.get("seq"))
        if seq is not None:
            stream.cursor = max(stream.cursor or 0, seq)
        if frame.get("type") in stream.keep:
            await queue.put((stream, stream.cursor, stream.epoch, Event.from_frame(frame)))

    async def _reset(self, stream: _Stream, frame: dict[str, Any], queue: asyncio.Queue[_Item | BaseException]) -> None:
        """The server cannot replay what this connection missed: fetch it over HTTP when the epoch is
        the same (the history may still hold it), and go on from the reset's position."""
        reason = str(frame.get("reason") or "reset")
        last = _int(frame.get("last_seq"))
        epoch = frame.get("epoch") if isinstance(frame.get("epoch"), str) else None
        filled, fetched = 0, False
        if reason != "epoch_changed" and self.fill_gaps and stream.cursor is not None and last is not None:
            try:
                async for event in self._history_pages(after_seq=stream.cursor, up_to=last):
                    if event.type in stream.keep and matches(self.filter, event.raw):
                        await queue.put((stream, None, stream.epoch, event))
                        filled += 1
                fetched = True
            except AuthError:
                raise
            except ClientError as exc:  # an answer we cannot use: go on live, and say so below
                self._notice(f"{stream.connection_type}: could not read the history: {exc}")
        if reason == "epoch_changed" or last is None:
            stream.cursor = last
        else:
            stream.cursor = max(stream.cursor or 0, last)
        stream.epoch = epoch or stream.epoch
        # too_far_behind: the history still holds every missed event (the replay limit is what was
        # passed), so the fill is whole. history_expired: the oldest may be gone. epoch_changed: the
        # seqs the client had refer to a history that is gone.
        missing = not (fetched and reason == "too_far_behind")
        notice = Reset(stream.connection_type, reason, stream.epoch, last, filled, missing)
        await queue.put((stream, stream.cursor, stream.epoch, notice))
        read = f"{filled} missed events read from the history" if fetched else "nothing read from the history"
        if missing:
            self._notice(
                f"{stream.connection_type}: the server could not replay what was missed ({reason}); {read}; "
                "events from before this point may be missing"
            )
        else:
            self._notice(f"{stream.connection_type}: the server could not replay what was missed ({reason}); {read}")

    # -- history ---------------------------------------------------------------------------

    async def history(
        self,
        *,
        after_seq: int = 0,
        event_types: Iterable[str] | None = None,
        filter: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[Event]:
        """Every kept event the user may see after `after_seq`, oldest first (GET /api/events, paged)."""
        if self._http is None:
            await self.connect()
        types = set(event_types) if event_types else None
        async for event in self._history_pages(after_seq=after_seq, filter=filter):
            if (types is None or event.type in types) and matches(filter, event.raw):
                yield event

    async def _history_pages(
        self, *, after_seq: int, up_to: int | None = None, filter: Mapping[str, Any] | bool | None = True
    ) -> AsyncIterator[Event]:
        chosen = self.filter if filter is True else filter
        assert not isinstance(chosen, bool)
        params = filter_params(chosen)
        while True:
            page = await self._get_json(
                "/api/events", params=[*params, ("after_seq", str(after_seq)), ("limit", str(_PAGE))]
            )
            events = [Event.from_frame(e) for e in page.get("events") or () if isinstance(e, dict)]
            for event in events:
                if up_to is not None and event.seq > up_to:
                    return
                yield event
            if not events or not page.get("has_more"):
                return
            after_seq = events[-1].seq

    async def export(
        self,
        format: str = "ndjson",
        *,
        event_types: Iterable[str] | None = None,
        filter: Mapping[str, Any] | None = None,
        since: str | None = None,
        until: str | None = None,
        q: str | None = None,
    ) -> AsyncIterator[bytes]:
        """The history as NDJSON or CSV (GET /api/events/export), in chunks as the server streams it:
        every event the user may see that matches, oldest first. `since`/`until` are ISO 8601
        times, `q` full-text words."""
        if format not in ("ndjson", "csv"):
            raise UsageError("format must be ndjson or csv")
        if self._http is None:
            await self.connect()
        assert self._http is not None
        types = list(dict.fromkeys(event_types)) if event_types else []
        params: list[tuple[str, str | int | float | bool | None]] = [("format", format), *filter_params(filter)]
        if len(types) == 1:  # the endpoint takes one type; several are picked out here
            params.append(("type", types[0]))
        params += [(k, v) for k, v in (("since", since), ("until", until), ("q", q)) if v is not None]
        async with self._http.stream("GET", "/api/events/export", params=params, headers=self._auth()) as resp:
            if resp.status_code >= 400:
                await resp.aread()
                _raise_for(resp)
            chunks = resp.aiter_bytes()
            if len(types) > 1:
                chunks = _only_types(chunks, format, frozenset(types))
            async for chunk in chunks:
                yield chunk

    # -- HTTP ------------------------------------------------------------------------------

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    async def _get_json(self, path: str, params: Any = None) -> Any:
        assert self._http is not None
        resp = await self._http.get(path, params=params, headers=self._auth())
        if resp.status_code == 401 and not self._fixed_token and self._password is not None:
            await self._login()  # the session ended: sign in again, once
            resp = await self._http.get(path, params=params, headers=self._auth())
        _raise_for(resp)
        return resp.json()

    async def _login(self) -> None:
        assert self._http is not None
        if self._username is None or self._password is None:
            raise AuthError("the token was refused and there is no password to sign in with")
        resp = await self._http.post("/api/auth/login", json={"username": self._username, "password": self._password})
        if resp.status_code == 429:
            wait = _float(resp.headers.get("retry-after")) or 1.0
            raise _RetryLater(f"sign-in throttled: {_detail(resp)}", wait)
        if resp.status_code == 401:
            raise AuthError(f"sign-in refused: {_detail(resp)}")
        _raise_for(resp)
        self._token = str(resp.json()["access_token"])

    def _notice(self, message: str) -> None:
        if self._on_notice is not None:
            self._on_notice(message)
        else:
            log.info("%s", message)


# --- helpers --------------------------------------------------------------------------------


def _base_urls(url: str) -> tuple[str, str]:
    """(http base, ws base) from a server URL given as http(s):// or ws(s)://."""
    parts = urlsplit(url.strip())
    http_scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if http_scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"not a server URL: {url!r} (expected http://HOST:PORT or https://...)")
    if parts.query or parts.fragment or parts.username:
        raise UsageError("the server URL takes no query, fragment or credentials")
    path = parts.path.rstrip("/")
    http = urlunsplit((http_scheme, parts.netloc, path, "", ""))
    ws = urlunsplit(("wss" if http_scheme == "https" else "ws", parts.netloc, path, "", ""))
    return http, ws


def _raise_for(resp: httpx.Response) -> None:
    if resp.status_code < 400:
        return
    detail = _detail(resp)
    if resp.status_code == 401:
        raise AuthError(f"the server refused the token: {detail}")
    if resp.status_code == 403:
        raise AuthError(f"not allowed: {detail}")
    if resp.status_code == 422:
        raise UsageError(f"the server refused the request: {detail}")
    if resp.status_code in (502, 503, 504):
        raise _RetryLater(f"HTTP {resp.status_code}: {detail}", _float(resp.headers.get("retry-after")) or 0.0)
    raise ClientError(f"HTTP {resp.status_code} from {resp.request.url.path}: {detail}")


def _detail(resp: httpx.Response) -> str:
    with contextlib.suppress(ValueError):
        body = resp.json()
        if isinstance(body, dict) and isinstance(body.get("detail"), str):
            return _printable(body["detail"][:300])
    return resp.reason_phrase or f"HTTP {resp.status_code}"


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


async def _only_types(chunks: AsyncIterator[bytes], format: str, types: frozenset[str]) -> AsyncIterator[bytes]:
    """The export's records (NDJSON lines, or CSV records after the header) of these event types."""
    pending, record, header = b"", b"", format == "csv"
    async for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        kept = []
        for line in lines:
            record += line + b"\n"
            if format == "csv" and record.count(b'"') % 2:
                continue  # a quoted field goes on over a line break
            if header:
                kept.append(record)
                header = False
            elif _record_type(record, format) in types:
                kept.append(record)
            record = b""
        if kept:
            yield b"".join(kept)


def _record_type(record: bytes, format: str) -> str | None:
    with contextlib.suppress(ValueError, IndexError, AttributeError, csv.Error):
        if format == "ndjson":
            value = orjson.loads(record).get("type")
        else:
            value = next(csv.reader(io.StringIO(record.decode())))[EXPORT_COLUMNS.index("type")]
        return value if isinstance(value, str) else None
    return None

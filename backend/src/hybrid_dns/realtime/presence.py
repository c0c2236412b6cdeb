"""Presence: who is viewing or editing what right now (a zone, the RPZ rules, the forwarders, one forwarder).

Presence is state, not news: it has no seq and no history, and it is kept beside the broker, not in
it (as centrifuge keeps its PresenceManager beside its Broker). Two parts:

- `PresenceStore`, the interface (join, leave, members, refresh): where each topic's members are
  kept, one entry per connection, each alive for `PRESENCE_TTL` seconds unless its instance
  refreshes it. `MemoryPresence` serves one process; `RedisPresence` (presence_redis.py) serves
  several instances, and tells them when a topic changed.
- `Presence`, this instance's side: which of its connections are in which topic (at most
  `MAX_PRESENCE_TOPICS` each), the `presence` frames, and the refresh that keeps this instance's
  members alive and notices members of other instances that left or died.

A client's `presence` frame is answered with the topic's members as they are after it, and every
connection present in the topic, on every instance, is sent the members whenever they change: one
entry per user, with the strongest state of its connections (editing over viewing). A connection
that closes leaves its topics at once; an instance that dies stops refreshing its members, and they
are gone within `PRESENCE_TTL` plus one refresh (about 10 s).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any

from .connection import Connection
from .events import utc_now_iso
from .protocol import MAX_PRESENCE_TOPICS, presence_frame

log = logging.getLogger("hybrid_dns.realtime")

PRESENCE_TTL = 8.0  # seconds a member stays without a refresh (its instance died or was cut off)
REFRESH_EVERY = 2.0  # seconds between an instance's refreshes of its members and checks of its topics
_STRENGTH = {"viewing": 0, "editing": 1}

Spawn = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]


@dataclasses.dataclass(frozen=True, slots=True)
class Member:
    """One connection in a topic."""

    key: str  # the connection's id: one entry per connection, in any instance
    user_id: str
    state: str  # viewing | editing
    since: str  # when the connection took this state (ISO 8601, UTC)


def per_user(members: Iterable[Member]) -> list[dict[str, str]]:
    """What a topic's frame lists: one entry per user, the strongest state of its connections (editing
    over viewing) since the earliest of its connections in that state; sorted by user."""
    best: dict[str, Member] = {}
    for m in members:
        held = best.get(m.user_id)
        if (
            held is None
            or _STRENGTH[m.state] > _STRENGTH[held.state]
            or (m.state == held.state and m.since < held.since)
        ):
            best[m.user_id] = m
    return [{"user_id": u, "state": m.state, "since": m.since} for u, m in sorted(best.items())]


class TooManyTopics(Exception):
    """A connection is in MAX_PRESENCE_TOPICS topics already; it must leave one first."""


class PresenceStore(abc.ABC):
    """Where topics' members are kept, for one instance or for all of them."""

    remote = False  # members of other instances can be here: refresh ours, and look again periodically

    async def start(self, changed: Callable[[str], None]) -> None:  # noqa: B027 (most stores have nothing to start)
        """Begin telling `changed(topic)` when another instance changed a topic."""

    async def close(self) -> None:  # noqa: B027
        """Stop listening; members this instance added are left to `leave` (or expire)."""

    @abc.abstractmethod
    async def join(self, topic: str, member: Member) -> None:
        """Add the member or update its state, alive for PRESENCE_TTL; other instances are told."""

    @abc.abstractmethod
    async def leave(self, topic: str, key: str) -> None:
        """Remove a connection from a topic; other instances are told."""

    @abc.abstractmethod
    async def members(self, topic: str) -> list[Member]:
        """The topic's live members (those past their time are dropped)."""

    async def refresh(self, entries: Sequence[tuple[str, Member]]) -> None:  # noqa: B027 (nothing expires in memory)
        """This instance's members are still there: keep them for another PRESENCE_TTL."""


class MemoryPresence(PresenceStore):
    """One process: its connections are every member, and they leave when they close."""

    def __init__(self) -> None:
        self.topics: dict[str, dict[str, Member]] = {}

    async def join(self, topic: str, member: Member) -> None:
        self.topics.setdefault(topic, {})[member.key] = member

    async def leave(self, topic: str, key: str) -> None:
        members = self.topics.get(topic)
        if members is not None:
            members.pop(key, None)
            if not members:
                del self.topics[topic]

    async def members(self, topic: str) -> list[Member]:
        return list(self.topics.get(topic, {}).values())


def presence_store_for(broker: Any) -> PresenceStore:
    """The store that goes with a broker: Redis's for the Redis broker (several instances), else memory."""
    if getattr(broker, "kind", None) == "redis":
        from .presence_redis import RedisPresence

        return RedisPresence(broker.redis, broker.tag, broker.instance_id)
    return MemoryPresence()


@dataclasses.dataclass(slots=True)
class _Local:
    conn: Connection
    member: Member


class Presence:
    def __init__(self, store: PresenceStore, spawn: Spawn, *, max_topics: int = MAX_PRESENCE_TOPICS) -> None:
        self.store = store
        self.spawn = spawn
        self.max_topics = max_topics
        # topic -> connection id -> this instance's connection in it; and each connection's topics.
        self.local: dict[str, dict[str, _Local]] = {}
        self.by_conn: dict[str, set[str]] = {}
        self._sent: dict[str, list[dict[str, str]]] = {}  # the members last sent to a topic's connections
        self._dirty: set[str] = set()
        self._sends = 0  # frames sent to topics so far: a read that a send overtook is read again
        self._pushing: asyncio.Task[None] | None = None
        self._loop: asyncio.Task[None] | None = None
        self._failing = False

    async def start(self) -> None:
        await self.store.start(self.changed)
        if self.store.remote:
            self._loop = asyncio.get_running_loop().create_task(self._run(), name="presence-refresh")

    async def close(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        if self._pushing is not None:
            self._pushing.cancel()
        leaving = [(topic, key) for topic, here in self.local.items() for key in here]
        self.local.clear()
        self.by_conn.clear()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                for topic, key in leaving:
                    await self.store.leave(topic, key)
        await self.store.close()

    # --- a connection's frames -----------------------------------------------------------------

    async def update(self, conn: Connection, topic: str, state: str | None, request_id: Any = None) -> None:
        """Enter a topic, change state in it, or leave it (`state` None); the reply is the topic's
        members after the change, and the other connections in it are sent them too."""
        mine = self.by_conn.setdefault(conn.id, set())
        here = self.local.get(topic, {})
        if state is None:
            if topic in mine:
                self._forget(conn.id, topic)
                await self.store.leave(topic, conn.id)
        else:
            if topic not in mine and len(mine) >= self.max_topics:
                raise TooManyTopics(f"a connection may be present in at most {self.max_topics} topics; leave one first")
            held = here.get(conn.id)
            since = held.member.since if held is not None and held.member.state == state else utc_now_iso()
            member = Member(conn.id, conn.user_id, state, since)
            mine.add(topic)
            self.local.setdefault(topic, {})[conn.id] = _Local(conn, member)
            await self.store.join(topic, member)
            if conn.closing or topic not in self.by_conn.get(conn.id, ()):
                await self.store.leave(topic, conn.id)  # closed, or left, while it was joining
        members = per_user(await self.store.members(topic))
        conn.enqueue(presence_frame(topic, members, request_id, reply=True))
        self._send(topic, members, skip=conn.id)
        if self.store.remote:
            self.changed(topic)  # reads of other connections' changes may cross: look once more

    def disconnected(self, conn: Connection) -> None:
        """The connection closed: it leaves every topic at once (the store in the background), and
        the others present are told."""
        topics = self.by_conn.pop(conn.id, set())
        for topic in topics:
            self._forget(conn.id, topic)
            self.spawn(self._leave(topic, conn.id))

    async def _leave(self, topic: str, key: str) -> None:
        try:
            await self.store.leave(topic, key)
        except Exception as exc:  # the store is away: the member expires with its TTL
            log.warning("presence: could not remove a closed connection from %s (%s)", topic, type(exc).__name__)
        self.changed(topic)

    def _forget(self, conn_id: str, topic: str) -> None:
        self.by_conn.get(conn_id, set()).discard(topic)
        here = self.local.get(topic)
        if here is not None:
            here.pop(conn_id, None)
            if not here:
                del self.local[topic]
                self._sent.pop(topic, None)

    # --- pushing changes ---------------------------------------------------------------------

    def changed(self, topic: str) -> None:
        """A topic may have changed (another instance said so, or a connection here left): look, and
        tell this instance's connections in it if its members differ from what they were sent."""
        if topic not in self.local:
            return
        self._dirty.add(topic)
        if self._pushing is None or self._pushing.done():
            self._pushing = self.spawn(self._push())

    async def _push(self) -> None:
        while self._dirty:
            topic = self._dirty.pop()
            sends = self._sends
            try:
                members = per_user(await self.store.members(topic))
            except Exception as exc:
                if not self._failing:
                    log.warning("presence: could not read the members of %s (%s)", topic, type(exc).__name__)
                continue  # the next refresh looks again
            if self._sends != sends:
                self._dirty.add(topic)  # something was sent meanwhile: what was read may be older than it
            elif topic in self.local and members != self._sent.get(topic):
                self._send(topic, members)

    def _send(self, topic: str, members: list[dict[str, str]], skip: str | None = None) -> None:
        here = self.local.get(topic)
        if not here:
            return
        self._sends += 1
        self._sent[topic] = members
        frame = presence_frame(topic, members, reply=False)
        for key, entry in list(here.items()):
            if key != skip:
                entry.conn.enqueue(frame)

    async def _run(self) -> None:
        """Keep this instance's members alive, and notice members of others that left or expired."""
        while True:
            await asyncio.sleep(REFRESH_EVERY)
            try:
                entries = [(topic, e.member) for topic, here in self.local.items() for e in here.values()]
                if entries:
                    await self.store.refresh(entries)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._failing:
                    log.warning("presence refresh failed (%s): members here may expire elsewhere", type(exc).__name__)
                self._failing = True
            else:
                if self._failing:
                    log.warning("presence refresh works again")
                self._failing = False
            for topic in list(self.local):
                self.changed(topic)

    def stats(self) -> dict[str, Any]:
        return {"topics": len(self.local), "members": sum(len(h) for h in self.local.values())}

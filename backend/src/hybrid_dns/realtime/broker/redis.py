"""The Redis broker: one global order and one history for several server instances.

Redis itself orders the stream. A Lua script takes the next seqs (INCRBY) and appends the events
to a Redis Stream whose entry IDs are `<seq>-0`, atomically; every instance reads that stream
with XREAD from the last seq it handled, so all instances see one order and any of them can
replay any kept event. The stream's epoch lives beside it. When Redis loses its data (it comes
back empty, or from an older snapshot), the first script to notice makes one new epoch, deleting
nothing, and every instance moves to it once and tells its clients to refetch (`reset`).

An acknowledged event survives Redis losing its data as long as the instance that published it
lives: each instance keeps what it published in the last REPUBLISH_WINDOW seconds and publishes
it again under the new epoch (a batch Redis still has is found by its dedup record and not
published twice); readers pass over ids they have already delivered, so no client sees one twice.

The reader never dies silently: on a lost connection it logs and counts the outage, reconnects
with jittered backoff (at most READ_BACKOFF_MAX, and at once when a publish on this instance gets
through), and goes on reading after its last seq; a gap (history trimmed while it was away) or a
new epoch is announced to clients as a `reset`, never skipped over.

The same connection serves the instances' cluster coordination (cluster.py): each instance's
heartbeat with its figures, and leases.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import time
from collections.abc import Coroutine, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..about import About, untitled
from ..cluster import Cluster
from ..events import Event, EventDraft, EventType, Severity
from .base import Broker, BrokerListener, BrokerUnavailable, HistoryCache, HistoryPage, StreamPosition

log = logging.getLogger("hybrid_dns.realtime")

NETWORK_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
BLOCK_MS = 1000
INSTANCE_TTL = 6.0
PRUNE_EVERY = 30.0
DEDUP_TTL = 300  # seconds a published batch's first event id is remembered (idempotent publish)
READ_BACKOFF_MIN = 0.1
READ_BACKOFF_MAX = 0.5  # after Redis is back, an instance's clients wait at most about this long
REPUBLISH_WINDOW = 10.0  # seconds an instance keeps what it published, to publish it again if Redis loses it
LEFT_EPOCHS = 16  # epochs an instance remembers having left: one coming back is an old snapshot

# Shared by the two scripts below. KEYS: epoch, seq, stream, start.  ARGV: epoch candidate, the caller's
# epoch, the highest seq the caller has seen in it, the epochs the caller has left (space-separated).
#
# The stored epoch is kept unless the stream is not the one it names any more: no epoch at all (an
# empty Redis), the caller's own epoch with a seq below what the caller saw, or an epoch the caller
# has already left (both: Redis came back from an older snapshot). Then the candidate becomes the
# epoch. Nothing is deleted: the events in the stream stay in history, and the new epoch's live
# flow starts after the highest seq the stream ever had (`start`), so no seq is ever reused. An
# epoch other than the caller's is newer than the caller: taken as it is, with its own start.
RESOLVE_EPOCH_LUA = """
local function resolve_epoch()
  local epoch = redis.call('GET', KEYS[1])
  local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
  local stale = not epoch
  if epoch and epoch == ARGV[2] and seq < tonumber(ARGV[3]) then
    stale = true
  end
  if epoch and not stale then
    for left in string.gmatch(ARGV[4], '%S+') do
      if left == epoch then
        stale = true
      end
    end
  end
  if not stale then
    return epoch, seq
  end
  if redis.call('EXISTS', KEYS[3]) == 1 then
    local info = redis.call('XINFO', 'STREAM', KEYS[3])
    for i = 1, #info, 2 do
      if info[i] == 'last-generated-id' then
        seq = math.max(seq, tonumber(string.match(info[i + 1], '^%d+')))
      end
    end
  end
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('SET', KEYS[2], seq)
  redis.call('SET', KEYS[4], seq)
  return ARGV[1], seq
end
"""

EPOCH_LUA = (
    RESOLVE_EPOCH_LUA
    + """
local epoch, seq = resolve_epoch()
return {epoch, seq, tonumber(redis.call('GET', KEYS[4]) or '0')}
"""
)

# KEYS: epoch, seq, stream, start, dedup.  ARGV: the four of resolve_epoch, maxlen, dedup ttl, publish
# time, then (meta, data, about) triples. Each entry carries its epoch (`e`), so a reader never takes an
# entry of another epoch for one of its own, and its `about` (`a`, what the event is about: about.py).
PUBLISH_LUA = (
    RESOLVE_EPOCH_LUA
    + """
local done = redis.call('GET', KEYS[5])
if done then
  local sep = string.find(done, ':', 1, true)
  return {string.sub(done, 1, sep - 1), tonumber(string.sub(done, sep + 1))}
end
local epoch = resolve_epoch()
local n = (#ARGV - 7) / 3
local last = redis.call('INCRBY', KEYS[2], n)
local first = last - n + 1
for i = 0, n - 1 do
  redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[5], (first + i) .. '-0',
             'm', ARGV[8 + 3 * i], 'd', ARGV[9 + 3 * i], 'a', ARGV[10 + 3 * i], 't', ARGV[7], 'e', epoch)
end
redis.call('SET', KEYS[5], epoch .. ':' .. first, 'EX', ARGV[6])
return {epoch, first}
"""
)


# KEYS: lease.  ARGV: holder, ttl ms.  Renew the lease if it is ours, take it if it is free.
LEASE_LUA = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# KEYS: lease.  ARGV: holder.  Give the lease up, only if it is ours.
RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _new_epoch() -> str:
    return f"{random.getrandbits(64):016x}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisBroker(Broker, Cluster):
    """The broker for several instances, and their cluster coordination (cluster.py) over the same connection."""

    kind = "redis"

    def __init__(
        self,
        url: str,
        *,
        history_size: int = 10_000,
        history_ttl: float = 86_400,
        publish_timeout: float = 2.0,
        instance_id: str = "",
    ) -> None:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        prefix = query.pop("prefix", "hybrid_dns")
        clean = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
        # Hash tag: every key in one cluster slot, so the publish script may touch them all.
        tag = "{" + prefix + "}"
        self.tag = tag  # presence (presence_redis.py) keeps its keys under the same tag
        self.k_epoch = f"{tag}:epoch"
        self.k_seq = f"{tag}:seq"
        self.k_stream = f"{tag}:events"
        self.k_start = f"{tag}:epoch-start"
        self.k_notices = f"{tag}:notices"
        self.k_instances = f"{tag}:instances"
        self.k_instance = f"{tag}:instance:"
        self.k_dedup = f"{tag}:published:"
        self.k_lease = f"{tag}:lease:"
        self._epoch_keys = [self.k_epoch, self.k_seq, self.k_stream, self.k_start]
        no_retry = Retry(NoBackoff(), 0)
        # redis-py's return types are unions of everything; treat replies as what the commands return.
        self.redis: Any = Redis.from_url(
            clean, socket_connect_timeout=1, socket_timeout=2, retry=no_retry, health_check_interval=0
        )
        self.reader: Any = Redis.from_url(
            clean, socket_connect_timeout=1, socket_timeout=BLOCK_MS / 1000 + 3, retry=no_retry
        )
        self._script = self.redis.register_script(PUBLISH_LUA)
        self._epoch_script = self.redis.register_script(EPOCH_LUA)
        self._lease_script = self.redis.register_script(LEASE_LUA)
        self._release_script = self.redis.register_script(RELEASE_LUA)
        self.history_size = history_size
        self.history_ttl = history_ttl
        self.publish_timeout = publish_timeout
        self.instance_id = instance_id or f"redis-{random.getrandbits(32):08x}"
        self._cache = HistoryCache(history_size, history_ttl)
        self._epoch = ""
        self._last_seq = 0
        self._left_epochs: collections.deque[str] = collections.deque(maxlen=LEFT_EPOCHS)
        self._notice_id = "0-0"
        self._listener: BrokerListener | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()  # set by a publish that got through: the reader retries at once
        self._connected = False
        self._reached_at = 0.0  # monotonic time of the reader's last round trip with Redis
        self._check_epoch = True
        # Where entries labelled with another epoch stopped delivery, and where such labels were found
        # wrong (the epoch checked and unchanged): there they are delivered all the same.
        self._foreign_at: int | None = None
        self._labels_trusted_at: int | None = None
        self._last_prune = 0.0
        self._stopping = False
        # What this instance published lately, as (monotonic time, epoch, drafts), to publish again if lost.
        self._retained: collections.deque[tuple[float, str, list[EventDraft]]] = collections.deque()
        self._retained_events = 0
        # Ids this reader delivered lately, and those it delivered before the last epoch change.
        self._recent_ids: collections.deque[str] = collections.deque(maxlen=history_size)
        self._delivered_before: set[str] = set()
        self._epoch_changed_at = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()
        self.outages = 0
        self.on_outage: Any = None  # callable(kind: str) for metrics, set by the runtime

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self, listener: BrokerListener) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                await self._load()
                break
            except NETWORK_ERRORS as exc:
                if time.monotonic() > deadline:
                    raise BrokerUnavailable(f"cannot reach Redis at start-up ({type(exc).__name__})") from None
                await asyncio.sleep(0.2)
        self._listener = listener
        self._connected = True
        self._check_epoch = False
        self._reader_task = asyncio.get_running_loop().create_task(self._read_loop(), name="broker:redis-reader")

    def _epoch_args(self) -> list[Any]:
        return [_new_epoch(), self._epoch, self._last_seq, " ".join(self._left_epochs)]

    async def _load(self) -> None:
        epoch_raw, last, _ = await self._epoch_script(keys=self._epoch_keys, args=self._epoch_args())
        epoch = _text(epoch_raw)
        last = int(last)
        # The seq first, then the stream up to it: what others publish meanwhile, the reader reads after `last`.
        entries = await self.redis.xrevrange(self.k_stream, f"{last}-0", "-", count=self.history_size)
        notices = await self.redis.xrevrange(self.k_notices, "+", "-", count=1)
        self._epoch = epoch
        self._last_seq = last
        self._notice_id = notices[0][0].decode() if notices else "0-0"
        self._cache.clear()
        events = [self._entry_to_event(eid, fields) for eid, fields in reversed(entries)]
        now = time.time()
        self._cache.events.extend(
            (float(fields.get(b"t", now)), e) for e, (_, fields) in zip(events, reversed(entries), strict=True)
        )
        self._cache.prune(now)
        self._recent_ids.extend(e.id for e in events)

    async def close(self) -> None:
        self._listener = None
        self._stopping = True
        self._wake.set()
        for task in list(self._tasks):
            task.cancel()
        if self._reader_task is not None:
            # redis-py does not give up a blocking XREAD on cancellation: drop its connection instead,
            # and let the loop see that it is stopping.
            with contextlib.suppress(Exception):
                await self.reader.connection_pool.disconnect(inuse_connections=True)
            try:
                await asyncio.wait_for(asyncio.shield(self._reader_task), 3)
            except (TimeoutError, Exception):
                self._reader_task.cancel()
        with contextlib.suppress(Exception):
            await self.redis.delete(self.k_instance + self.instance_id)
            await self.redis.zrem(self.k_instances, self.instance_id)
        for client in (self.redis, self.reader):
            with contextlib.suppress(Exception):
                await client.aclose()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- publishing ------------------------------------------------------------------------

    async def publish(self, drafts: Sequence[EventDraft]) -> list[Event]:
        if not drafts:
            return []
        epoch, first = await self._run_publish(drafts)
        self._published(epoch, list(drafts))
        return [Event.from_draft(d, first + i) for i, d in enumerate(drafts)]

    async def _run_publish(self, drafts: Sequence[EventDraft]) -> tuple[str, int]:
        """The publish script, retried on network errors until publish_timeout; returns (epoch, first seq)."""
        events: list[Any] = []
        for d in drafts:
            events.append(orjson.dumps([d.type.value, d.id, d.severity.value, d.timestamp, d.actor, d.target_user]))
            events.append(d.data_json)
            events.append(orjson.dumps(d.about.as_row()))
        keys = [*self._epoch_keys, self.k_dedup + drafts[0].id]
        deadline = time.monotonic() + self.publish_timeout
        delay = 0.05
        while True:
            # The caller's view of the stream is read at each try: the reader may have moved on meanwhile.
            args = [*self._epoch_args(), self.history_size, DEDUP_TTL, f"{time.time():.6f}", *events]
            began = time.monotonic()
            try:
                epoch_raw, first = await self._script(keys=keys, args=args)
                return _text(epoch_raw), int(first)
            except NETWORK_ERRORS as exc:
                # Retrying is safe: the script is idempotent on the first event's id.
                if time.monotonic() + delay > deadline:
                    self._lost(exc, began)
                    # The script may have run before the connection failed: say so, never "not published".
                    raise BrokerUnavailable(
                        "event broker (Redis) unreachable; the events may not have been published"
                    ) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _published(self, epoch: str, drafts: list[EventDraft]) -> None:
        if epoch in self._left_epochs:
            # Published into a stream this instance has already left (the reply overtook the news that
            # Redis lost its data), or found published there already: make sure the current one has it.
            self._spawn(self._republish([drafts]), "broker:redis-republish")
            return
        self._retain(epoch, drafts)
        if epoch != self._epoch:
            self._check_epoch = True
        if self._check_epoch or not self._connected:
            self._wake.set()  # Redis answers again: the reader need not wait out its backoff

    def _retain(self, epoch: str, drafts: list[EventDraft]) -> None:
        now = time.monotonic()
        self._retained.append((now, epoch, drafts))
        self._retained_events += len(drafts)
        while self._retained and (
            now - self._retained[0][0] > REPUBLISH_WINDOW or self._retained_events > self.history_size
        ):
            self._retained_events -= len(self._retained.popleft()[2])

    async def _republish(self, batches: list[list[EventDraft]]) -> None:
        """Publish again what this instance published before Redis lost it. A batch that Redis still
        has is not published twice: the script finds its dedup record and answers the first result."""
        deadline = time.monotonic() + 3 * REPUBLISH_WINDOW
        for done, drafts in enumerate(batches):
            while True:
                try:
                    epoch, _ = await self._run_publish(drafts)
                    break
                except BrokerUnavailable:
                    if self._stopping or time.monotonic() > deadline:
                        left = sum(len(b) for b in batches[done:])
                        log.error("gave up publishing again %d events that Redis lost", left)
                        return
                    await asyncio.sleep(0.5)
            if epoch not in self._left_epochs:
                self._published(epoch, drafts)
        log.info("published again %d recent events of this instance after Redis lost data", sum(map(len, batches)))

    # --- reading ---------------------------------------------------------------------------

    def _entry_to_event(self, entry_id: bytes, fields: dict[bytes, bytes]) -> Event:
        etype, eid, severity, timestamp, actor, target = orjson.loads(fields[b"m"])
        published = float(fields.get(b"t", time.time()))
        event_type = EventType(etype)
        about_row = fields.get(b"a")
        # As published; an entry written before `about` existed (no `a`) gets its type's title.
        about = About.from_row(event_type, *orjson.loads(about_row)) if about_row else untitled(event_type)
        return Event(
            type=event_type,
            id=eid,
            seq=int(entry_id.split(b"-", 1)[0]),
            severity=Severity(severity),
            timestamp=timestamp,
            actor=actor,
            target_user=target,
            data_json=fields[b"d"],
            about=about,
            # Publish time on this instance's monotonic clock, for the emit-to-send latency metric.
            emitted_at=time.monotonic() - max(0.0, time.time() - published),
        )

    def _lost(self, exc: BaseException, began: float | None = None) -> None:
        """Redis failed a call. A call that `began` before the reader's last round trip says nothing
        new: the reader has reached Redis since (after an outage, a heartbeat that started while
        Redis was down must not mark the broker unhealthy again once it is back)."""
        if began is not None and began < self._reached_at:
            return
        if self._connected:
            self.outages += 1
            log.warning("redis broker unreachable (%s); serving connections, reconnecting", type(exc).__name__)
            if self.on_outage is not None:
                self.on_outage("redis")
        self._connected = False
        self._check_epoch = True

    def _reachable(self) -> None:
        self._reached_at = time.monotonic()
        if not self._connected:
            log.info("redis broker reachable again; resuming after seq %d", self._last_seq)
        self._connected = True

    async def _pause(self, seconds: float) -> None:
        """Sleep, unless a publish on this instance shows that Redis answers again."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def _read_loop(self) -> None:
        backoff = READ_BACKOFF_MIN
        while not self._stopping:
            try:
                if self._check_epoch:
                    await self._verify_epoch()
                    self._reachable()
                response = await self.reader.xread(
                    {self.k_stream: f"{self._last_seq}-0", self.k_notices: self._notice_id},
                    count=500,
                    block=BLOCK_MS,
                )
                self._reachable()
                backoff = READ_BACKOFF_MIN
                if not response:
                    self._check_epoch = True  # idle: a cheap check to notice a Redis that lost its data
                for stream, entries in response:
                    if stream == self.k_stream.encode():
                        self._deliver(entries)
                    else:
                        self._deliver_notices(entries)
                now = time.time()
                if now - self._last_prune > PRUNE_EVERY:
                    self._last_prune = now
                    await self._prune(now)
            except asyncio.CancelledError:
                raise
            except NETWORK_ERRORS as exc:
                if self._stopping:
                    return
                self._lost(exc)
                await self._pause(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, READ_BACKOFF_MAX)
            except Exception:
                log.exception("redis broker reader failed; retrying")
                await self._pause(1.0)

    async def _verify_epoch(self) -> None:
        epoch_raw, _, start = await self._epoch_script(
            keys=self._epoch_keys, args=self._epoch_args(), client=self.reader
        )
        epoch = _text(epoch_raw)
        if epoch != self._epoch:
            # Notices are hints (unread counts) that the reset below makes clients refetch anyway:
            # go on from the newest one, so that none from before the change is delivered again.
            notices = await self.reader.xrevrange(self.k_notices, "+", "-", count=1)
            self._enter_epoch(epoch, int(start), notices[0][0].decode() if notices else "0-0")
            self._labels_trusted_at = None
        else:
            self._labels_trusted_at = self._foreign_at
        self._foreign_at = None
        self._check_epoch = False

    def _enter_epoch(self, epoch: str, start: int, notice_id: str) -> None:
        log.warning(
            "event stream epoch changed %s -> %s: Redis lost history; clients will refetch, reading after seq %d",
            self._epoch,
            epoch,
            start,
        )
        if self._epoch:
            self._left_epochs.append(self._epoch)
        self._epoch = epoch
        self._last_seq = start
        self._notice_id = notice_id
        self._cache.clear()
        self._delivered_before = set(self._recent_ids)
        self._epoch_changed_at = time.monotonic()
        lost = [drafts for _, batch_epoch, drafts in self._retained if batch_epoch != epoch]
        if lost:
            self._retained = collections.deque(r for r in self._retained if r[1] == epoch)
            self._retained_events = sum(len(r[2]) for r in self._retained)
            self._spawn(self._republish(lost), "broker:redis-republish")
        if self._listener is not None:
            self._listener.reset(self.position(), "epoch_changed")

    def _deliver(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        foreign = False
        if self._labels_trusted_at != self._last_seq:
            epoch = self._epoch.encode()
            for index, (_, fields) in enumerate(entries):
                if fields.get(b"e", epoch) != epoch:
                    # Written under another epoch: this reader's is out of date. Check it before going on.
                    entries, foreign = entries[:index], True
                    self._check_epoch = True
                    break
        self._deliver_events(entries)
        if foreign:
            self._foreign_at = self._last_seq

    def _deliver_events(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        events = [self._entry_to_event(eid, fields) for eid, fields in entries]
        if not events:
            return
        if events[0].seq != self._last_seq + 1 and self._last_seq:
            # Trimmed while we were away: these clients missed events; say so rather than skip silently.
            log.warning("event stream gap: expected seq %d, got %d", self._last_seq + 1, events[0].seq)
            self._last_seq = events[0].seq - 1
            self._cache.clear()
            if self._listener is not None:
                self._listener.reset(self.position(), "history_expired")
        self._last_seq = events[-1].seq
        self._cache.add(events)
        self._recent_ids.extend(e.id for e in events)
        if self._delivered_before:
            if time.monotonic() - self._epoch_changed_at > 3 * REPUBLISH_WINDOW:
                self._delivered_before = set()  # every instance has published again what it could by now
            else:
                # Published again after Redis lost them: the clients here have them already.
                events = [e for e in events if e.id not in self._delivered_before]
        if self._listener is not None and events:
            self._listener.dispatch(events)

    def _deliver_notices(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        for eid, fields in entries:
            self._notice_id = eid.decode()
            if self._listener is not None:
                self._listener.notify_user(fields[b"u"].decode(), fields[b"f"].decode())

    async def _prune(self, now: float) -> None:
        self._cache.prune(now)
        cutoff = now - self.history_ttl
        entries = await self.redis.xrange(self.k_stream, "-", "+", count=200)
        young = next((eid for eid, f in entries if float(f.get(b"t", now)) >= cutoff), None)
        if entries and young != entries[0][0]:
            minid = young if young is not None else f"{int(entries[-1][0].split(b'-')[0]) + 1}-0"
            await self.redis.xtrim(self.k_stream, minid=minid)

    # --- queries ---------------------------------------------------------------------------

    async def history(self, after_seq: int, limit: int) -> HistoryPage:
        self._cache.prune()
        if self._cache.covers(after_seq):
            first = self._cache.first_seq
            assert first is not None
            return HistoryPage(self._cache.after(after_seq, limit), first, self.position())
        began = time.monotonic()
        try:
            oldest = await self.redis.xrange(self.k_stream, "-", "+", count=1)
            entries = await self.redis.xrange(self.k_stream, f"{after_seq + 1}-0", "+", count=limit)
        except NETWORK_ERRORS as exc:
            self._lost(exc, began)
            raise BrokerUnavailable("event broker (Redis) unreachable") from None
        cutoff = time.time() - self.history_ttl
        first_kept = int(oldest[0][0].split(b"-")[0]) if oldest else self._last_seq + 1
        kept = [(eid, f) for eid, f in entries if float(f.get(b"t", 0)) >= cutoff]
        if len(kept) < len(entries):  # older than the TTL but not yet trimmed: gone all the same
            first_kept = int(kept[0][0].split(b"-")[0]) if kept else self._last_seq + 1
        if first_kept > after_seq + 1:
            return HistoryPage([], first_kept, self.position())  # the caller's place is gone: no partial replay
        events = [self._entry_to_event(eid, f) for eid, f in kept if int(eid.split(b"-")[0]) <= self._last_seq]
        return HistoryPage(events, first_kept, self.position())

    def position(self) -> StreamPosition:
        return StreamPosition(self._epoch, self._last_seq)

    async def notify_user(self, user_id: str, frame: str) -> None:
        began = time.monotonic()
        try:
            await self.redis.xadd(self.k_notices, {"u": user_id, "f": frame}, maxlen=1000, approximate=True)
        except NETWORK_ERRORS as exc:
            self._lost(exc, began)
            raise BrokerUnavailable("event broker (Redis) unreachable") from None

    async def report_instance(self, stats: dict[str, Any]) -> None:
        now = time.time()
        stats = {**stats, "instance_id": self.instance_id, "reported_at": now}
        began = time.monotonic()
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.set(self.k_instance + self.instance_id, orjson.dumps(stats), ex=int(INSTANCE_TTL))
                pipe.zadd(self.k_instances, {self.instance_id: now})
                pipe.zremrangebyscore(self.k_instances, "-inf", now - INSTANCE_TTL)
                await pipe.execute()
        except NETWORK_ERRORS as exc:
            self._lost(exc, began)

    async def hold_lease(self, name: str, ttl: float) -> bool:
        began = time.monotonic()
        try:
            held = await self._lease_script(keys=[self.k_lease + name], args=[self.instance_id, int(ttl * 1000)])
        except NETWORK_ERRORS as exc:
            self._lost(exc, began)
            return False  # cut off: another instance may take it over; better nobody than two
        return bool(held)

    async def release_lease(self, name: str) -> None:
        """Give a lease up at shutdown, so that another instance takes it at once."""
        with contextlib.suppress(Exception):
            await self._release_script(keys=[self.k_lease + name], args=[self.instance_id])

    async def instances(self) -> list[dict[str, Any]]:
        now = time.time()
        try:
            ids = await self.redis.zrangebyscore(self.k_instances, now - INSTANCE_TTL, "+inf")
            if not ids:
                return []
            raw = await self.redis.mget([self.k_instance + i.decode() for i in ids])
        except (RedisError, OSError):
            return []
        return [orjson.loads(r) for r in raw if r]

    @property
    def healthy(self) -> bool:
        return self._connected and self._reader_task is not None and not self._reader_task.done()

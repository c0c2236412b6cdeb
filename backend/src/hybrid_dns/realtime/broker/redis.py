"""The Redis broker: one global order and one history for several server instances.

Redis itself orders the stream. A Lua script takes the next seqs (INCRBY) and appends the events
to a Redis Stream whose entry IDs are `<seq>-0`, atomically; every instance reads that stream
with XREAD from the last seq it handled, so all instances see one order and any of them can
replay any kept event. The stream's epoch lives beside it: if Redis loses its data, the epoch
key goes with it, a new one is made, and every instance tells its clients to refetch (`reset`).

The reader never dies silently: on a lost connection it logs and counts the outage, reconnects
with jittered backoff, and goes on reading after its last seq; a gap (history trimmed while it
was away) or a new epoch is announced to clients as a `reset`, never skipped over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..events import Event, EventDraft, EventType, Severity
from .base import Broker, BrokerListener, BrokerUnavailable, HistoryCache, HistoryPage, StreamPosition

log = logging.getLogger("hybrid_dns.realtime")

NETWORK_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
BLOCK_MS = 1000
INSTANCE_TTL = 6.0
PRUNE_EVERY = 30.0
DEDUP_TTL = 300

# KEYS: epoch, seq, stream, dedup.  ARGV: epoch candidate, maxlen, dedup ttl, publish time, then (meta, data) pairs.
PUBLISH_LUA = """
local done = redis.call('GET', KEYS[4])
if done then
  local sep = string.find(done, ':', 1, true)
  return {string.sub(done, 1, sep - 1), tonumber(string.sub(done, sep + 1))}
end
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
  redis.call('DEL', KEYS[2], KEYS[3])
end
local n = (#ARGV - 4) / 2
local last = redis.call('INCRBY', KEYS[2], n)
local first = last - n + 1
for i = 0, n - 1 do
  redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[2], (first + i) .. '-0',
             'm', ARGV[5 + 2 * i], 'd', ARGV[6 + 2 * i], 't', ARGV[4])
end
redis.call('SET', KEYS[4], epoch .. ':' .. first, 'EX', ARGV[3])
return {epoch, first}
"""


# KEYS: epoch, seq, stream.  ARGV: epoch candidate, the highest seq the caller has seen.
# A missing epoch means lost history: start a new stream. A seq below what was seen means Redis came
# back from an older snapshot: those seqs would be reused for other events, so start a new stream too.
EPOCH_LUA = """
local epoch = redis.call('GET', KEYS[1])
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
if (not epoch) or seq < tonumber(ARGV[2]) then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
  redis.call('DEL', KEYS[2], KEYS[3])
  seq = 0
end
return {epoch, seq}
"""


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


class RedisBroker(Broker):
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
        self.k_epoch = f"{tag}:epoch"
        self.k_seq = f"{tag}:seq"
        self.k_stream = f"{tag}:events"
        self.k_notices = f"{tag}:notices"
        self.k_instances = f"{tag}:instances"
        self.k_instance = f"{tag}:instance:"
        self.k_dedup = f"{tag}:published:"
        self.k_lease = f"{tag}:lease:"
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
        self._notice_id = "0-0"
        self._listener: BrokerListener | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._connected = False
        self._check_epoch = True
        self._last_prune = 0.0
        self._stopping = False
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
        self._reader_task = asyncio.get_running_loop().create_task(self._read_loop(), name="broker:redis-reader")

    async def _load(self) -> None:
        epoch_raw, last = await self._epoch_script(
            keys=[self.k_epoch, self.k_seq, self.k_stream], args=[_new_epoch(), 0]
        )
        epoch = epoch_raw.decode() if isinstance(epoch_raw, bytes) else str(epoch_raw)
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

    async def close(self) -> None:
        self._listener = None
        self._stopping = True
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

    # --- publishing ------------------------------------------------------------------------

    async def publish(self, drafts: Sequence[EventDraft]) -> list[Event]:
        if not drafts:
            return []
        args: list[Any] = [_new_epoch(), self.history_size, DEDUP_TTL, f"{time.time():.6f}"]
        for d in drafts:
            args.append(orjson.dumps([d.type.value, d.id, d.severity.value, d.timestamp, d.actor, d.target_user]))
            args.append(d.data_json)
        keys = [self.k_epoch, self.k_seq, self.k_stream, self.k_dedup + drafts[0].id]
        deadline = time.monotonic() + self.publish_timeout
        delay = 0.05
        while True:
            try:
                epoch_raw, first = await self._script(keys=keys, args=args)
                break
            except NETWORK_ERRORS as exc:
                # Retrying is safe: the script is idempotent on the first event's id.
                if time.monotonic() + delay > deadline:
                    self._lost(exc)
                    raise BrokerUnavailable("event broker (Redis) unreachable; the event was not published") from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
        epoch = epoch_raw.decode() if isinstance(epoch_raw, bytes) else str(epoch_raw)
        if epoch != self._epoch:
            self._check_epoch = True
        return [Event.from_draft(d, int(first) + i) for i, d in enumerate(drafts)]

    # --- reading ---------------------------------------------------------------------------

    def _entry_to_event(self, entry_id: bytes, fields: dict[bytes, bytes]) -> Event:
        etype, eid, severity, timestamp, actor, target = orjson.loads(fields[b"m"])
        published = float(fields.get(b"t", time.time()))
        return Event(
            type=EventType(etype),
            id=eid,
            seq=int(entry_id.split(b"-", 1)[0]),
            severity=Severity(severity),
            timestamp=timestamp,
            actor=actor,
            target_user=target,
            data_json=fields[b"d"],
            # Publish time on this instance's monotonic clock, for the emit-to-send latency metric.
            emitted_at=time.monotonic() - max(0.0, time.time() - published),
        )

    def _lost(self, exc: BaseException) -> None:
        if self._connected:
            self.outages += 1
            log.warning("redis broker unreachable (%s); serving connections, reconnecting", type(exc).__name__)
            if self.on_outage is not None:
                self.on_outage("redis")
        self._connected = False
        self._check_epoch = True

    async def _read_loop(self) -> None:
        backoff = 0.1
        while not self._stopping:
            try:
                if self._check_epoch:
                    await self._verify_epoch()
                response = await self.reader.xread(
                    {self.k_stream: f"{self._last_seq}-0", self.k_notices: self._notice_id},
                    count=500,
                    block=BLOCK_MS,
                )
                if not self._connected:
                    log.info("redis broker reachable again; resuming after seq %d", self._last_seq)
                self._connected = True
                backoff = 0.1
                if not response:
                    self._check_epoch = True  # idle: a cheap GET to notice a Redis that lost its data
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
                await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
                backoff = min(backoff * 2, 5.0)
            except Exception:
                log.exception("redis broker reader failed; retrying")
                await asyncio.sleep(1.0)

    async def _verify_epoch(self) -> None:
        epoch_raw, _ = await self._epoch_script(
            keys=[self.k_epoch, self.k_seq, self.k_stream], args=[_new_epoch(), self._last_seq], client=self.reader
        )
        epoch = epoch_raw.decode() if isinstance(epoch_raw, bytes) else str(epoch_raw)
        self._check_epoch = False
        if epoch == self._epoch:
            return
        log.warning(
            "event stream epoch changed %s -> %s: Redis lost its history; clients will refetch", self._epoch, epoch
        )
        self._epoch = epoch
        self._last_seq = 0
        self._notice_id = "0-0"
        self._cache.clear()
        if self._listener is not None:
            self._listener.reset(self.position(), "epoch_changed")

    def _deliver(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
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
        if self._listener is not None:
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
        try:
            oldest = await self.redis.xrange(self.k_stream, "-", "+", count=1)
            entries = await self.redis.xrange(self.k_stream, f"{after_seq + 1}-0", "+", count=limit)
        except NETWORK_ERRORS as exc:
            self._lost(exc)
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
        try:
            await self.redis.xadd(self.k_notices, {"u": user_id, "f": frame}, maxlen=1000, approximate=True)
        except NETWORK_ERRORS as exc:
            self._lost(exc)
            raise BrokerUnavailable("event broker (Redis) unreachable") from None

    async def report_instance(self, stats: dict[str, Any]) -> None:
        now = time.time()
        stats = {**stats, "instance_id": self.instance_id, "reported_at": now}
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.set(self.k_instance + self.instance_id, orjson.dumps(stats), ex=int(INSTANCE_TTL))
                pipe.zadd(self.k_instances, {self.instance_id: now})
                pipe.zremrangebyscore(self.k_instances, "-inf", now - INSTANCE_TTL)
                await pipe.execute()
        except NETWORK_ERRORS as exc:
            self._lost(exc)

    async def hold_lease(self, name: str, ttl: float) -> bool:
        try:
            held = await self._lease_script(keys=[self.k_lease + name], args=[self.instance_id, int(ttl * 1000)])
        except NETWORK_ERRORS as exc:
            self._lost(exc)
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

"""Presence kept in Redis, for several instances (the interface is in presence.py).

Per topic, a hash of its members (connection id -> [user, state, since]) and a sorted set of when
each expires, both under the broker's hash tag. Expiry is per member: an instance refreshes its
own every few seconds, and a member whose instance died is dropped by the next read after its time
(read and clean-up are one script). Times come from Redis's clock, so instances' clocks need not
agree. A join or leave is published on one channel (`{prefix}:presence`) as "<instance> <topic>",
in the same script as the write, so that the other instances read the topic after the change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .presence import PRESENCE_TTL, Member, PresenceStore

log = logging.getLogger("hybrid_dns.realtime")

NETWORK_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
_TTL_MS = int(PRESENCE_TTL * 1000)

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: hash, expiry set.  ARGV: member key, member JSON, ttl ms, channel ('' for none), message.
JOIN_LUA = (
    _NOW
    + """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
if ARGV[4] ~= '' then
  redis.call('PUBLISH', ARGV[4], ARGV[5])
end
return 1
"""
)

# KEYS: hash, expiry set.  ARGV: member key, channel, message.
LEAVE_LUA = """
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if removed > 0 then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
end
return removed
"""

# KEYS: hash, expiry set.  {live member keys, their JSON}; those past their time are removed on the way.
MEMBERS_LUA = (
    _NOW
    + """
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for i = 1, #gone do
  redis.call('HDEL', KEYS[1], gone[i])
end
if #gone > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
end
local live = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf')
if #live == 0 then
  return {{}, {}}
end
return {live, redis.call('HMGET', KEYS[1], unpack(live))}
"""
)


class RedisPresence(PresenceStore):
    remote = True

    def __init__(self, redis: Any, tag: str, instance_id: str) -> None:
        """`redis`: the broker's client (its connection pool); `tag`: the broker's hash tag `{prefix}`."""
        self.redis = redis
        self.tag = tag
        self.instance_id = instance_id
        self.channel = f"{tag}:presence"
        self._join = redis.register_script(JOIN_LUA)
        self._leave = redis.register_script(LEAVE_LUA)
        self._members = redis.register_script(MEMBERS_LUA)
        self._changed: Callable[[str], None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._stopping = False

    def _keys(self, topic: str) -> list[str]:
        return [f"{self.tag}:presence:{topic}", f"{self.tag}:presence-expiry:{topic}"]

    def _message(self, topic: str) -> str:
        return f"{self.instance_id} {topic}"

    async def start(self, changed: Callable[[str], None]) -> None:
        self._changed = changed
        self._listener = asyncio.get_running_loop().create_task(self._listen(), name="presence:redis-listener")

    async def close(self) -> None:
        self._stopping = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None

    async def join(self, topic: str, member: Member) -> None:
        await self._join(keys=self._keys(topic), args=self._join_args(member, self.channel, self._message(topic)))

    @staticmethod
    def _join_args(member: Member, channel: str, message: str) -> list[Any]:
        info = orjson.dumps([member.user_id, member.state, member.since])
        return [member.key, info, _TTL_MS, channel, message]

    async def leave(self, topic: str, key: str) -> None:
        await self._leave(keys=self._keys(topic), args=[key, self.channel, self._message(topic)])

    async def members(self, topic: str) -> list[Member]:
        keys, values = await self._members(keys=self._keys(topic))
        out = []
        for key, value in zip(keys, values, strict=True):
            if value is None:
                continue  # in the expiry set without an entry (a partial write Redis lost): not a member
            user_id, state, since = orjson.loads(value)
            out.append(Member(key.decode(), str(user_id), str(state), str(since)))
        return out

    async def refresh(self, entries: Sequence[tuple[str, Member]]) -> None:
        """Every member of this instance joins again (without telling the others): alive for another TTL,
        and back if Redis lost it."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for topic, member in entries:
                await self._join(keys=self._keys(topic), args=self._join_args(member, "", ""), client=pipe)
            await pipe.execute()

    async def _listen(self) -> None:
        """Other instances' changes, as they happen. After a lost connection, every topic this
        instance has connections in is looked at again (a change may have been missed)."""
        backoff = 0.1
        failing = False
        while not self._stopping:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                if failing:
                    # Changes made meanwhile were missed: the coordinator's next refresh reads every
                    # topic it has connections in.
                    log.warning("presence listener reconnected to Redis")
                failing, backoff = False, 0.1
                while not self._stopping:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    origin, _, topic = message["data"].decode().partition(" ")
                    if origin != self.instance_id and self._changed is not None:
                        self._changed(topic)
            except asyncio.CancelledError:
                raise
            except NETWORK_ERRORS as exc:
                if not failing:
                    log.warning("presence listener lost Redis (%s); reconnecting", type(exc).__name__)
                failing = True
            except Exception:
                log.exception("presence listener failed; restarting it")
                failing = True
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            if not self._stopping:
                await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, 2.0)

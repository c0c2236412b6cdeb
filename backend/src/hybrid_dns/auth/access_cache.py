"""Who a socket's token stands for, without two database round trips per connect.

`authenticate_token` (sessions.py) reads the user and the session's revocation from the database:
two ORM sessions, about 1 ms of CPU with SQLite, more than half of what opening a socket cost. After
a restart or a network blip every dashboard reconnects at once, and 10,000 of them kept the server
busy for 20 s (bench/connect_bench.py, issue 14). Sockets check their token here instead:

- a snapshot of every active user's role and every unexpired revoked session, read in two queries
  (however many sockets ask) and read again once it is older than `ttl()` seconds
  (WEBSOCKET_ACCESS_RECHECK_INTERVAL: the same bound the open sockets' re-check keeps, realtime/access.py);
- every change this process makes (`forget_user` on a role change or a disable, `revoke` on a sign-out
  or a password reset), and every change another instance announces over the broker (the
  `user_updated` and `session_expired` events, app.py), applies at once;
- a user the snapshot does not hold (created since, or just changed) is read from the database,
  exactly as `authenticate_token` does.

A token's signature is checked once: the claims of the tokens verified lately are kept by token
(a browser's tabs share one, and every reconnect brings it back), so another socket with the same
token skips PyJWT (25-30 µs, which checks the token's alphabet a character at a time) and pays only
the expiry check. The same string with the same secret verifies the same way; what can change
since (the user, a sign-out) is checked below for every socket as before.

So a socket is refused what the database refuses as soon as this instance hears of the change, and
at the latest `ttl()` seconds after it (a change made outside any server, by the CLI, or while the
broker was down): the bound that already applies to sockets open at the time. HTTP requests still
read the database every time (`authenticate_token`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sqlalchemy import select

from ..db import Database
from ..models import RevokedToken, User
from .roles import Role
from .sessions import CurrentUser, TokenRefused
from .tokens import InvalidToken, TokenClaims, decode_token
from .users import get_user

VERIFIED_TOKENS_MAX = 8192  # claims kept by token; past it the oldest go


class AccessCache:
    def __init__(self, db: Database, ttl: Callable[[], float], clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.ttl = ttl
        self.clock = clock
        self._roles: dict[str, Role] = {}  # every active user, with its role
        self._revoked: set[str] = set()  # every unexpired revoked session (jti)
        self._loaded_at = float("-inf")
        self._loading: asyncio.Task[None] | None = None
        # Changes heard of while a snapshot is being read: the snapshot may predate them.
        self._forgotten_meanwhile: set[str] = set()
        self._revoked_meanwhile: set[str] = set()
        self._changes = 0  # bumped by every change heard of
        self.loads = 0  # snapshots read (for the tests and /api/websocket/stats)
        self.misses = 0  # users read one by one
        self._verified: dict[tuple[str, str], TokenClaims] = {}  # (secret, token) -> claims, oldest first

    async def current_user(self, secret: str, token: str | None) -> CurrentUser:
        """The same answer as `authenticate_token`, from the snapshot (TokenRefused the same way)."""
        claims = self._claims(secret, token)
        if self.clock() - self._loaded_at >= self.ttl():
            await self._load()
        role = self._roles.get(claims.sub)
        if role is None:
            role = await self._read_user(claims.sub)
        if role is None:
            raise TokenRefused("user not allowed", user_not_allowed=True)
        if claims.jti in self._revoked:
            raise TokenRefused("token revoked")
        return CurrentUser(username=claims.sub, role=role, jti=claims.jti, expires_at=claims.exp)

    def _claims(self, secret: str, token: str | None) -> TokenClaims:
        """The token's claims, verified by PyJWT the first time it is seen (see the module docstring)."""
        key = (secret, token or "")
        claims = self._verified.get(key)
        if claims is not None:
            if claims.exp > time.time():  # PyJWT's rule: expired once `exp` is reached
                return claims
            del self._verified[key]
            raise TokenRefused("token expired")
        try:
            claims = decode_token(secret, token)
        except InvalidToken as exc:
            raise TokenRefused(str(exc)) from None
        if len(self._verified) >= VERIFIED_TOKENS_MAX:
            del self._verified[next(iter(self._verified))]
        self._verified[key] = claims
        return claims

    def forget_user(self, username: str) -> None:
        """The user changed (role, disabled, password): the next socket of theirs reads the database."""
        self._changes += 1
        self._roles.pop(username, None)
        if self._loading is not None:
            self._forgotten_meanwhile.add(username)

    def revoke(self, jti: str) -> None:
        """A session was signed out (logout, password reset): refused from now on."""
        self._changes += 1
        self._revoked.add(jti)
        if self._loading is not None:
            self._revoked_meanwhile.add(jti)

    def invalidate(self) -> None:
        """Read everything again at the next socket."""
        self._loaded_at = float("-inf")

    async def _read_user(self, username: str) -> Role | None:
        self.misses += 1
        changes = self._changes
        user = await get_user(self.db, username)
        if user is None or not user.is_active:
            return None
        try:
            role = Role(user.role)
        except ValueError:
            return None  # a role this version does not know grants nothing
        if self._loading is None and changes == self._changes:  # kept only if nothing changed meanwhile
            self._roles[username] = role
        return role

    async def _load(self) -> None:
        """Read the snapshot: one read at a time, which every socket that needs it waits for (a
        socket that gives up does not cancel it for the others)."""
        if self._loading is None:
            self._loading = asyncio.get_running_loop().create_task(self._read(), name="access-cache-load")
        await asyncio.shield(self._loading)

    async def _read(self) -> None:
        started = self.clock()
        try:
            roles: dict[str, Role] = {}
            async with self.db() as session:
                rows = await session.execute(select(User.username, User.role).where(User.is_active.is_(True)))
                for username, role in rows:
                    try:
                        roles[username] = Role(role)
                    except ValueError:
                        continue  # a role this version does not know grants nothing
                now = time.time()
                revoked = set(
                    (await session.scalars(select(RevokedToken.jti).where(RevokedToken.expires_at >= now))).all()
                )
            for username in self._forgotten_meanwhile:
                roles.pop(username, None)
            self._roles = roles
            self._revoked = revoked | self._revoked_meanwhile
            self._loaded_at = started
            self.loads += 1
        finally:
            self._loading = None
            self._forgotten_meanwhile.clear()
            self._revoked_meanwhile.clear()

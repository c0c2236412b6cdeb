"""JWT access tokens: HS256 with SECRET_KEY; claims sub, role, exp, iat, jti."""

from __future__ import annotations

import dataclasses
import time
import uuid

import jwt

from ..realtime.events import Role

ALGORITHM = "HS256"


class InvalidToken(Exception):
    """Missing, malformed, badly signed or expired. The message is safe to log, never the token."""


@dataclasses.dataclass(frozen=True, slots=True)
class TokenClaims:
    sub: str
    role: Role
    exp: int
    iat: int
    jti: str


def issue_token(secret: str, username: str, role: Role | str, ttl: int) -> tuple[str, TokenClaims]:
    now = int(time.time())
    claims = TokenClaims(sub=username, role=Role(role), exp=now + ttl, iat=now, jti=uuid.uuid4().hex)
    payload = dataclasses.asdict(claims)
    payload["role"] = claims.role.value
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def decode_token(secret: str, token: str | None) -> TokenClaims:
    if not token:
        raise InvalidToken("missing token")
    try:
        payload = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "role", "exp", "iat", "jti"]}
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token expired") from None
    except jwt.PyJWTError:
        raise InvalidToken("invalid token") from None
    try:
        role = Role(payload["role"])
    except ValueError:
        raise InvalidToken("invalid token") from None
    if not isinstance(payload["sub"], str) or not isinstance(payload["jti"], str):
        raise InvalidToken("invalid token")
    return TokenClaims(
        sub=payload["sub"], role=role, exp=int(payload["exp"]), iat=int(payload["iat"]), jti=payload["jti"]
    )

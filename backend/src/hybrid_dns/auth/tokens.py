"""JWT access tokens: HS256 with SECRET_KEY; claims sub, role, exp, iat, jti."""

from __future__ import annotations

import base64
import dataclasses
import functools
import time
import uuid

import jwt
from jwt.algorithms import HMACAlgorithm

from ..config import Settings
from ..db import ensure_private_dir
from .roles import Role

ALGORITHM = "HS256"
# HS256 wants a key of at least its hash size, 256 bits (RFC 7518 3.2); PyJWT warns below that.
MIN_KEY_BYTES = 32


class WeakSecretKey(ValueError):
    """The signing key would let anyone forge tokens (or, empty, make every login fail). The message
    names the key's source and length, never the key."""


def check_secret_key(key: str, source: str) -> str:
    size = len(key.encode())
    if size < MIN_KEY_BYTES:
        raise WeakSecretKey(
            f"{source} is too weak: {size} bytes, at least {MIN_KEY_BYTES} random bytes are needed. Unset "
            f"SECRET_KEY to have one generated (kept in DATA_DIR/secret-key), or set it to the output of "
            f"`openssl rand -hex 32` (every instance the same)"
        )
    if len(set(key)) < 8:
        raise WeakSecretKey(f"{source} is too weak: it repeats a few characters; use `openssl rand -hex 32`")
    return key


def signing_key(settings: Settings) -> str:
    """The checked JWT signing key, read at start. A weak SECRET_KEY is refused before anything is
    written; DATA_DIR (where a generated key is kept) is created owner-only."""
    if settings.SECRET_KEY is not None:
        key = check_secret_key(settings.SECRET_KEY.get_secret_value(), "SECRET_KEY")
        ensure_private_dir(settings.DATA_DIR)
        return key
    ensure_private_dir(settings.DATA_DIR)
    return check_secret_key(settings.secret_key(), str(settings.DATA_DIR / "secret-key"))


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


_DECODE_OPTIONS: jwt.types.Options = {"require": ["sub", "role", "exp", "iat", "jti"]}


class _PreparedHMAC(HMACAlgorithm):
    """HS256 with the key's preparation done once per key.

    PyJWT prepares the key on every verification, even a PyJWK's (2.15: it checks that the secret
    is no PEM, SSH or DER key, trying the DER parsers of `cryptography`, and no JSON): 10% of the
    CPU of opening a socket (py-spy, bench/connect_bench.py). The same bytes always prepare to the
    same key, so the answer for the few keys a server has is kept; any other key is prepared as usual.
    """

    def __init__(self) -> None:
        super().__init__(HMACAlgorithm.SHA256)
        self._prepared: dict[bytes | str, bytes] = {}
        self.preparations = 0  # keys actually prepared (for the tests)

    def prepare_key(self, key: str | bytes) -> bytes:
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = super().prepare_key(key)  # raises for an unusable key: nothing kept
            self.preparations += 1
            if len(self._prepared) < 4:
                self._prepared[key] = prepared
        return prepared


@functools.lru_cache(maxsize=4)
def _verifying_key(secret: str) -> jwt.PyJWK:
    """The secret as a PyJWT HS256 key whose preparation is done once (`_PreparedHMAC`)."""
    k = base64.urlsafe_b64encode(secret.encode()).rstrip(b"=").decode()
    key = jwt.PyJWK({"kty": "oct", "k": k, "alg": ALGORITHM})
    key.Algorithm = _PreparedHMAC()
    return key


def decode_token(secret: str, token: str | None) -> TokenClaims:
    if not token:
        raise InvalidToken("missing token")
    try:
        payload = jwt.decode(token, _verifying_key(secret), algorithms=[ALGORITHM], options=_DECODE_OPTIONS)
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

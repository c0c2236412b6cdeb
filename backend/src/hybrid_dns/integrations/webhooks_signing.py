"""Webhook secrets: made, signed with (Standard Webhooks), and kept encrypted at rest.

A secret is `whsec_` and the base64 of 32 random bytes; those bytes (base64-decoded) are the
HMAC-SHA256 key. A delivery is signed over `{webhook-id}.{webhook-timestamp}.{body}` and the
signature sent as `v1,<base64>`; during a rotation's grace period the old secret signs too, and
`webhook-signature` lists both, separated by a space (the specification's form for several).

At rest a secret is encrypted with a key derived from SECRET_KEY, so that a dump of the database
alone does not reveal it: HMAC-SHA256 in counter mode as the key stream, then HMAC-SHA256 over
nonce and ciphertext (encrypt-then-MAC, separate keys for each, a random 16-byte nonce per secret).
The standard library has no AEAD cipher and the project pulls in no crypto package for this one
use; the construction uses HMAC-SHA256 only as a PRF, which is what it is. A changed SECRET_KEY
makes stored secrets unreadable: their deliveries fail with `secret_unreadable` until the secret
is rotated (a rotation makes a new one).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
_STORED_PREFIX = "v1."
_NONCE = 16
_TAG = 32


class SecretUnreadable(ValueError):
    """A stored secret that the current SECRET_KEY cannot decrypt (the key changed, or the row was altered)."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of a delivery (the Standard Webhooks scheme)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_in_force: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one signature per secret in force, newest first, space-separated."""
    return " ".join(sign(s, message_id, timestamp, body) for s in secrets_in_force)


class SecretBox:
    """Encrypts secrets for the database with keys derived from the app's SECRET_KEY."""

    def __init__(self, app_secret_key: str) -> None:
        root = hmac.new(app_secret_key.encode(), b"hybrid-dns webhook secrets v1", hashlib.sha256).digest()
        self._enc = hmac.new(root, b"encrypt", hashlib.sha256).digest()
        self._mac = hmac.new(root, b"authenticate", hashlib.sha256).digest()

    def _stream(self, nonce: bytes, length: int) -> bytes:
        blocks = []
        for counter in range((length + 31) // 32):
            blocks.append(hmac.new(self._enc, nonce + counter.to_bytes(4, "big"), hashlib.sha256).digest())
        return b"".join(blocks)[:length]

    def seal(self, secret: str) -> str:
        plain = secret.encode()
        nonce = secrets.token_bytes(_NONCE)
        cipher = bytes(a ^ b for a, b in zip(plain, self._stream(nonce, len(plain)), strict=True))
        tag = hmac.new(self._mac, nonce + cipher, hashlib.sha256).digest()
        return _STORED_PREFIX + base64.urlsafe_b64encode(nonce + cipher + tag).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(_STORED_PREFIX):
            raise SecretUnreadable("not an encrypted secret")
        try:
            raw = base64.urlsafe_b64decode(stored[len(_STORED_PREFIX) :])
        except ValueError:
            raise SecretUnreadable("not an encrypted secret") from None
        if len(raw) < _NONCE + _TAG:
            raise SecretUnreadable("not an encrypted secret")
        nonce, cipher, tag = raw[:_NONCE], raw[_NONCE:-_TAG], raw[-_TAG:]
        if not hmac.compare_digest(tag, hmac.new(self._mac, nonce + cipher, hashlib.sha256).digest()):
            raise SecretUnreadable("the secret was encrypted with another SECRET_KEY, or altered")
        plain = bytes(a ^ b for a, b in zip(cipher, self._stream(nonce, len(cipher)), strict=True))
        return plain.decode()

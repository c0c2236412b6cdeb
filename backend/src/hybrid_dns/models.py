"""Database tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base


def _now() -> datetime:
    return datetime.now(UTC)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    # Bumped by every change (role, enabled, password): what If-Match compares (api/versions.py).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # None until the first sign-in, where the user's read state starts (nothing older is unread).
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class EventRecord(Base):
    """The event history of the embedded broker (the Redis broker keeps its history in Redis)."""

    __tablename__ = "events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(32), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    timestamp: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    target_user: Mapped[str | None] = mapped_column(String(64), nullable=True)
    data_json: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Float, index=True)  # unix time, for EVENT_HISTORY_TTL
    # What the event is about (realtime/about.py), as computed when it was made; null in rows written
    # before it existed (their `about` is then the type's title alone).
    zone: Mapped[str | None] = mapped_column(String(253), nullable=True)
    name: Mapped[str | None] = mapped_column(String(253), nullable=True)
    record_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    summary: Mapped[str | None] = mapped_column(String(200), nullable=True)


class EventStream(Base):
    """Where the embedded stream stands: its epoch and last seq, kept in the same transaction as events."""

    __tablename__ = "event_stream"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(64))
    last_seq: Mapped[int] = mapped_column(BigInteger)


class ReadMark(Base):
    """A user's read state: everything up to `up_to_seq` is read, within one stream epoch."""

    __tablename__ = "read_marks"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(64))
    up_to_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class ReadEvent(Base):
    """Events a user marked read one by one, above their mark."""

    __tablename__ = "read_events"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)


class ReadFilter(Base):
    """ "Everything matching this filter, up to this seq, is read" (mark all matching as read): one row,
    whatever the number of events it covers. `filter_json` is the filter's canonical JSON."""

    __tablename__ = "read_filters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    filter_json: Mapped[str] = mapped_column(Text)
    up_to_seq: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[float] = mapped_column(Float)


# seqs: BIGINT, and on SQLite INTEGER, so that the primary key is the rowid itself (one B-tree, not two).
_SEQ = BigInteger().with_variant(Integer(), "sqlite")


class EventArchive(Base):
    """The searchable event history (realtime/archive.py): every published event, once, whatever the broker.

    Narrow on purpose: what filters, role rules and read state look at, so that counting 100,000
    unread events reads little; the texts and the payload are in `EventArchiveBody`, one row per
    event with the same seq. `seq` is the event's place in the archive: its stream seq, plus the
    offset of its stream epoch (0 unless a Redis broker lost its data and numbered again from below;
    see `EventArchiveEpoch`).
    """

    __tablename__ = "event_archive"

    seq: Mapped[int] = mapped_column(_SEQ, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    epoch: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    time: Mapped[float] = mapped_column(Float, index=True)  # the event's timestamp as unix time
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    target_user: Mapped[str | None] = mapped_column(String(64), nullable=True)
    zone: Mapped[str | None] = mapped_column(String(253), nullable=True)
    name: Mapped[str | None] = mapped_column(String(253), nullable=True)
    record_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)  # unix time it was archived


class EventArchiveBody(Base):
    """An archived event's texts and payload. `folded` is the summary casefolded (the filters' `text`),
    `search` the words full-text search indexes (SQLite FTS5 table `event_archive_fts`, PostgreSQL
    column `search_tsv` with a GIN index, both made by migration 0006)."""

    __tablename__ = "event_archive_body"

    seq: Mapped[int] = mapped_column(_SEQ, primary_key=True, autoincrement=False)
    timestamp: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    folded: Mapped[str] = mapped_column(Text)
    search: Mapped[str] = mapped_column(Text)
    data_json: Mapped[bytes] = mapped_column(LargeBinary)


class EventArchiveEpoch(Base):
    """Each stream epoch the archive has seen: the offset added to its seqs, and how far it is archived."""

    __tablename__ = "event_archive_epochs"

    epoch: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq_offset: Mapped[int] = mapped_column(BigInteger)
    through: Mapped[int] = mapped_column(BigInteger)  # the stream seq archived through
    created_at: Mapped[float] = mapped_column(Float)


# --- DNS management -------------------------------------------------------------------------


class Zone(Base):
    __tablename__ = "zones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(253), unique=True, index=True)  # lower case, no trailing dot
    zone_type: Mapped[str] = mapped_column(String(16))  # master | forward
    serial: Mapped[int] = mapped_column(BigInteger, default=1)
    # Out of the zone, so named loads a zone created with defaults (an in-zone NS needs an address record).
    primary_ns: Mapped[str] = mapped_column(String(253), default="localhost.")
    admin_email: Mapped[str] = mapped_column(String(253), default="hostmaster")
    refresh: Mapped[int] = mapped_column(Integer, default=3600)
    retry: Mapped[int] = mapped_column(Integer, default=900)
    expire: Mapped[int] = mapped_column(Integer, default=1_209_600)
    minimum: Mapped[int] = mapped_column(Integer, default=300)
    default_ttl: Mapped[int] = mapped_column(Integer, default=3600)
    forwarders: Mapped[list[str]] = mapped_column(JSON, default=list)  # for forward zones
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)
    # The zone's own fields (SOA, default TTL, forwarders); its records have versions of their own.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Record(Base):
    __tablename__ = "records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(253))  # relative to the zone; "@" for the apex
    type: Mapped[str] = mapped_column(String(10))
    value: Mapped[str] = mapped_column(Text)  # rdata in zone-file text form
    ttl: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RpzRule(Base):
    __tablename__ = "rpz_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True, index=True)
    action: Mapped[str] = mapped_column(String(16))  # block | redirect | passthru
    redirect_to: Mapped[str | None] = mapped_column(String(253), nullable=True)
    category: Mapped[str] = mapped_column(String(64), default="custom")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Forwarder(Base):
    __tablename__ = "forwarders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    forwarder_type: Mapped[str] = mapped_column(String(32))  # active_directory | intranet | public
    domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    servers: Mapped[list[str]] = mapped_column(JSON, default=list)  # "ip" or "ip:port"
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


# --- accounts, settings, audit --------------------------------------------------------------


class RevokedToken(Base):
    """Tokens ended by logout before their expiry; rows can go once `expires_at` has passed."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class UserSession(Base):
    """Tokens issued by a sign-in or `hybrid-dns token`, until they expire: what a password reset revokes.

    A token carries its session id (`jti`); revoking one is a `RevokedToken` row. Rows can go once
    `expires_at` has passed.
    """

    __tablename__ = "user_sessions"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    issued_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class LoginThrottle(Base):
    """Failed-login counters shared by every instance (auth/throttle.py), and the addresses an account
    signed in from (which its own throttle spares, so an attacker cannot lock the owner out).

    `key` is `source:<address>`, `account:<username>` or `known:<username> <address>`. A row can go
    once `expires_at` has passed: its failures are forgotten.
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[float] = mapped_column(Float, default=0.0)  # unix time
    # Source rows: the one account every counted failure named, "" once they named several.
    account: Mapped[str | None] = mapped_column(String(64), nullable=True)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class RuntimeSetting(Base):
    """Settings an admin may change while the server runs (GET/PUT /api/settings)."""

    __tablename__ = "runtime_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class AuditEntry(Base):
    """Security-relevant actions; written once, never updated or deleted by the API."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    source: Mapped[str | None] = mapped_column(String(64), nullable=True)  # client address
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(255), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))  # success | failure | refused
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class OutboxEvent(Base):
    """Events written in the same transaction as the change they announce, published after commit.

    A change and its events commit together or not at all; a relay publishes any batch that the
    committing request could not (broker down, process killed). Publishing is idempotent on the
    batch's first event id, so a batch published twice is still delivered once.
    """

    __tablename__ = "event_outbox"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the event's id
    batch: Mapped[str] = mapped_column(String(36), index=True)
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float, index=True)
    type: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    timestamp: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    target_user: Mapped[str | None] = mapped_column(String(64), nullable=True)
    data_json: Mapped[bytes] = mapped_column(LargeBinary)
    # What the event is about (realtime/about.py), computed when it was staged.
    zone: Mapped[str | None] = mapped_column(String(253), nullable=True)
    name: Mapped[str | None] = mapped_column(String(253), nullable=True)
    record_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    summary: Mapped[str | None] = mapped_column(String(200), nullable=True)


# --- webhooks (integrations/webhooks.py) ----------------------------------------------------


class Webhook(Base):
    """An endpoint that receives events over HTTP (Standard Webhooks). The signing secrets are stored
    encrypted with a key derived from SECRET_KEY (integrations/webhooks_signing.py): a database dump
    alone does not reveal them."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every notification type
    filter: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # realtime/filters.py shape
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    ordered: Mapped[bool] = mapped_column(Boolean, default=False)
    secret: Mapped[str] = mapped_column(String(255))  # encrypted
    previous_secret: Mapped[str | None] = mapped_column(String(255), nullable=True)  # encrypted, during rotation
    previous_secret_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)  # unix time
    # Events with a seq at most this were emitted before the endpoint existed: never delivered to it.
    start_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    failing_since: Mapped[float | None] = mapped_column(Float, nullable=True)  # unix time of the first failure
    disabled_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    last_success_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_failure_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class WebhookDelivery(Base):
    """One event (or test message) to one endpoint, with its attempts so far; queued by the dispatcher
    in the same transaction that advances its cursor."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(36))  # the webhook-id header: the same on every attempt
    event_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    event_type: Mapped[str] = mapped_column(String(32))
    body: Mapped[bytes] = mapped_column(LargeBinary)  # the event frame, sent as is
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    redelivery_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | succeeded | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float | None] = mapped_column(Float, nullable=True, index=True)  # unix time
    claimed_until: Mapped[float | None] = mapped_column(Float, nullable=True)  # an attempt in flight
    created_at: Mapped[float] = mapped_column(Float, index=True)
    last_attempt_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    response_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    error_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error: Mapped[str | None] = mapped_column(String(255), nullable=True)
    response_excerpt: Mapped[str | None] = mapped_column(Text, nullable=True)


class WebhookCursor(Base):
    """The last event seq the webhook dispatcher has queued deliveries for (one row, `main`)."""

    __tablename__ = "webhook_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(64))
    last_seq: Mapped[int] = mapped_column(BigInteger)

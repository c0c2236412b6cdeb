"""Settings, in one place, read from the environment (and a `.env` file when present).

Names and defaults follow the design so that operators can carry their old environment over.
Secrets that must survive a restart (the JWT signing key) are generated on first use and kept
under DATA_DIR with mode 0600, so the embedded defaults need no set-up at all.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # Where the embedded defaults keep their files (database, secret key, initial password).
    DATA_DIR: Path = Path("data")
    DATABASE_URL: str = ""  # empty: sqlite+aiosqlite:///<DATA_DIR>/hybrid-dns.db
    BROKER_URL: str = "memory://"
    SECRET_KEY: SecretStr | None = None  # None: generated and kept in <DATA_DIR>/secret-key

    # Origins allowed to open a WebSocket. Empty: same origin and localhost only.
    ALLOWED_ORIGINS: Annotated[list[str], NoDecode] = Field(default_factory=list)

    ACCESS_TOKEN_TTL: int = Field(3600, ge=1, description="seconds a token from /api/auth/login lives")

    # Client-facing WebSocket settings (served by GET /api/websocket/config).
    WEBSOCKET_PING_INTERVAL: float = Field(30, gt=0)
    WEBSOCKET_PING_TIMEOUT: float | None = Field(None, gt=0, description="None: same as the ping interval")
    WEBSOCKET_MAX_RECONNECT_ATTEMPTS: int = Field(5, ge=0)
    WEBSOCKET_RECONNECT_INTERVAL: float = Field(5, gt=0)
    WEBSOCKET_RECONNECT_MAX_INTERVAL: float = Field(60, gt=0)
    HEALTH_BROADCAST_INTERVAL: float = Field(30, gt=0)
    SYSTEM_BROADCAST_INTERVAL: float = Field(60, gt=0)

    # Limits.
    WEBSOCKET_MAX_FRAME_BYTES: int = Field(64 * 1024, ge=1024)
    WEBSOCKET_SEND_QUEUE_SIZE: int = Field(1000, ge=1, description="frames waiting per connection before 4050")
    WEBSOCKET_MAX_BATCH: int = Field(500, ge=1, description="events coalesced into one batch frame at most")
    WEBSOCKET_RATE_LIMIT: float = Field(20, gt=0, description="inbound messages per second per connection")
    WEBSOCKET_RATE_BURST: int = Field(40, ge=1)
    WEBSOCKET_RATE_STRIKES: int = Field(
        3, ge=1, description="rate_limited errors a connection may get before it is closed with 4029"
    )
    WEBSOCKET_MAX_CONNECTIONS_PER_USER: int = Field(20, ge=1)
    WEBSOCKET_PERMESSAGE_DEFLATE: bool = False
    WEBSOCKET_DEMO_ENABLED: bool = True

    # Abuse limits: HTTP served directly (limits.py, server.py), WebSocket pings, alerts and refusal audit.
    HTTP_HEADER_TIMEOUT: float = Field(
        10, gt=0, le=3600, description="seconds a client has to send a request's line and headers"
    )
    HTTP_MAX_HEADER_BYTES: int = Field(16 * 1024, ge=4096, le=1024 * 1024, description="request line and headers")
    HTTP_MAX_BODY_BYTES: int = Field(
        16 * 1024 * 1024,
        ge=64 * 1024,
        le=1024 * 1024 * 1024,
        description="request body, at most (the default fits an RPZ bulk import of 50,000 longest domains)",
    )
    HTTP_AUTH_MAX_BODY_BYTES: int = Field(16 * 1024, ge=1024, le=1024 * 1024, description="body under /api/auth/")
    WEBSOCKET_PING_RATE_LIMIT: float = Field(
        5, gt=0, le=10_000, description="ping control frames per second a client may send; more are not answered"
    )
    WEBSOCKET_PING_RATE_BURST: int = Field(20, ge=1, le=100_000)
    SECURITY_ALERT_WINDOW: float = Field(
        60, gt=0, le=86_400, description="seconds repeats of one alert (user, cause) are counted into one follow-up"
    )
    REFUSAL_AUDIT_WINDOW: float = Field(
        60, gt=0, le=86_400, description="seconds refused sockets from one address are counted into one audit row"
    )

    # Event history: what a reconnecting client can catch up on.
    EVENT_HISTORY_SIZE: int = Field(10_000, ge=100, description="events kept, at most")
    EVENT_HISTORY_TTL: float = Field(86_400, gt=0, description="seconds an event is kept, at most")
    EVENT_REPLAY_LIMIT: int = Field(10_000, ge=1, description="a client further behind is told to refetch")
    # The searchable archive (realtime/archive.py): what GET /api/events, the export and read state read.
    EVENT_ARCHIVE_MAX_AGE_DAYS: float = Field(30, gt=0, le=36_500, description="days an archived event is kept")
    EVENT_ARCHIVE_MAX_ROWS: int = Field(
        1_000_000, ge=100, le=1_000_000_000, description="archived events kept, at most (the newest)"
    )
    BROKER_PUBLISH_TIMEOUT: float = Field(2.0, gt=0, description="seconds emit() retries an unreachable broker")
    INSTANCE_ID: str = ""  # empty: hostname and pid

    # BIND9 deployment (dns/bind.py). Files are rendered into BIND_CONFIG_DIR (default DATA_DIR/bind).
    BIND_CONFIG_DIR: Path | None = None
    BIND_RELOAD_COMMAND: str = Field("", description="e.g. 'rndc -c /etc/bind/rndc.conf reload'; empty: render only")
    BIND_CHECKCONF: str = "named-checkconf"  # used when found on PATH
    BIND_CHECKZONE: str = "named-checkzone"
    BIND_RELOAD_DEBOUNCE: float = Field(1.0, ge=0, description="seconds changes are gathered into one reload")
    BIND_RPZ_ZONE: str = "rpz.local"
    BIND_QUERY_LOG: Path | None = None  # named's RPZ log to tail for threat_detected; None: not tailed

    # Forwarder health checks (monitoring/forwarders.py).
    FORWARDER_CHECK_INTERVAL: float = Field(10, gt=0)
    FORWARDER_CHECK_TIMEOUT: float = Field(2, gt=0)
    FORWARDER_FAILURES_TO_DEGRADE: int = Field(2, ge=1, description="consecutive failed rounds before a change")
    FORWARDER_SUCCESSES_TO_RECOVER: int = Field(2, ge=1)
    HEALTH_ALERT_RESPONSE_MS: float = Field(500, gt=0)
    HEALTH_ALERT_FAILURE_RATIO: float = Field(0.5, gt=0, le=1)

    # Accounts: login throttling (auth/throttle.py) and the re-check of open sockets (realtime/access.py).
    LOGIN_FAILURE_LIMIT: int = Field(
        5, ge=1, description="failed logins from one address before its attempts are slowed down"
    )
    LOGIN_FAILURE_WINDOW: float = Field(300, gt=0, description="quiet seconds after which failures are forgotten")
    LOGIN_THROTTLE_MAX_DELAY: float = Field(900, ge=1, le=86_400, description="longest wait for one address")
    LOGIN_ACCOUNT_FAILURE_LIMIT: int = Field(
        20, ge=1, le=100_000, description="failed logins for one account (from anywhere) before it is slowed down"
    )
    LOGIN_ACCOUNT_MAX_DELAY: float = Field(
        60, ge=1, le=3600, description="longest wait for one account: an attacker never locks its owner out for long"
    )
    WEBSOCKET_ACCESS_RECHECK_INTERVAL: float = Field(
        5, ge=0.1, le=3600, description="seconds between re-checks of open sockets against users and sign-outs"
    )

    # Webhooks (integrations/webhooks.py): Standard Webhooks deliveries, by the leader instance.
    WEBHOOK_CONCURRENCY: int = Field(8, ge=1, le=256, description="deliveries in flight at once (one per endpoint)")
    WEBHOOK_TIMEOUT: float = Field(10, gt=0, le=300, description="seconds one delivery attempt may take in all")
    WEBHOOK_RETRY_SCHEDULE: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0],
        description="seconds before each retry after a failed attempt (each +-20% jitter); then the delivery fails",
    )
    WEBHOOK_DISABLE_AFTER: float = Field(
        5 * 86_400, gt=0, description="seconds an endpoint may fail without a success before it is disabled"
    )
    WEBHOOK_SECRET_ROTATION_GRACE: float = Field(
        86_400, ge=0, description="seconds the old secret still signs, beside the new one, after a rotation"
    )
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: bool = Field(
        False, description="allow loopback, link-local, private and other non-global addresses (tests, labs)"
    )
    WEBHOOK_LOG_RETENTION: float = Field(
        7 * 86_400, gt=0, description="seconds finished deliveries stay in an endpoint's delivery log"
    )

    # Alertmanager (integrations/alertmanager*.py): alerts out (API v2, by the leader), alerts in (webhook).
    ALERTMANAGER_URL: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated Alertmanager base URLs; empty: no alerts are sent"
    )
    ALERTMANAGER_RESEND_INTERVAL: float = Field(
        60, gt=0, le=3600, description="seconds between re-sends of every active alert (well under resolve_timeout)"
    )
    ALERTMANAGER_TIMEOUT: float = Field(5, gt=0, le=60, description="seconds one post to Alertmanager may take")
    ALERTMANAGER_ONE_SHOT_TTL: float = Field(
        900, ge=1, le=7 * 86_400, description="seconds a one-shot alert (security_alert, threat_detected) stays firing"
    )
    ALERTMANAGER_INSTANCE: str = Field(
        "", max_length=128, description="the alerts' `instance` label, one for the cluster; empty: DASHBOARD_URL's host"
    )
    ALERTMANAGER_WEBHOOK_TOKEN: SecretStr | None = Field(
        None, description="bearer token of POST /api/integrations/alertmanager (24+ characters); unset: all refused"
    )
    DASHBOARD_URL: str = Field("", description="the dashboard's public URL, for links in alerts")

    # The built dashboard served at `/`; empty: <repo>/frontend/dist when it exists.
    FRONTEND_DIR: Path | None = None

    LOG_LEVEL: str = "info"
    LOG_FORMAT: Literal["text", "json"] = "text"

    @field_validator("ALLOWED_ORIGINS", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("WEBHOOK_RETRY_SCHEDULE", mode="before")
    @classmethod
    def _retry_schedule(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("WEBHOOK_RETRY_SCHEDULE")
    @classmethod
    def _retry_schedule_bounds(cls, value: list[float]) -> list[float]:
        if len(value) > 20 or any(not 0 < step <= 7 * 86_400 for step in value):
            raise ValueError("at most 20 steps, each more than 0 and at most 604800 seconds")
        return value

    @field_validator("ALERTMANAGER_URL", mode="before")
    @classmethod
    def _alertmanager_urls(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("ALERTMANAGER_URL")
    @classmethod
    def _alertmanager_urls_valid(cls, value: list[str]) -> list[str]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("each URL must be http:// or https:// with a host")
        return [url.rstrip("/") for url in value]

    @field_validator("DASHBOARD_URL")
    @classmethod
    def _dashboard_url(cls, value: str) -> str:
        value = value.strip()
        if value and (urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname):
            raise ValueError("must be an http:// or https:// URL with a host")
        return value.rstrip("/")

    @field_validator("ALERTMANAGER_WEBHOOK_TOKEN")
    @classmethod
    def _webhook_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None  # unset (or set empty): the webhook refuses every request
        if len(value.get_secret_value()) < 24:
            raise ValueError("at least 24 characters (e.g. openssl rand -hex 32)")
        return value

    @property
    def database_url(self) -> str:
        return self.DATABASE_URL or f"sqlite+aiosqlite:///{self.DATA_DIR / 'hybrid-dns.db'}"

    @property
    def frontend_dir(self) -> Path | None:
        if self.FRONTEND_DIR is not None:
            return self.FRONTEND_DIR if (self.FRONTEND_DIR / "index.html").exists() else None
        built = Path(__file__).resolve().parents[3] / "frontend" / "dist"
        return built if (built / "index.html").exists() else None

    @property
    def bind_config_dir(self) -> Path:
        return self.BIND_CONFIG_DIR or self.DATA_DIR / "bind"

    @property
    def ping_timeout(self) -> float:
        return self.WEBSOCKET_PING_TIMEOUT or self.WEBSOCKET_PING_INTERVAL

    def secret_key(self) -> str:
        """The JWT signing key: from SECRET_KEY, else read from (or first written to) DATA_DIR."""
        if self.SECRET_KEY is not None:
            return self.SECRET_KEY.get_secret_value()
        path = self.DATA_DIR / "secret-key"
        if path.exists():
            return path.read_text().strip()
        self.DATA_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
        return key

    def client_config(self) -> dict[str, object]:
        """What a browser needs to know before it connects (no secrets)."""
        return {
            "protocol": 1,
            "subprotocol": "hybrid-dns.v1",
            "ping_interval": self.WEBSOCKET_PING_INTERVAL,
            "max_reconnect_attempts": self.WEBSOCKET_MAX_RECONNECT_ATTEMPTS,
            "reconnect_interval": self.WEBSOCKET_RECONNECT_INTERVAL,
            "reconnect_max_interval": self.WEBSOCKET_RECONNECT_MAX_INTERVAL,
            "health_broadcast_interval": self.HEALTH_BROADCAST_INTERVAL,
            "system_broadcast_interval": self.SYSTEM_BROADCAST_INTERVAL,
            "max_frame_bytes": self.WEBSOCKET_MAX_FRAME_BYTES,
            "rate_limit": self.WEBSOCKET_RATE_LIMIT,
            "rate_burst": self.WEBSOCKET_RATE_BURST,
            "demo_enabled": self.WEBSOCKET_DEMO_ENABLED,
        }

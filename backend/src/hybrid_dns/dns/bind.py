"""BIND9 deployment: render zones, the RPZ zone and forwarders; check; reload; announce it.

Interface used by the rest of the app (the implementation is filled in by the BIND work):
`await deployer.start()`, `await deployer.close()`, and `deployer.request_reload(zones, reason)`,
which the DNS API calls after a committed change; requests are debounced into one reload.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..config import Settings
from ..db import Database
from ..realtime.service import WebSocketEventService


class BindDeployer:
    def __init__(self, settings: Settings, db: Database, service: WebSocketEventService) -> None:
        self.settings = settings
        self.db = db
        self.service = service

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def request_reload(self, zones: Iterable[str], reason: str) -> None:
        """Ask for a render and reload of `zones` (all when empty) soon; calls within the debounce window merge."""
        return None

"""The roles a user may have, and their order.

A leaf: it imports nothing of the project, so that every layer can name a role without depending
on how users are stored. What a role may do is decided where it is enforced: over HTTP by rank
(`api/deps.py`), on sockets by the connection types it may open (`realtime/events.py`).
"""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


# A role may do what every lower role may do (HTTP checks compare ranks).
ROLE_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}

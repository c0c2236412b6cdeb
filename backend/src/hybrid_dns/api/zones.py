"""Zones and their records: /api/zones, /api/zones/{id}/records."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/zones", tags=["zones"])

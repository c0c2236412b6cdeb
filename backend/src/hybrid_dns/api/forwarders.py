"""Conditional forwarders: /api/forwarders."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/forwarders", tags=["forwarders"])

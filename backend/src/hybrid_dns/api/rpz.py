"""RPZ security rules: /api/rpz/rules."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/rpz", tags=["rpz"])

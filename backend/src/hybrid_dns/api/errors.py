"""HTTP errors that say more than a sentence: the fields a 422 (or 409) concerns, the object a 412 found.

Every error answer keeps the one shape of api/contract.py (`detail`, and `errors` naming fields);
`ApiError` adds what an `HTTPException` cannot carry, and the app's error handler writes it out.
Business rules checked in code (dns/validation.py) raise `Invalid` with a message only: `about()`
says which field of the body the check was about, so that a form can show it on that field.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from fastapi import HTTPException

from ..dns import validation as v


class ApiError(HTTPException):
    """An error answer with its per-field list (`errors`) and other members of the body (`extra`)."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, detail, headers=headers)
        self.errors = errors
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"detail": str(self.detail)}
        if self.errors:
            out["errors"] = self.errors
        out.update(self.extra)
        return out


def field_error(field: str, message: str, status: int = 422) -> ApiError:
    """An error about one field of the body (`servers.1` for the second element of `servers`)."""
    return ApiError(status, message, errors=[{"field": field, "message": message}])


def fields_error(problems: list[tuple[str, str]], detail: str, status: int = 422) -> ApiError:
    """An error about several fields at once (a list with several bad entries)."""
    return ApiError(status, detail, errors=[{"field": f, "message": m} for f, m in problems])


@contextlib.contextmanager
def about(field: str) -> Iterator[None]:
    """`Invalid` raised inside becomes a 422 naming `field`."""
    try:
        yield
    except v.Invalid as exc:
        raise field_error(field, str(exc)) from None

"""POST /api/auth/login: username and password for a JWT."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from ..auth.tokens import issue_token
from ..auth.users import authenticate
from ..realtime.events import Role
from .deps import AnyUser

router = APIRouter(prefix="/api/auth", tags=["auth"])


class LoginRequest(BaseModel):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    username: str
    role: Role


@router.post("/login", response_model=TokenResponse)
async def login(body: LoginRequest, request: Request) -> TokenResponse:
    settings = request.app.state.settings
    user = await authenticate(request.app.state.db, body.username, body.password)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid username or password")
    token, _ = issue_token(request.app.state.secret_key, user.username, user.role, settings.ACCESS_TOKEN_TTL)
    return TokenResponse(
        access_token=token, expires_in=settings.ACCESS_TOKEN_TTL, username=user.username, role=Role(user.role)
    )


@router.get("/me")
async def me(user: AnyUser) -> dict[str, object]:
    return {"username": user.username, "role": user.role.value, "expires_at": user.expires_at}

"""Request shapes of accounts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from service.auth import MIN_PASSWORD
from service.schemas import Strict


class UserIn(Strict):
    """A new account."""

    username: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$")
    password: str = Field(min_length=MIN_PASSWORD, max_length=200)
    roles: list[Literal["referrer", "receiver", "dispatcher", "planner", "admin"]] = Field(
        min_length=1, max_length=5
    )
    facility_id: str | None = Field(default=None, max_length=64)


class TokenOut(BaseModel):
    """A bearer token (OAuth2 password flow)."""

    access_token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="seconds")


class FacilityRef(BaseModel):
    """A facility by id and name."""

    id: str
    name: str


class MeOut(BaseModel):
    """The signed-in user."""

    id: int
    username: str
    roles: list[str]
    facility: FacilityRef | None


class UserOut(BaseModel):
    """An account (never its password hash)."""

    id: int
    username: str
    roles: list[str]
    facility_id: str | None

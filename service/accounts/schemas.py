"""Request shapes of accounts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from service.auth import MIN_PASSWORD
from service.schemas import Strict


class UserIn(Strict):
    """A new account."""

    username: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$")
    password: str = Field(min_length=MIN_PASSWORD, max_length=200)
    roles: list[Literal["referrer", "receiver", "dispatcher", "planner", "admin", "peer"]] = Field(
        min_length=1, max_length=5
    )
    facility_id: str | None = Field(default=None, max_length=64)
    full_name: str = Field(
        default="", max_length=200, description="as a letter names them: 'Ani Lestari, A.Md.Keb.'"
    )
    profession: str = Field(default="", max_length=100, description="e.g. Bidan, Perawat, Dokter umum")


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
    full_name: str = ""
    profession: str = ""


class UserOut(BaseModel):
    """An account (never its password hash)."""

    id: int
    username: str
    roles: list[str]
    facility_id: str | None
    full_name: str = ""
    profession: str = ""


class StationIn(Strict):
    """A receiving facility's screen to register: a name its staff recognise."""

    name: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="e.g. 'Komputer IGD'; no control characters",
        examples=["Komputer IGD"],
    )

    @field_validator("name")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        v = v.strip()
        if not v:
            msg = "a name with at least one visible character"
            raise ValueError(msg)
        return v


class StationOut(BaseModel):
    """A station (never its secret nor the secret's hash)."""

    id: int
    name: str
    facility_id: str
    state: Literal["active", "revoked", "expired"]
    created_by: int
    created_at: str
    expires_at: str
    revoked_at: str | None
    last_used_at: str | None


class StationCreatedOut(StationOut):
    """A new station and its secret: shown this once only, sent back in ``X-Station-Key``."""

    secret: str


class StationRef(BaseModel):
    """The station that is asking."""

    id: int
    name: str
    facility_id: str
    expires_at: str


class WaitingOut(BaseModel):
    """A referral waiting for the facility's answer, without anything of the patient."""

    id: str
    origin_id: str
    emergency: bool
    sent_at: str | None
    status: str


class StationInboxOut(BaseModel):
    """What waits for an answer at the station's facility (the oldest first, at most 100 listed)."""

    station: StationRef
    count: int
    referrals: list[WaitingOut]

"""HTTP routes of accounts: sign-in (OAuth2 password flow), who am I, new accounts (admins)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from service.accounts import store
from service.accounts.schemas import MeOut, TokenOut, UserIn, UserOut
from service.accounts.signin import sign_in
from service.auth import issue_token
from service.deps import Admin, AnyUser, Db, Rt
from service.http import doc

router = APIRouter(prefix="/api", tags=["auth"])


@router.post("/token", **doc(TokenOut, 401, 429))
async def token(
    request: Request, rt: Rt, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> dict[str, Any]:
    """OAuth2 password flow: a short-lived bearer token.

    A refused sign-in is audited. Too many refused sign-ins for one account or from one address
    lock it for a while: 429 with ``Retry-After``, whatever the password.
    """
    client = request.client.host if request.client else "-"
    p = await sign_in(rt, form.username, form.password, client=client)
    minutes = rt.settings.token_minutes
    return {
        "access_token": issue_token(p, key=rt.secret, minutes=minutes, now=rt.clock()),
        "token_type": "bearer",
        "expires_in": minutes * 60,
    }


@router.get("/me", **doc(MeOut, 401))
def me(p: AnyUser, rt: Rt, db: Db) -> dict[str, Any]:
    """Who is signed in (their full name and profession as their letters name them)."""
    fac = next((f for f in rt.dataset.facilities if f.id == p.facility_id), None)
    full_name, profession = store.profile_of(db, p.user_id)
    return {
        "id": p.user_id,
        "username": p.username,
        "roles": sorted(r.value for r in p.roles),
        "facility": {"id": fac.id, "name": fac.name} if fac else None,
        "full_name": full_name,
        "profession": profession,
    }


@router.post("/users", **doc(UserOut, 401, 403, 409, status=201))
def create_user(body: UserIn, rt: Rt, db: Db, p: Admin) -> dict[str, Any]:
    """Create an account (admins only)."""
    u = store.create_user(
        db,
        username=body.username,
        password=body.password,
        roles=body.roles,
        facility_id=body.facility_id,
        known_facilities=rt.facility_ids,
        actor=p.user_id,
        now=rt.clock(),
    )
    store.set_profile(
        db, u, full_name=body.full_name, profession=body.profession, actor=p.user_id, now=rt.clock()
    )
    db.commit()
    return {
        "id": u.id,
        "username": u.username,
        "roles": u.roles,
        "facility_id": u.facility_id,
        "full_name": u.full_name,
        "profession": u.profession,
    }

"""Request and answer shapes of notifications: the browser's push subscription, the server's key."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, Field, field_validator

from service.notifications.vapid import b64url_decode
from service.schemas import Strict

#: the longest push endpoint kept (the push services' URLs are a few hundred characters)
MAX_ENDPOINT = 1024
#: RFC 8291: the browser's public key is an uncompressed P-256 point, its auth secret 16 bytes
P256DH_BYTES = 65
AUTH_BYTES = 16


class PushKeysIn(Strict):
    """The browser's keys for this subscription (``PushSubscription.toJSON().keys``)."""

    p256dh: str = Field(
        min_length=1, max_length=100, description="base64url of the browser's P-256 public key (65 bytes)"
    )
    auth: str = Field(min_length=1, max_length=50, description="base64url of the 16-byte auth secret")

    @field_validator("p256dh")
    @classmethod
    def _a_point(cls, v: str) -> str:
        try:
            raw = b64url_decode(v)
        except ValueError:
            raw = b""
        msg = "must be base64url of an uncompressed P-256 public key (65 bytes, starting 0x04)"
        if len(raw) != P256DH_BYTES or raw[0] != 0x04:
            raise ValueError(msg)
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        except ValueError:
            raise ValueError(msg + ": this one is not a point of the curve") from None
        return v.rstrip("=")

    @field_validator("auth")
    @classmethod
    def _a_secret(cls, v: str) -> str:
        try:
            raw = b64url_decode(v)
        except ValueError:
            raw = b""
        if len(raw) != AUTH_BYTES:
            msg = "must be base64url of 16 bytes"
            raise ValueError(msg)
        return v.rstrip("=")


class PushSubscriptionIn(Strict):
    """What the browser's ``PushSubscription.toJSON()`` gives, as it gives it."""

    endpoint: str = Field(
        min_length=1,
        max_length=MAX_ENDPOINT,
        description="the push service's URL for this browser: https only",
        examples=["https://fcm.googleapis.com/fcm/send/dQw4w9WgXcQ:APA91b..."],
    )
    expirationTime: float | None = Field(  # noqa: N815  the browser's own spelling
        default=None, description="ignored (browsers send null)"
    )
    keys: PushKeysIn


class PushKeyOut(BaseModel):
    """The application server key browsers subscribe with."""

    public_key: str = Field(description="base64url of the server's VAPID P-256 public key (65 bytes)")


class PushSubscriptionOut(BaseModel):
    """A subscription of the signed-in user's (its keys are never sent back)."""

    id: int
    facility_id: str
    endpoint: str
    created_at: str
    last_ok_at: str | None
    failures: int = Field(description="failed sends since the last one that went through")

"""The server's VAPID key pair (RFC 8292): it signs every push, so push services know it is rujuk.

Browsers subscribe with the public key (the *application server key*) and the push service then
takes only pushes signed with the private one. The key is made once and kept in
``<data_dir>/vapid.pem`` (mode 0600), like the token-signing key; several hosts share one key
through ``RUJUK_VAPID_PRIVATE_KEY`` (base64url of the 32-byte private number), or a copy of the
file. A new key orphans every subscription: browsers must subscribe again.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

if TYPE_CHECKING:
    from pathlib import Path

KEY_FILE = "vapid.pem"
_B64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


class VapidKeyError(ValueError):
    """A configured VAPID key that is not one (the service does not start)."""


def b64url(data: bytes) -> str:
    """Base64url without padding, as Web Push writes keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The bytes of base64url text, padded or not (ValueError if it is not base64url)."""
    if not _B64URL.fullmatch(text):
        msg = "not base64url"
        raise ValueError(msg)
    bare = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
    except (binascii.Error, ValueError) as exc:
        msg = "not base64url"
        raise ValueError(msg) from exc


@dataclass(frozen=True, slots=True)
class VapidKey:
    """The P-256 key pair that signs this deployment's pushes."""

    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_key(self) -> str:
        """The application server key: base64url of the uncompressed public point (65 bytes)."""
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(raw)

    @classmethod
    def from_raw(cls, text: str) -> VapidKey:
        """The key from base64url of its 32-byte private number (``RUJUK_VAPID_PRIVATE_KEY``)."""
        try:
            raw = b64url_decode(text.strip())
        except ValueError:
            raw = b""
        if len(raw) != 32:
            msg = "RUJUK_VAPID_PRIVATE_KEY must be base64url of 32 bytes (a P-256 private key)"
            raise VapidKeyError(msg)
        try:
            return cls(ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1()))
        except ValueError as exc:
            msg = "RUJUK_VAPID_PRIVATE_KEY is not a P-256 private key"
            raise VapidKeyError(msg) from exc

    @classmethod
    def from_file(cls, path: Path) -> VapidKey:
        """The key kept in ``path`` (PEM), made first (0600) when there is none."""
        if not path.exists():
            pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
            try:
                os.link(tmp, path)  # only if still absent: another worker may have made it first
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            msg = f"{path} does not hold a P-256 private key"
            raise VapidKeyError(msg)
        return cls(key)


def vapid_key(configured: str, data_dir: Path) -> VapidKey:
    """The configured key, or the one kept under the data directory."""
    return VapidKey.from_raw(configured) if configured else VapidKey.from_file(data_dir / KEY_FILE)

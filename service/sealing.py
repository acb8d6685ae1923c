"""Patient data sealed at rest (UU 27/2022): AES-256-GCM, the key id stored with each value.

What is sealed: a referral's patient block (name, NIK, medical record number, date of birth, sex,
address, phone, JKN number) and every attachment's content. A sealed value reads
``rujuk1.<key id>.<base64url(nonce | ciphertext | tag)>`` (text) or the same header followed by
raw bytes (files); the associated data names the column, so a value moved to another column does
not open. Lookups that need the NIK use ``lookup_hash`` (HMAC-SHA-256 under a key of its own),
never the clear value.

Keys come from the settings (``RUJUK_PATIENT_KEYS``: ``id:base64,id:base64``, the first one
encrypts, every one decrypts; ``RUJUK_LOOKUP_KEY``), or else from ``<data dir>/patient.keys``,
created 0600 on first start. ``rujuk keys rotate`` puts a new key first in that file and re-seals
every stored value with it; each worker notices the file changed at its next write.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from pathlib import Path

VERSION = "rujuk1"
_TEXT_PREFIX = VERSION + "."
_BYTES_PREFIX = _TEXT_PREFIX.encode()
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
_NONCE = 12
KEY_FILE = "patient.keys"
_HEADER = (
    "# rujuk: keys of the patient data at rest (UU 27/2022). Keep this file secret and backed up:\n"
    "# without it the stored patient data cannot be read. One key per line, '<id> <base64>'; the\n"
    "# first key encrypts, every key decrypts; 'lookup' is the key of the NIK lookup hash.\n"
)


class KeyringError(RuntimeError):
    """Keys missing or malformed, or a sealed value that no key here opens."""


def _decode_key(kid: str, b64: str, where: str) -> bytes:
    if not _KEY_ID.match(kid):
        msg = f"{where}: key id {kid!r} must be 1-16 letters, digits, '-' or '_'"
        raise KeyringError(msg)
    try:
        key = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        msg = f"{where}: key {kid!r} is not base64"
        raise KeyringError(msg) from exc
    if len(key) != 32:
        msg = f"{where}: key {kid!r} must be 32 bytes (AES-256), not {len(key)}"
        raise KeyringError(msg)
    return key


def new_key() -> str:
    """A fresh 32-byte key, base64."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class Keyring:
    """The keys of one deployment: ``keys`` in order (the first encrypts), and the lookup key."""

    keys: dict[str, bytes]
    lookup_key: bytes
    #: the key file these came from (re-read when it changes), None when given by the settings
    path: Path | None = None
    _mtime_ns: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if not self.keys:
            msg = "no patient keys"
            raise KeyringError(msg)

    @classmethod
    def from_text(cls, text: str, *, lookup: str, where: str = "RUJUK_PATIENT_KEYS") -> Keyring:
        """Keys given as ``id:base64,id:base64`` and a base64 lookup key."""
        keys: dict[str, bytes] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            kid, sep, b64 = part.partition(":")
            if not sep:
                msg = f"{where}: expected 'id:base64' entries separated by commas"
                raise KeyringError(msg)
            keys[kid] = _decode_key(kid, b64, where)
        return cls(keys, _decode_key("lookup", lookup, "RUJUK_LOOKUP_KEY"))

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        """The keys of a key file, created (0600, one key) when there is none."""
        if not path.exists():
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(f"{_HEADER}lookup {new_key()}\nk1 {new_key()}\n")
            try:
                os.link(tmp, path)  # only if still absent: another worker may have made it first
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        ring = cls({"-": b"\0" * 32}, b"", path)
        ring.reload()
        return ring

    def reload(self) -> None:
        """Read the key file again."""
        if self.path is None:
            return
        stat = self.path.stat()
        keys: dict[str, bytes] = {}
        lookup = b""
        for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()  # noqa: PLW2901
            if not line or line.startswith("#"):
                continue
            kid, _, b64 = line.partition(" ")
            key = _decode_key(kid, b64.strip(), f"{self.path}:{n}")
            if kid == "lookup":
                lookup = key
            else:
                keys[kid] = key
        if not keys or not lookup:
            msg = f"{self.path}: needs a 'lookup' key and at least one patient key"
            raise KeyringError(msg)
        self.keys, self.lookup_key, self._mtime_ns = keys, lookup, stat.st_mtime_ns

    def _fresh(self) -> None:
        if self.path is not None and self.path.stat().st_mtime_ns != self._mtime_ns:
            self.reload()

    @property
    def current(self) -> str:
        """The id of the key that encrypts."""
        return next(iter(self.keys))

    def seal(self, data: bytes, *, aad: bytes) -> bytes:
        """``rujuk1.<id>.`` + nonce + ciphertext + tag, under the current key."""
        self._fresh()
        kid = self.current
        nonce = secrets.token_bytes(_NONCE)
        return _BYTES_PREFIX + kid.encode() + b"." + nonce + AESGCM(self.keys[kid]).encrypt(nonce, data, aad)

    def open(self, blob: bytes, *, aad: bytes) -> bytes:
        """The clear bytes of a sealed value."""
        kid, body = key_id_of(blob), blob[len(_BYTES_PREFIX) :].partition(b".")[2]
        if kid not in self.keys:
            self.reload()  # perhaps rotated by another process
        key = self.keys.get(kid)
        if key is None:
            msg = f"no key {kid!r} here: the value was sealed with a key this deployment does not have"
            raise KeyringError(msg)
        try:
            return AESGCM(key).decrypt(body[:_NONCE], body[_NONCE:], aad)
        except InvalidTag as exc:
            msg = f"a value sealed with key {kid!r} does not open: altered, or another key with that id"
            raise KeyringError(msg) from exc

    def seal_text(self, text: str, *, aad: bytes) -> str:
        """``seal`` for a text column: the body in base64url."""
        blob = self.seal(text.encode(), aad=aad)
        head, _, rest = blob[len(_BYTES_PREFIX) :].partition(b".")
        return f"{_TEXT_PREFIX}{head.decode()}.{base64.urlsafe_b64encode(rest).decode()}"

    def open_text(self, value: str, *, aad: bytes) -> str:
        """``open`` for a text column."""
        kid, _, b64 = value.removeprefix(_TEXT_PREFIX).partition(".")
        blob = _BYTES_PREFIX + kid.encode() + b"." + base64.urlsafe_b64decode(b64)
        return self.open(blob, aad=aad).decode()

    def lookup_hash(self, value: str) -> str:
        """A keyed hash (HMAC-SHA-256, hex) for finding a value without storing it in clear."""
        self._fresh()
        return hmac.new(self.lookup_key, value.encode(), hashlib.sha256).hexdigest()

    def add_key(self) -> str:
        """A new key, first in the key file (it encrypts from now on); its id."""
        if self.path is None:
            msg = "the keys come from RUJUK_PATIENT_KEYS: put a new key first there (see rujuk keys new)"
            raise KeyringError(msg)
        self.reload()
        n = 1 + max((int(k[1:]) for k in self.keys if re.fullmatch(r"k\d+", k)), default=0)
        kid = f"k{n}"
        lines = self.path.read_text(encoding="utf-8").splitlines(keepends=True)
        at = next(i for i, ln in enumerate(lines) if ln.strip() and not ln.startswith(("#", "lookup ")))
        lines.insert(at, f"{kid} {new_key()}\n")
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("".join(lines))
        tmp.replace(self.path)
        self.reload()
        return kid


def key_id_of(value: bytes | str) -> str:
    """The id of the key a sealed value was sealed with (KeyringError if not sealed)."""
    raw = value.encode() if isinstance(value, str) else value
    if not raw.startswith(_BYTES_PREFIX):
        msg = "not a sealed value"
        raise KeyringError(msg)
    return raw[len(_BYTES_PREFIX) :].partition(b".")[0].decode(errors="replace")


def keyring_for(patient_keys: str, lookup_key: str, data_dir: Path) -> Keyring:
    """The keyring of the settings: given keys, or the key file under the data directory."""
    if patient_keys:
        if not lookup_key:
            msg = "RUJUK_PATIENT_KEYS is set: set RUJUK_LOOKUP_KEY too (rujuk keys new prints one)"
            raise KeyringError(msg)
        return Keyring.from_text(patient_keys, lookup=lookup_key)
    return Keyring.from_file(data_dir / KEY_FILE)

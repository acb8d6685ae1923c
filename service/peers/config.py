"""The peers file: the other rujuk deployments this one refers to, and those that refer to it.

``RUJUK_PEERS_FILE`` names a JSON file (docs/fhir.md, "Referrals between deployments")::

    {
      "peers": [
        {"name": "kalbar", "url": "https://rujuk.kalbarprov.go.id", "username": "sambas",
         "password_env": "RUJUK_PEER_KALBAR_PASSWORD", "destinations": ["6171011"]}
      ],
      "accounts": [
        {"username": "kalbar", "origins": ["6171011"]}
      ]
    }

``peers``: deployments this one sends referrals to. A referral to one of a peer's
``destinations`` is handed to that deployment through its FHIR API, signed in there as
``username`` (the password read from the environment variable ``password_env``, never from the
file). ``accounts``: deployments that send referrals here, each a local account of role
``peer``, and the facilities (``origins``) it may refer from. Patient data travels between
deployments: a peer's URL must be https (plain http only to this host, for tests).

Pure: reading and checking the file; no network.
"""

from __future__ import annotations

import ipaddress
import json
import os
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
FacilityId = Annotated[str, Field(min_length=1, max_length=64)]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Peer(BaseModel):
    """Another deployment this one sends referrals to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    url: str = Field(max_length=500, description="the other deployment's root, e.g. https://rujuk.example.id")
    username: str = Field(min_length=1, max_length=64)
    password_env: str = Field(pattern=r"^[A-Z_][A-Z0-9_]{0,127}$")
    destinations: list[FacilityId] = Field(min_length=1)
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _secure(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in {"https", "http"} or not parts.hostname or parts.query or parts.fragment:
            msg = "must be the deployment's root URL, e.g. https://rujuk.example.id"
            raise ValueError(msg)
        if parts.scheme == "http" and not _loopback(parts.hostname):
            msg = "must be https: patient data travels to it (plain http only to this host)"
            raise ValueError(msg)
        return v.rstrip("/")

    @property
    def fhir_base(self) -> str:
        """Its FHIR API."""
        return f"{self.url}/fhir/R4"

    def password(self) -> str:
        """The password to sign in there (from the environment; empty: not set)."""
        return os.environ.get(self.password_env, "")


class Account(BaseModel):
    """Another deployment that sends referrals here: its local account and where it may refer from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str = Field(min_length=1, max_length=64)
    origins: list[FacilityId] = Field(min_length=1)


class Peers(BaseModel):
    """The peers file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    peers: list[Peer] = Field(default_factory=list)
    accounts: list[Account] = Field(default_factory=list)

    @property
    def destinations(self) -> dict[str, str]:
        """Facility id -> the name of the deployment that serves it."""
        return {fid: p.name for p in self.peers for fid in p.destinations}

    def peer(self, name: str) -> Peer | None:
        """The peer of that name (None: no longer in the file)."""
        return next((p for p in self.peers if p.name == name), None)

    def origins_of(self, username: str) -> frozenset[str]:
        """The facilities a peer account may refer from (empty: none, or not a peer account here)."""
        return frozenset(f for a in self.accounts if a.username == username for f in a.origins)


class PeersFileError(ValueError):
    """The peers file cannot be used: every problem, each naming the file and the field."""


def load_peers(path: Path, facility_ids: Iterable[str], receiving_ids: Iterable[str]) -> Peers:
    """Read and check the peers file against the dataset's facilities."""
    try:
        peers = Peers.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise PeersFileError(f"{path}: cannot be read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise PeersFileError(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    except ValidationError as exc:
        problems = [f"{path}: {'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise PeersFileError("\n".join(problems)) from None
    known, receiving = set(facility_ids), set(receiving_ids)
    problems = []
    names = [p.name for p in peers.peers]
    problems += [
        f"{path}: peers: name {n!r} is given twice" for n in sorted({n for n in names if names.count(n) > 1})
    ]
    seen: dict[str, str] = {}
    for i, p in enumerate(peers.peers):
        for j, fid in enumerate(p.destinations):
            where = f"{path}: peers.{i}.destinations.{j}"
            if fid not in receiving:
                problems.append(f"{where}: {fid!r} is not a receiving facility of this dataset")
            if fid in seen:
                problems.append(f"{where}: {fid!r} is already served by peer {seen[fid]!r}")
            seen[fid] = p.name
    for i, a in enumerate(peers.accounts):
        for j, fid in enumerate(a.origins):
            if fid not in known:
                problems.append(
                    f"{path}: accounts.{i}.origins.{j}: {fid!r} is not a facility of this dataset"
                )
    if problems:
        raise PeersFileError("\n".join(problems))
    return peers

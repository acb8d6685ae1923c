"""Seed PostgreSQL with a year of national referral traffic (default 10 million referrals).

    nice -n 10 python scripts/seed_national.py --url postgresql://postgres@127.0.0.1:5432/rujuk_national

The database is created (``--fresh`` drops it first), brought to the head revision by the
project's migrations, then filled with COPY. Every id is synthetic and says so: facilities
``SYN-PKM-00001`` .. ``SYN-PKM-10000`` (Puskesmas) and ``SYN-RS-0001`` .. ``SYN-RS-3000``
(hospitals), users ``syn-<facility>``, ambulances ``SYN-AMB-*``, peers ``syn-peer-*``.

What is realistic and what is not:

- Volume over a year ending at ``--end``: fewer on Saturdays and Sundays, most in the morning
  (local time, UTC+7). Facilities' volumes are skewed (lognormal): the busiest hospital receives
  ~0.5% of the nation's referrals; 80% of referrals leave a Puskesmas, 85% of those for a
  hospital of its own regency (514 regencies).
- States: most completed; some declined (and left there), redirected after a decline or an
  escalation, cancelled (before or after sending), stuck at arrived; 5% back-referrals
  (hospital to the Puskesmas that referred the patient), 2% paper referrals. Only referrals of
  the last two days are still open (sent, accepted, dispatched, in transit; the younger the
  likelier), as in a service where referrals are answered within the hour.
- Every column the queries read is filled as the service fills it. The patient column holds
  one of 4096 synthetic patients sealed with ``SYNTHETIC_KEYRING`` (a fixed, public key: the
  service's code opens the rows as it would real ones); no query reads it in SQL.
  ``nik_hash`` and ``request_hash`` are random hex of the right length (no two referrals share
  a patient).
- Events: only the kinds the queries filter on are written (send, decline, escalated, redirect:
  ~1.1 per referral); a real deployment also writes created, accept, dispatch, ... (~6 per
  referral). Deliveries (hand-overs to other deployments): 0.5% of referrals. The traces of the
  referrals redirected elsewhere (``referral_traces``, from revision 0016) as the service writes them.
- Foreign keys are not checked during the load (``session_replication_role = replica``): the
  rows are consistent by construction. The secondary indexes of the two big tables are dropped
  before the load and built after it (as pg_restore does), each build timed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg

from service.database import PATIENT_AAD, make_engine
from service.migrate import upgrade
from service.sealing import Keyring

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/rujuk_national"
DEFAULT_END = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
N_PUSKESMAS = 10_000
N_HOSPITALS = 3_000
N_REGENCIES = 514
LOCAL = dt.timedelta(hours=7)  # WIB
ROMAN = ("", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")

REFERRAL_COLUMNS = (
    "id", "number", "idempotency_key", "request_hash", "origin_id", "destination_id", "receiving_unit",
    "status", "service_type", "emergency", "payer", "icd10", "specialty", "non_specialist", "tacc",
    "patient", "nik_hash", "medical", "reason", "consent", "offline", "offline_note", "back_referral_of",
    "incident_id", "suggestion", "tried", "proposed_next_id", "created_by", "created_at", "sent_at",
    "due_at", "answered_at", "response_time_s", "accepted_at", "declined_at", "decline_reason",
    "decline_count", "escalated_at", "escalation_count", "dispatched_at", "in_transit_at", "arrived_at",
    "completed_at", "cancelled_at", "ambulance_id", "updated_at", "version",
)  # fmt: skip
EVENT_COLUMNS = ("referral_id", "at", "actor_id", "kind", "from_status", "to_status", "origin_id",
                 "destination_id", "note")  # fmt: skip
DELIVERY_COLUMNS = ("referral_id", "peer", "destination_id", "state", "attempts", "next_attempt_at",
                    "last_error", "problem", "remote_id", "remote_status", "cancel_pending", "created_at",
                    "updated_at")  # fmt: skip
USER_COLUMNS = ("id", "username", "password_hash", "roles", "facility_id", "active", "created_at",
                "full_name", "profession")  # fmt: skip

#: (code, specialty, non-specialist) of the working diagnosis, and how often
DIAGNOSES = (
    ("O72.1", "obgyn", False, 8), ("O14.1", "obgyn", False, 6), ("O80", "obgyn", False, 5),
    ("I21.9", "jantung", False, 4), ("I50.9", "jantung", False, 4), ("I63.9", "saraf", False, 4),
    ("E11.9", "penyakit_dalam", False, 9), ("I10", "penyakit_dalam", False, 8),
    ("N18.5", "hemodialisa", False, 5), ("A15.0", "paru", False, 5), ("J18.9", "paru", False, 5),
    ("A91", "anak", False, 4), ("P07.3", "anak", False, 3), ("S72.0", "orthopedi", False, 3),
    ("K35.8", "bedah", False, 3), ("H25.9", "mata", False, 4), ("H66.9", "tht_kl", False, 2),
    ("C50.9", "onkologi", False, 2), ("F20.9", "jiwa", False, 2), ("K04.0", "gigi", False, 2),
    ("J06.9", None, True, 3), ("A09", None, True, 3), ("K30", None, True, 2), ("R50.9", None, True, 2),
)  # fmt: skip
UNITS = ("IGD", "Poli Kebidanan", "Poli Penyakit Dalam", "Poli Anak", "Poli Jantung", "Poli Paru",
         "Poli Mata", "Poli Saraf", "Hemodialisa", "Poli Bedah")  # fmt: skip
DECLINE_REASONS = ("bed ICU penuh", "dokter spesialis tidak ada", "alat rusak", "kamar operasi penuh")
#: weight of each hour of the local day
HOURS = (1, 1, 1, 1, 1, 2, 4, 8, 12, 13, 12, 10, 8, 7, 6, 5, 4, 4, 4, 3, 3, 2, 2, 1)
#: weight of each weekday (Monday first)
WEEKDAYS = (1.15, 1.1, 1.05, 1.05, 1.0, 0.8, 0.55)


@dataclass(frozen=True, slots=True)
class Facilities:
    """The synthetic facilities: ids, regencies, weights (how much they send and receive)."""

    puskesmas: tuple[str, ...]
    hospitals: tuple[str, ...]
    regency: dict[str, int]
    send_cum: tuple[float, ...]  # cumulative sending weights over puskesmas + hospitals
    receive_cum: tuple[float, ...]  # cumulative receiving weights over hospitals
    local: dict[int, tuple[tuple[str, ...], tuple[float, ...]]]  # regency -> hospitals, cum weights
    user: dict[str, int] = field(default_factory=dict)

    @classmethod
    def make(cls, rng: random.Random) -> Facilities:
        """Ten thousand Puskesmas and three thousand hospitals over the regencies."""
        pkm = tuple(f"SYN-PKM-{i:05d}" for i in range(1, N_PUSKESMAS + 1))
        rs = tuple(f"SYN-RS-{i:04d}" for i in range(1, N_HOSPITALS + 1))
        regency = {f: rng.randrange(N_REGENCIES) for f in (*pkm, *rs)}
        regency.update({h: i for i, h in enumerate(rs[:N_REGENCIES])})  # every regency has a hospital
        send = [rng.lognormvariate(0, 0.8) for _ in pkm] + [rng.lognormvariate(-0.5, 1.0) for _ in rs]
        receive = [rng.lognormvariate(0, 1.0) for _ in rs]
        by_regency: dict[int, list[tuple[str, float]]] = {}
        for h, w in zip(rs, receive, strict=True):
            by_regency.setdefault(regency[h], []).append((h, w))
        local = {k: (tuple(h for h, _ in v), tuple(_cum(w for _, w in v))) for k, v in by_regency.items()}
        users = {f: i for i, f in enumerate((*pkm, *rs), start=1)}
        return cls(pkm, rs, regency, tuple(_cum(send)), tuple(_cum(receive)), local, users)

    def busiest_hospital(self) -> str:
        """The hospital with the largest receiving weight."""
        return self.hospitals[self.ranked(self.receive_cum)[0]]

    @staticmethod
    def ranked(cum: tuple[float, ...]) -> list[int]:
        """Indexes by weight, the heaviest first (weights given cumulated)."""
        steps = [b - a for a, b in zip((0.0, *cum), cum, strict=False)]
        return sorted(range(len(steps)), key=lambda i: -steps[i])


def _cum(ws: Any) -> list[float]:
    out, t = [], 0.0
    for w in ws:
        t += w
        out.append(t)
    return out


@dataclass(slots=True)
class Generator:
    """Referral rows (COPY text) in time order, with their events and deliveries."""

    fac: Facilities
    rng: random.Random
    end: dt.datetime
    numbers: dict[tuple[str, str], int] = field(default_factory=dict)
    forward: list[tuple[str, str, str]] = field(default_factory=list)  # (id, origin, destination) done
    traces: list[str] = field(default_factory=list)  # referral_traces rows (COPY text)
    blobs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.blobs = tuple(f'"{sealed_patient(self.rng, i)}"' for i in range(4096))

    def days(self, count: int) -> Iterator[tuple[dt.datetime, int]]:
        """Each day of the year before ``end`` and how many referrals it gets."""
        start = self.end - dt.timedelta(days=365)
        days = [start + dt.timedelta(days=i) for i in range(365)]
        ws = [WEEKDAYS[(d + LOCAL).weekday()] for d in days]
        total, made = sum(ws), 0
        for i, (d, w) in enumerate(zip(days, ws, strict=True)):
            n = count - made if i == len(days) - 1 else round(count * w / total)
            made += n
            yield d, n

    def day(self, start: dt.datetime, n: int) -> tuple[list[str], list[str], list[str]]:
        """One day's referrals, events and deliveries as COPY text lines."""
        rng = self.rng
        secs = sorted(
            h * 3600 + rng.random() * 3600 for h in rng.choices(range(24), weights=HOURS, k=n)
        )  # local hours
        refs: list[str] = []
        events: list[str] = []
        deliveries: list[str] = []
        for s in secs:
            at = start + dt.timedelta(seconds=s)
            if at >= self.end:
                at = self.end - dt.timedelta(seconds=rng.random() * 600)
            self.one(at, refs, events, deliveries)
        return refs, events, deliveries

    def one(self, at: dt.datetime, refs: list[str], events: list[str], deliveries: list[str]) -> None:  # noqa: C901
        """One referral created at ``at``: its life up to ``end``."""
        rng, fac = self.rng, self.fac
        rid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        back_of = None
        if self.forward and rng.random() < 0.05:  # a back-referral of a referral received earlier
            back_of, origin_pkm, hospital = self.forward[rng.randrange(len(self.forward))]
            origin, dest = hospital, origin_pkm
        else:
            n_pkm = len(fac.puskesmas)
            i = _pick(fac.send_cum, rng)
            origin = fac.puskesmas[i] if i < n_pkm else fac.hospitals[i - n_pkm]
            reg = fac.local.get(fac.regency[origin])
            if reg is not None and i < n_pkm and rng.random() < 0.85:
                dest = reg[0][_pick(reg[1], rng)]
            else:
                dest = fac.hospitals[_pick(fac.receive_cum, rng)]
                if dest == origin:
                    dest = fac.hospitals[(fac.hospitals.index(dest) + 1) % len(fac.hospitals)]
        code, specialty, non_spec, _ = rng.choices(DIAGNOSES, weights=[d[3] for d in DIAGNOSES])[0]
        if back_of is not None:
            specialty, non_spec = None, False
        emergency = rng.random() < 0.3
        service_type = (
            "gawat_darurat" if emergency else ("rawat_inap" if rng.random() < 0.2 else "rawat_jalan")
        )
        payer = rng.choices(("jkn_pbi", "jkn_non_pbi", "umum"), weights=(55, 35, 10))[0]
        offline = back_of is None and rng.random() < 0.02
        age_h = (self.end - at).total_seconds() / 3600
        answer = dt.timedelta(minutes=15 if emergency else 120)
        # the state: open ones only among the last two days' (the younger, the likelier)
        if not offline and age_h < 48 and rng.random() < 0.8 * math.exp(-age_h / 4):
            status = rng.choices(("sent", "accepted", "dispatched", "in_transit"), weights=(40, 30, 15, 15))[
                0
            ]
            if not emergency and status in ("dispatched", "in_transit"):
                status = "accepted"
        elif offline:
            status = "completed"
        else:
            status = rng.choices(
                ("completed", "declined", "redirected", "escalated", "cancelled_draft", "cancelled", "arrived",
                 "created"),
                weights=(880, 10, 40, 10, 15, 15, 25, 5),
            )[0]  # fmt: skip
        t: dict[str, dt.datetime | None] = dict.fromkeys(
            ("sent", "due", "answered", "accepted", "declined", "escalated", "dispatched", "in_transit",
             "arrived", "completed", "cancelled")
        )  # fmt: skip
        tried, decline_reason, decline_count, escalation_count = [dest], None, 0, 0
        first = dest
        ev: list[tuple[dt.datetime, str, str | None, str, str]] = []  # (at, kind, from, to, destination)

        def step(prev: dt.datetime, minutes: float) -> dt.datetime:
            nxt = prev + dt.timedelta(minutes=rng.expovariate(1 / minutes))
            return min(nxt, self.end - dt.timedelta(seconds=1))

        if status in ("created", "cancelled_draft"):
            if status == "cancelled_draft":
                t["cancelled"] = step(at, 30)
            status = "cancelled" if status == "cancelled_draft" else "created"
        elif offline:
            t["sent"] = t["accepted"] = at
            t["arrived"], t["completed"] = at, step(at, 600)
        else:
            sent = t["sent"] = step(at, 3)
            t["due"] = sent + answer
            ev.append((sent, "send", "created", "sent", dest))
            last = sent
            if status in ("redirected", "escalated"):
                if status == "redirected":
                    last = t["declined"] = t["answered"] = step(sent, 10)
                    decline_reason, decline_count = rng.choice(DECLINE_REASONS), 1
                    ev.append((last, "decline", "sent", "declined", dest))
                else:
                    last = t["escalated"] = sent + answer + dt.timedelta(seconds=30)
                    escalation_count = 1
                    ev.append((last, "escalated", "sent", "sent", dest))
                other = fac.hospitals[_pick(fac.receive_cum, rng)]
                dest = other if other not in (origin, dest) else dest
                tried.append(dest)
                last = step(last, 5)
                t["due"] = last + answer
                ev.append((last, "redirect", "declined" if status == "redirected" else "sent", "sent", dest))
                t["declined"] = None if status == "escalated" else t["declined"]
                status = "completed"
            if status == "sent":
                due = t["due"]
                assert due is not None
                if due <= self.end - dt.timedelta(minutes=1):  # the tick (every minute) took it
                    t["escalated"] = due + dt.timedelta(seconds=30)
                    escalation_count = 1
            elif status == "declined":
                t["declined"] = t["answered"] = step(last, 10)
                decline_reason, decline_count = rng.choice(DECLINE_REASONS), 1
                ev.append((t["declined"], "decline", "sent", "declined", dest))
            elif status == "cancelled":
                t["cancelled"] = step(last, 20)
            else:  # accepted and on
                last = t["accepted"] = t["answered"] = step(last, 8)
                if status in ("dispatched", "in_transit", "arrived", "completed") and emergency:
                    last = t["dispatched"] = step(last, 10)
                    if status != "dispatched":
                        last = t["in_transit"] = step(last, 15)
                if status in ("arrived", "completed"):
                    last = t["arrived"] = step(last, 60)
                    if status == "completed":
                        t["completed"] = step(last, 1440)
        if (
            status == "completed"
            and back_of is None
            and origin in fac.regency
            and origin.startswith("SYN-PKM")
        ):
            self.forward.append((rid, origin, dest))
            if len(self.forward) > 50_000:
                del self.forward[: len(self.forward) - 40_000]
        month = at + LOCAL
        key = (origin, f"{month.year}-{month.month:02d}")
        n = self.numbers[key] = self.numbers.get(key, 0) + 1
        number = f"{n:03d}/RJK/{origin}/{ROMAN[month.month]}/{month.year}"
        response = (t["answered"] - t["sent"]).total_seconds() if t["answered"] and t["sent"] else None
        updated = max(x for x in (at, *t.values()) if x is not None)
        candidates = [first, *(fac.hospitals[_pick(fac.receive_cum, rng)] for _ in range(2))]
        user = fac.user[origin]
        ambulance = f"SYN-AMB-{dest}-{rng.randrange(4)}" if t["dispatched"] else None
        row = (
            rid, number, _hex(rng, 16) if rng.random() < 0.5 else None, _hex(rng, 32), origin, dest,
            rng.choice(UNITS), status, service_type, emergency, payer, f'["{code}"]', specialty, non_spec,
            "TACC: sarana" if non_spec and rng.random() < 0.3 else "", self.blobs[rng.randrange(4096)],
            _hex(rng, 32),
            '{"diagnosis_text": "sintetis", "icd10": ["' + code + '"], "anamnesis": "", "vitals": {}}',
            "perlu penanganan spesialis", '{"by": "patient", "at": "' + at.isoformat() + '"}', offline,
            "rujukan kertas" if offline else "", back_of, None,
            '{"candidates": ["' + '", "'.join(candidates) + '"], "pack": "synthetic", "version": "1"}',
            '["' + '", "'.join(tried) + '"]', None, user, at, t["sent"], t["due"], t["answered"], response,
            t["accepted"], t["declined"], decline_reason, decline_count, t["escalated"], escalation_count,
            t["dispatched"], t["in_transit"], t["arrived"], t["completed"], t["cancelled"], ambulance, updated,
            1 + len(ev),
        )  # fmt: skip
        refs.append(_line(row))
        if dest != first:  # redirected: the facility it left keeps a trace (service.referrals.traces)
            self.traces.append(_line((first, rid, at, back_of is not None)))
        events.extend(_line((rid, e_at, user, kind, frm, to, origin, d, "")) for e_at, kind, frm, to, d in ev)
        if t["sent"] and rng.random() < 0.005:  # handed to another deployment
            open_ = status in ("sent", "accepted", "dispatched", "in_transit")
            state = rng.choice(("pending", "delivered")) if open_ else "done"
            nxt = updated + dt.timedelta(seconds=rng.choice((5, 60, 600)))
            deliveries.append(
                _line(
                    (
                        rid,
                        f"syn-peer-{rng.randrange(8)}",
                        dest,
                        state,
                        1,
                        nxt,
                        "",
                        None,
                        None if state == "pending" else _hex(rng, 16),
                        None,
                        False,
                        at,
                        updated,
                    )
                )
            )


#: the synthetic deployment's patient keys (public, fixed: the patients are synthetic too)
SYNTHETIC_KEYRING = Keyring({"synthetic": bytes(range(32))}, lookup_key=bytes(32))


def sealed_patient(rng: random.Random, i: int) -> str:
    """A synthetic patient sealed as the service seals one (``SYNTHETIC_KEYRING`` opens it)."""
    born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 75))
    patient = {
        "name": f"Pasien Sintetis {i:04d}",
        "nik": f"61{rng.randrange(10**14):014d}",
        "medical_record_number": f"SYN-{i:06d}",
        "date_of_birth": born.isoformat(),
        "sex": rng.choice(("female", "male")),
        "address": f"Jalan Sintetis {rng.randrange(1, 200)}",
        "phone": f"08{rng.randrange(10**10):010d}",
        "jkn_number": f"{rng.randrange(10**13):013d}",
        "nik_confirmed": True,
    }
    return SYNTHETIC_KEYRING.seal_text(orjson.dumps(patient).decode(), aad=PATIENT_AAD.encode())


def _pick(cum: tuple[float, ...], rng: random.Random) -> int:
    import bisect  # noqa: PLC0415

    return min(bisect.bisect(cum, rng.random() * cum[-1]), len(cum) - 1)


def _hex(rng: random.Random, nbytes: int) -> str:
    return f"{rng.getrandbits(8 * nbytes):0{2 * nbytes}x}"


def _value(v: object) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, dt.datetime):
        return v.isoformat()
    return str(v)


def _line(row: tuple[object, ...]) -> str:
    return "\t".join(map(_value, row)) + "\n"


#: indexes kept during the load (they back constraints)
_KEEP = ("referrals_pkey", "referral_events_pkey", "uq_referral_idempotency")


def _secondary_indexes(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('referrals', 'referral_events')"
    ).fetchall()
    return [(n, d) for n, d in rows if n not in _KEEP]


def _has_table(conn: psycopg.Connection[Any], name: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone() == (True,)


def prepare(url: str, *, fresh: bool, revision: str = "head") -> None:
    """The database (dropped first with ``fresh``), at ``revision`` by the project's migrations."""
    admin, name = url.rsplit("/", 1)
    with psycopg.connect(f"{admin}/postgres", autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(url)
    try:
        upgrade(engine, revision)
    finally:
        engine.dispose()


def seed(
    url: str, count: int, *, seed: int = 1, end: dt.datetime = DEFAULT_END, indexes_after: bool = True
) -> dict[str, float]:
    """Fill a migrated, empty database with ``count`` referrals; the timings of each phase (s)."""
    rng = random.Random(seed)
    fac = Facilities.make(rng)
    gen = Generator(fac, rng, end)
    times: dict[str, float] = {}
    with psycopg.connect(url) as conn, psycopg.connect(url) as econn:
        for c in (conn, econn):
            c.execute("SET session_replication_role = replica")  # FKs: consistent by construction
        conn.execute("SET maintenance_work_mem = '512MB'")
        dropped = _secondary_indexes(conn) if indexes_after else []
        for name, _ in dropped:
            conn.execute(f"DROP INDEX {name}")
        start = end - dt.timedelta(days=365)
        with conn.cursor().copy(f"COPY users ({', '.join(USER_COLUMNS)}) FROM STDIN") as cp:
            for f, uid in fac.user.items():
                cp.write(
                    _line((uid, f"syn-{f.lower()}", "!", '["referrer", "receiver"]', f, True, start, "", ""))
                )
        conn.execute("SELECT setval('users_id_seq', %s)", (len(fac.user),))
        conn.commit()  # (the dropped indexes' locks too: the events' COPY runs on another connection)
        t0 = time.perf_counter()
        deliveries: list[str] = []
        rcols, ecols = ", ".join(REFERRAL_COLUMNS), ", ".join(EVENT_COLUMNS)
        rcur, ecur = conn.cursor(), econn.cursor()
        with (
            rcur.copy(f"COPY referrals ({rcols}) FROM STDIN") as rcp,
            ecur.copy(f"COPY referral_events ({ecols}) FROM STDIN") as ecp,
        ):
            for day, n in gen.days(count):
                refs, evs, dels = gen.day(day, n)
                rcp.write("".join(refs))
                ecp.write("".join(evs))
                deliveries.extend(dels)
        with conn.cursor().copy(f"COPY deliveries ({', '.join(DELIVERY_COLUMNS)}) FROM STDIN") as cp:
            cp.write("".join(deliveries))
        with conn.cursor().copy("COPY letter_counters (facility_id, period, last) FROM STDIN") as cp:
            cp.write("".join(_line((f, p, n)) for (f, p), n in gen.numbers.items()))
        if _has_table(conn, "referral_traces"):  # (from revision 0016)
            cols = "facility_id, referral_id, created_at, back_referral"
            with conn.cursor().copy(f"COPY referral_traces ({cols}) FROM STDIN") as cp:
                cp.write("".join(gen.traces))
        conn.commit()
        econn.commit()
        times["copy_s"] = time.perf_counter() - t0
        for name, definition in dropped:
            t1 = time.perf_counter()
            conn.execute(definition)
            conn.commit()
            times[f"index {name}_s"] = time.perf_counter() - t1
    with psycopg.connect(url, autocommit=True) as conn:
        t2 = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        times["vacuum_analyze_s"] = time.perf_counter() - t2
    return times


def sizes(url: str) -> dict[str, int]:
    """Bytes on disk: each big table whole (pg_total_relation_size), alone, and each of its indexes."""
    out: dict[str, int] = {}
    with psycopg.connect(url) as conn:
        for table in ("referrals", "referral_events", "deliveries", "referral_traces"):
            if not _has_table(conn, table):
                continue
            total, alone = conn.execute(
                "SELECT pg_total_relation_size(%s), pg_table_size(%s)", (table, table)
            ).fetchone() or (0, 0)
            out[f"{table} total"], out[f"{table} table"] = total, alone
            for (name,) in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", (table,)):
                row = conn.execute("SELECT pg_relation_size(%s)", (name,)).fetchone()
                out[f"{table} index {name}"] = row[0] if row else 0
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM referrals), (SELECT count(*) FROM referral_events),"
            " (SELECT count(*) FROM deliveries)"
        ).fetchone()
        assert counts is not None
        out["rows referrals"], out["rows referral_events"], out["rows deliveries"] = counts
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--url", default=DEFAULT_URL, help="the database to fill (created if missing)")
    ap.add_argument("--count", type=int, default=10_000_000, help="referrals (default 10 million)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--end", type=dt.datetime.fromisoformat, default=DEFAULT_END, help="the year's end (UTC)")
    ap.add_argument("--fresh", action="store_true", help="drop the database first")
    ap.add_argument("--revision", default="head", help="migrate to this revision (to compare index costs)")
    ap.add_argument("--indexes-during", action="store_true", help="keep the indexes during the load")
    args = ap.parse_args()
    if args.url.rsplit("/", 1)[1] in ("postgres", "template0", "template1"):
        ap.error("give a database of its own (e.g. .../rujuk_national)")
    t0 = time.perf_counter()
    prepare(args.url, fresh=args.fresh, revision=args.revision)
    times = seed(args.url, args.count, seed=args.seed, end=args.end, indexes_after=not args.indexes_during)
    total = time.perf_counter() - t0
    print(f"seeded {args.count:,} referrals in {total:.0f} s")
    for k, v in times.items():
        print(f"  {k}: {v:.1f}")
    for k, v in sizes(args.url).items():
        print(f"  {k}: {v / 2**20:,.1f} MiB" if not k.startswith("rows") else f"  {k}: {v:,}")


if __name__ == "__main__":
    main()

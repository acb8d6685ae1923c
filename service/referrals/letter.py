"""The printable referral letter (Pasal 17): an HTML page with a print stylesheet."""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape

from geodata.timezones import WIB, zone_label
from service.database import aware
from service.referrals.schemas import CONSENT_ITEMS

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping

    from geodata.models import Facility
    from service.database import Referral

_ENV = Environment(
    loader=PackageLoader("service.referrals", "templates"), autoescape=select_autoescape(["html"])
)
_SERVICE = {"rawat_jalan": "rawat jalan", "gawat_darurat": "gawat darurat", "rawat_inap": "rawat inap"}
_PAYER = {"jkn_pbi": "JKN PBI", "jkn_non_pbi": "JKN non-PBI", "umum": "Umum"}
_TIMES = (
    ("created", "dibuat"),
    ("sent", "dikirim"),
    ("accepted", "diterima"),
    ("declined", "ditolak"),
    ("escalated", "dieskalasi"),
    ("dispatched", "ambulans diberangkatkan"),
    ("in_transit", "dalam perjalanan"),
    ("arrived", "tiba / serah terima"),
    ("completed", "selesai"),
    ("cancelled", "dibatalkan"),
)


def _fmt(t: dt.datetime | None, zone: str) -> str:
    """A time in the jurisdiction's zone, named as people there name it (``2026-12-01 03:00 WIB``)."""
    t = aware(t)
    return f"{t.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} {zone_label(zone)}" if t else ""


def render_letter(
    r: Referral, facilities: Mapping[str, Facility], *, now: dt.datetime, timezone: str = WIB
) -> str:
    """The letter as HTML (autoescaped); times in the jurisdiction's zone."""

    def name(fid: str) -> str:
        f = facilities.get(fid)
        return f"{f.name} ({fid})" if f else fid

    vitals = [(k, v) for k, v in (r.medical.get("vital_signs") or {}).items() if v is not None]
    times = [(label, _fmt(getattr(r, f"{k}_at"), timezone)) for k, label in _TIMES if getattr(r, f"{k}_at")]
    return _ENV.get_template("letter.html").render(
        r=r,
        p=r.patient,
        m=r.medical,
        c=r.consent,
        vitals=vitals,
        items=sorted(CONSENT_ITEMS.items()),
        origin=name(r.origin_id),
        destination=name(r.destination_id),
        service_type=_SERVICE.get(r.service_type, r.service_type),
        payer=_PAYER.get(r.payer, r.payer),
        created=_fmt(r.created_at, timezone),
        printed=_fmt(now, timezone),
        times=times,
    )

"""The referral letter (Pasal 17) as people read it.

HTML for the screen and the printer (A4, and a phone), and a PDF rendered from the same HTML
(WeasyPrint).

Everything on it is in the reader's language (Bahasa Indonesia, or English): labels, the state,
vital signs with their units, times in the jurisdiction's zone and dates as people write them
(Babel's CLDR data), the letter's number, and the staff who wrote it by full name and profession.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from geodata.timezones import WIB, zone_label
from rules import procedures
from service.database import User, aware
from service.errors import NotFoundError
from service.referrals.queries import sees_patient
from service.referrals.schemas import CONSENT_ITEMS

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping

    from jinja2 import Environment
    from sqlalchemy.orm import Session

    from geodata.models import Facility
    from service.auth import Principal
    from service.database import Referral

LANGS = ("id", "en")
_LOCALE = {"id": "id_ID", "en": "en_GB"}


@cache
def _env() -> Environment:
    """The templates (jinja2 is imported at the first letter, not when the service starts)."""
    from jinja2 import Environment, PackageLoader, select_autoescape  # noqa: PLC0415

    return Environment(
        loader=PackageLoader("service.referrals", "templates"), autoescape=select_autoescape(["html"])
    )


#: every word of the letter, per language (the template holds none)
WORDS: dict[str, dict[str, str]] = {
    "id": {
        "title": "Surat Rujukan",
        "electronic": "Surat rujukan elektronik (Perbup Sambas 49/2025 Pasal 17)",
        "number": "Nomor",
        "no_number": "belum bernomor",
        "made": "Dibuat",
        "printed": "Dicetak",
        "state": "Status",
        "to": "Kepada Yth.",
        "unit": "Unit layanan",
        "care": "Jenis pelayanan",
        "emergency": "GAWAT DARURAT",
        "offline": "Rujukan manual/luring, dientri kemudian (Pasal 20 ayat 3)",
        "back": "Rujuk balik",
        "back_of": "dari surat",
        "a": "a. Identitas pasien",
        "name": "Nama",
        "nik": "NIK",
        "nik_check": "Pemeriksaan NIK",
        "mrn": "No. rekam medis",
        "dob": "Tanggal lahir",
        "sex": "Jenis kelamin",
        "address": "Alamat",
        "phone": "Telepon keluarga",
        "jkn": "No. JKN",
        "payer": "Penjamin",
        "from": "Fasilitas perujuk",
        "bc": "b-c. Fasilitas dan unit penerima rujukan",
        "receiver": "Penerima",
        "d": "d. Ringkasan rekam medis",
        "history": "Anamnesis dan pemeriksaan",
        "vitals": "Tanda vital",
        "dx": "Diagnosis kerja",
        "icd": "Kode ICD-10",
        "therapy": "Terapi yang sudah diberikan",
        "stab": "Stabilisasi (Pasal 13 ayat 2)",
        "tacc": "Alasan TACC",
        "procedures": "Tindakan (ICD-9-CM)",
        "e": "e. Alasan rujukan",
        "consent": "Persetujuan (Pasal 13 ayat 3-5)",
        "given_by": "Diberikan oleh",
        "form": "Bentuk",
        "at": "Waktu",
        "explained_by": "Dijelaskan oleh",
        "explained": "Sudah dijelaskan",
        "deferred": "Persetujuan",
        "writer": "Yang merujuk",
        "main_line": "nomor rumah sakit, belum diverifikasi sebagai nomor IGD",
        "no_phone": "nomor belum tercatat",
        "unknown_name": "nama lengkap belum dicatat di akun",
        "history_title": "Riwayat",
        "decline_reason": "Alasan penolakan",
        "none": "-",
        "print_hint": "Cetak dengan menu Cetak peramban (Ctrl+P), atau unduh PDF dari halaman rujukan.",
        "patient": "pasien",
        "representative": "keluarga / wali",
        "female": "Perempuan",
        "male": "Laki-laki",
        "oral": "lisan",
        "written": "tertulis",
        "oral_and_written": "lisan dan tertulis",
        "years": "tahun",
    },
    "en": {
        "title": "Referral Letter",
        "electronic": "Electronic referral letter (Perbup Sambas 49/2025 Pasal 17)",
        "number": "Number",
        "no_number": "not numbered",
        "made": "Written",
        "printed": "Printed",
        "state": "State",
        "to": "To",
        "unit": "Receiving unit",
        "care": "Type of care",
        "emergency": "EMERGENCY",
        "offline": "Paper/offline referral, entered afterwards (Pasal 20(3))",
        "back": "Back-referral",
        "back_of": "of letter",
        "a": "a. Patient identity",
        "name": "Name",
        "nik": "NIK",
        "nik_check": "NIK check",
        "mrn": "Medical record no.",
        "dob": "Date of birth",
        "sex": "Sex",
        "address": "Address",
        "phone": "Family phone",
        "jkn": "JKN no.",
        "payer": "Payer",
        "from": "Referring facility",
        "bc": "b-c. Receiving facility and unit",
        "receiver": "Receiver",
        "d": "d. Medical record summary",
        "history": "History and examination",
        "vitals": "Vital signs",
        "dx": "Working diagnosis",
        "icd": "ICD-10 codes",
        "therapy": "Treatment given",
        "stab": "Stabilisation (Pasal 13(2))",
        "tacc": "TACC reason",
        "procedures": "Procedures (ICD-9-CM)",
        "e": "e. Reason for referral",
        "consent": "Consent (Pasal 13(3)-(5))",
        "given_by": "Given by",
        "form": "Form",
        "at": "Time",
        "explained_by": "Explained by",
        "explained": "Explained",
        "deferred": "Consent",
        "writer": "Referred by",
        "main_line": "the hospital's main number, not verified as the ER's line",
        "no_phone": "no number recorded",
        "unknown_name": "full name not recorded on the account",
        "history_title": "History",
        "decline_reason": "Reason for declining",
        "none": "-",
        "print_hint": "Print with the browser's Print menu (Ctrl+P), or download the PDF from the "
        "referral's page.",
        "patient": "the patient",
        "representative": "family / representative",
        "female": "Female",
        "male": "Male",
        "oral": "oral",
        "written": "written",
        "oral_and_written": "oral and written",
        "years": "years",
    },
}

STATES: dict[str, dict[str, str]] = {
    "id": {
        "created": "Dibuat, belum dikirim",
        "sent": "Dikirim, menunggu jawaban",
        "accepted": "Diterima",
        "declined": "Ditolak",
        "dispatched": "Ambulans berangkat",
        "in_transit": "Dalam perjalanan",
        "arrived": "Tiba, diserahterimakan",
        "completed": "Selesai",
        "cancelled": "Dibatalkan",
    },
    "en": {
        "created": "Written, not sent",
        "sent": "Sent, waiting for an answer",
        "accepted": "Accepted",
        "declined": "Declined",
        "dispatched": "Ambulance dispatched",
        "in_transit": "In transit",
        "arrived": "Arrived, handed over",
        "completed": "Completed",
        "cancelled": "Cancelled",
    },
}

#: the lifecycle's times on the letter: column prefix -> words
_TIMES: dict[str, dict[str, str]] = {
    "id": {
        "created": "dibuat",
        "sent": "dikirim",
        "accepted": "diterima",
        "declined": "ditolak",
        "escalated": "dieskalasi (tidak dijawab tepat waktu)",
        "dispatched": "ambulans diberangkatkan",
        "in_transit": "dalam perjalanan",
        "arrived": "tiba / serah terima",
        "completed": "selesai",
        "cancelled": "dibatalkan",
    },
    "en": {
        "created": "written",
        "sent": "sent",
        "accepted": "accepted",
        "declined": "declined",
        "escalated": "escalated (not answered in time)",
        "dispatched": "ambulance dispatched",
        "in_transit": "in transit",
        "arrived": "arrived / handed over",
        "completed": "completed",
        "cancelled": "cancelled",
    },
}

_SERVICE = {
    "id": {"rawat_jalan": "rawat jalan", "gawat_darurat": "gawat darurat", "rawat_inap": "rawat inap"},
    "en": {"rawat_jalan": "outpatient", "gawat_darurat": "emergency", "rawat_inap": "inpatient"},
}
_PAYER = {
    "id": {"jkn_pbi": "JKN PBI", "jkn_non_pbi": "JKN non-PBI", "umum": "Umum (biaya sendiri)"},
    "en": {"jkn_pbi": "JKN PBI", "jkn_non_pbi": "JKN non-PBI", "umum": "Self-pay"},
}
_CONSENT_ITEMS_EN = {
    "a": "diagnosis",
    "b": "indication",
    "c": "the care to be given and its purpose",
    "d": "risks and possible complications",
    "e": "other options and their risks",
    "f": "risks of not treating",
    "g": "prognosis after treatment",
    "h": "transport for the referral",
}

#: vital signs: key -> (label id, label en, unit); blood pressure is shown as one reading
_VITALS: tuple[tuple[str, str, str, str], ...] = (
    ("pulse", "Nadi", "Pulse", "x/menit|/min"),
    ("respiratory_rate", "Napas", "Respiratory rate", "x/menit|/min"),
    ("temperature_c", "Suhu", "Temperature", "°C|°C"),
    ("spo2", "SpO₂", "SpO₂", "%|%"),
    ("gcs", "GCS", "GCS", "|"),
)


@dataclass(frozen=True, slots=True)
class Author:
    """Who wrote the letter: their full name and profession (the account's user name if unknown)."""

    full_name: str
    profession: str
    username: str


def author_of(s: Session, user_id: int) -> Author:
    """The letter's author from their account."""
    u = s.get(User, user_id)
    if u is None:
        return Author("", "", f"#{user_id}")
    return Author(u.full_name, u.profession, u.username)


def _number(value: float, lang: str, digits: int = 0) -> str:
    """A number as the reader's language writes it (Babel): 37,5 in Bahasa, 37.5 in English."""
    from babel.numbers import format_decimal  # noqa: PLC0415 (babel: at the first letter, not at start)

    return format_decimal(value, format=f"#,##0.{'0' * digits}" if digits else "#,##0", locale=_LOCALE[lang])


#: what was checked of the NIK (``patient.identity``, service.referrals.registry.identity_check)
_IDENTITY: dict[str, dict[str, str]] = {
    "id": {
        "checked": "struktur dan kode wilayah sesuai data Kemendagri",
        "confirmed_as_printed": "dikonfirmasi petugas sesuai KTP/KK (kode wilayah atau tanggal lahir lama)",
        "not_configured": "tidak dicek ke Dukcapil",
        "found": "ditemukan di data kependudukan (Dukcapil)",
        "not_found": "tidak ditemukan di data kependudukan (Dukcapil); dikonfirmasi petugas sesuai KTP/KK",
        "unavailable": "data kependudukan (Dukcapil) tidak dapat dihubungi",
    },
    "en": {
        "checked": "structure and region codes agree with Kemendagri's list",
        "confirmed_as_printed": "confirmed by staff as on the KTP or KK (an older region code or birth date)",
        "not_configured": "not looked up in the population registry (Dukcapil)",
        "found": "found in the population registry (Dukcapil)",
        "not_found": "not found in the population registry (Dukcapil); confirmed by staff as on the KTP/KK",
        "unavailable": "the population registry (Dukcapil) could not be reached",
    },
}


def identity_text(checked: dict[str, Any], lang: str) -> str:
    """What was checked of the NIK, in words: the structure, then the registry."""
    words = _IDENTITY[lang]
    parts = [words.get(str(checked.get(k)), "") for k in ("structure", "registry")]
    return "; ".join(x for x in parts if x)


def vital_signs(vitals: Mapping[str, Any], lang: str) -> list[tuple[str, str]]:
    """The vital signs as (label, value with unit), blood pressure as one "85/50 mmHg"."""
    out: list[tuple[str, str]] = []
    sys_, dia = vitals.get("bp_systolic"), vitals.get("bp_diastolic")
    if sys_ is not None or dia is not None:
        label = "Tekanan darah" if lang == "id" else "Blood pressure"
        out.append((label, f"{sys_ if sys_ is not None else '?'}/{dia if dia is not None else '?'} mmHg"))
    for key, label_id, label_en, units in _VITALS:
        v = vitals.get(key)
        if v is None:
            continue
        unit = units.split("|")[0 if lang == "id" else 1]
        shown = _number(float(v), lang, 1 if key == "temperature_c" else 0)
        out.append((label_id if lang == "id" else label_en, f"{shown} {unit}".strip()))
    return out


def _when(t: dt.datetime | str | None, zone: str, lang: str) -> str:
    """A time in the jurisdiction's zone as people write it: ``2 Desember 2026, 05.45 WIB``."""
    from babel.dates import format_datetime  # noqa: PLC0415

    if isinstance(t, str):
        try:
            t = datetime.fromisoformat(t)  # a stored ISO string (the consent's time)
        except ValueError:
            return str(t)
    t = aware(t)
    if t is None:
        return ""
    pattern = "d MMMM y, HH.mm" if lang == "id" else "d MMMM y, HH:mm"
    text = format_datetime(t, pattern, tzinfo=ZoneInfo(zone), locale=_LOCALE[lang])
    return f"{text} {zone_label(zone)}"


def _procedure_title(code: str) -> str:
    found = procedures.lookup(code)
    return found.title if found else ""


def _date(value: str, lang: str) -> str:
    from babel.dates import format_date  # noqa: PLC0415

    try:
        return format_date(date.fromisoformat(value), "long", locale=_LOCALE[lang])
    except (TypeError, ValueError):
        return value or WORDS[lang]["none"]


def render_letter(
    r: Referral,
    facilities: Mapping[str, Facility],
    *,
    now: dt.datetime,
    timezone: str = WIB,
    lang: str = "id",
    author: Author | None = None,
) -> str:
    """The letter as HTML (autoescaped), in ``lang``; times in the jurisdiction's zone."""
    from babel.dates import format_date  # noqa: PLC0415

    lang = lang if lang in LANGS else "id"
    w = WORDS[lang]

    def facility(fid: str) -> dict[str, str]:
        f = facilities.get(fid)
        phone = f.phone if f else None
        return {
            "id": fid,
            "name": f.name if f else fid,
            "phone": phone.display if phone else "",
            "tel": phone.dial if phone else "",
            "main": "1" if phone and phone.kind == "main" else "",
        }

    p, c = r.patient, r.consent
    checked = p.get("identity")
    items = CONSENT_ITEMS if lang == "id" else _CONSENT_ITEMS_EN
    times = [
        (label, _when(getattr(r, f"{k}_at"), timezone, lang))
        for k, label in _TIMES[lang].items()
        if getattr(r, f"{k}_at")
    ]
    consent: dict[str, str] = {}
    if not c.get("deferred"):
        by = w["patient"] if c.get("given_by") == "patient" else w["representative"]
        relation = c.get("representative_relation") or ""
        consent = {
            "by": f"{by} ({relation})" if relation and c.get("given_by") != "patient" else by,
            "form": w.get(str(c.get("form")), str(c.get("form") or "")),
            "at": _when(c.get("at"), timezone, lang),
            "explained_by": str(c.get("explained_by") or ""),
        }
    return (
        _env()
        .get_template("letter.html")
        .render(
            lang=lang,
            w=w,
            r=r,
            p=p,
            m=r.medical,
            c=c,
            consent=consent,
            sex=w.get(str(p.get("sex")), str(p.get("sex") or "")),
            dob=_date(str(p.get("date_of_birth") or ""), lang),
            nik_check=identity_text(checked, lang) if isinstance(checked, dict) else "",
            vitals=vital_signs(r.medical.get("vital_signs") or {}, lang),
            procedures=[
                (str(x.get("code", "")), _procedure_title(str(x.get("code", ""))), str(x.get("note") or ""))
                for x in r.medical.get("procedures") or []
            ],
            items=sorted(items.items()),
            origin=facility(r.origin_id),
            destination=facility(r.destination_id),
            state=STATES[lang].get(r.status, r.status),
            service_type=_SERVICE[lang].get(r.service_type, r.service_type),
            payer=_PAYER[lang].get(r.payer, r.payer),
            created=_when(r.created_at, timezone, lang),
            place_date=format_date(
                (aware(r.created_at) or now).astimezone(ZoneInfo(timezone)), "long", locale=_LOCALE[lang]
            ),
            printed=_when(now, timezone, lang),
            times=times,
            author=author,
        )
    )


def letter_for(
    s: Session,
    r: Referral,
    p: Principal,
    *,
    facilities: Mapping[str, Facility],
    now: dt.datetime,
    timezone: str,
    lang: str,
) -> str:
    """The letter for a reader: only the two facilities (and those the referral's rules let see the
    patient) read it; anyone else is told there is no such referral."""  # noqa: D205, D209
    if not sees_patient(p, r):
        raise NotFoundError(f"no referral {r.id!r}")
    return render_letter(
        r, facilities, now=now, timezone=timezone, lang=lang, author=author_of(s, r.created_by)
    )


def pdf_of(html: str) -> bytes:
    """The letter as a PDF (A4), rendered from its HTML by WeasyPrint. Seconds of work: call it
    off the event loop."""  # noqa: D205, D209
    from weasyprint import HTML  # type: ignore[import-untyped]  # noqa: PLC0415  heavy, for the PDF only

    return bytes(HTML(string=html).write_pdf())

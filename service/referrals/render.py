"""Plain-text rendering of a suggestion for the terminal, in Bahasa Indonesia or English."""

from __future__ import annotations

from typing import TYPE_CHECKING

from geodata.models import SERVICE_LABELS

if TYPE_CHECKING:
    from geodata.models import Facility
    from rules.model import Reason, ReferralRequest, Suggestion

LABELS: dict[str, dict[str, str]] = {
    "id": {
        "header": "Rujukan dari",
        "emergency": "kasus gawat darurat",
        "disaster": "status bencana",
        "age": "usia {age:g} th",
        "male": "laki-laki",
        "female": "perempuan",
        "assumed": "asumsi, ubah dengan --age/--sex",
        "decision": "Keputusan",
        "refer": "RUJUK",
        "treat_locally": "TANGANI DI TEMPAT",
        "no_capable_facility": "TIDAK ADA FASILITAS MAMPU YANG TERJANGKAU",
        "vertical": "vertikal",
        "horizontal": "horizontal",
        "back_referral": "rujuk balik",
        "pack": "Paket aturan",
        "version": "versi",
        "need": "Kebutuhan",
        "specialty": "spesialis",
        "beds": "tempat tidur",
        "equipment": "alat",
        "none": "tidak ada",
        "why": "Dasar keputusan",
        "warnings": "Peringatan",
        "candidates": "Tujuan yang disarankan",
        "min": "mnt",
        "score": "skor",
        "stale": "data status lama",
        "excluded": "Dikecualikan",
        "others": "{n} fasilitas lain dikecualikan (mis. {why})",
        "modelled": (
            "Catatan: waktu tempuh dihitung pada jaringan jalan MODEL (bukan peta jalan hasil survei); "
            "anggap sebagai perkiraan."
        ),
        "service_type.rawat_jalan": "rawat jalan",
        "service_type.gawat_darurat": "layanan gawat darurat",
        "service_type.rawat_inap": "rawat inap",
    },
    "en": {
        "header": "Referral from",
        "emergency": "emergency case",
        "disaster": "disaster status",
        "age": "age {age:g} y",
        "male": "male",
        "female": "female",
        "assumed": "assumed, change with --age/--sex",
        "decision": "Decision",
        "refer": "REFER",
        "treat_locally": "TREAT LOCALLY",
        "no_capable_facility": "NO CAPABLE FACILITY IN REACH",
        "vertical": "vertical",
        "horizontal": "horizontal",
        "back_referral": "back-referral",
        "pack": "Rule pack",
        "version": "version",
        "need": "Need",
        "specialty": "specialty",
        "beds": "bed",
        "equipment": "equipment",
        "none": "none",
        "why": "Grounds",
        "warnings": "Warnings",
        "candidates": "Suggested destinations",
        "min": "min",
        "score": "score",
        "stale": "stale status",
        "excluded": "Excluded",
        "others": "{n} other facilities excluded (e.g. {why})",
        "modelled": (
            "Note: travel times come from a MODELLED road network (not a surveyed road map); "
            "treat them as estimates."
        ),
        "service_type.rawat_jalan": "outpatient",
        "service_type.gawat_darurat": "emergency care",
        "service_type.rawat_inap": "inpatient",
    },
}


def _refs(r: Reason) -> str:
    return f" [{'; '.join(r.references)}]" if r.references else ""


def render_suggestion(
    s: Suggestion,
    request: ReferralRequest,
    origin: Facility,
    facilities: dict[str, Facility],
    *,
    lang: str = "id",
    modelled: bool = False,
    assumed_patient: bool = False,
    top: int | None = None,
) -> str:
    """The ranked, explained list as text; hospitals excluded are listed, other exclusions counted."""
    t = LABELS["en" if lang == "en" else "id"]
    lines: list[str] = []
    parts = [", ".join(request.icd10) or "-", t[f"service_type.{request.service_type.value}"]]
    if request.emergency:
        parts.append(t["emergency"])
    if request.disaster:
        parts.append(t["disaster"])
    patient = f"{t['age'].format(age=request.age_years)}, {t[request.sex.value]}"
    if assumed_patient:
        patient += f" ({t['assumed']})"
    parts.append(patient)
    lines.append(f"{t['header']} {origin.name} ({origin.id}): ICD-10 {'; '.join(parts)}")
    decision = t[s.decision.value]
    if s.referral_type is not None:
        decision += f" ({t[s.referral_type.value]})"
    lines.append(f"{t['decision']}: {decision}    {t['pack']}: {s.pack_id} {t['version']} {s.pack_version}")
    n = s.need
    lines.append(
        f"{t['need']}: {t['specialty']} {SERVICE_LABELS[n.specialty] if n.specialty else t['none']}; "
        f"{t['beds']} {', '.join(b.value for b in n.beds) or t['none']}; "
        f"{t['equipment']} {', '.join(e.value for e in n.equipment) or t['none']}"
    )
    if s.reasons:
        lines.append(f"{t['why']}:")
        lines += [f"  - {r.text(lang)}{_refs(r)}" for r in s.reasons]
    if s.warnings:
        lines.append(f"{t['warnings']}:")
        lines += [f"  ! {r.text(lang)}{_refs(r)}" for r in s.warnings]
    if s.candidates:
        lines.append(f"{t['candidates']}:")
        for c in s.candidates[:top] if top else s.candidates:
            km = f" · {c.distance_m / 1000:.1f} km" if c.distance_m is not None else ""
            stale = f" · {t['stale']}" if c.stale else ""
            lines.append(
                f"  {c.rank:>2}. {c.name} ({c.facility_id}) · {c.travel_time_s / 60:.0f} {t['min']}{km}"
                f" · {t['score']} {c.score:.1f}{stale}"
            )
            lines += [f"        - {r.text(lang)}{_refs(r)}" for r in c.reasons]
    hospitals = [x for x in s.excluded if (f := facilities.get(x.facility_id)) is not None and f.is_hospital]
    others = [x for x in s.excluded if x not in hospitals]
    if s.excluded:
        lines.append(f"{t['excluded']}:")
        for x in hospitals:
            why = "; ".join(r.text(lang) + _refs(r) for r in x.reasons)
            lines.append(f"  x {x.name} ({x.facility_id}): {why}")
        if others:
            why = others[0].reasons[0].text(lang) + _refs(others[0].reasons[0]) if others[0].reasons else "-"
            lines.append("  " + t["others"].format(n=len(others), why=why))
    if modelled:
        lines.append(t["modelled"])
    return "\n".join(lines)

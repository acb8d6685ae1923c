"""Clinical need: what a patient needs, from ICD-10 codes, age and sex through the pack's mapping."""

from __future__ import annotations

from typing import TYPE_CHECKING

from geodata.models import BedType, Equipment
from rules import icd
from rules.errors import RequestError, UnknownCodeError
from rules.model import ClinicalNeed, ReferralRequest, ServiceType
from rules.pack import per_pack

if TYPE_CHECKING:
    from rules.pack import NeedEntry, RulePack


def _matches(entry: NeedEntry, lineage: tuple[str, ...], req: ReferralRequest) -> int | None:
    """How specific the match is (0 = the code itself), or None if the entry does not apply."""
    if entry.age_min is not None and req.age_years < entry.age_min:
        return None
    if entry.age_max is not None and req.age_years > entry.age_max:
        return None
    if entry.sex is not None and req.sex != entry.sex:
        return None
    depths = [lineage.index(c) for c in entry.codes if c in lineage]
    return min(depths) if depths else None


#: Resolved needs per pack (by identity), keyed by the request fields the mapping reads: the
#: mapping is a pure function of them, and the same few codes, ages and sexes recur.
_CACHE: dict[int, tuple[RulePack, dict[tuple[object, ...], ClinicalNeed]]] = {}
_CACHE_MAX = 4096


def resolve_need(req: ReferralRequest, pack: RulePack) -> ClinicalNeed:
    """The clinical need of a request.

    Per code the most specific mapping entry applies; the first code's specialty leads; whatever
    the request states explicitly overrides the mapping.
    """
    key = (req.icd10, req.age_years, req.sex, req.specialty, req.beds, req.equipment, req.service_type,
           req.back_referral)  # fmt: skip
    slot = per_pack(_CACHE, pack, dict)
    hit = slot.get(key)
    if hit is not None:
        return hit
    need = _resolve(req, pack)
    if len(slot) >= _CACHE_MAX:
        slot.clear()
    slot[key] = need
    return need


def _resolve(req: ReferralRequest, pack: RulePack) -> ClinicalNeed:
    lineages = []
    for i, code in enumerate(req.icd10):
        try:
            lineages.append(icd.lineage(code))
        except UnknownCodeError as exc:
            raise RequestError(f"icd10[{i}]", str(exc)) from None
    specialty = None
    beds: list[BedType] = []
    equipment: list[Equipment] = []
    preferred: list[Equipment] = []
    within = 0.0
    sources: list[str] = []
    for lineage in lineages:
        hits = [(d, k, e) for k, e in enumerate(pack.needs) if (d := _matches(e, lineage, req)) is not None]
        if not hits:
            continue
        _, _, entry = min(hits, key=lambda h: (h[0], h[1]))
        sources.append(entry.id)
        if specialty is None:
            specialty = entry.specialty
        beds += [b for b in entry.beds if b not in beds]
        equipment += [e for e in entry.equipment if e not in equipment]
        preferred += [e for e in entry.preferred_equipment if e not in preferred]
        within = max(within, entry.preferred_within_min)
    if req.back_referral:
        # the patient has been treated (Pasal 5 ayat (3), Pasal 11 ayat (1)): what continues is
        # the care the letter asks for, not the acute need of the diagnosis
        beds, equipment, preferred, within = [], [], [], 0.0
    if req.specialty is not None:
        specialty = req.specialty
        sources.append("request")
    if req.beds:
        beds = list(req.beds)
    if req.equipment:
        equipment = list(req.equipment)
    if not beds and req.service_type is ServiceType.RAWAT_INAP:
        beds = [BedType.GENERAL]
    non_specialist = bool(lineages) and all(any(c in pack.non_specialist for c in lin) for lin in lineages)
    return ClinicalNeed(
        specialty=specialty,
        beds=tuple(beds),
        equipment=tuple(equipment),
        preferred_equipment=tuple(preferred),
        preferred_within_min=within,
        non_specialist=non_specialist,
        sources=tuple(sources),
    )

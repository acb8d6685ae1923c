"""The matching engine's inputs and outputs: requests, live status, clinical need, suggestions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

from geodata.models import BedType, Equipment, Service  # noqa: TC001  dataclass field types

if TYPE_CHECKING:
    from datetime import datetime


class ServiceType(StrEnum):
    """Pasal 15: outpatient, emergency, inpatient."""

    RAWAT_JALAN = "rawat_jalan"
    GAWAT_DARURAT = "gawat_darurat"
    RAWAT_INAP = "rawat_inap"


class Payer(StrEnum):
    """Recorded for reports, never used to rank (Pasal 4(3))."""

    JKN_PBI = "jkn_pbi"
    JKN_NON_PBI = "jkn_non_pbi"
    UMUM = "umum"


class OriginCondition(StrEnum):
    """Pasal 9(2): why a hospital refers horizontally."""

    STAFF_ABSENT = "staff_absent"
    EQUIPMENT_BROKEN = "equipment_broken"
    PHARMACY_MISSING = "pharmacy_missing"
    CAPACITY_FULL = "capacity_full"


class Decision(StrEnum):
    """What the engine decided."""

    REFER = "refer"
    TREAT_LOCALLY = "treat_locally"
    NO_CAPABLE_FACILITY = "no_capable_facility"


class ReferralType(StrEnum):
    """Pasal 7-11."""

    VERTICAL = "vertical"
    HORIZONTAL = "horizontal"
    BACK_REFERRAL = "back_referral"


class Sex(StrEnum):
    """Patient sex as recorded."""

    MALE = "male"
    FEMALE = "female"


@dataclass(frozen=True, slots=True)
class ReferralRequest:
    """What the referring staff asks: no patient identity here (that comes with the letter)."""

    origin_id: str
    age_years: float
    sex: Sex
    icd10: tuple[str, ...] = ()
    service_type: ServiceType = ServiceType.RAWAT_JALAN
    emergency: bool = False
    disaster: bool = False
    transportable: bool = True
    consent: bool = True
    payer: Payer = Payer.JKN_NON_PBI
    specialty: Service | None = None
    beds: tuple[BedType, ...] = ()
    equipment: tuple[Equipment, ...] = ()
    origin_conditions: frozenset[OriginCondition] = frozenset()
    tacc: str = ""
    back_referral: bool = False
    #: for a back-referral: the facility that referred this patient here (proposed first,
    #: Pasal 5 ayat (3)); None when unknown or not a back-referral
    referred_from: str | None = None


@dataclass(frozen=True, slots=True)
class FacilityStatus:
    """Live status reported by a facility's own staff, with when it was last updated."""

    facility_id: str
    updated_at: datetime
    beds_available: Mapping[BedType, int] = field(default_factory=dict)
    specialists_on_duty: frozenset[Service] = frozenset()
    specialists_on_call: Mapping[Service, int] = field(default_factory=dict)  # minutes to arrive
    equipment_out_of_order: frozenset[Equipment] = frozenset()
    stockouts: frozenset[str] = frozenset()
    not_accepting_until: datetime | None = None
    occupancy: float | None = None  # 0..1
    #: when each figure was last updated (``beds_available.icu``, ``specialists_on_duty``,
    #: ``specialists_on_call``, ``equipment_out_of_order``, ``occupancy``, ...); a figure not
    #: listed dates from ``updated_at``. The rule that uses a figure judges it by its own age.
    figure_times: Mapping[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ClinicalNeed:
    """What the patient needs, from the diagnosis mapping or stated in the request."""

    specialty: Service | None
    beds: tuple[BedType, ...]
    equipment: tuple[Equipment, ...]
    preferred_equipment: tuple[Equipment, ...]
    preferred_within_min: float
    non_specialist: bool
    sources: tuple[str, ...]  # mapping entry ids, or "request"


class InLanguage(Mapping[str, object]):
    """A reason's placeholder values read in one language.

    ``{beds}`` is ``values["beds.id"]`` on a Bahasa text when the values hold one (a bed type's
    name), else ``values["beds"]``.
    """

    __slots__ = ("_lang", "_values")

    def __init__(self, values: Mapping[str, object], lang: str) -> None:
        self._values, self._lang = values, lang

    def __getitem__(self, key: str) -> object:
        try:
            return self._values[f"{key}.{self._lang}"]
        except KeyError:
            return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class Reason(NamedTuple):
    """One rule that admitted, excluded, boosted or demoted a facility, or shaped the decision.

    The texts are the rule's templates filled from ``values``; they are formatted when read (a
    request produces hundreds of reasons, and most are never displayed). With ``values`` None
    the templates are the finished texts. A named tuple: cheap to make, immutable.
    """

    rule_id: str
    effect: str
    template_id: str
    template_en: str
    values: Mapping[str, object] | None
    references: tuple[str, ...]

    @property
    def text_id(self) -> str:
        """The reason in Bahasa Indonesia."""
        if self.values is None:
            return self.template_id
        return self.template_id.format_map(InLanguage(self.values, "id"))

    @property
    def text_en(self) -> str:
        """The reason in English."""
        if self.values is None:
            return self.template_en
        return self.template_en.format_map(InLanguage(self.values, "en"))

    def text(self, lang: str = "id") -> str:
        """The reason in Bahasa Indonesia (``id``) or English (``en``)."""
        return self.text_en if lang == "en" else self.text_id


class RankedCandidate(NamedTuple):
    """A receiving facility in the ranking; ``score`` is a cost in minutes (lower is better)."""

    facility_id: str
    name: str
    rank: int
    score: float
    travel_time_s: float
    distance_m: float | None
    referral_type: ReferralType
    reasons: tuple[Reason, ...]
    status_age_s: float | None
    stale: bool


class ExcludedFacility(NamedTuple):
    """A facility left out, with every reason."""

    facility_id: str
    name: str
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class Suggestion:
    """The engine's answer to one request."""

    decision: Decision
    referral_type: ReferralType | None
    candidates: tuple[RankedCandidate, ...]
    excluded: tuple[ExcludedFacility, ...]
    reasons: tuple[Reason, ...]
    warnings: tuple[Reason, ...]
    need: ClinicalNeed
    pack_id: str
    pack_version: str

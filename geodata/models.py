"""Typed models of the world rujuk reasons about: facilities, settlements, regions.

Frozen, slotted dataclasses; validation of untrusted files happens in :mod:`geodata.loaders`,
these constructors only guard invariants that no caller may break.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from shapely.geometry.base import BaseGeometry


class FacilityKind(StrEnum):
    """What sort of facility (SPEC section 1)."""

    PUSKESMAS = "puskesmas"
    KLINIK = "klinik"
    RUMAH_SAKIT_UMUM = "rumah_sakit_umum"
    RUMAH_SAKIT_KHUSUS = "rumah_sakit_khusus"


class CareLevel(StrEnum):
    """First-level (FKTP) or advanced (FKTL) care."""

    FKTP = "fktp"
    FKTL = "fktl"


class HospitalClass(StrEnum):
    """Kemenkes hospital class."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    D_PRATAMA = "D Pratama"


class CompetencyLevel(StrEnum):
    """Competency level of a receiving facility (Permenkes 16/2024)."""

    DASAR = "dasar"
    MADYA = "madya"
    UTAMA = "utama"
    PARIPURNA = "paripurna"


class BedType(StrEnum):
    """Bed types whose availability matters for matching."""

    ICU = "icu"
    HCU = "hcu"
    NICU = "nicu"
    PICU = "picu"
    ISOLATION = "isolation"
    MATERNITY = "maternity"
    GENERAL = "general"


class Equipment(StrEnum):
    """Equipment that decides whether a facility can take a patient."""

    CT = "ct"
    MRI = "mri"
    CATH_LAB = "cath_lab"
    VENTILATOR = "ventilator"
    DIALYSIS = "dialysis"
    BLOOD_BANK = "blood_bank"
    NICU_INCUBATOR = "nicu_incubator"
    XRAY = "xray"
    ULTRASOUND = "ultrasound"
    ECG = "ecg"
    OPERATING_THEATRE = "operating_theatre"
    LABORATORY = "laboratory"


#: bed types and equipment as a sentence names them, per language (reasons, the letter, the pages)
BED_NAMES: Mapping[str, Mapping[BedType, str]] = MappingProxyType(
    {
        "id": MappingProxyType(
            {
                BedType.ICU: "ICU",
                BedType.HCU: "HCU",
                BedType.NICU: "NICU",
                BedType.PICU: "PICU",
                BedType.ISOLATION: "isolasi",
                BedType.MATERNITY: "bersalin",
                BedType.GENERAL: "umum",
            }
        ),
        "en": MappingProxyType(
            {
                BedType.ICU: "ICU",
                BedType.HCU: "HCU",
                BedType.NICU: "NICU",
                BedType.PICU: "PICU",
                BedType.ISOLATION: "isolation",
                BedType.MATERNITY: "maternity",
                BedType.GENERAL: "general",
            }
        ),
    }
)
EQUIPMENT_NAMES: Mapping[str, Mapping[Equipment, str]] = MappingProxyType(
    {
        "id": MappingProxyType(
            {
                Equipment.CT: "CT scan",
                Equipment.MRI: "MRI",
                Equipment.CATH_LAB: "cath lab",
                Equipment.VENTILATOR: "ventilator",
                Equipment.DIALYSIS: "mesin hemodialisis",
                Equipment.BLOOD_BANK: "bank darah",
                Equipment.NICU_INCUBATOR: "inkubator NICU",
                Equipment.XRAY: "rontgen",
                Equipment.ULTRASOUND: "USG",
                Equipment.ECG: "EKG",
                Equipment.OPERATING_THEATRE: "kamar operasi",
                Equipment.LABORATORY: "laboratorium",
            }
        ),
        "en": MappingProxyType(
            {
                Equipment.CT: "CT scanner",
                Equipment.MRI: "MRI",
                Equipment.CATH_LAB: "cath lab",
                Equipment.VENTILATOR: "ventilator",
                Equipment.DIALYSIS: "dialysis machine",
                Equipment.BLOOD_BANK: "blood bank",
                Equipment.NICU_INCUBATOR: "NICU incubator",
                Equipment.XRAY: "X-ray",
                Equipment.ULTRASOUND: "ultrasound",
                Equipment.ECG: "ECG",
                Equipment.OPERATING_THEATRE: "operating theatre",
                Equipment.LABORATORY: "laboratory",
            }
        ),
    }
)


class Service(StrEnum):
    """Services: the 25 of the Perbup annex (24 specialties plus Alih Rawat) and first-level care."""

    ANAK = "anak"
    BEDAH = "bedah"
    BEDAH_DIGESTIF = "bedah_digestif"
    BEDAH_MULUT = "bedah_mulut"
    BEDAH_SARAF = "bedah_saraf"
    GIGI = "gigi"
    GIGI_ENDODONTIS = "gigi_endodontis"
    HEMODIALISA = "hemodialisa"
    IGD = "igd"
    REHABILITASI_MEDIK = "rehabilitasi_medik"
    JANTUNG = "jantung_dan_pembuluh_darah"
    JIWA = "jiwa"
    KULIT_KELAMIN = "kulit_dan_kelamin"
    MATA = "mata"
    OBGYN = "obgyn"
    ONKOLOGI = "onkologi"
    ORTHOPEDI = "orthopedi"
    PARU = "paru"
    PATOLOGI = "patologi_klinik_dan_anatomi"
    PENYAKIT_DALAM = "penyakit_dalam"
    RADIOLOGI = "radiologi"
    SARAF = "saraf"
    THT_KL = "tht_kl"
    UROLOGI = "urologi"
    ALIH_RAWAT = "alih_rawat"
    # First-level care (not in the annex's specialist columns).
    UMUM = "umum"
    PERSALINAN = "persalinan"
    RAWAT_INAP_DASAR = "rawat_inap_dasar"


SERVICE_LABELS: Mapping[Service, str] = MappingProxyType(
    {
        Service.ANAK: "Anak",
        Service.BEDAH: "Bedah",
        Service.BEDAH_DIGESTIF: "Bedah Digestif",
        Service.BEDAH_MULUT: "Bedah Mulut",
        Service.BEDAH_SARAF: "Bedah Saraf",
        Service.GIGI: "Gigi",
        Service.GIGI_ENDODONTIS: "Gigi Endodontis",
        Service.HEMODIALISA: "Hemodialisa",
        Service.IGD: "IGD",
        Service.REHABILITASI_MEDIK: "Rehabilitasi Medik",
        Service.JANTUNG: "Jantung dan Pembuluh Darah",
        Service.JIWA: "Jiwa",
        Service.KULIT_KELAMIN: "Kulit dan Kelamin",
        Service.MATA: "Mata",
        Service.OBGYN: "Obgyn",
        Service.ONKOLOGI: "Onkologi",
        Service.ORTHOPEDI: "Orthopedi",
        Service.PARU: "Paru",
        Service.PATOLOGI: "Patologi Klinik dan Anatomi",
        Service.PENYAKIT_DALAM: "Penyakit Dalam",
        Service.RADIOLOGI: "Radiologi",
        Service.SARAF: "Saraf",
        Service.THT_KL: "THT-KL",
        Service.UROLOGI: "Urologi",
        Service.ALIH_RAWAT: "Alih Rawat",
        Service.UMUM: "Pelayanan Umum",
        Service.PERSALINAN: "Persalinan (PONED)",
        Service.RAWAT_INAP_DASAR: "Rawat Inap Dasar",
    }
)

#: the services in English (the pages' English side; the Bahasa names above are the data's own)
SERVICE_LABELS_EN: Mapping[Service, str] = MappingProxyType(
    {
        Service.ANAK: "Paediatrics",
        Service.BEDAH: "Surgery",
        Service.BEDAH_DIGESTIF: "Digestive surgery",
        Service.BEDAH_MULUT: "Oral surgery",
        Service.BEDAH_SARAF: "Neurosurgery",
        Service.GIGI: "Dentistry",
        Service.GIGI_ENDODONTIS: "Endodontics",
        Service.HEMODIALISA: "Haemodialysis",
        Service.IGD: "Emergency department",
        Service.REHABILITASI_MEDIK: "Physical medicine and rehabilitation",
        Service.JANTUNG: "Cardiology",
        Service.JIWA: "Psychiatry",
        Service.KULIT_KELAMIN: "Dermatology and venereology",
        Service.MATA: "Ophthalmology",
        Service.OBGYN: "Obstetrics and gynaecology",
        Service.ONKOLOGI: "Oncology",
        Service.ORTHOPEDI: "Orthopaedics",
        Service.PARU: "Pulmonology",
        Service.PATOLOGI: "Clinical and anatomical pathology",
        Service.PENYAKIT_DALAM: "Internal medicine",
        Service.RADIOLOGI: "Radiology",
        Service.SARAF: "Neurology",
        Service.THT_KL: "ENT (head and neck)",
        Service.UROLOGI: "Urology",
        Service.ALIH_RAWAT: "Transfer of care",
        Service.UMUM: "General care",
        Service.PERSALINAN: "Childbirth (PONED)",
        Service.RAWAT_INAP_DASAR: "Basic inpatient care",
    }
)


class CoordinateQuality(StrEnum):
    """How a coordinate was obtained."""

    SURVEYED = "surveyed"  # a point from a map or register placed at the facility itself
    APPROXIMATE = "approximate"  # a desa / town centroid standing in for the real site


class PhoneKind(StrEnum):
    """What a facility's telephone number reaches."""

    IGD = "igd"  # the emergency department's own line, verified as such
    MAIN = "main"  # the facility's main number (switchboard): not verified as the IGD line


@dataclass(frozen=True, slots=True)
class Phone:
    """A facility's telephone number, for reading and for dialling, with what it reaches."""

    display: str  # national format, for reading: "(0562) 391020"
    dial: str  # E.164, for a tel: link: "+62562391020"
    kind: PhoneKind
    note: str = ""  # where it comes from and what is not known about it, in Bahasa Indonesia

    def __post_init__(self) -> None:
        if not (self.dial.startswith("+62") and self.dial[1:].isdigit()):
            msg = f"phone {self.dial!r}: not an Indonesian number in E.164 (+62...)"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class LonLat:
    """A WGS84 (EPSG:4326) position."""

    lon: float
    lat: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lon) and -180.0 <= self.lon <= 180.0):
            msg = f"lon {self.lon!r} is not a finite number in [-180, 180]"
            raise ValueError(msg)
        if not (math.isfinite(self.lat) and -90.0 <= self.lat <= 90.0):
            msg = f"lat {self.lat!r} is not a finite number in [-90, 90]"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class Facility:
    """A health facility (SPEC section 1) with its static capabilities."""

    id: str
    name: str
    kind: FacilityKind
    level: CareLevel
    kecamatan: str
    regency: str
    location: LonLat
    hospital_class: HospitalClass | None = None
    competency: CompetencyLevel | None = None
    services: frozenset[Service] = frozenset()
    equipment: frozenset[Equipment] = frozenset()
    beds: Mapping[BedType, int] = field(default_factory=lambda: MappingProxyType({}))
    coordinate_quality: CoordinateQuality = CoordinateQuality.SURVEYED
    receiving: bool = False
    #: None: no number is known (the dataset says "unknown"); pages show "nomor belum tercatat"
    phone: Phone | None = None

    def __post_init__(self) -> None:
        if not self.id:
            msg = "facility id is empty"
            raise ValueError(msg)
        if any(n < 0 for n in self.beds.values()):
            msg = f"facility {self.id}: bed counts must be >= 0"
            raise ValueError(msg)
        if not isinstance(self.beds, MappingProxyType):
            object.__setattr__(self, "beds", MappingProxyType(dict(self.beds)))

    @property
    def is_hospital(self) -> bool:
        """True for general and special hospitals."""
        kind = self.kind
        return kind is FacilityKind.RUMAH_SAKIT_UMUM or kind is FacilityKind.RUMAH_SAKIT_KHUSUS

    @property
    def total_beds(self) -> int:
        """Sum of beds of every type."""
        return sum(self.beds.values())


@dataclass(frozen=True, slots=True)
class Settlement:
    """A desa (village) with its centroid and population."""

    id: str
    name: str
    kecamatan: str
    regency: str
    centroid: LonLat
    population: int
    area_km2: float

    def __post_init__(self) -> None:
        if self.population < 0:
            msg = f"settlement {self.id}: population must be >= 0"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class Region:
    """An administrative area with its boundary in EPSG:4326 (regency or kecamatan)."""

    id: str
    name: str
    level: str
    boundary: BaseGeometry
    parent: str | None = None

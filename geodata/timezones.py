"""Indonesia's three time zones, by province (the first two digits of a Kemendagri / BPS code).

Keppres 41/1987 divides the country into WIB (UTC+7), WITA (UTC+8) and WIT (UTC+9) by province;
provinces made since then keep the zone of the province they came from (Kepulauan Riau from Riau,
Banten from Jawa Barat, Gorontalo from Sulawesi Utara, Sulawesi Barat from Sulawesi Selatan,
Maluku Utara from Maluku, Kalimantan Utara from Kalimantan Timur, the Papua provinces from
Papua). Each zone is named by its IANA identifier, so dates are computed with the tz database.
"""

from __future__ import annotations

WIB = "Asia/Jakarta"  # UTC+7
WITA = "Asia/Makassar"  # UTC+8
WIT = "Asia/Jayapura"  # UTC+9

#: province code -> IANA zone
PROVINCE_ZONES: dict[str, str] = {
    # Sumatra and Kepulauan Riau
    **dict.fromkeys(("11", "12", "13", "14", "15", "16", "17", "18", "19", "21"), WIB),
    # Java and Banten
    **dict.fromkeys(("31", "32", "33", "34", "35", "36"), WIB),
    # Bali, Nusa Tenggara
    **dict.fromkeys(("51", "52", "53"), WITA),
    # Kalimantan: west and central WIB; south, east and north WITA
    "61": WIB,
    "62": WIB,
    **dict.fromkeys(("63", "64", "65"), WITA),
    # Sulawesi
    **dict.fromkeys(("71", "72", "73", "74", "75", "76"), WITA),
    # Maluku and Papua
    **dict.fromkeys(("81", "82", "91", "92", "93", "94", "95", "96", "97"), WIT),
}


def zone_of_region(region_id: str) -> str | None:
    """The time zone of an Indonesian region code (province, regency, kecamatan, desa), or None."""
    return PROVINCE_ZONES.get(region_id.replace(".", "")[:2])


#: how Indonesians name their zones (Asia/Pontianak is WIB too)
LABELS = {WIB: "WIB", "Asia/Pontianak": "WIB", WITA: "WITA", WIT: "WIT"}


def zone_label(zone: str) -> str:
    """WIB, WITA or WIT for an Indonesian zone; the IANA name for any other."""
    return LABELS.get(zone, zone)

"""Vital signs from a medical record export: LOINC codes to the letter's fields, units to the letter's.

The letter's vital signs and their LOINC codes are ``service.fhir.transaction.VITALS`` (what rujuk
writes); an EMR may also code them as HL7's vital-signs profile does (SpO2 ``2708-6``, blood
pressure as the panel ``85354-9`` with its two components) or by where a temperature was taken
(axillary ``8328-7``, oral ``8331-1``). Units are read from the UCUM ``code`` (or the ``unit`` text
when there is no code) and converted to the letter's (``[degF]`` to ``Cel``, ``kPa`` to ``mm[Hg]``);
a unit that is not known is refused with a reason, never guessed. The latest measurement of each
sign is the one that counts.

Pure: no storage, no I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from service.fhir.transaction import LOINC, VITALS
from service.referrals.schemas import VitalSigns

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

#: the letter's field of each LOINC code: rujuk's own (``VITALS``) and the others EMRs use
FIELD_OF_CODE: dict[str, str] = {code: field for field, code, _, _ in VITALS} | {
    "2708-6": "spo2",  # oxygen saturation in arterial blood (HL7's vital-signs profile)
    "8328-7": "temperature_c",  # axillary temperature
    "8331-1": "temperature_c",  # oral temperature
}
#: blood pressure as one panel, systolic and diastolic its components (and the panel's older code)
BP_PANELS = frozenset({"85354-9", "55284-4"})

_F = Decimal(5) / Decimal(9)
_TEMPERATURE: dict[str, Callable[[Decimal], Decimal]] = {
    "cel": lambda v: v,
    "°c": lambda v: v,
    "[degf]": lambda v: (v - 32) * _F,
    "°f": lambda v: (v - 32) * _F,
    "degf": lambda v: (v - 32) * _F,
    "k": lambda v: v - Decimal("273.15"),
}
_PRESSURE: dict[str, Callable[[Decimal], Decimal]] = {
    "mm[hg]": lambda v: v,
    "mmhg": lambda v: v,
    "kpa": lambda v: v * Decimal("7.50062"),
}
_PER_MINUTE = ("/min", "1/min", "{beats}/min", "{breaths}/min", "beats/min", "breaths/min", "bpm",
               "/menit", "x/menit", "kali/menit")  # fmt: skip
_RATE: dict[str, Callable[[Decimal], Decimal]] = dict.fromkeys(_PER_MINUTE, lambda v: v)
#: each field's units and their conversion to the letter's unit; whether a value may come without one
UNITS: dict[str, tuple[dict[str, Callable[[Decimal], Decimal]], bool]] = {
    "bp_systolic": (_PRESSURE, True),
    "bp_diastolic": (_PRESSURE, True),
    "pulse": (_RATE, True),
    "respiratory_rate": (_RATE, True),
    # a temperature without its unit could be Celsius or Fahrenheit: never guessed
    "temperature_c": (_TEMPERATURE, False),
    "spo2": ({"%": lambda v: v}, True),
    "gcs": ({"{score}": lambda v: v, "1": lambda v: v, "{total}": lambda v: v}, True),
}
#: larger than any vital sign in any unit
_ABSURD = Decimal(100_000)
#: the letter's unit of each field, as UCUM writes it
LETTER_UNIT = {field: unit for field, _, _, unit in VITALS}


@dataclass(frozen=True, slots=True)
class Reading:
    """One measurement of one sign: where it is in the Bundle, when it was taken, its value read."""

    field: str
    entry: int
    element: str
    when: dt.datetime | None
    #: the value in the letter's unit, or None when refused
    value: int | float | None
    #: why it was refused: (code, English reason, parameters)
    refused: tuple[str, str, dict[str, str | int | float]] | None = None
    #: the value and unit as the record wrote them, when converted
    converted_from: tuple[float, str] | None = None


def parse_time(value: Any) -> dt.datetime | None:  # noqa: ANN401  a FHIR dateTime, date or instant
    """A FHIR dateTime as an aware time (a date alone: its start, in UTC); None when there is none."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if len(text) == 4:
        text += "-01-01"
    elif len(text) == 7:
        text += "-01"
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


def when_taken(res: Mapping[str, Any]) -> dt.datetime | None:
    """When an Observation was taken: ``effective[x]`` (a period's end), else ``issued``."""
    period = res.get("effectivePeriod")
    period = period if isinstance(period, dict) else {}
    for value in (res.get("effectiveDateTime"), res.get("effectiveInstant"), period.get("end"),
                  period.get("start"), res.get("issued")):  # fmt: skip
        t = parse_time(value)
        if t is not None:
            return t
    return None


def _unit_of(quantity: Mapping[str, Any]) -> str:
    for key in ("code", "unit"):
        unit = quantity.get(key)
        if isinstance(unit, str) and unit.strip():
            return unit.strip()
    return ""


def _decimal(value: Any) -> Decimal | None:  # noqa: ANN401  a JSON number, or the string fhir.resources accepts
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def read_quantity(
    field: str,
    quantity: Any,  # noqa: ANN401  a Quantity, or whatever the element holds
    *,
    entry: int,
    element: str,
    when: dt.datetime | None,
) -> Reading:
    """One value read into the letter's unit, or refused with the reason."""
    base = Reading(field, entry, element, when, None)
    raw = _decimal(quantity.get("value")) if isinstance(quantity, dict) else None
    if raw is None or not isinstance(quantity, dict):
        return replace(base, refused=("no_value", "no numeric value (valueQuantity.value)", {}))
    unit = _unit_of(quantity)
    table, unitless_ok = UNITS[field]
    convert = table.get(unit.lower().replace(" ", "")) if unit else (lambda v: v) if unitless_ok else None
    if convert is None:
        known = ", ".join(sorted(k for k in table if k.isascii()))
        reason = f"unit {unit!r} cannot be converted to {LETTER_UNIT[field]} (known: {known})"
        if not unit:
            reason = f"no unit: {LETTER_UNIT[field]} or another cannot be told"
        return replace(base, refused=("unit", reason, {"unit": unit[:20], "letter_unit": LETTER_UNIT[field]}))
    value = convert(raw)
    if abs(value) > _ABSURD:  # beyond any vital sign, and beyond what rounds exactly
        return replace(base, refused=("out_of_range", "not a measurement of a person", {}))
    number: int | float = (
        float(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
        if field == "temperature_c"
        else int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    )
    try:
        VitalSigns.model_validate({field: number})
    except ValidationError as exc:
        err = exc.errors()[0]
        params = {k: v for k, v in (err.get("ctx") or {}).items() if isinstance(v, str | int | float)}
        why = f"{number} is {str(err['msg']).lower()}"
        return replace(base, refused=("out_of_range", why, {"value": number, **params}))
    changed = convert(Decimal(1)) != Decimal(1)  # every conversion but the identity changes 1
    return replace(base, value=number, converted_from=(float(raw), unit) if changed else None)


def readings(entry: int, res: Mapping[str, Any], codes: Iterable[str]) -> list[Reading]:
    """The vital signs one Observation holds (none when its LOINC codes name none)."""
    when = when_taken(res)
    out = []
    codes = list(codes)
    for code in codes:
        field = FIELD_OF_CODE.get(code)
        if field is not None:
            return [
                read_quantity(
                    field,
                    res.get("valueQuantity"),
                    entry=entry,
                    element="Observation.valueQuantity",
                    when=when,
                )
            ]
    if BP_PANELS.intersection(codes):
        for n, comp in enumerate(res.get("component") or ()):
            for code in loinc_codes(comp.get("code")):
                if FIELD_OF_CODE.get(code) in {"bp_systolic", "bp_diastolic"}:
                    element = f"Observation.component[{n}].valueQuantity"
                    out.append(read_quantity(FIELD_OF_CODE[code], comp.get("valueQuantity"), entry=entry,
                                             element=element, when=when))  # fmt: skip
                    break
    return out


def loinc_codes(cc: Any) -> list[str]:  # noqa: ANN401  a CodeableConcept
    """The LOINC codes of a CodeableConcept."""
    codings = cc.get("coding") if isinstance(cc, dict) else None
    return [str(c["code"]) for c in codings or () if c.get("system") == LOINC and c.get("code")]


def latest(found: Iterable[Reading]) -> dict[str, tuple[Reading, list[Reading]]]:
    """Per field: the latest reading (by time; without a time, the last in the Bundle) and the older ones.

    A measurement that is refused still counts as the latest: an older value is not put in its
    place (the sign is left for staff to write).
    """
    by_field: dict[str, list[Reading]] = {}
    for r in found:
        by_field.setdefault(r.field, []).append(r)
    out = {}
    floor = dt.datetime.min.replace(tzinfo=dt.UTC)
    for field, rs in by_field.items():
        ordered = sorted(rs, key=lambda r: (r.when is not None, r.when or floor, r.entry))
        out[field] = (ordered[-1], ordered[:-1])
    return out

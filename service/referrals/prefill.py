"""The letter prefilled from an electronic medical record's export (a FHIR R4 Bundle).

The body is read as JSON and handed to the FHIR domain's reading of an export
(``service.fhir.emr``); the answer is the letter's fields found, those left out and why. Nothing
is stored and nothing of it is logged: the patient's record goes back to the staff who sent it.
Blocking (parsing and validating up to 2 MB, the route's limit in ``service.body_limit``): called
from the thread pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from service.fhir.emr import read_export
from service.fhir.emr_bundle import ExportError

if TYPE_CHECKING:
    import datetime as dt


def prefill(body: bytes, *, today: dt.date) -> dict[str, Any]:
    """The answer of ``POST /api/letters/import``; ``ExportError`` (422) naming what cannot be read."""
    if not body.strip():
        raise ExportError(
            [("body", "is empty: send the medical record's export (a FHIR Bundle)", "not_json", {})]
        )
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError:
        msg = "is not JSON (UTF-8): send the medical record's export as FHIR JSON, not XML or a PDF"
        raise ExportError([("body", msg, "not_json", {})]) from None
    return read_export(raw, today=today).as_json()

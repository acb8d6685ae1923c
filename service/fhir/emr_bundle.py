"""A medical record export checked as a whole: an R4 Bundle of a type an export comes as.

What is refused (422, ``ExportError``) rather than read: a body that is not a Bundle, one of a
type that is not an export (a ``transaction-response``, a ``history``), one that fhir.resources
(R4B) does not validate, or one of more entries than a patient's record holds. Each problem
names its element as FHIRPath (``Bundle.entry[0].resource.birthDate``) and carries a code the
pages say in words. Pure: no storage, no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from service.errors import InputError
from service.fhir.transaction import unknown_resource_types

if TYPE_CHECKING:
    from collections.abc import Sequence

#: the Bundle types an export comes as
BUNDLE_TYPES = ("collection", "document", "searchset", "transaction", "batch")
#: entries read at most (a patient's record, not a registry)
MAX_ENTRIES = 2000
#: one problem of a refused Bundle: field (a FHIRPath), message, code, parameters
Problem = tuple[str, str, str, dict[str, str | int]]


class ExportError(InputError):
    """Not a medical record export rujuk can read (422): every problem, each naming its element."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        field, message, code, params = problems[0]
        super().__init__(field, message, code=code, params=params)
        self.problems = list(problems)

    def body(self) -> dict[str, Any]:
        """``detail`` names the first element; ``errors`` lists every problem."""
        errors = [
            {"field": f, "message": m, "code": c, **({"params": p} if p else {})}
            for f, m, c, p in self.problems
        ]
        return {"type": self.kind, "detail": f"field '{self.field}': {self}", "errors": errors}


def _path(loc: Sequence[Any]) -> str:
    out = "Bundle"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def check_bundle(raw: Any) -> list[dict[str, Any]]:  # noqa: ANN401  any JSON value
    """The entries of an R4 Bundle of an export's type; ``ExportError`` naming what is wrong."""
    if not isinstance(raw, dict) or raw.get("resourceType") != "Bundle":
        found = raw.get("resourceType") if isinstance(raw, dict) else None
        msg = "must be a FHIR Bundle (the medical record's export)"
        params: dict[str, str | int] = {"found": found[:40]} if isinstance(found, str) else {}
        raise ExportError([("Bundle.resourceType", msg, "not_bundle", params)])
    entries = raw.get("entry")
    if isinstance(entries, list) and len(entries) > MAX_ENTRIES:
        msg = f"{len(entries)} entries: at most {MAX_ENTRIES} (one patient's record)"
        raise ExportError([("Bundle.entry", msg, "too_many_entries", {"max": MAX_ENTRIES})])
    unknown = unknown_resource_types(raw)
    if unknown:
        raise ExportError([(f"Bundle.entry[{i}].resource.resourceType", f"{name!r} is not a FHIR R4 resource",
                            "unknown_type", {"type": name[:40]}) for i, name in unknown])  # fmt: skip
    try:
        Bundle.model_validate(raw)
    except ValidationError as exc:
        raise ExportError(
            [(_path(e["loc"]), str(e["msg"]), "fhir_invalid", {}) for e in exc.errors()[:20]]
        ) from None
    except (
        KeyError,
        TypeError,
        ValueError,
        RecursionError,
    ):  # fhir_core's own, e.g. a contained resource's type
        msg = "cannot be read as FHIR R4 (a contained resource of no R4 type, or nested too deep)"
        raise ExportError([("Bundle", msg, "fhir_invalid", {})]) from None
    if raw.get("type") not in BUNDLE_TYPES:
        msg = f"a Bundle of type {raw.get('type')!r} is not an export: one of {', '.join(BUNDLE_TYPES)}"
        raise ExportError([("Bundle.type", msg, "bundle_type", {"type": str(raw.get("type"))[:40]})])
    return [e if isinstance(e, dict) else {} for e in entries or ()]

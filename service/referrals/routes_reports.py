"""HTTP route of the monthly report (Pasal 23 and the annex), as JSON, CSV or XLSX."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from service.auth import Role
from service.deps import AnyUser, Db, Rt, own_facility
from service.errors import NotFoundError
from service.http import doc
from service.referrals.reports import monthly_report, report_csv, report_xlsx
from service.referrals.schemas import ReportOut
from service.schemas import MONTH

router = APIRouter(prefix="/api", tags=["reports"])

_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get(
    "/reports/{facility_id}",
    **doc(
        ReportOut,
        401,
        403,
        404,
        description="JSON; CSV or XLSX with format=csv|xlsx",
        also=("text/csv; charset=utf-8", _XLSX),
    ),
)
def report(
    facility_id: str,
    rt: Rt,
    db: Db,
    p: AnyUser,
    month: Annotated[str, Query(pattern=MONTH, description="YYYY-MM")],
    fmt: Annotated[Literal["json", "csv", "xlsx"], Query(alias="format")] = "json",
) -> dict[str, Any] | Response:
    """The monthly report of Pasal 23 and the annex (A.1-A.4 for a Puskesmas, B.1-B.2 for a hospital)."""
    if facility_id not in rt.facility_ids:
        raise NotFoundError(f"no facility {facility_id!r}")
    if not (p.is_admin or p.has(Role.PLANNER)):
        own_facility(p, facility_id)
    rep = monthly_report(db, rt.dataset, facility_id, month, pack=rt.matcher.pack_for(facility_id))
    if fmt == "json":
        return rep
    name = f"rujukan-{facility_id}-{month}.{fmt}"
    return Response(
        report_csv(rep) if fmt == "csv" else report_xlsx(rep),
        media_type="text/csv; charset=utf-8" if fmt == "csv" else _XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )

"""HTTP routes of the letter's attachments: upload (the referring facility), list, download."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Path, Response, UploadFile

from service.auth import Principal
from service.database import Referral
from service.deps import AnyUser, CurrentReferral, Db, Rt
from service.errors import ForbiddenError, NotFoundError
from service.http import doc
from service.referrals import attachments, queries
from service.referrals.lifecycle import Side
from service.referrals.schemas import AttachmentOut
from service.schemas import MAX_ROW_ID

router = APIRouter(prefix="/api", tags=["referrals"])


def _may_see(p: Principal, r: Referral) -> None:
    if not queries.sees_patient(p, r):
        raise NotFoundError(f"no referral {r.id!r}")


@router.post(
    "/referrals/{referral_id}/attachments", **doc(AttachmentOut, 401, 403, 404, 409, 413, status=201)
)
def add_attachment(
    r: CurrentReferral,
    rt: Rt,
    db: Db,
    p: AnyUser,
    file: Annotated[
        UploadFile, File(description="lab, radiology or ECG result (pdf, png, jpeg, dicom, txt; <= 5 MB)")
    ],
    kind: Annotated[Literal["lab", "radiology", "ecg", "other"], Form()] = "other",
) -> dict[str, Any]:
    """Attach a result to the letter (Pasal 17(1)d); the referring facility's staff only."""
    if Side.SENDER not in queries.sides_of(p, r):
        raise ForbiddenError("only the referring facility attaches results")
    data = file.file.read(attachments.MAX_ATTACHMENT_BYTES + 1)
    a = attachments.add(db, r, kind=kind, filename=file.filename, content_type=file.content_type, data=data,
                        actor=p.user_id, now=rt.clock())  # fmt: skip
    db.commit()
    return attachments.meta_json(a)


@router.get("/referrals/{referral_id}/attachments", **doc(list[AttachmentOut], 401, 404))
def list_attachments(r: CurrentReferral, db: Db, p: AnyUser) -> list[dict[str, Any]]:
    """The letter's attachments (metadata): for the two facilities, not for dispatchers."""
    _may_see(p, r)
    return attachments.listing(db, r)


@router.get("/referrals/{referral_id}/attachments/{attachment_id}",
            **doc(None, 401, 404, media_type="application/octet-stream"))  # fmt: skip
def get_attachment(
    r: CurrentReferral, attachment_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], db: Db, p: AnyUser
) -> Response:
    """Download one attachment (the two facilities: results carry the patient's identity)."""
    _may_see(p, r)
    a = attachments.get(db, r, attachment_id)
    return Response(a.data, media_type=a.content_type,
                    headers={"Content-Disposition": attachments.content_disposition(a.filename)})  # fmt: skip

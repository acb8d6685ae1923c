"""HTTP routes of the letter's attachments: upload, list, download, a DICOM study's tags and frames.

The referring facility uploads; the two facilities read. DICOM frames are decoded on the thread
pool (the routes are plain ``def``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Path, Query, Response, UploadFile

from service.auth import Principal
from service.database import Referral
from service.deps import AnyUser, CurrentReferral, Db, Rt
from service.errors import ForbiddenError, NotFoundError
from service.http import doc
from service.referrals import attachments, queries, windowing
from service.referrals.lifecycle import Side
from service.referrals.schemas import AttachmentOut, DicomOut
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


#: the path parameter of an attachment's id (shared by the download and the viewer's routes)
AttachmentId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
#: every type an attachment is stored as: the download answers with the attachment's own
DOWNLOAD_TYPES = tuple(sorted(attachments.ATTACHMENT_TYPES))


@router.get("/referrals/{referral_id}/attachments/{attachment_id}",
            **doc(None, 401, 404, media_type="application/octet-stream", also=DOWNLOAD_TYPES))  # fmt: skip
def get_attachment(
    r: CurrentReferral,
    attachment_id: AttachmentId,
    db: Db,
    p: AnyUser,
    inline: Annotated[bool, Query(description="show in the browser (PDF, PNG, JPEG, text)")] = False,
) -> Response:
    """Download one attachment (the two facilities: results carry the patient's identity)."""
    _may_see(p, r)
    a = attachments.get(db, r, attachment_id)
    shown = inline and a.content_type in attachments.INLINE_TYPES
    headers = {"Content-Disposition": attachments.content_disposition(a.filename, inline=shown)}
    return Response(a.data, media_type=a.content_type, headers=headers)


@router.get("/referrals/{referral_id}/attachments/{attachment_id}/dicom", **doc(DicomOut, 401, 404))
def dicom_summary(r: CurrentReferral, attachment_id: AttachmentId, db: Db, p: AnyUser) -> dict[str, Any]:
    """A DICOM study's key tags and the windows that apply to it; never the patient.

    Modality, body part, date, series, size, frames, transfer syntax (the letter names the patient).
    422: not a DICOM study, or one that cannot be read (``errors[0].code``: ``not_dicom``,
    ``dicom_unreadable``, ``dicom_no_image``).
    """
    _may_see(p, r)
    from service.referrals import dicom  # noqa: PLC0415  pydicom, only for DICOM attachments

    return dicom.as_json(dicom.summarise(attachments.dicom_of(db, r, attachment_id)))


@router.get("/referrals/{referral_id}/attachments/{attachment_id}/frames/{frame}.png",
            **doc(None, 401, 404, media_type="image/png"))  # fmt: skip
def dicom_frame(
    r: CurrentReferral,
    attachment_id: AttachmentId,
    frame: Annotated[int, Path(ge=1, le=100_000, description="the frame, counted from 1")],
    db: Db,
    p: AnyUser,
    preset: Annotated[windowing.Preset | None, Query(description="a window by name (see presets)")] = None,
    window: Annotated[
        float | None, Query(gt=0, le=windowing.MAX_WINDOW, allow_inf_nan=False, description="window width")
    ] = None,
    level: Annotated[
        float | None,
        Query(
            ge=-windowing.MAX_WINDOW,
            le=windowing.MAX_WINDOW,
            allow_inf_nan=False,
            description="window centre",
        ),
    ] = None,
) -> Response:
    """One frame of a DICOM study as a PNG, at most 1024 px on its longest side.

    Windowed by a preset or by ``window`` and ``level`` (greyscale only); an ECG is drawn on ECG
    paper. 422 names the field: a frame past the last, a preset that does not apply, a window
    without a level.
    """
    _may_see(p, r)
    ds = attachments.dicom_of(db, r, attachment_id)
    from service.referrals import dicom  # noqa: PLC0415  pydicom, only for DICOM attachments

    png = dicom.render(ds, frame=frame, preset=preset, window=window, level=level)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

"""Results attached to a referral letter (Pasal 17(1)d): lab, radiology, ECG; stored in the database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import func, select

from service.audit import audit
from service.database import Attachment
from service.errors import ConflictError, InputError, NotFoundError, TooLargeError

if TYPE_CHECKING:
    import datetime as dt

    from pydicom.dataset import Dataset
    from sqlalchemy.orm import Session

    from service.database import Referral

MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MAX_ATTACHMENTS = 20
ATTACHMENT_TYPES = {"application/pdf", "image/png", "image/jpeg", "application/dicom", "text/plain"}
#: the types a browser shows by itself (``inline``); a DICOM file is always a download
INLINE_TYPES = {"application/pdf", "image/png", "image/jpeg", "text/plain"}
DICOM = "application/dicom"


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """``attachment`` (or ``inline``) with the file name for any Unicode (RFC 6266 / RFC 5987 ``filename*``).

    The plain ``filename`` is an ASCII stand-in with quotes and backslashes replaced, for old clients.
    """
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename)
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def meta_json(a: Attachment) -> dict[str, Any]:
    """An attachment's metadata."""
    return {
        "id": a.id,
        "kind": a.kind,
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.size,
    }


def add(
    s: Session,
    r: Referral,
    *,
    kind: str,
    filename: str | None,
    content_type: str | None,
    data: bytes,
    actor: int,
    now: dt.datetime,
) -> Attachment:
    """Store an uploaded result (checked: type, size, count; the referral not finished)."""
    if r.status in ("completed", "cancelled"):
        raise ConflictError(f"the referral is {r.status}")
    ctype = (content_type or "").split(";")[0].strip()
    if ctype not in ATTACHMENT_TYPES:
        raise InputError(
            "file",
            f"type {ctype or '?'} not accepted ({', '.join(sorted(ATTACHMENT_TYPES))})",
            code="file_type",
        )
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise TooLargeError("field 'file': larger than 5 MB")
    if not data:
        raise InputError("file", "empty file", code="empty")
    name = (filename or "attachment").replace("/", "_").replace("\\", "_")[-200:]
    n = s.scalar(select(func.count()).select_from(Attachment).where(Attachment.referral_id == r.id)) or 0
    if n >= MAX_ATTACHMENTS:
        raise ConflictError(f"at most {MAX_ATTACHMENTS} attachments per referral")
    a = Attachment(referral_id=r.id, kind=kind, filename=name, content_type=ctype, size=len(data), data=data,
                   uploaded_by=actor, uploaded_at=now)  # fmt: skip
    s.add(a)
    s.flush()
    audit(s, actor=actor, action="referral.attach", entity="referral", entity_id=r.id, now=now,
          attachment=a.id, kind=kind, size=len(data))  # fmt: skip
    return a


def listing(s: Session, r: Referral) -> list[dict[str, Any]]:
    """The metadata of a referral's attachments, in upload order."""
    rows = s.execute(
        select(Attachment.id, Attachment.kind, Attachment.filename, Attachment.content_type, Attachment.size)
        .where(Attachment.referral_id == r.id)
        .order_by(Attachment.id)
    )
    return [{"id": i, "kind": k, "filename": f, "content_type": c, "size": z} for i, k, f, c, z in rows]


def get(s: Session, r: Referral, attachment_id: int) -> Attachment:
    """One attachment of this referral (404 for another referral's)."""
    a = s.get(Attachment, attachment_id)
    if a is None or a.referral_id != r.id:
        raise NotFoundError(f"no attachment '{attachment_id}'")
    return a


def dicom_of(s: Session, r: Referral, attachment_id: int) -> Dataset:
    """One DICOM attachment of this referral, parsed (422 for another type, or a file pydicom cannot read)."""
    a = get(s, r, attachment_id)
    if a.content_type != DICOM:
        raise InputError("attachment", f"a {a.content_type} file is not a DICOM study", code="not_dicom")
    from service.referrals import dicom  # noqa: PLC0415  pydicom: a fifth of a second to import

    return dicom.read(a.data)

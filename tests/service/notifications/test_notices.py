"""What each referral event tells whom, in Bahasa Indonesia (the table of service/notifications/notices.py)."""

from __future__ import annotations

import pytest

from service.database import ReferralEvent
from service.notifications.notices import Facts, _texts

NAMES = {"PKM-SEGARAU": "Puskesmas Segarau", "6101033": "RSUD Pemangkat", "6101022": "RSUD Sambas"}
PPH = Facts("r1", emergency=True, service_type="gawat_darurat", icd10=("O72.1",), proposed_next_id="6101022")


def _event(kind: str, to_status: str) -> ReferralEvent:
    return ReferralEvent(id=7, referral_id="r1", kind=kind, from_status="sent", to_status=to_status,
                         origin_id="PKM-SEGARAU", destination_id="6101033", note="dr. Budi: ICU penuh")  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "to_status", "facts", "expected"),
    [
        ("send", "sent", PPH, [("destination", "Rujukan baru dari Puskesmas Segarau", "Gawat darurat · O72.1")]),
        ("redirect", "sent", PPH,
         [("destination", "Rujukan baru dari Puskesmas Segarau (dialihkan)", "Gawat darurat · O72.1")]),
        ("escalated", "sent", PPH, [
            ("destination", "Rujukan dari Puskesmas Segarau belum dijawab",
             "Batas waktu jawaban lewat · Gawat darurat · O72.1"),
            ("origin", "RSUD Pemangkat belum menjawab rujukan",
             "Gawat darurat · O72.1 · usulan tujuan berikutnya: RSUD Sambas"),
        ]),
        ("accept", "accepted", PPH, [("origin", "Rujukan diterima RSUD Pemangkat", "Gawat darurat · O72.1")]),
        ("decline", "declined", Facts("r1", False, "rawat_inap", ("I21.0", "I10", "E11.9", "N18.5"), None),
         [("origin", "Rujukan ditolak RSUD Pemangkat", "Rawat inap · I21.0, I10, E11.9 · pilih tujuan lain")]),
        ("send", "sent", Facts("r1", False, "rawat_jalan", ("Z09.8",), None, back_referral=True),
         [("destination", "Rujukan balik dari Puskesmas Segarau", "Rawat jalan · Z09.8")]),
        ("send", "accepted", Facts("r1", False, "rawat_jalan", ("H25.9",), None), []),  # nobody waits
        ("redirect", "accepted", Facts("r1", False, "rawat_jalan", ("H25.9",), None), []),
        ("created", "created", PPH, []),
        ("dispatch", "dispatched", PPH, []),
        ("arrive", "arrived", PPH, []),
        ("cancel", "cancelled", PPH, []),
    ],
)  # fmt: skip
def test_each_event_tells_the_side_that_waits_on_it(
    kind: str, to_status: str, facts: Facts, expected: list[tuple[str, str, str]]
) -> None:
    got = _texts(_event(kind, to_status), facts, lambda fid: NAMES.get(fid, fid))
    assert got == expected
    for _, title, body in got:
        assert "Budi" not in title + body and "ICU" not in title + body  # never the event's note

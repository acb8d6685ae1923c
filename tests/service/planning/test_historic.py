"""Historic demand for planning, read from the referral database."""

from __future__ import annotations

import datetime as dt

from tests.service.conftest import Api, create

PEMANGKAT, SAMBAS, TELUK_KERAMAT = "6101033", "6101022", "6101137"


def test_historic_demand_for_planning(api: Api) -> None:
    from service.planning.historic import historic
    from service.planning.simulate import simulate

    def rows() -> list:
        with api.rt.sessions() as s:
            return historic(s, api.rt.dataset, since=api.clock.now - dt.timedelta(days=400),
                            until=api.clock.now + dt.timedelta(days=1))  # fmt: skip

    before = len(rows())
    rid = create(api).json()["id"]
    assert len(rows()) == before  # a letter not sent is no referral yet
    api.post(f"/api/referrals/{rid}/send", "segarau")
    got = rows()
    assert len(got) == before + 1 and all(r.group == "historic" for r in got)
    mine = [r for r in got if r.origin_id == "PKM-SEGARAU" and r.icd10 == "O72.1"]
    assert mine and mine[-1].sex == "female" and mine[-1].emergency is True
    assert mine[-1].age_years == 28  # born 1998-07-01, referred in November 2026
    # the same table as synthetic demand: it runs through the same simulation
    out = simulate(api.rt.matcher, got)
    assert len(out) == len(got) and all(o.decision for o in out)

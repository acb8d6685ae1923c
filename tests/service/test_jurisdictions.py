"""Two regencies and a province pack in one deployment, through the HTTP API (SQLite and PostgreSQL).

Sambas (its real pack) and the SYNTHETIC regency "Contoh Sintetis" (``tests.synthetic_regency``)
joined by road, with the SYNTHETIC Kalimantan Barat province pack: the pack is chosen by the
origin's regency, one regency's regionalisation never applies to the other, and a referral that
crosses the border is created, sent, escalated, accepted and reported under the origin's pack.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from geodata.dataset import Dataset
from rules.model import ReferralRequest, ServiceType, Sex
from service.accounts import store
from service.cli import app
from service.matcher import Matcher
from service.planning.scenario import apply, parse_scenario
from service.planning.simulate import matcher_for
from service.referrals.escalation import escalation_tick
from tests.service.conftest import PASSWORD, T0, Api, letter_body, new_key, serving
from tests.synthetic_regency import HOSPITAL, MANIFEST

RSUD_SAMBAS, ABDUL_AZIZ = "6101022", "6172011"  # Kabupaten Sambas; Kota Singkawang (no pack of its own)
EXTRA_USERS = {
    "hulu": (["referrer"], "SYN-PKM-HULU"),
    "contoh": (["receiver", "referrer"], HOSPITAL),
    "abdulaziz": (["receiver", "referrer"], ABDUL_AZIZ),
}
#: a delivery without complications (outpatient, not an emergency): regionalisation applies
BIRTH = {"age_years": 27, "sex": "female", "icd10": ["O80"], "service_type": "rawat_inap"}


@pytest.fixture(scope="module")
def api(database_url: str, two_regencies: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serving(
        database_url, two_regencies, tmp_path_factory.mktemp("var"), jurisdictions_path=MANIFEST
    ) as a:
        with a.rt.sessions() as s:
            for name, (roles, fac) in EXTRA_USERS.items():
                store.create_user(
                    s, username=name, password=PASSWORD, roles=roles, facility_id=fac,
                    known_facilities=a.rt.facility_ids, actor=None, now=T0,
                )  # fmt: skip
            s.commit()
        yield a


def suggest(api: Api, user: str, origin: str, **over: Any) -> dict[str, Any]:
    r = api.post("/api/suggestions", user, json={"origin_id": origin, **BIRTH, **over})
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def regional(s: dict[str, Any]) -> dict[str, list[str]]:
    """The candidates boosted as the origin's regional hospital, with the texts that say so."""
    return {
        c["facility_id"]: [r["text"]["id"] for r in c["reasons"] if r["rule_id"] == "regional-designation"]
        for c in s["candidates"]
        if any(r["rule_id"] == "regional-designation" for r in c["reasons"])
    }


def test_the_pack_is_the_origins_regencys(api: Api) -> None:
    contoh = suggest(api, "hulu", "SYN-PKM-HULU")
    assert contoh["rule_pack"] == {"id": "contoh-synthetic", "version": "0.1-synthetic"}
    assert list(regional(contoh)) == [HOSPITAL]
    assert "Regional Sintetis 1" in regional(contoh)[HOSPITAL][0]
    assert contoh["candidates"][0]["facility_id"] == HOSPITAL

    sambas = suggest(api, "tebas", "PKM-TEBAS")
    assert sambas["rule_pack"]["id"] == "sambas"
    assert list(regional(sambas)) == ["6101033"]  # Regional 2: RSUD Pemangkat (Pasal 12(3) b)

    # a hospital of Kota Singkawang has no regency pack here: the province's governs
    kota = suggest(
        api, "abdulaziz", ABDUL_AZIZ, icd10=["I21.0"], service_type="gawat_darurat", emergency=True
    )
    assert kota["rule_pack"]["id"] == "kalbar-synthetic"
    assert not regional(kota)


def test_one_regencys_regionalisation_never_applies_to_the_other(api: Api) -> None:
    # Sambas's regional hospitals are candidates for a Contoh origin (over the border), but never
    # its designated hospital; and the Contoh RSUD is a candidate for Sambas, never designated
    contoh = suggest(api, "hulu", "SYN-PKM-HULU")
    listed = {c["facility_id"] for c in contoh["candidates"]}
    assert {RSUD_SAMBAS, HOSPITAL} <= listed
    assert set(regional(contoh)) == {HOSPITAL}
    # and no rule of the Sambas pack was applied: every article cited is the synthetic pack's
    cited = {
        ref
        for c in contoh["candidates"] + contoh["excluded"]
        for r in c["reasons"]
        for ref in r["references"]
    }
    cited |= {ref for r in contoh["reasons"] for ref in r["references"]}
    assert cited and all(ref.startswith("SYNTHETIC") or ref == "Permenkes 16/2024" for ref in cited), cited
    sambas = suggest(api, "tebas", "PKM-TEBAS")
    assert HOSPITAL in {c["facility_id"] for c in sambas["candidates"]}
    assert HOSPITAL not in regional(sambas)


def test_a_suggestion_from_a_position_takes_the_pack_of_where_it_lies(api: Api) -> None:
    inside_contoh = suggest(api, "hulu", "SYN-PKM-HULU", lon=109.952, lat=1.301, emergency=True)
    assert inside_contoh["rule_pack"]["id"] == "contoh-synthetic"
    in_sambas = suggest(api, "hulu", "SYN-PKM-HULU", lon=109.318, lat=1.365, emergency=True)  # Kec. Sambas
    assert in_sambas["rule_pack"]["id"] == "sambas"
    in_singkawang = suggest(api, "hulu", "SYN-PKM-HULU", lon=108.986, lat=0.906, emergency=True)
    assert in_singkawang["rule_pack"]["id"] == "kalbar-synthetic"


def test_a_cross_border_referral_under_the_origins_pack(api: Api) -> None:
    body = letter_body(destination_id=RSUD_SAMBAS)
    r = api.post("/api/referrals", "hulu", json=body, headers={"Idempotency-Key": new_key()})
    assert r.status_code == 201, r.text
    ref = r.json()
    rid = ref["id"]
    assert ref["suggestion"]["pack"] == {"id": "contoh-synthetic", "version": "0.1-synthetic"}
    assert RSUD_SAMBAS in ref["suggestion"]["candidates"]  # over the border, a capable candidate
    sent = api.post(f"/api/referrals/{rid}/send", "hulu").json()
    assert sent["status"] == "sent"
    # the answer time is the origin's pack's: 20 min (Sambas's is 15)
    api.clock.advance(minutes=16)
    try:
        assert rid not in escalation_tick(api.rt)
        api.clock.advance(minutes=5)
        assert rid in escalation_tick(api.rt)
    finally:
        api.clock.advance(minutes=-21)
    accepted = api.post(f"/api/referrals/{rid}/accept", "sambas", json={"note": "siap"})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"

    month = T0.strftime("%Y-%m")
    sender = api.get("/api/reports/SYN-PKM-HULU", "hulu", params={"month": month}).json()
    assert sender["rule_pack"]["id"] == "contoh-synthetic"
    assert sender["indicators"]["a_referred_of_served"]["referred"] >= 1
    receiver = api.get(f"/api/reports/{RSUD_SAMBAS}", "sambas", params={"month": month}).json()
    assert receiver["rule_pack"]["id"] == "sambas"
    assert receiver["indicators"]["b_served_of_received"]["received"] >= 1


def test_a_referral_inside_sambas_keeps_sambas_answer_time(api: Api) -> None:
    r = api.post("/api/referrals", "segarau", json=letter_body(), headers={"Idempotency-Key": new_key()})
    rid = r.json()["id"]
    api.post(f"/api/referrals/{rid}/send", "segarau")
    api.clock.advance(minutes=16)
    try:
        assert rid in escalation_tick(api.rt)
    finally:
        api.clock.advance(minutes=-16)


def test_the_facility_list_filters_by_any_packs_region(api: Api) -> None:
    got = api.get("/api/facilities", "hulu", params={"region": "contoh-regional-1"}).json()
    assert {f["id"] for f in got} == {"SYN-PKM-HULU", "SYN-PKM-HILIR", HOSPITAL}
    assert len(api.get("/api/facilities", "hulu", params={"region": "regional-3"}).json()) == 9
    r = api.get("/api/facilities", "hulu", params={"region": "regional-9"})
    assert r.status_code == 422
    assert "contoh-regional-1" in r.text


def test_a_bad_manifest_stops_the_start(database_url: str, two_regencies: Dataset, tmp_path: Path) -> None:
    bad = tmp_path / "deployment.yaml"
    bad.write_text(MANIFEST.read_text(encoding="utf-8").replace("6198", "6101"), encoding="utf-8")
    (tmp_path / "contoh-synthetic.yaml").write_text(
        (MANIFEST.parent / "contoh-synthetic.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    refused = r"regencies\[1\]: field 'code': Contoh Sintetis \(6101\) is already"
    with (
        pytest.raises(ValueError, match=refused),
        serving(database_url, two_regencies, tmp_path / "var", jurisdictions_path=bad),
    ):
        pass


def test_the_planner_says_which_pack_it_works_with(api: Api) -> None:
    """The planner works on the dataset's own regency (Sambas): its pack's regionalisation is what
    a scenario changes; the synthetic regency's origins keep their own pack in the simulation."""
    r = api.post("/api/plan/simulate", "planner", json={"referrals": 300, "seed": 3})
    assert r.status_code == 200, r.text
    assert r.json()["rule_pack"] == {"id": "sambas", "version": "2025.1", "regency": "Sambas"}
    moved = {"name": "x", "changes": [{"move_origin": {"origin": "PKM-TEBAS", "region": "regional-1"}}]}
    r = api.post("/api/plan/compare", "planner", json={"referrals": 300, "seed": 3, "scenario": moved})
    assert r.status_code == 200, r.text
    assert r.json()["rule_pack"]["id"] == "sambas"
    # a scenario cannot move an origin into another regency's region (not the Sambas pack's)
    bad = {"name": "x", "changes": [{"move_origin": {"origin": "PKM-TEBAS", "region": "contoh-regional-1"}}]}
    r = api.post("/api/plan/compare", "planner", json={"referrals": 300, "seed": 3, "scenario": bad})
    assert r.status_code == 422


def test_a_scenario_keeps_the_other_regencys_pack(two_regencies: Dataset) -> None:
    base = Matcher.load(two_regencies, jurisdictions_path=MANIFEST)
    sc = parse_scenario(
        {"name": "x", "changes": [{"move_origin": {"origin": "PKM-TEBAS", "region": "regional-1"}}]}
    )
    m = matcher_for(apply(sc, base.dataset, base.pack), base)
    assert m.pack is not base.pack and m.pack_for("PKM-TEBAS") is m.pack
    assert m.pack_for("SYN-PKM-HULU") is base.pack_for("SYN-PKM-HULU")
    assert m.pack_for(ABDUL_AZIZ).id == "kalbar-synthetic"


def test_rujuk_suggest_takes_the_manifest(two_regencies: Dataset, tmp_path: Path) -> None:
    args = ["suggest", "--dataset", str(two_regencies.path), "--jurisdictions", str(MANIFEST), "--json"]
    r = CliRunner().invoke(app, [*args, "--from", "SYN-PKM-HULU", "--icd", "O80"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["rule_pack"]["id"] == "contoh-synthetic"
    r = CliRunner().invoke(app, [*args, "--from", ABDUL_AZIZ, "--icd", "I21.0", "--emergency"])
    assert json.loads(r.stdout)["rule_pack"]["id"] == "kalbar-synthetic"
    bad = tmp_path / "deployment.yaml"
    bad.write_text("regencies: []\n", encoding="utf-8")
    r = CliRunner().invoke(
        app,
        [
            "suggest",
            "--dataset",
            str(two_regencies.path),
            "--jurisdictions",
            str(bad),
            "--from",
            "SYN-PKM-HULU",
        ],
    )
    assert r.exit_code == 2
    assert "deployment.yaml: province: field ''" in r.output


def test_every_origin_is_governed_by_its_own_regencys_pack(two_regencies: Dataset) -> None:
    """For every Puskesmas of the deployment and a non-emergency stay: the pack is its regency's,
    and the only hospital ever boosted as "regional" is the one its own pack designates for it."""
    m = Matcher.load(two_regencies, jurisdictions_path=MANIFEST)
    now = T0
    seen = set()
    for f in two_regencies.facilities:
        if f.kind.value != "puskesmas":
            continue
        req = ReferralRequest(f.id, 27.0, Sex.FEMALE, ("O80",), service_type=ServiceType.RAWAT_INAP)
        s = m.suggest(req, statuses={}, now=now)
        pack = m.pack_for(f.id)
        assert s.pack_id == pack.id == {"Sambas": "sambas", "Contoh Sintetis": "contoh-synthetic"}[f.regency]
        own = pack.region_of(f.id)
        assert own is not None
        boosted = {
            c.facility_id for c in s.candidates if any(r.rule_id == "regional-designation" for r in c.reasons)
        }
        assert boosted <= {own.hospital}
        if boosted:
            seen.add(s.pack_id)
    assert seen == {"sambas", "contoh-synthetic"}  # each pack did designate, for its own origins

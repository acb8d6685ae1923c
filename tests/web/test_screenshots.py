"""Every page at phone (390 x 844) and desk (1366 x 900) size, as its user sees it with work on it,
saved to ``RUJUK_TEST_ARTEFACTS`` (``build/screenshots``): ``<page>-hp.png`` and ``<page>-meja.png``.
The README's picture (``docs/img/rujuk-saran.png``) is the desk view of the suggestions: with
``RUJUK_UPDATE_README_PICTURE=1`` this test writes it there too.

Each page must also fit its screen: no sideways scroll on a phone."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.web.test_language import _sent
from tests.web.test_pages import ARTEFACTS, Site, Visit, _request_suggestions, browser, site, wait_js

__all__ = ["browser", "site"]

SIZES = {
    "hp": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "meja": {"viewport": {"width": 1366, "height": 900}},
}
README_PICTURE = Path(__file__).parents[2] / "docs" / "img" / "rujuk-saran.png"


def _fits(page: Any, what: str) -> None:
    overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{what} scrolls sideways by {overflow} px"


@pytest.mark.parametrize("size", ["hp", "meja"])
def test_every_page_at_phone_and_desk_size(site: Site, browser: Any, size: str) -> None:
    rid = _sent(site)
    shots: list[Path] = []
    # the midwife: the suggestions, then the letter sent and its status
    v = Visit(browser, site, **SIZES[size])
    page = v.sign_in("segarau", "/rujuk")
    _request_suggestions(page)
    wait_js(page, "document.querySelectorAll('.leaflet-marker-icon').length >= 2")
    page.wait_for_timeout(500)
    _fits(page, f"/rujuk ({size})")
    shots.append(v.shot(f"rujuk-saran-{size}"))
    if size == "meja" and os.environ.get("RUJUK_UPDATE_README_PICTURE") == "1":
        page.screenshot(path=str(README_PICTURE), full_page=False)
    v.close()
    # the ER nurse: the inbox with the new referral, the board, the received list
    er = Visit(browser, site, **SIZES[size])
    page = er.sign_in("pemangkat", "/terima")
    page.wait_for_selector(f"#inbox > li[data-referral='{rid}'], #inbox > li", state="attached")
    _fits(page, f"/terima ({size})")
    shots.append(er.shot(f"terima-{size}"))
    # the letter, as it opens from the card
    with er.context.expect_page() as popup:
        page.locator("#inbox > li").first.locator("button.secondary").first.click()
    letter = popup.value
    letter.wait_for_load_state()
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"surat-{size}.png"
    letter.screenshot(path=str(path), full_page=True)
    shots.append(path)
    er.close()
    for user, path_, name, ready in (
        ("dispatch", "/dispatch", "dispatch", None),
        ("dispatch", "/insiden", "insiden", None),
        ("planner", "/rencana", "rencana", "#example option:nth-child(2)"),
    ):
        w = Visit(browser, site, **SIZES[size])
        page = w.sign_in(user, path_)
        if ready:
            page.wait_for_selector(ready, state="attached")
        page.wait_for_timeout(300)
        _fits(page, f"{path_} ({size})")
        shots.append(w.shot(f"{name}-{size}"))
        w.close()
    assert all(p.stat().st_size > 10_000 for p in shots)

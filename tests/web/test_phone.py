"""A midwife on a 390 x 844 phone: after "Cari tujuan" the results come into view, each result is
a compact card (its reasons one tap away), the map's first view shows every candidate and names
the places (kecamatan) from rujuk's own data, and nothing scrolls sideways."""

from __future__ import annotations

from typing import Any

from tests.web.test_pages import Site, Visit, _request_suggestions, browser, site, wait_js

__all__ = ["browser", "site"]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def test_a_midwife_sees_the_results_on_her_phone_without_hunting_for_them(site: Site, browser: Any) -> None:
    v = Visit(browser, site, **PHONE)
    page = v.sign_in("segarau", "/rujuk")
    wait_js(page, "document.querySelectorAll('.leaflet-tooltip.place-label').length >= 5")
    names = page.locator(".leaflet-tooltip.place-label").all_text_contents()
    assert "Tebas" in names and "Sambas" in names, names  # kecamatan, named where they are
    # the names shown never overlap (one that would is hidden until a closer zoom makes room)
    overlaps = page.evaluate(
        """(() => { const rs = [...document.querySelectorAll('.leaflet-tooltip.place-label')]
              .filter(l => l.style.visibility !== 'hidden').map(l => l.getBoundingClientRect());
            let n = 0; rs.forEach((a, i) => rs.slice(i + 1).forEach(b => {
              if (a.left < b.right && a.right > b.left && a.top < b.bottom && a.bottom > b.top) n++; }));
            return [n, rs.length]; })()"""
    )
    assert overlaps[0] == 0 and overlaps[1] >= 3, overlaps
    _request_suggestions(page)
    wait_js(page, "document.querySelectorAll('.leaflet-marker-icon').length >= 2")
    page.wait_for_timeout(400)  # the scroll and the map's fit settle
    # the results are in view: their heading near the top of the screen, not below the form
    top = page.evaluate("document.querySelector('#res-title').getBoundingClientRect().top")
    assert -1 <= top <= 200, f"the results' heading is at {top} px on an 844 px screen"
    # compact cards: name, time, the button and the call link; the reasons folded away
    cards = page.locator("#candidates > li[data-facility]")
    heights = cards.evaluate_all("els => els.map(e => e.getBoundingClientRect().height)")
    assert max(heights) < 280, heights  # was about 600 px (half a screen) with the reasons open
    first = cards.first
    assert not first.locator("details.why").evaluate("d => d.open")
    first.locator("details.why > summary").click()
    assert "Pasal" in first.locator("details.why").inner_text()  # one tap: the reasons, citing the Perbup
    # the map's first view holds the origin and every numbered candidate
    outside = page.evaluate(
        """(() => { const box = document.querySelector('#map').getBoundingClientRect();
            return [...document.querySelectorAll('#map .leaflet-marker-icon')].filter(m => {
              const r = m.getBoundingClientRect(); const x = r.left + r.width / 2, y = r.top + r.height / 2;
              return x < box.left || x > box.right || y < box.top || y > box.bottom; }).length; })()"""
    )
    assert outside == 0, f"{outside} candidates are outside the map's first view"
    overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px"
    v.shot("rujuk-phone-hasil")
    v.close()

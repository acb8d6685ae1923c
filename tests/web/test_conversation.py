"""The conversation of a referral walked through the pages: the ER asks, the midwife answers on her phone.

A message from the hospital's page appears on the Puskesmas page with its alert (banner, unread
count), and the answer comes back to the hospital's open conversation with the inbox's alert;
both pages stay in one language.
"""

from __future__ import annotations

from typing import Any

from tests.web.test_language import problems
from tests.web.test_pages import Site, Visit, browser, site

__all__ = ["browser", "site"]  # the fixtures, shared with the pages' tests

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def test_the_er_and_the_midwife_talk_before_the_answer(site: Site, browser: Any) -> None:
    rid = site.sent_referral()
    er = Visit(browser, site)
    hospital = er.sign_in("pemangkat", "/terima")
    card = hospital.locator(f"#inbox li[data-referral='{rid}']")
    card.wait_for()
    card.locator("button.chat-toggle").click()
    card.locator(".chat-empty").wait_for()
    card.locator("[data-quick='send_lab']").click()
    card.locator(".chat-text").fill("Hb dan golongan darah?")
    card.locator("button.chat-send").click()
    card.locator(".chat-msg.mine:has-text('Mohon kirim hasil lab. Hb dan golongan darah?')").wait_for()

    midwife = Visit(browser, site, **PHONE)
    page = midwife.sign_in("segarau", "/rujuk")
    row = page.locator(f"#outbox tr[data-referral='{rid}']")
    row.locator(".badge.unread").wait_for()  # one unread message in the sent list
    row.locator("button.link").click()
    page.locator("#chat .chat-msg.receiver:has-text('Hb dan golongan darah?')").wait_for()
    page.locator("#chat .chat-text").fill("Hb 7,2 g/dL, golongan darah O+")
    page.locator("#chat [data-quick='on_the_way']").click()
    page.locator("#chat button.chat-send").click()
    page.locator("#chat .chat-msg.mine:has-text('Hb 7,2 g/dL')").wait_for()
    assert problems(page.text_content("#status-card") or "", "id") == []
    midwife.shot("percakapan-bidan")

    # the answer reaches the hospital's open conversation live, with the inbox's alert
    card.locator(".chat-msg.sender:has-text('Pasien sedang dalam perjalanan. Hb 7,2 g/dL')").wait_for()
    hospital.wait_for_selector("#alert:has-text('Pesan baru dari Puskesmas Segarau')")
    assert problems(hospital.text_content("#inbox") or "", "id") == []
    er.shot("percakapan-igd")

    # and the ER's next message reaches the midwife with a banner, wherever she is on the page
    card.locator(".chat-text").fill("Siap, kami tunggu di IGD.")
    card.locator("button.chat-send").click()
    page.wait_for_selector("#answer-alert:has-text('Pesan baru dari RSUD Pemangkat')")
    page.locator("#chat .chat-msg.receiver:has-text('kami tunggu di IGD')").wait_for()

    # a message points to one of the letter's attachments; the ER opens it in its viewer
    form = page.locator(f".attachments[data-referral='{rid}'] form.att-upload")
    form.locator("select").select_option("lab")
    form.locator("input.att-file").set_input_files(
        files=[
            {"name": "hb-darah.txt", "mimeType": "text/plain", "buffer": b"Hb 7,2 g/dL\nGolongan darah O+\n"}
        ]
    )
    form.locator("button.att-send").click()
    page.locator("#chat .chat-text").fill("Hasil lab terlampir.")
    page.locator("#chat .chat-attachment-pick").select_option(label="Lab: hb-darah.txt")
    page.locator("#chat button.chat-send").click()
    link = card.locator(".chat-msg.sender button.chat-attachment:has-text('Lampiran: hb-darah.txt')")
    link.wait_for()
    link.click()
    card.locator(".att-viewer pre.att-text:has-text('Golongan darah O+')").wait_for()
    midwife.close()
    er.close()

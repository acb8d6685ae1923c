// rujuk: the conversation of a referral between its sender and the receiving facility
// (service/referrals/messages.py): text, quick replies, the letter's attachments; live through the
// facility's feed (events msg_sender / msg_receiver), with unread counts. One panel per referral,
// kept across the page's re-renders so that a half-written message is never lost.
import { $, announce, api, el, fmtTime, t } from "/static/common.js";
import { callButton } from "/static/call.js";

/** The event kinds of a message, by the author's side. */
export const MESSAGE_KINDS = new Set(["msg_sender", "msg_receiver"]);

const panels = new Map(); // referral id -> panel

/** The words of a message: its quick reply (the catalogue's) and its text. */
function words(m) {
  const quick = m.quick ? t(`chat.quick.${m.quick}`) : "";
  return [quick, m.text].filter(Boolean).join(" ");
}

/**
 * The conversation panel of a referral (the same element every time for the same referral).
 * ``names`` maps facility ids to names; ``onRead`` is called when the unread count may change.
 */
export function chatPanel(referralId, { names, onRead, other } = {}) {
  let panel = panels.get(referralId);
  if (panel) return panel;
  const list = el("ol", { class: "chat-list", "aria-live": "polite", "aria-label": t("chat.title") });
  const input = el("textarea", { rows: 2, maxlength: 2000, id: `chat-text-${referralId}`, class: "chat-text",
    placeholder: t("chat.placeholder"), "aria-label": t("chat.placeholder") });
  const error = el("p", { class: "error", role: "alert" });
  const quick = el("div", { class: "chat-quick" });
  const send = el("button", { type: "submit", class: "chat-send" }, t("chat.send"));
  // one of the letter's attachments, pointed to in the message ("see the ECG")
  const pick = el("select", { class: "chat-attachment-pick", id: `chat-att-${referralId}`, "aria-label": t("chat.attach") });
  const pickRow = el("label", { class: "chat-attach", hidden: true }, `${t("chat.attach")} `, pick);
  const form = el("form", { class: "chat-form", onsubmit: (ev) => { ev.preventDefault(); submit(); } },
    quick, input, pickRow, error, el("div", { class: "actions" }, send));
  const call = el("span", { class: "chat-call" });
  panel = el("div", { class: "chat", "data-referral": referralId },
    el("div", { class: "chat-head" }, el("h3", {}, t("chat.title")), call), list, form);
  panels.set(referralId, panel);
  let state = null;
  let chosenQuick = null;
  const known = { attachments: null }; // attachment id -> file name

  function render() {
    const items = state.messages.map((m) => el("li", {
      class: `chat-msg ${m.mine ? "mine" : ""} ${m.side}`, "data-message": m.id },
    el("div", { class: "chat-meta" }, `${names?.(m.facility_id) ?? m.facility_id} · ${m.author} · ${fmtTime(m.at)}`),
    el("div", { class: "chat-body" }, words(m)),
    m.attachment_id ? el("button", { type: "button", class: "link chat-attachment", "data-attachment": m.attachment_id,
      onclick: () => openAttachment(referralId, m.attachment_id) },
    `${t("chat.attachment_named")} `, el("span", { lang: "" }, known.attachments?.get(m.attachment_id) ?? `#${m.attachment_id}`)) : null));
    const none = state.elsewhere ? el("li", { class: "notice warn chat-elsewhere" }, t("chat.elsewhere"))
      : el("li", { class: "muted chat-empty" }, t("chat.empty"));
    list.replaceChildren(...(items.length ? items : [none]));
    form.hidden = !state.can_write;
    call.replaceChildren(...(state.can_write && other ? [callButton(referralId, other)] : []));
    quick.replaceChildren(...state.quick.filter((q) => QUICK_FOR[state.side]?.includes(q)).map((q) =>
      el("button", { type: "button", class: `secondary chat-quick-reply${chosenQuick === q ? " chosen" : ""}`, "data-quick": q,
        "aria-pressed": chosenQuick === q ? "true" : "false",
        onclick: () => { chosenQuick = chosenQuick === q ? null : q; render(); if (chosenQuick) input.focus(); } }, t(`chat.quick.${q}`))));
    list.scrollTop = list.scrollHeight;
  }

  async function loadAttachments() {
    try {
      const list = await api(`/api/referrals/${referralId}/attachments`, { quiet: true });
      const chosen = pick.value;
      pick.replaceChildren(el("option", { value: "" }, t("chat.attach_none")),
        // a file's name is the sender's own words, in no page language (lang="")
        ...list.map((a) => el("option", { value: a.id, lang: "" }, `${t(`att.kind.${a.kind}`)}: ${a.filename}`)));
      pick.value = list.some((a) => String(a.id) === chosen) ? chosen : "";
      pickRow.hidden = !list.length;
      known.attachments = new Map(list.map((a) => [a.id, a.filename]));
    } catch { pickRow.hidden = true; }
  }

  async function load() {
    try {
      state = await api(`/api/referrals/${referralId}/messages`, { quiet: true });
      if (state.can_write || state.messages.some((m) => m.attachment_id)) await loadAttachments();
      render();
      const newest = state.messages.at(-1)?.id ?? 0;
      if (newest > state.read_up_to && panel.isConnected && !panel.closest("[hidden]")) {
        await api(`/api/referrals/${referralId}/messages/read`, { method: "POST", body: { up_to: newest }, quiet: true });
        onRead?.();
      }
    } catch (e) { error.textContent = e.status === 401 ? "" : e.message; }
  }

  async function submit() {
    const text = input.value.trim();
    const attachment = pick.value ? Number(pick.value) : null;
    if (!text && !chosenQuick && !attachment) { error.textContent = t("chat.need_text"); input.focus(); return; }
    send.disabled = true;
    try {
      await api(`/api/referrals/${referralId}/messages`, { method: "POST", body: { text, quick: chosenQuick, attachment_id: attachment } });
      input.value = "";
      pick.value = "";
      chosenQuick = null;
      error.textContent = "";
      await load();
    } catch (e) { error.textContent = e.message; } finally { send.disabled = false; }
  }

  panel.refresh = load;
  window.addEventListener("rujuk:attachments", (ev) => { if (ev.detail?.referral === referralId) loadAttachments(); });
  load();
  return panel;
}

/** The quick replies each side uses (both are offered the ones that fit them). */
const QUICK_FOR = {
  receiver: ["can_accept", "send_lab", "room_full", "call_us"],
  sender: ["patient_worse", "on_the_way", "send_lab", "call_us"],
};

/** An attachment a message points to: shown in the referral's attachment viewer on this page (or,
 * where the page has none, fetched and opened in a new tab). */
async function openAttachment(referralId, attachmentId) {
  const section = document.querySelector(`.attachments[data-referral="${CSS.escape(referralId)}"]`);
  if (section?.show && await section.show(attachmentId)) {
    section.scrollIntoView({ block: "start" });
    return;
  }
  try {
    const r = await api(`/api/referrals/${referralId}/attachments/${attachmentId}`, { raw: true });
    const url = URL.createObjectURL(await r.blob());
    window.open(url, "_blank", "noopener");
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (e) { announce(e.message, "bad"); }
}

/** A live message event: the open panel of its referral reads again. */
export function onMessageEvent(ev) {
  panels.get(ev.referral_id)?.refresh();
}

/** The toggle that opens a referral's conversation, with its unread count. */
export function chatToggle(referralId, unread, { names, onRead, other } = {}) {
  const box = el("div", { class: "chat-box", hidden: true });
  const count = unread ? el("span", { class: "badge unread", "aria-label": t("chat.unread", { n: unread }) }, String(unread)) : null;
  const button = el("button", { type: "button", class: "secondary chat-toggle", "aria-expanded": "false",
    onclick: () => {
      box.hidden = !box.hidden;
      button.setAttribute("aria-expanded", String(!box.hidden));
      if (!box.hidden) {
        box.replaceChildren(chatPanel(referralId, { names, onRead, other }));
        panels.get(referralId).refresh();
        $(".chat-text", box)?.focus();
      }
    } }, t("chat.open"), count ? " " : null, count);
  // a panel already open for this referral stays open across re-renders
  const open = panels.get(referralId);
  if (open?.isConnected && !open.closest(".chat-box")?.hidden) {
    box.hidden = false;
    button.setAttribute("aria-expanded", "true");
    box.replaceChildren(open);
  }
  return { button, box };
}

// A facility's telephone number on the pages: a call link (the number to read, tel:+62… to dial
// with one tap on a phone), what the number reaches, or "nomor belum tercatat" when the dataset
// knows none. The number comes with the facility (/api/facilities: phone {display, tel, kind} or null).
import { el, t } from "/static/common.js";

/** The call link of facility ``f``, or the words saying no number is recorded. */
export function callLink(f) {
  const p = f?.phone;
  if (!p) return el("span", { class: "no-phone", "data-phone": "unknown" }, t("contact.unknown"));
  const text = t("contact.call", { n: p.display });
  return el("a", { class: "call", href: p.tel, "data-phone": p.dial, "aria-label": `${text} (${f.name})`, title: t(`contact.kind.${p.kind}`) },
    text);
}

/** A facility's contact as a line: ``who`` (e.g. "Pengirim") when given, the call link, and
 * what the number reaches when it is not a verified IGD line. Nothing for an id that is not a
 * facility (an incident's pickup point). */
export function contactLine(f, who = "") {
  if (!f) return null;
  const p = f.phone;
  return el("div", { class: "contact", "data-contact": f.id },
    el("span", { class: "who" }, `${who || t("contact.phone")}:`),
    callLink(f),
    p && p.kind !== "igd" ? el("span", { class: "muted phone-note" }, t(`contact.kind.${p.kind}`)) : null);
}

/** The contact line of ``f`` already in ``box`` when it would be drawn the same, else a new one: a
 * live update that redraws a card then never swaps the call link under a finger about to tap it. */
export function keptContactLine(box, f, who = "") {
  const fresh = contactLine(f, who);
  const old = fresh && box.querySelector(`.contact[data-contact="${CSS.escape(f.id)}"]`);
  return old && old.isEqualNode(fresh) ? old : fresh;
}

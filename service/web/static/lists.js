// The sent and received lists ("Rujukan terkirim" on /rujuk, "Rujukan terakhir" on /terima): the
// patient on each row (for those who may see them), a search box, a state filter, a date range,
// and "Muat lebih banyak" going through the whole history page by page (the API's Link rel=next).
// Each page builds its own rows; this module reads the filters, pages, and says what it found.
import { $, api, el, label, lang, t, webConfig } from "/static/common.js";

const PAGE = 20;
/** The lifecycle's states, in its order (a received list never holds a draft). */
const STATES = ["created", "sent", "accepted", "declined", "dispatched", "in_transit", "arrived", "completed", "cancelled"];

/** The next page's URL from a Link header (RFC 8288), or null at the end. */
function nextLink(header) {
  const m = /<([^>]+)>;\s*rel="next"/.exec(header ?? "");
  return m ? m[1] : null;
}

let zone;
/** A referral's date and time in the jurisdiction's zone, with the year when it is not this one. */
export function fmtWhen(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  const locale = lang === "en" ? "en-GB" : "id-ID";
  const year = (x) => new Intl.DateTimeFormat(locale, { year: "numeric", timeZone: zone?.timezone }).format(x);
  const s = d.toLocaleString(locale, {
    day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZone: zone?.timezone,
    ...(year(d) !== year(new Date()) ? { year: "numeric" } : {}),
  });
  return zone?.timezone_label ? `${s} ${zone.timezone_label}` : s;
}

/** The patient's cell: name, sex and age; a trace (the referral went elsewhere) says it hides them. */
export function patientCell(r) {
  const p = r.patient;
  if (!p) return el("td", { class: "patient muted", "data-label": t("lists.patient") }, t("lists.hidden"));
  const bits = [p.sex ? label("sex", p.sex) : null, p.age_years != null ? t("receive.years", { n: p.age_years }) : null].filter(Boolean);
  return el("td", { class: "patient", "data-label": t("lists.patient") },
    el("strong", { class: "patient-name" }, p.name ?? "–"),
    bits.length ? el("span", { class: "muted patient-more" }, el("span", { class: "sep" }, " · "), bits.join(", ")) : null);
}

/** The diagnosis cell: the codes and what was written. */
export function diagnosisCell(r) {
  const text = r.medical?.diagnosis_text;
  return el("td", { "data-label": t("outbox.dx") }, r.icd10.join(", "), text ? el("span", { class: "muted" }, ` · ${text}`) : null);
}

/**
 * A list under the elements named from ``prefix``: ``#<prefix>`` (its tbody), ``-q``, ``-status``,
 * ``-since``, ``-until``, ``-more``, ``-note``. ``row(r)`` makes a row; ``onRows(rows, filtered)`` hears
 * every (re)load (``filtered``: a search or a filter narrows them). Returns ``refresh()``: the rows shown again, as many as were shown (after a change).
 */
export async function referralList(prefix, { box, row, onRows = () => undefined }) {
  zone = await webConfig().catch(() => null);
  const body = $(`#${prefix}`);
  const q = $(`#${prefix}-q`), status = $(`#${prefix}-status`), since = $(`#${prefix}-since`), until = $(`#${prefix}-until`);
  const more = $(`#${prefix}-more`), note = $(`#${prefix}-note`);
  const states = STATES.filter((s) => box !== "inbox" || s !== "created");
  const fillStates = () => {
    const chosen = status.value;
    status.replaceChildren(el("option", { value: "" }, t("lists.all_states")),
      ...states.map((s) => el("option", { value: s, selected: s === chosen }, label("rstatus", s))));
  };
  fillStates();

  let rows = [];
  let next = null;
  let searchedUntil = null; // a search that stopped at its bound of rows: the date it reached
  let generation = 0; // a reload started later wins over an older one still on its way

  function query(limit) {
    const p = new URLSearchParams({ box, limit: String(limit) });
    const text = q.value.trim();
    if (text) p.set("q", text);
    if (status.value) p.set("status", status.value);
    if (since.value) p.set("since", since.value);
    if (until.value) p.set("until", until.value);
    return `/api/referrals?${p}`;
  }

  function say(text) {
    note.textContent = text;
    note.hidden = !text;
  }

  const filtered = () => Boolean(q.value.trim() || status.value || since.value || until.value);

  function render() {
    body.replaceChildren(...rows.map(row));
    more.hidden = !next;
    if (searchedUntil) say(t("lists.searched_until", { d: fmtWhen(searchedUntil) }));
    else if (!rows.length) say(t(filtered() ? "lists.none_found" : "lists.empty"));
    else say("");
  }

  async function load(url, { append }) {
    const mine = ++generation;
    more.disabled = true;
    try {
      const res = await api(url, { raw: true, quiet: true });
      const page = await res.json();
      if (mine !== generation) return;
      rows = append ? [...rows, ...page] : page;
      next = nextLink(res.headers.get("Link"));
      searchedUntil = res.headers.get("Rujuk-Searched-Until");
      render();
      onRows(rows, filtered());
    } catch (e) {
      if (mine === generation) say(e.status === 422 ? t("lists.bad_filter") : t("lists.failed"));
    } finally {
      if (mine === generation) more.disabled = false;
    }
  }

  function reload() {
    if (since.value && until.value && until.value < since.value) {
      say(t("lists.bad_range"));
      return;
    }
    load(query(PAGE), { append: false });
  }

  let typing = null;
  q.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(reload, 300); });
  q.form?.addEventListener("submit", (ev) => { ev.preventDefault(); clearTimeout(typing); reload(); });
  for (const input of [status, since, until]) input.addEventListener("change", reload);
  more.addEventListener("click", () => { if (next) load(next, { append: true }); });
  window.addEventListener("rujuk:lang", () => { fillStates(); render(); });

  reload();
  return {
    /** The rows shown again (as many as were shown, up to 200): after an action or a live event. */
    refresh() {
      return load(query(Math.min(200, Math.max(PAGE, rows.length))), { append: false });
    },
  };
}

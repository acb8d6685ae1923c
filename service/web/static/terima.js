// Receiving hospital: the live inbox (alert with sound and colour, time waiting), accept or
// decline with a reason, and the facility's status board with the age of every figure.
import {
  $, announce, api, applyI18n, downloadLetterPdf, el, facilities, fmtAge, fmtDuration, fmtNum, fmtTime, label, lang, openLetter,
  secondsSince, signedIn, soundAlarm, startPage, t,
  serviceLabel,
} from "/static/common.js";
import { followStation, stationInbox } from "/static/station.js";
import { contactLine } from "/static/contact.js";
import { roadsText } from "/static/roads.js";
import { webConfig } from "/static/map.js";
import { diagnosisCell, fmtWhen, patientCell, referralList } from "/static/lists.js";
import { MESSAGE_KINDS, chatToggle, onMessageEvent } from "/static/chat.js";
import { CALL_KINDS, callEvent, incomingCall } from "/static/call.js";
import { attachmentsSection } from "/static/attachments.js";

const who = await startPage("/terima");
if (who) await main(who);

async function main(who) {
  const fac = await facilities();
  const cfg = await webConfig();
  const mine = who.facility ? fac.get(who.facility.id) : null;
  if (!mine) {
    $("#main").prepend(el("p", { class: "notice bad" }, t("refer.no_facility")));
    return;
  }
  // a Puskesmas receives its patients back (rujuk balik) but keeps no status board
  if (!mine.receiving) $("#board-card").hidden = true;
  const mayRefer = (who.roles ?? []).some((r) => ["referrer", "receiver", "admin"].includes(r));

  // --------------------------------------------------------------------------- the alert
  const { beep } = soundAlarm($("#sound"));
  const fresh = new Set();
  function alertNew(r) {
    fresh.add(r.id);
    const banner = $("#alert");
    banner.hidden = false;
    banner.textContent = t("receive.alert", { f: fac.get(r.origin_id)?.name ?? r.origin_id });
    beep();
  }

  // ---------------------------------------------------------------------- the attachments
  // the results the sender attached (attachments.js): one section per referral, kept across the
  // cards' re-renders so that what is open in the viewer stays open
  const attachedTo = new Map();
  function attachments(r) {
    if (!attachedTo.has(r.id)) attachedTo.set(r.id, attachmentsSection(r, { open: false }));
    return attachedTo.get(r.id);
  }
  /** The attachments of a referral of the received list, in a dialog. */
  function attachmentsDialog(r) {
    const dlg = el("dialog", { class: "att-dialog", "aria-labelledby": "att-dialog-title" },
      el("h2", { id: "att-dialog-title" }, t("att.dialog_title")),
      el("p", { class: "muted" }, [r.patient?.name, fac.get(r.origin_id)?.name ?? r.origin_id].filter(Boolean).join(" · ")),
      attachmentsSection(r, { open: true }),
      el("div", { class: "actions" }, el("button", { type: "button", class: "secondary", onclick: () => dlg.close() }, t("att.close"))));
    dlg.addEventListener("close", () => dlg.remove());
    document.body.append(dlg);
    dlg.showModal();
  }

  // --------------------------------------------------------------------------- the inbox
  let waiting = [];
  const ageYears = (dob) => dob ? Math.floor((Date.now() - new Date(dob).getTime()) / 3.15576e10) : null;

  function vitalsText(v) {
    const parts = [];
    if (v.bp_systolic) parts.push(`TD ${v.bp_systolic}/${v.bp_diastolic ?? "?"}`);
    if (v.pulse) parts.push(`N ${v.pulse}`);
    if (v.respiratory_rate) parts.push(`RR ${v.respiratory_rate}`);
    if (v.temperature_c) parts.push(`S ${fmtNum(v.temperature_c, 1)}°C`);
    if (v.spo2) parts.push(`SpO₂ ${v.spo2}%`);
    if (v.gcs) parts.push(`GCS ${v.gcs}`);
    return parts.join(" · ");
  }

  function renderInbox() {
    $("#inbox-empty").hidden = waiting.length > 0;
    document.title = waiting.length ? `(${waiting.length}) rujuk · ${t("receive.title")}` : `rujuk · ${t("receive.title")}`;
    $("#inbox").replaceChildren(...waiting.map((r) => {
      if (!r.times) return briefItem(r);
      const p = r.patient ?? {};
      const waited = secondsSince(r.times.sent);
      const chat = chatToggle(r.id, r.unread_messages, { names: facName, onRead: () => loadInbox(), other: facName(r.origin_id) });
      const due = r.times.due ? -secondsSince(r.times.due) : null;
      return el("li", { class: `card inbox-item${fresh.has(r.id) ? " new" : ""}`, "data-referral": r.id },
        el("div", { class: "cand-head" },
          el("span", { class: "name" }, fac.get(r.origin_id)?.name ?? r.origin_id),
          r.emergency ? el("span", { class: "badge emergency" }, t("refer.emergency")) : null,
          r.back_referral_of ? el("span", { class: "badge back" }, t("receive.back_badge")) : null,
          r.incident_id ? el("span", { class: "badge bad incident" }, t("inc.badge")) : null,
          el("span", { class: "badge" }, label("st", r.service_type)),
          el("span", { class: "time waiting" }, t("receive.waiting", { d: fmtDuration(waited) }))),
        el("p", {}, el("strong", {}, `${r.icd10.join(", ")} · ${r.medical?.diagnosis_text ?? ""}`),
          ` · ${label("sex", p.sex)}${ageYears(p.date_of_birth) !== null ? `, ${t("receive.years", { n: ageYears(p.date_of_birth) })}`
            : p.age_estimate_years != null ? `, ± ${t("receive.years", { n: p.age_estimate_years })}` : ""}`,
          ` · ${r.receiving_unit}`),
        r.medical?.vital_signs ? el("p", { class: "muted" }, vitalsText(r.medical.vital_signs)) : null,
        el("p", {}, el("span", { class: "muted" }, `${t("letter.stabilisation")}: `), r.medical?.stabilisation ?? ""),
        el("p", {}, el("span", { class: "muted" }, `${t("letter.reason")}: `), r.reason),
        contactLine(fac.get(r.origin_id), t("contact.sender")),
        r.times.escalated ? el("p", { class: "error escalated" }, t("receive.escalated"))
          : due !== null ? el("p", { class: due < 0 ? "error" : "muted" }, due < 0 ? t("receive.overdue") : t("receive.due", { d: fmtDuration(due) })) : null,
        el("div", { class: "actions" },
          el("button", { type: "button", class: "accept", onclick: () => accept(r) }, t("receive.accept")),
          el("button", { type: "button", class: "danger decline", onclick: () => decline(r) }, t("receive.decline")),
          el("button", { type: "button", class: "secondary", onclick: () => openLetter(r.id).catch((e) => announce(e.message, "bad")) }, t("status.open")),
          el("button", { type: "button", class: "secondary pdf", onclick: () => downloadLetterPdf(r.id, r.number).catch((e) => announce(e.message, "bad")) }, t("status.pdf")),
          chat.button),
        attachments(r),
        chat.box);
    }));
  }
  const facName = (id) => fac.get(id)?.name ?? id;

  // a referral known from the station only (the sign-in has ended): no patient until a sign-in
  function briefItem(r) {
    return el("li", { class: `card inbox-item${fresh.has(r.id) ? " new" : ""}`, "data-referral": r.id },
      el("div", { class: "cand-head" },
        el("span", { class: "name" }, fac.get(r.origin_id)?.name ?? r.origin_id),
        r.emergency ? el("span", { class: "badge emergency" }, t("refer.emergency")) : null,
        el("span", { class: "time waiting" }, t("receive.waiting", { d: fmtDuration(secondsSince(r.sent_at)) }))),
      el("p", { class: "muted" }, t("receive.signin_to_see")),
      contactLine(fac.get(r.origin_id), t("contact.sender")),
      el("div", { class: "actions" },
        el("button", { type: "button", class: "show-details", onclick: () => loadInbox({ ask: true }) }, t("receive.show_details"))));
  }

  function showWaiting(box) {
    if (!box) return;
    waiting = box.referrals;
    renderInbox();
  }

  // signed in: the full inbox; after the sign-in ended: what the station sees (no patient), unless
  // ``ask`` (a click): then the password is asked for
  async function loadInbox({ ask = false } = {}) {
    try {
      if (!ask && !signedIn()) { showWaiting(await stationInbox()); return; }
      const w = await api("/api/referrals?box=inbox&status=sent&limit=100", { quiet: !ask });
      waiting = w.filter((r) => r.destination_id === mine.id);
      renderInbox();
      loadIncoming();
      loadIncidents();
      loadRecent();
    } catch (e) {
      if (e.status === 401) showWaiting(await stationInbox());
      else announce(e.message, "bad");
    }
  }

  // a mass-casualty incident sending casualties here: what happened and this hospital's share
  async function loadIncidents() {
    try {
      const rows = await api("/api/incidents", { quiet: true });
      $("#incidents").replaceChildren(...rows.map((i) => el("p", { class: "notice bad incident-banner", "data-incident": i.id },
        t("inc.banner", { name: i.name, here: i.here, n: i.casualties }))));
    } catch { /* shown on the next change */ }
  }

  // --------------------------------------------------------------- patients on the way here
  let onTheWay = [];
  let onTheWayAt = Date.now();
  async function loadIncoming() {
    if (!signedIn()) return; // patient data: not without a sign-in, and never a dialog by itself
    try {
      onTheWay = (await api("/api/incoming", { quiet: true })).patients;
      onTheWayAt = Date.now();
      renderIncoming();
    } catch { /* shown on the next change */ }
  }
  function renderIncoming() {
    $("#on-the-way-empty").hidden = onTheWay.length > 0;
    const since = (Date.now() - onTheWayAt) / 1000;
    $("#on-the-way").replaceChildren(...onTheWay.map(({ referral: r, ambulance: a, road_time_s: road }) => {
      const from = fac.get(r.origin_id)?.name ?? r.origin_id;
      let when;
      if (a?.eta?.leg === "pickup") {
        const left = Math.max(0, a.eta.eta_s - since);
        when = el("span", { class: "eta" }, t("receive.eta_pickup", { d: fmtDuration(left), road: road === null ? "–" : fmtDuration(road) }));
      } else if (a?.eta) {
        const left = Math.max(0, a.eta.eta_s - since);
        when = el("strong", { class: "eta" }, t("receive.eta", { d: fmtDuration(left), at: fmtTime(a.eta.eta_at) }),
          a.eta.road_conditions?.length ? ` · ${roadsText(a.eta.road_conditions)}` : "");
      } else if (road !== null) {
        when = el("span", { class: "muted" }, t("receive.road_time", { d: fmtDuration(road), f: from }));
      }
      return el("li", { class: "card inbox-item", "data-referral": r.id },
        el("div", { class: "cand-head" },
          el("span", { class: "name" }, from),
          r.emergency ? el("span", { class: "badge emergency" }, t("refer.emergency")) : null,
          el("span", { class: `badge ${r.status}` }, label("rstatus", r.status))),
        el("p", {}, el("strong", {}, r.icd10.join(", ")), r.medical?.diagnosis_text ? ` · ${r.medical.diagnosis_text}` : "",
          r.patient ? ` · ${label("sex", r.patient.sex)}` : ""),
        el("p", {}, a ? `${t("receive.ambulance", { id: a.id })}: ${label("amb", a.status)}${a.position?.stale ? ` · ${t("receive.position_old")}` : ""}` : t("receive.no_ambulance")),
        when ? el("p", {}, when) : null,
        contactLine(fac.get(r.origin_id), t("contact.sender")),
        attachments(r),
        ...(() => { const c = chatToggle(r.id, 0, { names: facName, other: from }); return [el("div", { class: "actions" }, c.button), c.box]; })());
    }));
  }
  setInterval(renderIncoming, 15000);
  setInterval(loadIncoming, 30000);

  // the received list (signed in only: it names patients): searched, filtered, paged (lists.js)
  let recentList = null;
  function loadRecent() {
    if (!recentList) recentList = referralList("recent", { box: "inbox", row: recentRow });
    else recentList.then((l) => l.refresh()).catch(() => undefined);
  }

  /** One row of the recent referrals: the patient (not on a trace), paper and back-referrals marked,
   * what to do next. */
  function recentRow(r) {
    const here = r.destination_id === mine.id;
    const name = (id) => fac.get(id)?.name ?? id;
    const step = (action, key) => el("button", { type: "button", class: "secondary", "data-action": action,
      onclick: () => act(r, action, key) }, t(key));
    const actions = [];
    if (here && ["accepted", "dispatched", "in_transit"].includes(r.status)) actions.push(step("arrive", "receive.arrived"));
    if (here && r.status === "arrived") actions.push(step("complete", "receive.completed"));
    if (r.patient) {  // a trace of a referral gone elsewhere shows no patient, nor the results
      actions.push(el("button", { type: "button", class: "secondary", "data-action": "attachments",
        onclick: () => attachmentsDialog(r) }, t("att.open_list")));
    }
    if (here && mayRefer && mine.level === "fktl" && ["arrived", "completed"].includes(r.status)) {
      actions.push(el("a", { class: "button secondary", href: `/rujuk?back=${encodeURIComponent(r.id)}`, "data-action": "back" }, t("receive.refer_back")));
    }
    return el("tr", { "data-referral": r.id },
      el("td", { class: "when", "data-label": t("outbox.time") }, fmtWhen(r.times.created)),
      patientCell(r),
      el("td", { "data-label": t("receive.from") }, name(r.origin_id),
        r.offline ? el("span", { class: "badge paper", title: r.offline_note }, t("receive.paper_badge")) : null,
        r.back_referral_of ? el("span", { class: "badge back" }, t("receive.back_badge")) : null),
      diagnosisCell(r),
      el("td", { class: "state", "data-label": t("outbox.status") }, here
        ? el("span", { class: `badge ${r.status}` }, label("rstatus", r.status))
        : el("span", { class: "badge moved", title: t("receive.trace_hint") }, t("receive.moved_to", { f: name(r.destination_id) }))),
      el("td", { class: "row-actions" }, ...actions));
  }

  async function act(r, action, key) {
    try {
      await api(`/api/referrals/${r.id}/${action}`, { method: "POST" });
      announce(t(`${key}_done`), "ok");
      loadInbox();
    } catch (e) { announce(e.message, "bad"); }
  }

  async function accept(r) {
    try {
      await api(`/api/referrals/${r.id}/accept`, { method: "POST", body: { note: "" } });
      fresh.delete(r.id);
      announce(t("receive.accepted"), "ok");
      $("#alert").hidden = true;
      loadInbox();
    } catch (e) { announce(e.message, "bad"); }
  }

  let declining = null;
  function decline(r) {
    declining = r;
    $("#decline-reason").value = "";
    $("#decline-error").textContent = "";
    $("#decline-dialog").showModal();
    $("#decline-reason").focus();
  }
  $("#decline-cancel").addEventListener("click", () => $("#decline-dialog").close());
  $("#decline-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const reason = $("#decline-reason").value.trim();
    if (reason.length < 3) { $("#decline-error").textContent = t("receive.need_reason"); return; }
    try {
      await api(`/api/referrals/${declining.id}/decline`, { method: "POST", body: { reason } });
      $("#decline-dialog").close();
      fresh.delete(declining.id);
      announce(t("receive.declined"), "warn");
      $("#alert").hidden = true;
      loadInbox();
    } catch (e) { $("#decline-error").textContent = e.message; }
  });


  setInterval(renderInbox, 15000);
  loadInbox();
  // the alert path follows the station's feed: it goes on when the staff sign-in ends
  followStation((_type, ev) => {
    if (CALL_KINDS.has(ev.kind)) {
      if (ev.kind === "call_from_sender" && ev.destination_id === mine.id && signedIn()) {
        incomingCall(ev.referral_id, fac.get(ev.origin_id)?.name ?? ev.origin_id, { beep });
      }
      callEvent(ev);
      return;
    }
    if (MESSAGE_KINDS.has(ev.kind)) {
      onMessageEvent(ev);
      if (ev.kind === "msg_sender" && ev.destination_id === mine.id) {
        const banner = $("#alert");
        banner.hidden = false;
        banner.textContent = t("chat.alert_in", { f: fac.get(ev.origin_id)?.name ?? ev.origin_id });
        beep();
      }
      loadInbox();
      return;
    }
    if (ev.to === "sent" && ev.destination_id === mine.id) alertNew({ id: ev.referral_id, origin_id: ev.origin_id });
    loadInbox();
  }, { onState: (_up, text) => { $("#live-state").textContent = text; } });

  // ------------------------------------------------------------------------- status board
  const dirty = new Set();
  let figures = new Map();
  let fetchedAt = Date.now();

  function ageText(key) {
    const f = figures.get(key);
    if (!f) return t("board.never");
    const age = f.age_s + (Date.now() - fetchedAt) / 1000;
    return t("board.age", { age: fmtAge(age), by: f.updated_by ?? "" });
  }
  function ageClass(key) {
    const f = figures.get(key);
    return `figure-age${!f || f.age_s + (Date.now() - fetchedAt) / 1000 > 4 * 3600 ? " old" : ""}`;
  }

  const bedTypes = Object.keys(mine.beds).filter((b) => mine.beds[b] > 0);
  //: free beds of one type no facility can report (the API's BEDS_CEILING, service/facilities/status.py)
  const BEDS_CEILING = 1000;
  const fmtInt = (n) => new Intl.NumberFormat(lang === "en" ? "en-GB" : "id-ID").format(n);
  const services = mine.services;
  const equipment = mine.equipment;

  function renderBoard() {
    $("#beds").replaceChildren(...bedTypes.map((b) => {
      const key = `beds_available.${b}`;
      const f = figures.get(key);
      const input = el("input", { type: "number", id: `bed-${b}`, min: 0, max: BEDS_CEILING, step: 1, inputmode: "numeric", value: f?.value ?? "",
        "aria-describedby": `bed-err-${b}`, oninput: () => { dirty.add("beds"); fieldError(`bed-${b}`, ""); } });
      const step = (d) => { input.value = Math.max(0, Number(input.value || 0) + d); dirty.add("beds"); fieldError(`bed-${b}`, ""); };
      return el("div", { class: "row bed-row", style: "align-items:center" },
        el("label", { for: `bed-${b}`, style: "flex:2 1 8rem" }, `${label("bed", b)} `, el("span", { class: "muted" }, t("board.of", { n: fmtInt(mine.beds[b]) }))),
        el("span", { class: "stepper" },
          el("button", { type: "button", class: "secondary", "aria-label": t("board.less", { b: label("bed", b) }), onclick: () => step(-1) }, "−"),
          input,
          el("button", { type: "button", class: "secondary", "aria-label": t("board.more", { b: label("bed", b) }), onclick: () => step(1) }, "+")),
        el("span", { class: ageClass(key), id: `age-${key}` }, ageText(key)),
        el("p", { class: "error field-error", id: `bed-err-${b}`, role: "alert", style: "flex:1 1 100%" }));
    }));
    const onDuty = new Set(figures.get("specialists_on_duty")?.value ?? []);
    $("#specialists").replaceChildren(...services.filter((s) => s !== "igd").map((s) => el("label", {},
      el("input", { type: "checkbox", name: "specialist", value: s, checked: onDuty.has(s), onchange: () => dirty.add("specialists") }),
      serviceLabel(cfg, s))));
    const broken = new Set(figures.get("equipment_out_of_order")?.value ?? []);
    $("#equipment").replaceChildren(...equipment.map((q) => el("label", {},
      el("input", { type: "checkbox", name: "broken", value: q, checked: broken.has(q), onchange: () => dirty.add("equipment") }),
      label("eq", q))));
    updateAges();
    const na = figures.get("not_accepting_until");
    $("#not-accepting").replaceChildren(na?.in_force
      ? el("div", { class: "notice bad", id: "not-accepting-notice" }, t("board.stopped", { until: fmtTime(na.value), reason: na.reason || "–" }), " ",
        el("button", { type: "button", onclick: acceptingAgain }, t("board.resume")))
      : el("p", { class: "notice ok" }, t("board.accepting")));
    applyI18n($("#board"));
  }

  async function loadBoard() {
    const s = await api(`/api/facilities/${mine.id}/status`);
    figures = new Map(s.figures.map((f) => [f.key, f]));
    fetchedAt = Date.now();
    dirty.clear();
    renderBoard();
  }
  async function patch(body) {
    const s = await api(`/api/facilities/${mine.id}/status`, { method: "PATCH", body });
    figures = new Map(s.figures.map((f) => [f.key, f]));
    fetchedAt = Date.now();
    dirty.clear();
    renderBoard();
  }
  async function acceptingAgain() {
    try { await patch({ accepting_again: true }); announce(t("board.resumed"), "ok"); } catch (e) { showRefusal(e, "#board-error"); }
  }

  /** An error shown next to its field (empty: cleared), in the page's words. */
  function fieldError(id, text) {
    const input = document.getElementById(id);
    const out = document.getElementById(id.startsWith("bed-") ? `bed-err-${id.slice(4)}` : `${id}-error`);
    if (out) out.textContent = text;
    if (input) {
      if (text) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }
  }
  /** The API's refusal told next to its field in the page's language (never the API's own text). */
  function showRefusal(e, fallback) {
    if (e.status === 0) { $(fallback).textContent = e.message; return; } // no network: already in words
    if (e.status === 403) { $(fallback).textContent = t("board.forbidden"); return; }
    let shown = false;
    for (const { field } of e.errors ?? []) {
      const bed = /beds_available\.(\w+)$/.exec(field ?? "")?.[1];
      if (bed && bedTypes.includes(bed)) {
        fieldError(`bed-${bed}`, t("board.bed_refused", { b: label("bed", bed), cap: fmtInt(mine.beds[bed] ?? 0) }));
        shown = true;
      } else if (field === "not_accepting_reason") {
        fieldError("stop-reason", t("board.need_reason"));
        shown = true;
      } else if (field === "not_accepting_until") {
        $(fallback).textContent = t("board.bad_until");
        shown = true;
      }
    }
    if (!shown) $(fallback).textContent = t("board.not_saved");
  }

  /** The bed figures typed, checked: {beds} to send, or null after showing each error by its field. */
  function readBeds() {
    const beds = {};
    let ok = true;
    for (const b of bedTypes) {
      const v = $(`#bed-${b}`).value.trim();
      fieldError(`bed-${b}`, "");
      if (v === "") continue;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) { fieldError(`bed-${b}`, t("board.bad_beds", { b: label("bed", b) })); ok = false; continue; }
      if (n > BEDS_CEILING) { fieldError(`bed-${b}`, t("board.too_many_beds", { b: label("bed", b), max: fmtInt(BEDS_CEILING) })); ok = false; continue; }
      beds[b] = n;
    }
    if (!ok) $("#beds [aria-invalid='true']")?.focus();
    return ok ? beds : null;
  }

  let pending = null; // a body with figures above the registered capacity, waiting for "save anyway"
  function askOverCapacity(body, over) {
    pending = body;
    $("#board-confirm-text").textContent = `${over.map(([b, n]) => t("board.over_item", {
      b: label("bed", b), n: fmtInt(n), cap: fmtInt(mine.beds[b] ?? 0) })).join("; ")}. ${t("board.over_ask")}`;
    $("#board-confirm").hidden = false;
    $("#board-confirm").focus();
  }
  function closeConfirm() { pending = null; $("#board-confirm").hidden = true; }
  $("#board-confirm-no").addEventListener("click", () => {
    const first = Object.keys(pending?.beds_available ?? {}).find((b) => pending.beds_available[b] > (mine.beds[b] ?? 0));
    closeConfirm();
    if (first) $(`#bed-${first}`).focus();
  });
  $("#board-confirm-yes").addEventListener("click", () => {
    const body = { ...pending, confirm_over_capacity: true };
    closeConfirm();
    save(body);
  });

  async function save(body) {
    $("#board-save").disabled = true;
    try { await patch(body); announce(t("board.saved"), "ok"); } catch (e) { showRefusal(e, "#board-error"); } finally { $("#board-save").disabled = false; }
  }

  $("#board").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("#board-error").textContent = "";
    closeConfirm();
    const all = dirty.size === 0; // nothing changed: confirm every figure as current
    const body = {};
    if (all || dirty.has("beds")) {
      const beds = readBeds();
      if (beds === null) return;
      body.beds_available = beds;
    }
    if (all || dirty.has("specialists")) body.specialists_on_duty = [...document.querySelectorAll("input[name=specialist]:checked")].map((i) => i.value);
    if (all || dirty.has("equipment")) body.equipment_out_of_order = [...document.querySelectorAll("input[name=broken]:checked")].map((i) => i.value);
    // above the registered capacity: said on the page, and saved only when the staff confirm it
    const over = Object.entries(body.beds_available ?? {}).filter(([b, n]) => n > (mine.beds[b] ?? 0));
    if (over.length) { askOverCapacity(body, over); return; }
    await save(body);
  });
  $("#stop-reason").addEventListener("input", () => fieldError("stop-reason", ""));
  $("#stop").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const reason = $("#stop-reason").value.trim();
    if (!reason) { fieldError("stop-reason", t("board.need_reason")); $("#stop-reason").focus(); return; }
    fieldError("stop-reason", "");
    const until = new Date(Date.now() + Number($("#stop-hours").value) * 3600e3).toISOString();
    try {
      await patch({ not_accepting_until: until, not_accepting_reason: reason });
      $("#stop-reason").value = "";
      announce(t("board.stop_saved"), "warn");
    } catch (e) { showRefusal(e, "#stop-reason-error"); }
  });
  function updateAges() {
    for (const key of [...bedTypes.map((b) => `beds_available.${b}`), "specialists_on_duty", "equipment_out_of_order"]) {
      const node = document.getElementById(`age-${key}`);
      if (node) { node.textContent = ageText(key); node.className = ageClass(key); }
    }
  }
  setInterval(updateAges, 30000);
  window.addEventListener("rujuk:lang", () => { attachedTo.clear(); renderBoard(); renderInbox(); renderIncoming(); });
  await loadBoard();
  document.body.dataset.ready = "1"; // for tests and the page benchmark
}

// Referring staff: request suggestions, see them on a map and as a list with reasons, write the
// referral letter (prefilled) and send it in one click, then follow the receiver's answer live.
import {
  $, announce, api, applyI18n, el, facilities, fill, fmtAge, fmtDuration, fmtKm, fmtTime, follow, label, lang, plain, soundAlarm, startPage, t,
} from "/static/common.js";
import { facilityLatLng, makeMap, numberMarker, webConfig } from "/static/map.js";

const who = await startPage("/rujuk");
if (who) await main(who);

async function main(who) {
  const fac = await facilities();
  const cfg = await webConfig();
  const origin = who.facility;
  $("#origin").value = origin ? origin.name : t("refer.no_facility");
  $("#c-explained").value = who.username;

  // needs: the bed types and equipment the engine knows
  const BEDS = ["icu", "hcu", "nicu", "picu", "isolation", "maternity"];
  const EQUIPMENT = ["ventilator", "ct", "cath_lab", "dialysis", "blood_bank", "nicu_incubator"];
  $("#needs-beds").replaceChildren(...BEDS.map((b) => el("label", {},
    el("input", { type: "checkbox", name: "bed", value: b }), el("span", { "data-i18n": `bed.${b}` }, label("bed", b)))));
  $("#needs-equipment").replaceChildren(...EQUIPMENT.map((q) => el("label", {},
    el("input", { type: "checkbox", name: "equipment", value: q }), el("span", { "data-i18n": `eq.${q}` }, label("eq", q)))));
  applyI18n();

  // ---------------------------------------------------------------------- diagnosis search
  const chosen = []; // {code, title, name_id}
  const search = $("#icd-search");
  const results = $("#icd-results");
  let searchSeq = 0;
  let options = [];
  let active = -1;

  function renderChosen() {
    $("#icd-chosen").replaceChildren(...chosen.map((c, i) => el("span", { class: "chip" },
      `${c.code} · ${lang === "en" ? c.title : c.name_id || c.title}`,
      el("button", { type: "button", "aria-label": t("refer.remove_dx", { code: c.code }), onclick: () => { chosen.splice(i, 1); renderChosen(); } }, "×"))));
  }
  function closeResults() { results.hidden = true; search.setAttribute("aria-expanded", "false"); active = -1; }
  function pick(o) {
    if (!chosen.some((c) => c.code === o.code) && chosen.length < 10) chosen.push(o);
    renderChosen();
    search.value = "";
    closeResults();
    search.focus();
  }
  search.addEventListener("input", async () => {
    const q = search.value.trim();
    const seq = ++searchSeq;
    if (q.length < 2) { closeResults(); return; }
    let list;
    try { list = await api(`/api/icd10?q=${encodeURIComponent(q)}&limit=12`); } catch { return; }
    if (seq !== searchSeq) return;
    options = list;
    active = -1;
    results.replaceChildren(...(list.length ? list.map((o, i) => el("div", {
      role: "option", id: `icd-opt-${i}`, "aria-selected": "false", "data-code": o.code, onclick: () => pick(o),
    }, el("strong", {}, o.code), " ", o.name_id ? `${o.name_id} — ` : "", el("span", { class: "muted" }, o.title)))
      : [el("div", { class: "muted", style: "padding:.4rem" }, t("refer.icd_none"))]));
    results.hidden = false;
    search.setAttribute("aria-expanded", "true");
  });
  search.addEventListener("keydown", (ev) => {
    if (results.hidden || !options.length) return;
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      active = (active + (ev.key === "ArrowDown" ? 1 : -1) + options.length) % options.length;
      results.querySelectorAll("[role=option]").forEach((o, i) => o.setAttribute("aria-selected", String(i === active)));
      search.setAttribute("aria-activedescendant", `icd-opt-${active}`);
    } else if (ev.key === "Enter") {
      ev.preventDefault();
      pick(options[Math.max(active, 0)]);
    } else if (ev.key === "Escape") closeResults();
  });

  // ------------------------------------------------------------------------------ the map
  const m = await makeMap("map", { label: t("refer.results") });
  let markers = null;

  // ---------------------------------------------------------------------------- suggestions
  let request = null;
  let suggestion = null;

  $("#request").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = $("#request-error");
    err.textContent = "";
    if (!origin) { err.textContent = t("refer.no_facility"); return; }
    const age = $("#age").value;
    if (age === "" || !(Number(age) >= 0 && Number(age) <= 130)) { err.textContent = t("refer.need_age"); $("#age").focus(); return; }
    if (!chosen.length) { err.textContent = t("refer.need_dx"); search.focus(); return; }
    request = {
      origin_id: origin.id,
      age_years: Number(age),
      sex: $("#sex").value,
      icd10: chosen.map((c) => c.code),
      emergency: $("#emergency").checked,
      service_type: $("#service-type").value || null,
      beds: [...document.querySelectorAll("input[name=bed]:checked")].map((i) => i.value),
      equipment: [...document.querySelectorAll("input[name=equipment]:checked")].map((i) => i.value),
    };
    $("#suggest-button").disabled = true;
    try {
      suggestion = await api(`/api/suggestions?lang=${lang}`, { method: "POST", body: request });
      renderSuggestion();
    } catch (e) {
      err.textContent = e.message;
    } finally {
      $("#suggest-button").disabled = false;
    }
  });
  window.addEventListener("rujuk:lang", async () => {
    renderChosen();
    if (!request) return;
    try { suggestion = await api(`/api/suggestions?lang=${lang}`, { method: "POST", body: request }); renderSuggestion(); } catch { /* keep */ }
  });

  function reasonItems(reasons) {
    const refs = (r) => (r.references ?? []).map((x) => x.replace(/^Perbup (Sambas )?\S+ /, "")).join("; ");
    return el("ul", { class: "reasons" }, reasons.map((r) => el("li", { class: r.effect },
      r.text[lang] ?? r.text.id ?? r.text.en, refs(r) ? el("span", { class: "muted" }, ` (${refs(r)})`) : null)));
  }

  function renderSuggestion() {
    const s = suggestion;
    const dec = $("#decision");
    fill(dec, 
      el("p", {}, el("strong", {}, label("decision", s.decision)),
        s.referral_type ? ` · ${label("rtype", s.referral_type)}` : ""),
      s.reasons.length ? reasonItems(s.reasons) : null,
      s.warnings.length ? el("div", { class: "notice warn" }, reasonItems(s.warnings)) : null,
      s.road_network?.modelled ? el("p", { class: "muted" }, t("map.modelled_times")) : null);
    $("#candidates").replaceChildren(...s.candidates.map((c, i) => el("li", { class: i === 0 ? "top" : "", "data-facility": c.facility_id },
      el("div", { class: "cand-head" },
        el("span", { class: "rank" }, `${c.rank}.`),
        el("span", { class: "name" }, c.name),
        c.stale ? el("span", { class: "badge stale" }, t("refer.stale", { age: fmtAge(c.status_age_s) })) : null,
        el("span", { class: "time" }, `${fmtDuration(c.travel_time_s)}${c.distance_m ? ` · ${fmtKm(c.distance_m)}` : ""}`)),
      reasonItems(c.reasons),
      el("div", { class: "actions" }, el("button", { type: "button", onclick: () => openLetter(c) }, t("refer.choose"))))));
    if (!s.candidates.length) $("#candidates").append(el("li", { class: "notice bad" }, t("refer.none")));
    $("#excluded-box").hidden = !s.excluded.length;
    $("#excluded").replaceChildren(...s.excluded.map((x) => el("li", {}, el("strong", {}, x.name), reasonItems(x.reasons))));
    if (m) {
      markers?.remove();
      markers = m.L.layerGroup().addTo(m.map);
      const pts = [];
      const o = facilityLatLng(m, origin.id);
      if (o) { m.L.circleMarker(o, { radius: 9, color: "#000", weight: 3, fillColor: "#ffbf47", fillOpacity: 1 }).bindTooltip(plain(t("refer.origin_marker"))).addTo(markers); pts.push(o); }
      s.candidates.slice(0, 9).forEach((c, i) => {
        const ll = facilityLatLng(m, c.facility_id);
        if (!ll) return;
        if (i < 3) pts.push(ll); // framed on the origin and the first three
        if (o) m.L.polyline([o, ll], { color: i === 0 ? "#0b6e4f" : "#777", weight: i === 0 ? 3 : 1.5, dashArray: i === 0 ? null : "5 5" }).addTo(markers);
        numberMarker(m, ll, c.rank, i === 0 ? "#0b6e4f" : "#56606a", `${c.rank}. ${c.name} · ${fmtDuration(c.travel_time_s)}`)
          .bindTooltip(plain(`${c.rank}. ${c.name} · ${fmtDuration(c.travel_time_s)}`)).addTo(markers);
      });
      if (pts.length > 1) m.map.fitBounds(pts, { padding: [30, 30], maxZoom: 12 });
    }
    announce(t("refer.found", { n: s.candidates.length }), "ok");
  }

  // ---------------------------------------------------------------------------- the letter
  let target = null;
  let idemKey = null;

  function openLetter(c) {
    target = c;
    idemKey = crypto.randomUUID();
    const f = fac.get(c.facility_id);
    $("#l-dest").value = c.name;
    const specialty = suggestion.need.specialty;
    const unit = request.emergency ? "IGD" : (request.service_type === "rawat_inap" ? t("letter.inpatient") : t("letter.clinic"));
    $("#l-unit").value = specialty ? `${unit} ${cfg.service_labels?.[specialty] ?? specialty}` : unit;
    $("#p-sex").value = request.sex;
    $("#l-st").value = request.service_type || (request.emergency ? "gawat_darurat" : (suggestion.need.beds.length ? "rawat_inap" : "rawat_jalan"));
    $("#m-dx").value = [...new Set(chosen.map((x) => (lang === "en" ? x.title : x.name_id || x.title)))].join("; ").slice(0, 200);
    $("#m-icd").value = chosen.map((x) => x.code).join(", ");
    if (!$("#l-reason").value) {
      $("#l-reason").value = specialty
        ? t("letter.reason_specialty", { s: cfg.service_labels?.[specialty] ?? specialty, f: f?.name ?? c.name })
        : t("letter.reason_default", { f: f?.name ?? c.name });
    }
    $("#letter-error").textContent = "";
    $("#letter-card").hidden = false;
    $("#letter-card").scrollIntoView({ behavior: "smooth", block: "start" });
    $("#p-name").focus({ preventScroll: true });
  }
  $("#letter-cancel").addEventListener("click", () => { $("#letter-card").hidden = true; target = null; });

  const num = (id) => { const v = $(id).value; return v === "" ? null : Number(v); };

  $("#letter").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = $("#letter-error");
    err.textContent = "";
    for (const [id, key] of [["#p-name", "letter.name"], ["#p-mrn", "letter.mrn"], ["#p-dob", "letter.dob"],
      ["#m-dx", "letter.dx"], ["#m-stab", "letter.stabilisation"], ["#l-reason", "letter.reason"], ["#l-unit", "letter.unit"]]) {
      if (!$(id).value.trim()) { err.textContent = t("letter.required", { f: t(key) }); $(id).focus(); return; }
    }
    if (!/^\d{16}$/.test($("#p-nik").value)) { err.textContent = t("letter.bad_nik"); $("#p-nik").focus(); return; }
    if (!$("#c-items").checked) { err.textContent = t("letter.need_items"); $("#c-items").focus(); return; }
    if (!$("#c-given").checked) { err.textContent = t("letter.need_consent"); $("#c-given").focus(); return; }
    const vitals = Object.fromEntries(Object.entries({
      bp_systolic: num("#v-sys"), bp_diastolic: num("#v-dia"), pulse: num("#v-pulse"), respiratory_rate: num("#v-rr"),
      temperature_c: num("#v-temp"), spo2: num("#v-spo2"), gcs: num("#v-gcs"),
    }).filter(([, v]) => v !== null));
    const body = {
      destination_id: target.facility_id,
      receiving_unit: $("#l-unit").value.trim(),
      patient: {
        name: $("#p-name").value.trim(), nik: $("#p-nik").value, medical_record_number: $("#p-mrn").value.trim(),
        date_of_birth: $("#p-dob").value, sex: $("#p-sex").value, address: $("#p-address").value.trim(),
        phone: $("#p-phone").value.trim(), jkn_number: $("#p-jkn").value.trim(),
      },
      medical: {
        history: $("#m-history").value, vital_signs: vitals, diagnosis_text: $("#m-dx").value.trim(),
        icd10: $("#m-icd").value.split(/[,;\s]+/).filter(Boolean), therapy: $("#m-therapy").value,
        stabilisation: $("#m-stab").value,
      },
      reason: $("#l-reason").value.trim(),
      consent: {
        given: true, given_by: $("#c-by").value, representative_relation: $("#c-rel").value.trim(),
        explained_by: $("#c-explained").value.trim(),
        explained_items: Object.fromEntries([..."abcdefgh"].map((k) => [k, true])),
        form: $("#c-form").value, at: new Date().toISOString(),
      },
      service_type: $("#l-st").value,
      emergency: request.emergency,
      payer: $("#p-payer").value,
      specialty: suggestion.need.specialty,
    };
    $("#send-button").disabled = true;
    try {
      const r = await api("/api/referrals", { method: "POST", body, headers: { "Idempotency-Key": idemKey } });
      const sent = r.status === "created" ? await api(`/api/referrals/${r.id}/send`, { method: "POST" }) : r;
      $("#letter-card").hidden = true;
      $("#letter").reset();
      $("#c-explained").value = who.username;
      showReferral(sent);
      announce(t("letter.sent"), "ok");
      loadOutbox();
    } catch (e) {
      err.textContent = e.message;
    } finally {
      $("#send-button").disabled = false;
    }
  });

  // ----------------------------------------------------------------------- status, live
  let current = null;

  async function showReferral(r) {
    current = r;
    $("#status-card").hidden = false;
    const dest = fac.get(r.destination_id)?.name ?? r.destination_id;
    const escalated = r.status === "sent" && Boolean(r.times.escalated);  // no answer in time
    const box = $("#status");
    fill(box, 
      el("p", { class: "status-big" }, el("span", { class: `badge ${r.status}`, id: "referral-status", "data-status": r.status }, label("rstatus", r.status)),
        " ", t("status.to", { f: dest }), r.emergency ? el("span", { class: "badge emergency" }, t("refer.emergency")) : null),
      r.status === "declined"
        ? el("p", { class: "notice bad", id: "answer" }, t("status.declined_by", { f: dest, reason: r.decline_reason ?? "–" })) : null,
      r.status === "accepted" ? el("p", { class: "notice ok", id: "answer" }, t("status.accepted", { f: dest })) : null,
      escalated ? el("p", { class: "notice bad", id: "escalated" }, t("status.escalated", { f: dest })) : null,
      r.proposed_next_id ? el("p", {}, t("status.proposed", { f: facName(r.proposed_next_id) })) : null);
    // after a decline, or an escalation (no answer in time), one click asks the proposed next facility
    const redirect = $("#redirect");
    redirect.hidden = !((r.status === "declined" || escalated) && r.proposed_next_id);
    $("#redirect-box").hidden = redirect.hidden;
    if (!redirect.hidden) {
      redirect.textContent = t("status.redirect_to", { f: facName(r.proposed_next_id) });
      // the reason goes to the new destination: the sender may rewrite what was written for the last one
      $("#redirect-reason-label").textContent = t("status.redirect_reason", { f: facName(r.proposed_next_id) });
      $("#redirect-reason").value = r.reason;
    }
    const cancel = $("#cancel-referral");
    cancel.hidden = !CANCELLABLE.has(r.status);
    cancel.dataset.confirm = "";
    cancel.textContent = t("status.cancel");
    try {
      const events = await api(`/api/referrals/${r.id}/events`);
      $("#timeline").replaceChildren(...events.map((e) => el("li", {}, `${fmtTime(e.at)} · ${timelineText(e)}`)));
    } catch { /* the status above is enough */ }
  }

  const CANCELLABLE = new Set(["created", "sent", "declined", "accepted"]);
  const facName = (id) => fac.get(id)?.name ?? id;

  /** One entry of the history, in the page's language, with the facilities' names. */
  function timelineText(e) {
    const f = facName(e.destination_id);
    switch (e.kind) {
      case "created": return t("timeline.created", { f });
      case "send": return t("timeline.sent", { f });
      case "accept": return t("timeline.accepted", { f });
      case "decline": return t("timeline.declined", { f, reason: e.note || "–" });
      case "escalated": return t("timeline.escalated", { f });
      case "redirect": return t("timeline.redirected", { f });
      case "cancel": return t("timeline.cancelled");
      default: return `${label("rstatus", e.to)} · ${f}${e.note ? ` — ${e.note}` : ""}`;
    }
  }
  $("#new-referral").addEventListener("click", () => { $("#status-card").hidden = true; current = null; $("#age").focus(); });
  $("#cancel-referral").addEventListener("click", async (ev) => {
    const button = ev.currentTarget;
    if (!button.dataset.confirm) {  // a second click cancels: nothing is cancelled by a slip
      button.dataset.confirm = "1";
      button.textContent = t("status.cancel_confirm");
      return;
    }
    try {
      const r = await api(`/api/referrals/${current.id}/cancel`, { method: "POST" });
      announce(t("status.cancelled"));
      showReferral(r);
      loadOutbox();
    } catch (e) { announce(e.message, "bad"); }
  });
  $("#redirect").addEventListener("click", async () => {
    try {
      const reason = $("#redirect-reason").value.trim();
      const body = { destination_id: current.proposed_next_id, ...(reason && reason !== current.reason ? { reason } : {}) };
      const r = await api(`/api/referrals/${current.id}/redirect`, { method: "POST", body });
      showReferral(r);
    } catch (e) { announce(e.message, "bad"); }
  });

  async function letterHtml() {
    const r = await api(`/api/referrals/${current.id}/letter`, { raw: true });
    return r.text();
  }
  $("#print-letter").addEventListener("click", async () => {
    const frame = $("#print-frame");
    frame.srcdoc = await letterHtml();
    frame.onload = () => frame.contentWindow.print();
  });
  $("#open-letter").addEventListener("click", async () => {
    const url = URL.createObjectURL(new Blob([await letterHtml()], { type: "text/html" }));
    window.open(url, "_blank", "noopener");
  });

  async function loadOutbox() {
    try {
      const rows = await api("/api/referrals?box=outbox&limit=20");
      const needing = rows.filter((r) => r.status === "declined" || (r.status === "sent" && r.times.escalated)).length;
      document.title = needing ? `(${needing}) rujuk · ${t("refer.title")}` : `rujuk · ${t("refer.title")}`;
      $("#outbox").replaceChildren(...rows.map((r) => el("tr", {},
        el("td", {}, fmtTime(r.times.created)),
        el("td", {}, fac.get(r.destination_id)?.name ?? r.destination_id),
        el("td", {}, r.icd10.join(", ")),
        el("td", {}, el("button", { class: "link", type: "button", onclick: () => { showReferral(r); $("#status-card").scrollIntoView({ block: "start" }); } },
          el("span", { class: `badge ${r.status}` }, label("rstatus", r.status)))))));
    } catch { /* shown on the next change */ }
  }
  loadOutbox();

  document.body.dataset.ready = "1"; // for tests and the page benchmark
  // answers reach the sender wherever they are on the page: a banner (a click opens the
  // referral), the sound when it is on, and the count of referrals waiting for them in the tab
  const { beep } = soundAlarm($("#sound"));
  const ALERTS = { decline: "refer.alert_declined", escalated: "refer.alert_escalated", accept: "refer.alert_accepted" };
  follow("/api/events/stream", async (_type, ev) => {
    loadOutbox();
    if (ev.origin_id === origin?.id && ALERTS[ev.kind]) {
      const banner = $("#answer-alert");
      banner.hidden = false;
      banner.className = `alert-banner ${ev.kind === "accept" ? "ok" : ""}`;
      banner.textContent = t(ALERTS[ev.kind], { f: facName(ev.destination_id) });
      banner.onclick = async () => {
        banner.hidden = true;
        showReferral(await api(`/api/referrals/${ev.referral_id}`));
        $("#status-card").scrollIntoView({ block: "start" });
      };
      if (ev.kind !== "accept") beep();
    }
    if (current && ev.referral_id === current.id) {
      showReferral(await api(`/api/referrals/${current.id}`));
    }
  }, { onState: (up) => { $("#live-state").textContent = up ? t("live.on") : t("live.off"); } });
}

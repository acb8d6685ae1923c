// Referring staff: request suggestions, see them on a map and as a list with reasons, write the
// referral letter (prefilled) and send it in one click, then follow the receiver's answer live.
import {
  $, announce, api, applyI18n, downloadLetterPdf, el, facilities, fill, fmtAge, fmtDuration, fmtKm, fmtTime, label, lang,
  letterHtml, offline, openLetter as openLetterPage, plain, signedIn, soundAlarm, staffName, startPage, t,
  tIn,
} from "/static/common.js";
import { TEXT } from "/static/i18n.js";
import { followStation } from "/static/station.js";
import { contactLine, keptContactLine } from "/static/contact.js";
import { facilityLatLng, makeMap, numberMarker, webConfig } from "/static/map.js";
import { drawRoads, roadsText } from "/static/roads.js";
import { diagnosisCell, fmtWhen, patientCell, referralList } from "/static/lists.js";
import { MESSAGE_KINDS, chatPanel, onMessageEvent } from "/static/chat.js";
import { CALL_KINDS, callEvent, incomingCall } from "/static/call.js";
import { emrImport, unmark as unmarkImported } from "/static/emr.js";
import { attachmentsSection } from "/static/attachments.js";

const who = await startPage("/rujuk");
if (who) await main(who);

async function main(who) {
  const fac = await facilities();
  const cfg = await webConfig();
  const origin = who.facility;
  $("#origin").value = origin ? origin.name : t("refer.no_facility");
  $("#c-explained").value = staffName(who);

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
      `${c.code} · `, lang === "en" || !c.name_id ? el("span", { lang: "en" }, c.title) : c.name_id,
      el("button", { type: "button", "aria-label": t("refer.remove_dx", { code: c.code }), onclick: () => { chosen.splice(i, 1); renderChosen(); } }, "×"))));
  }
  // a facility that delivers babies reads "perdarahan" as a haemorrhage in childbirth first
  const originServices = fac.get(origin?.id)?.services ?? [];
  const preferArea = originServices.includes("persalinan") || originServices.includes("obgyn") ? "&prefer=obstetri" : "";
  /** A code's names in the page's language; the other language's, marked as such, muted. */
  function icdNames(o) {
    if (lang === "en") return [o.title, o.name_id ? el("span", { class: "muted", lang: "id" }, ` — ${o.name_id}`) : null];
    return o.name_id ? [o.name_id] : [el("span", { lang: "en" }, o.title)];
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
    try { list = await api(`/api/icd10?q=${encodeURIComponent(q)}&limit=12${preferArea}`); } catch { return; }
    if (seq !== searchSeq) return;
    options = list;
    active = -1;
    results.replaceChildren(...(list.length ? list.map((o, i) => el("div", {
      role: "option", id: `icd-opt-${i}`, "aria-selected": "false", "data-code": o.code, onclick: () => pick(o),
    }, el("strong", {}, o.code), " ", ...icdNames(o)))
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

  // ------------------------------------------------------------ back-referral (rujuk balik)
  // /rujuk?back=<id>: a hospital refers a treated patient back (Pasal 5(3), 11(2)); the request
  // and the letter start from the referral it received, the referring Puskesmas proposed first
  let backOf = null;
  const backId = new URLSearchParams(location.search).get("back");
  if (backId) {
    try {
      backOf = await api(`/api/referrals/${encodeURIComponent(backId)}`);
      const p = backOf.patient ?? {};
      const notice = $("#back-notice");
      notice.hidden = false;
      notice.textContent = t("refer.back_intro", { f: fac.get(backOf.origin_id)?.name ?? backOf.origin_id });
      if (p.date_of_birth) $("#age").value = Math.floor((Date.now() - new Date(p.date_of_birth).getTime()) / 3.15576e10);
      if (p.sex) $("#sex").value = p.sex;
      $("#service-type").value = "rawat_jalan";
      for (const code of backOf.icd10) {
        const hit = (await api(`/api/icd10?q=${encodeURIComponent(code)}&limit=1`).catch(() => []))[0];
        chosen.push(hit?.code === code ? hit : { code, title: code, name_id: "" });
      }
      renderChosen();
    } catch (e) { announce(e.message, "bad"); backOf = null; }
  }

  // ------------------------------------------------------------------------------ the map
  const m = await makeMap("map", { label: t("refer.results") });
  drawRoads(m); // closed and slowed roads, as every map shows them
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
      ...(backOf ? { back_referral: true, referred_from: backOf.origin_id } : {}),
    };
    $("#suggest-button").disabled = true;
    try {
      suggestion = await api(`/api/suggestions?lang=${lang}`, { method: "POST", body: request });
      localStorage.setItem(LAST_SUGGESTION_KEY, JSON.stringify({ at: new Date().toISOString(), request, suggestion }));
      renderSuggestion();
      showResults();
    } catch (e) {
      if (e.status === 0) { offlineSuggestion(); showResults(); } else err.textContent = e.message;
    } finally {
      $("#suggest-button").disabled = false;
    }
  });

  // ------------------------------------------------------------------ suggestions offline
  // the last suggestion is kept on the device (no patient identity in it: age, sex, codes); with
  // no network it is shown again for the same diagnoses, otherwise every receiving hospital is
  // listed by its last known road time, marked as not checked (beds, specialists) offline
  const LAST_SUGGESTION_KEY = `rujuk.last_suggestion.${origin?.id ?? ""}`;
  function offlineSuggestion() {
    let last = null;
    try { last = JSON.parse(localStorage.getItem(LAST_SUGGESTION_KEY) ?? "null"); } catch { /* none */ }
    const same = last && JSON.stringify([...last.request.icd10].sort()) === JSON.stringify([...request.icd10].sort())
      && last.request.back_referral === request.back_referral;
    if (same) {
      suggestion = { ...last.suggestion, offline_at: last.at };
    } else {
      const road = new Map((last?.suggestion.candidates ?? []).map((c) => [c.facility_id, c]));
      const note = { rule_id: "offline", effect: "warn", text: { id: t("offline.unchecked"), en: t("offline.unchecked") }, references: ["Perbup 49/2025 Pasal 20 ayat (3)"] };
      const list = [...fac.values()].filter((f) => f.receiving && f.id !== origin.id)
        .map((f) => ({ facility_id: f.id, name: f.name, travel_time_s: road.get(f.id)?.travel_time_s ?? null, distance_m: road.get(f.id)?.distance_m ?? null, reasons: [note] }))
        .sort((a, b) => (a.travel_time_s ?? Infinity) - (b.travel_time_s ?? Infinity) || a.name.localeCompare(b.name))
        .map((c, i) => ({ ...c, rank: i + 1 }));
      suggestion = { decision: "offline", referral_type: null, candidates: list, excluded: [], reasons: [], warnings: [],
        need: { specialty: null, beds: [] }, offline_at: null };
    }
    renderSuggestion();
  }
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
      s.road_network?.modelled ? el("p", { class: "muted" }, t("map.modelled_times")) : null,
      s.offline_at !== undefined ? el("p", { class: "notice warn", id: "offline-suggestion" },
        s.offline_at ? t("offline.last", { at: fmtTime(s.offline_at) }) : t("offline.list")) : null);
    $("#candidates").replaceChildren(...s.candidates.map((c, i) => el("li", { class: i === 0 ? "top" : "", "data-facility": c.facility_id },
      el("div", { class: "cand-head" },
        el("span", { class: "rank" }, `${c.rank}.`),
        el("span", { class: "name" }, c.name),
        c.stale ? el("span", { class: "badge stale" }, t("refer.stale", { age: fmtAge(c.status_age_s) })) : null,
        el("span", { class: "time" }, `${fmtDuration(c.travel_time_s)}${c.distance_m ? ` · ${fmtKm(c.distance_m)}` : ""}`)),
      // compact on a phone: the reasons on demand (open for the first on a wide screen)
      el("details", { class: "why", open: i === 0 && window.innerWidth > 700 },
        el("summary", {}, t("refer.why", { n: c.reasons.length })), reasonItems(c.reasons)),
      el("div", { class: "actions" }, el("button", { type: "button", onclick: () => openLetter(c) }, t("refer.choose")),
        contactLine(fac.get(c.facility_id))))));
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
        pts.push(ll); // the first view shows the origin and every candidate drawn
        if (o) m.L.polyline([o, ll], { color: i === 0 ? "#0b6e4f" : "#777", weight: i === 0 ? 3 : 1.5, dashArray: i === 0 ? null : "5 5" }).addTo(markers);
        numberMarker(m, ll, c.rank, i === 0 ? "#0b6e4f" : "#56606a", `${c.rank}. ${c.name} · ${fmtDuration(c.travel_time_s)}`)
          .bindTooltip(plain(`${c.rank}. ${c.name} · ${fmtDuration(c.travel_time_s)}`)).addTo(markers);
      });
      if (pts.length > 1) m.map.fitBounds(pts, { padding: [30, 30], maxZoom: 12 });
    }
    announce(t("refer.found", { n: s.candidates.length }), "ok");
  }
  /** After a search the results come into view (on a phone they are below the form). */
  function showResults() {
    const top = $("#res-title").getBoundingClientRect().top;
    if (top > window.innerHeight * 0.5 || top < 0) $("#res-title").scrollIntoView({ block: "start" });
    $("#res-title").setAttribute("tabindex", "-1");
    $("#res-title").focus({ preventScroll: true });
  }

  // ---------------------------------------------------------------------------- the letter
  let target = null;
  let idemKey = null;

  /** A field the page sets: a value imported from the medical record and now replaced loses its mark. */
  function setField(sel, value) {
    if ($(sel).value !== value) unmarkImported($(sel));
    $(sel).value = value;
  }

  function openLetter(c) {
    target = c;
    idemKey = crypto.randomUUID();
    const f = fac.get(c.facility_id);
    $("#l-dest").value = c.name;
    const specialty = suggestion.need.specialty;
    // the letter is written for the receiving facility: what is prefilled in it is in Bahasa
    // Indonesia, whatever the language of this page
    const unit = request.emergency ? "IGD" : (request.service_type === "rawat_inap" ? tIn("id", "letter.inpatient") : tIn("id", "letter.clinic"));
    $("#l-unit").value = specialty ? `${unit} ${cfg.service_labels?.[specialty] ?? specialty}` : unit;
    setField("#p-sex", request.sex);
    $("#l-st").value = request.service_type || (request.emergency ? "gawat_darurat" : (suggestion.need.beds.length ? "rawat_inap" : "rawat_jalan"));
    setField("#m-dx", [...new Set(chosen.map((x) => x.name_id || x.title))].join("; ").slice(0, 200));
    setField("#m-icd", chosen.map((x) => x.code).join(", "));
    if (backOf) prefillBack(f?.name ?? c.name);
    if (!$("#l-reason").value) {
      $("#l-reason").value = specialty
        ? tIn("id", "letter.reason_specialty", { s: cfg.service_labels?.[specialty] ?? specialty, f: f?.name ?? c.name })
        : tIn("id", "letter.reason_default", { f: f?.name ?? c.name });
    }
    $("#letter-error").textContent = "";
    $("#letter-card").hidden = false;
    $("#letter-card").scrollIntoView({ behavior: "smooth", block: "start" });
    $("#p-name").focus({ preventScroll: true });
  }
  /** The letter of a back-referral starts from the patient and the letter received. */
  function prefillBack(destName) {
    const p = backOf.patient ?? {};
    const set = (id, v) => { if (v && !$(id).value) $(id).value = v; };
    set("#p-name", p.name); set("#p-nik", p.nik); set("#p-mrn", p.medical_record_number); set("#p-dob", p.date_of_birth);
    set("#p-jkn", p.jkn_number); set("#p-phone", p.phone); set("#p-address", p.address);
    if (p.sex) setField("#p-sex", p.sex);
    $("#p-payer").value = backOf.payer;
    if (backOf.medical?.diagnosis_text) setField("#m-dx", backOf.medical.diagnosis_text);
    if (!$("#l-reason").value) $("#l-reason").value = tIn("id", "letter.reason_back", { f: destName });
    $("#l-unit").value = tIn("id", "letter.unit_back");
  }
  $("#letter-cancel").addEventListener("click", () => { $("#letter-card").hidden = true; target = null; });
  // the letter prefilled from the medical record's export (FHIR), each field marked until changed
  emrImport($("#letter"));

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
        ...($("#p-nik-confirmed").checked ? { nik_confirmed: true } : {}),
      },
      medical: {
        history: $("#m-history").value, vital_signs: vitals, diagnosis_text: $("#m-dx").value.trim(),
        icd10: $("#m-icd").value.split(/[,;\s]+/).filter(Boolean), therapy: $("#m-therapy").value,
        stabilisation: $("#m-stab").value,
        // "99.04 transfusi, 75.4 manual plasenta": each its ICD-9-CM code, then the staff's words
        procedures: $("#m-proc").value.split(",").map((x) => x.trim()).filter(Boolean)
          .map((x) => { const [code, ...words] = x.split(/\s+/); return { code, note: words.join(" ") }; }),
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
      ...(backOf ? { back_referral_of: backOf.id } : {}),
    };
    $("#send-button").disabled = true;
    const done = () => {
      $("#letter-card").hidden = true;
      $("#letter").reset();
      $("#p-nik-confirm").hidden = true;
      $("#c-explained").value = staffName(who);
      if (backOf) { backOf = null; $("#back-notice").hidden = true; history.replaceState(null, "", "/rujuk"); }
    };
    try {
      if (offline()) throw Object.assign(new Error("offline"), { status: 0 });
      const sent = await deliver(body, idemKey);
      done();
      showReferral(sent);
      announce(t("letter.sent"), "ok");
      loadOutbox();
    } catch (e) {
      if (e.status === 0) {  // no network: the letter waits on this device, and goes when it returns
        enqueue({ key: idemKey, body, dest_name: target.name, queued_at: new Date().toISOString() });
        done();
        announce(t("queue.saved"), "warn");
        $("#queue-card").scrollIntoView({ block: "start" });
      } else {
        err.textContent = e.message;
        // a NIK the region list or the birth date disagrees with may still be right as printed:
        // staff who read it off the KTP or KK can say so (docs/identity.md)
        if ((e.errors ?? []).some((x) => x.params?.confirmable)) $("#p-nik-confirm").hidden = false;
      }
    } finally {
      $("#send-button").disabled = false;
    }
  });

  /** Create (idempotent with its key: a retry never makes a second referral) and send. */
  async function deliver(body, key) {
    const r = await api("/api/referrals", { method: "POST", body, headers: { "Idempotency-Key": key } });
    if (r.status !== "created") return r;
    try {
      return await api(`/api/referrals/${r.id}/send`, { method: "POST" });
    } catch (e) {
      if (e.status === 409) return api(`/api/referrals/${r.id}`); // sent already, by an earlier try
      throw e;
    }
  }

  // ------------------------------------------------------------------- letters queued offline
  // kept in this browser only until they are sent (then deleted); each keeps its Idempotency-Key
  const QUEUE_KEY = `rujuk.queue.${who.username}`;
  const queued = () => { try { return JSON.parse(localStorage.getItem(QUEUE_KEY) ?? "[]"); } catch { return []; } };
  const saveQueue = (q) => { if (q.length) localStorage.setItem(QUEUE_KEY, JSON.stringify(q)); else localStorage.removeItem(QUEUE_KEY); renderQueue(); };
  function enqueue(item) { saveQueue([...queued().filter((x) => x.key !== item.key), item]); }
  function renderQueue() {
    const q = queued();
    $("#queue-card").hidden = q.length === 0;
    document.body.dataset.queued = String(q.length);
    $("#queue").replaceChildren(...q.map((x) => el("li", { class: "card inbox-item", "data-key": x.key },
      el("div", { class: "cand-head" },
        el("span", { class: "name" }, x.dest_name),
        x.body.emergency ? el("span", { class: "badge emergency" }, t("refer.emergency")) : null,
        el("span", { class: "time" }, t("queue.since", { at: fmtTime(x.queued_at) }))),
      el("p", {}, `${x.body.patient.name} · ${x.body.medical.icd10.join(", ")}`),
      el("p", { class: x.error ? "error" : "muted" }, x.error ? t("queue.refused", { e: x.error }) : t("queue.waiting")),
      el("div", { class: "actions" },
        // refused for a NIK that may be right as printed (an older region code): confirm and send
        x.confirmable ? el("button", { type: "button", class: "confirm-nik", onclick: () => confirmNik(x.key) }, t("queue.confirm_nik")) : null,
        el("button", { type: "button", class: "secondary", onclick: () => flush() }, t("queue.retry")),
        el("button", { type: "button", class: "danger", onclick: (ev) => discard(ev.currentTarget, x.key) }, t("queue.discard"))))));
  }
  function confirmNik(key) {
    saveQueue(queued().map((x) => (x.key === key
      ? { ...x, error: null, confirmable: false, body: { ...x.body, patient: { ...x.body.patient, nik_confirmed: true } } } : x)));
    flush();
  }
  function discard(button, key) {
    if (!button.dataset.confirm) { button.dataset.confirm = "1"; button.textContent = t("queue.discard_confirm"); return; }
    saveQueue(queued().filter((x) => x.key !== key));
  }
  let flushing = false;
  async function flush() {
    if (flushing || offline()) return;
    flushing = true;
    try {
      for (const item of queued()) {
        try {
          const sent = await deliver(item.body, item.key);
          saveQueue(queued().filter((x) => x.key !== item.key));
          showReferral(sent);
          announce(t("queue.delivered", { f: item.dest_name }), "ok");
        } catch (e) {
          if (e.status === 0) break; // still no network: try again later
          const confirmable = (e.errors ?? []).some((x) => x.params?.confirmable);
          saveQueue(queued().map((x) => (x.key === item.key ? { ...x, error: e.message, confirmable } : x)));
        }
      }
      loadOutbox();
    } finally {
      flushing = false;
    }
  }
  window.addEventListener("online", () => flush());
  setInterval(() => { if (queued().length) flush(); }, 20000);
  renderQueue();
  flush();

  // ----------------------------------------------------------------------- status, live
  let current = null;

  /** What was checked of the patient's NIK (docs/identity.md): said, so nobody takes a structure check for Dukcapil's. */
  function identityLine(checked) {
    if (!checked) return null;
    const said = ["structure", "registry"].map((k) => `identity.${checked[k]}`).filter((key) => TEXT[key]).map((key) => t(key));
    return el("p", { class: "muted", id: "identity-check" }, `${t("identity.label")}: ${said.join("; ")}`);
  }

  async function showReferral(r) {
    current = r;
    $("#status-card").hidden = false;
    const dest = fac.get(r.destination_id)?.name ?? r.destination_id;
    const escalated = r.status === "sent" && Boolean(r.times.escalated);  // no answer in time
    const box = $("#status");
    fill(box, 
      el("p", { class: "status-big" }, el("span", { class: `badge ${r.status}`, id: "referral-status", "data-status": r.status }, label("rstatus", r.status)),
        " ", t("status.to", { f: dest }), r.emergency ? el("span", { class: "badge emergency" }, t("refer.emergency")) : null),
      r.number ? el("p", { class: "muted", id: "letter-number" }, t("status.number", { n: r.number })) : null,
      identityLine(r.patient?.identity),
      keptContactLine(box, fac.get(r.destination_id), t("contact.destination")),
      r.status === "declined"
        ? el("p", { class: "notice bad", id: "answer" }, t("status.declined_by", { f: dest, reason: r.decline_reason ?? "–" })) : null,
      r.status === "accepted" ? el("p", { class: "notice ok", id: "answer" }, t("status.accepted", { f: dest })) : null,
      deliveryLine(r),
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
      // or a choice among the other suggested facilities not asked yet, in the engine's order
      const others = (r.suggestion?.candidates ?? []).filter((id) => id !== r.proposed_next_id && id !== r.origin_id && !r.tried.includes(id));
      $("#redirect-other-row").hidden = !others.length;
      $("#redirect-other").replaceChildren(...others.map((id) => el("option", { value: id }, facName(id))));
    }
    showTransport(r);
    // the conversation with the receiving facility, once the letter is sent (kept while it is shown)
    const chat = $("#chat");
    if (r.status === "created") chat.replaceChildren();
    else if (chat.firstChild?.dataset.referral !== r.id) {
      chat.replaceChildren(chatPanel(r.id, { names: facName, onRead: () => loadOutbox(), other: facName(r.destination_id) }));
    } else chat.firstChild.refresh();
    showAttachments(r);
    const cancel = $("#cancel-referral");
    cancel.hidden = !CANCELLABLE.has(r.status);
    // a live update of the same referral in the same state keeps a cancel half-confirmed
    if (cancel.dataset.for !== r.id || cancel.dataset.status !== r.status) {
      cancel.dataset.confirm = "";
      cancel.textContent = t("status.cancel");
    }
    cancel.dataset.for = r.id;
    cancel.dataset.status = r.status;
    try {
      const events = await api(`/api/referrals/${r.id}/events`);
      $("#timeline").replaceChildren(...events.filter((e) => !MESSAGE_KINDS.has(e.kind) && !e.kind.startsWith("call_from_"))
        .map((e) => el("li", {}, `${fmtTime(e.at)} · ${timelineText(e)}`)));
    } catch { /* the status above is enough */ }
  }

  const CANCELLABLE = new Set(["created", "sent", "declined", "accepted"]);

  // the results attached to the letter (Pasal 17(1)d), added and viewed here (attachments.js); kept
  // while the same referral is shown, so a live update never closes what is open in the viewer
  let attached = null;
  function showAttachments(r, again = false) {
    const open = !["completed", "cancelled"].includes(r.status);
    const key = `${r.id}:${open}`;
    if (!again && attached?.dataset.key === key) return;
    attached = attachmentsSection(r, { upload: open });
    attached.dataset.key = key;
    $("#attachments").replaceChildren(attached);
  }
  window.addEventListener("rujuk:lang", () => { if (current) showAttachments(current, true); });

  /** The hand-over to the rujuk deployment serving the destination (docs/fhir.md), read again while it waits. */
  let deliveryTimer = null;
  function deliveryLine(r) {
    clearTimeout(deliveryTimer);
    const d = r.delivery;
    if (!d || d.destination_id !== r.destination_id || d.state === "done") return null;
    const problem = d.problem ? t(`delivery.problem.${d.problem}`) : "";
    let text, kind = "warn";
    if (d.state === "pending" && !d.attempts) text = t("delivery.sending", { peer: d.peer });
    else if (d.state === "pending") text = t("delivery.pending", { peer: d.peer, problem, n: d.attempts, at: fmtTime(d.next_attempt_at) });
    else if (d.state === "refused") { text = t("delivery.refused", { peer: d.peer, problem }); kind = "bad"; }
    else if (d.state === "withdrawn") text = t("delivery.withdrawn", { peer: d.peer });
    else if (r.status !== "sent") return el("p", { class: "muted", id: "delivery", "data-state": d.state }, t("delivery.answered", { peer: d.peer }));
    else { text = t("delivery.delivered", { peer: d.peer }); kind = "ok"; }
    if (d.state === "pending" || (d.state === "delivered" && r.status === "sent")) {
      deliveryTimer = setTimeout(async () => {
        if (current?.id !== r.id) return;
        try { showReferral(await api(`/api/referrals/${r.id}`, { quiet: true })); } catch { /* next time */ }
      }, 10000);
    }
    return el("div", { class: `notice ${kind}`, id: "delivery", "data-state": d.state }, el("p", {}, text),
      d.last_error ? el("details", {}, el("summary", {}, t("delivery.details")), el("code", { lang: "en" }, d.last_error)) : null);
  }

  // the ambulance on its way for the referral shown: its status and live ETA (to the pickup, then
  // to the destination), read again every 30 s while it is on the road
  let transportTimer = null;
  async function showTransport(r) {
    clearTimeout(transportTimer);
    const box = $("#transport");
    if (!["accepted", "dispatched", "in_transit"].includes(r.status)) { box.replaceChildren(); return; }
    let tr;
    try { tr = await api(`/api/referrals/${r.id}/transport`, { quiet: true }); } catch {
      transportTimer = setTimeout(() => { if (current?.id === r.id) showTransport(current); }, 30000);
      return;
    }
    if (current?.id !== r.id) return;
    const a = tr.ambulance;
    let text;
    if (!a) text = t("transport.waiting");
    else if (a.eta) text = t(a.eta.leg === "pickup" ? "transport.to_pickup" : "transport.to_destination",
      { id: a.id, d: fmtDuration(a.eta.eta_s), at: fmtTime(a.eta.eta_at), f: facName(r.destination_id) })
      + (a.eta.road_conditions?.length ? ` · ${roadsText(a.eta.road_conditions)}` : "");
    else text = `${t("receive.ambulance", { id: a.id })}: ${label("amb", a.status)}`;
    const lost = a?.position?.stale;
    box.replaceChildren(el("p", { class: `notice ${lost ? "warn" : "ok"}`, id: "transport-line" }, text,
      lost ? ` · ${t("receive.position_old")}` : ""));
    transportTimer = setTimeout(() => { if (current?.id === r.id) showTransport(current); }, 30000);
  }
  const facName = (id) => fac.get(id)?.name ?? id;

  /** One entry of the history, in the page's language, with the facilities' names. */
  function timelineText(e) {
    const f = facName(e.destination_id);
    switch (e.kind) {
      case "call_start": return t("timeline.call_start", { who: e.note });
      case "call_end": return /^\d+$/.test(e.note) ? t("timeline.call_end", { d: fmtDuration(Number(e.note)) }) : t(`timeline.call_${e.note}`);
      case "created": return t("timeline.created", { f });
      case "send": return t("timeline.sent", { f });
      case "accept": return t("timeline.accepted", { f });
      case "decline": return t("timeline.declined", { f, reason: e.note || "–" });
      case "escalated": return t("timeline.escalated", { f });
      case "redirect": return t("timeline.redirected", { f });
      case "cancel": return t("timeline.cancelled");
      case "dispatch": case "at_pickup": case "depart": case "arrive": case "handover": case "release":
        return `${t(`timeline.${e.kind}`, { f })}${e.note ? ` (${e.note})` : ""}`;
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
  async function redirectTo(destination) {
    try {
      const reason = $("#redirect-reason").value.trim();
      const body = { destination_id: destination, ...(reason && reason !== current.reason ? { reason } : {}) };
      const r = await api(`/api/referrals/${current.id}/redirect`, { method: "POST", body });
      showReferral(r);
      loadOutbox();
    } catch (e) { announce(e.message, "bad"); }
  }
  $("#redirect").addEventListener("click", () => redirectTo(current.proposed_next_id));

  $("#redirect-other").addEventListener("change", () => {
    $("#redirect-reason-label").textContent = t("status.redirect_reason", { f: facName($("#redirect-other").value) });
  });
  $("#redirect-other-go").addEventListener("click", () => redirectTo($("#redirect-other").value));

  $("#print-letter").addEventListener("click", async () => {
    const frame = $("#print-frame");
    try { frame.srcdoc = await letterHtml(current.id); } catch (e) { announce(e.message, "bad"); return; }
    frame.onload = () => frame.contentWindow.print();
  });
  $("#open-letter").addEventListener("click", () => openLetterPage(current.id).catch((e) => announce(e.message, "bad")));
  $("#pdf-letter").addEventListener("click", () =>
    downloadLetterPdf(current.id, current.number).catch((e) => announce(e.message, "bad")));
  $("#other-letter").addEventListener("click", () =>
    openLetterPage(current.id, lang === "en" ? "id" : "en").catch((e) => announce(e.message, "bad")));

  // the sent list: patient, destination, diagnosis, state; searched, filtered, paged (lists.js)
  function outboxRow(r) {
    return el("tr", { "data-referral": r.id },
      el("td", { class: "when", "data-label": t("outbox.time") }, fmtWhen(r.times.created)),
      patientCell(r),
      el("td", { "data-label": t("outbox.destination") }, fac.get(r.destination_id)?.name ?? r.destination_id),
      diagnosisCell(r),
      el("td", { class: "state", "data-label": t("outbox.status") }, el("button", { class: "link", type: "button", onclick: () => { showReferral(r); $("#status-card").scrollIntoView({ block: "start" }); } },
        el("span", { class: `badge ${r.status}` }, label("rstatus", r.status))),
        r.unread_messages ? el("span", { class: "badge unread", title: t("chat.unread", { n: r.unread_messages }) }, `✉ ${r.unread_messages}`) : null));
  }
  // the title counts what waits for the sender (declined, or unanswered in time) among the newest
  function countWaiting(rows, filtered) {
    if (filtered) return;
    const needing = rows.filter((r) => r.status === "declined" || (r.status === "sent" && r.times.escalated)).length;
    document.title = needing ? `(${needing}) rujuk · ${t("refer.title")}` : `rujuk · ${t("refer.title")}`;
  }
  // called before the list is mounted too (a queue flushed at start): then the mount loads it
  function loadOutbox() { loadOutbox.list?.then((l) => l.refresh()).catch(() => undefined); }
  loadOutbox.list = referralList("outbox", { box: "outbox", row: outboxRow, onRows: countWaiting });
  window.addEventListener("rujuk:signed-in", () => loadOutbox());

  document.body.dataset.ready = "1"; // for tests and the page benchmark
  // answers reach the sender wherever they are on the page: a banner (a click opens the
  // referral), the sound when it is on, and the count of referrals waiting for them in the tab
  const { beep } = soundAlarm($("#sound"));
  const ALERTS = { decline: "refer.alert_declined", escalated: "refer.alert_escalated", accept: "refer.alert_accepted" };
  // the alerts follow this device's station: they go on when the staff sign-in ends (the details
  // then wait for a password, asked when the banner is clicked)
  const waitingOnMe = new Set(); // declined or escalated, seen on the feed
  followStation(async (_type, ev) => {
    if (CALL_KINDS.has(ev.kind)) {
      if (ev.kind === "call_from_receiver" && ev.origin_id === origin?.id && signedIn()) {
        incomingCall(ev.referral_id, facName(ev.destination_id), { beep });
      }
      callEvent(ev);
      if (current && ev.referral_id === current.id && signedIn()) showReferral(await api(`/api/referrals/${current.id}`));
      return;
    }
    if (MESSAGE_KINDS.has(ev.kind)) {
      onMessageEvent(ev);
      if (ev.kind === "msg_receiver" && ev.origin_id === origin?.id) {
        const banner = $("#answer-alert");
        banner.hidden = false;
        banner.className = "alert-banner";
        banner.textContent = t("chat.alert_in", { f: facName(ev.destination_id) });
        banner.onclick = async () => {
          banner.hidden = true;
          showReferral(await api(`/api/referrals/${ev.referral_id}`));
          $("#chat").scrollIntoView({ block: "start" });
        };
        beep();
      }
      if (signedIn()) loadOutbox();
      return;
    }
    if (ev.origin_id === origin?.id && (ev.kind === "decline" || ev.kind === "escalated")) waitingOnMe.add(ev.referral_id);
    if (ev.origin_id === origin?.id && ["redirect", "accept", "cancel"].includes(ev.kind)) waitingOnMe.delete(ev.referral_id);
    if (signedIn()) loadOutbox();
    else document.title = waitingOnMe.size ? `(${waitingOnMe.size}) rujuk · ${t("refer.title")}` : `rujuk · ${t("refer.title")}`;
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
    if (current && ev.referral_id === current.id && signedIn()) {
      showReferral(await api(`/api/referrals/${current.id}`));
    }
  }, { onState: (_up, text) => { $("#live-state").textContent = text; } });
}

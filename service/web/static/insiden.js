// Mass-casualty incidents (Pasal 6) for dispatchers and the district office: declare one (counts by
// triage, or a pasted list), distribute the casualties over the hospitals by free beds and road
// time, adjust a casualty by hand, send every referral in one step, assign ambulances in waves,
// and follow where every casualty is.
import {
  $, announce, api, applyI18n, el, facilities, fmtDuration, follow, label, me, plain, startPage, t,
} from "/static/common.js";
import { facilityLatLng, makeMap, numberMarker } from "/static/map.js";
import { drawRoads } from "/static/roads.js";

const TRIAGE_OF = { merah: "red", red: "red", m: "red", kuning: "yellow", yellow: "yellow", k: "yellow", hijau: "green", green: "green", h: "green" };
const DEFAULT_ICD = { red: "T07", yellow: "T14.2", green: "T14.0" };

const who = await startPage("/insiden");
if (who) await main();


async function main() {
  const fac = await facilities();
  const hospitals = [...fac.values()].filter((f) => f.receiving).sort((a, b) => a.name.localeCompare(b.name));
  const m = await makeMap("map", { label: t("inc.map") });
  drawRoads(m);
  const layer = m ? m.L.layerGroup().addTo(m.map) : null;
  const dispatcher = (me()?.roles ?? []).some((r) => r === "dispatcher" || r === "admin");
  let current = null; // the board shown
  let point = null; // a scene clicked on the map
  let wave = [];
  const name = (id) => fac.get(id)?.name ?? id;

  // ------------------------------------------------------------------------------- the list
  async function loadList() {
    const rows = await api("/api/incidents");
    $("#incidents-empty").hidden = rows.length > 0;
    $("#incidents").replaceChildren(...rows.map((i) => el("li", { "data-incident": i.id },
      el("button", { type: "button", class: "link", onclick: () => open(i.id) },
        el("strong", {}, i.name), " · ", label("inc.kind", i.kind), " · ",
        t("inc.counts", { r: i.counts?.red ?? 0, y: i.counts?.yellow ?? 0, g: i.counts?.green ?? 0 })))));
    if (!current && rows.length) open(rows[rows.length - 1].id);
  }

  // ------------------------------------------------------------------------------- declaring
  $("#inc-facility").replaceChildren(el("option", { value: "" }, t("inc.pick_scene")),
    el("option", { value: "point", id: "scene-point", hidden: true }, t("inc.map_point")),
    ...[...fac.values()].sort((a, b) => a.name.localeCompare(b.name)).map((f) => el("option", { value: f.id }, f.name)));
  m?.map.on("click", (ev) => {
    if (!$("#declare-box").open) return;
    point = ev.latlng;
    $("#scene-point").hidden = false;
    $("#scene-point").textContent = `${t("inc.map_point")} (${point.lat.toFixed(4)}, ${point.lng.toFixed(4)})`;
    $("#inc-facility").value = "point";
    layer.clearLayers();
    m.L.marker(point, { title: t("inc.scene") }).addTo(layer);
  });

  function parseList(text) {
    const out = [];
    text.split("\n").map((l) => l.trim()).filter(Boolean).forEach((line, i) => {
      const [tri, age, sex, icd, bed] = line.split(/[;,\t]/).map((x) => x.trim());
      const triage = TRIAGE_OF[(tri ?? "").toLowerCase()];
      if (!triage) throw new Error(t("inc.bad_line", { n: i + 1, what: t("inc.triage") }));
      const a = Number(age);
      if (!Number.isInteger(a) || a < 0 || a > 120) throw new Error(t("inc.bad_line", { n: i + 1, what: t("inc.age") }));
      const s = (sex ?? "").toUpperCase();
      if (!["L", "P"].includes(s)) throw new Error(t("inc.bad_line", { n: i + 1, what: t("inc.sex") }));
      out.push({ triage, age_years: a, sex: s === "L" ? "male" : "female", icd10: [icd || DEFAULT_ICD[triage]], ...(bed ? { bed: bed.toLowerCase() } : {}) });
    });
    return out;
  }
  function fromCounts() {
    const out = [];
    let icu = Number($("#n-icu").value) || 0;
    for (const triage of ["red", "yellow", "green"]) {
      for (const sex of ["male", "female"]) {
        const n = Math.max(0, Math.min(200, Number($(`#n-${triage}-${sex}`).value) || 0));
        for (let i = 0; i < n; i++) {
          const c = { triage, age_years: 30, sex, icd10: [DEFAULT_ICD[triage]] };
          if (triage === "red" && icu > 0) { c.bed = "icu"; icu--; }
          out.push(c);
        }
      }
    }
    return out;
  }
  $("#declare").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = $("#declare-error");
    err.textContent = "";
    const body = { name: $("#inc-name").value.trim(), kind: $("#inc-kind").value };
    const where = $("#inc-facility").value;
    if (where === "point" && point) { body.lon = point.lng; body.lat = point.lat; } else if (where) body.facility_id = where;
    else { err.textContent = t("inc.need_scene"); $("#inc-facility").focus(); return; }
    if (body.name.length < 3) { err.textContent = t("inc.need_name"); $("#inc-name").focus(); return; }
    const ago = Number($("#inc-ago").value || 0);
    if (!Number.isFinite(ago) || ago < 0 || ago > 1440) { err.textContent = t("inc.bad_ago"); $("#inc-ago").focus(); return; }
    body.occurred_at = new Date(Date.now() - ago * 60000).toISOString();
    try {
      body.casualties = [...fromCounts(), ...parseList($("#inc-list").value)];
    } catch (e) { err.textContent = e.message; $("#inc-list").focus(); return; }
    try {
      const inc = await api("/api/incidents", { method: "POST", body });
      announce(t("inc.declared", { n: inc.casualties.length }), "ok");
      $("#declare-box").open = false;
      show(inc);
      loadList();
    } catch (e) { err.textContent = e.message; }
  });

  // ------------------------------------------------------------------------------- the board
  async function open(id) {
    try { show(await api(`/api/incidents/${encodeURIComponent(id)}`)); } catch (e) { announce(e.message, "bad"); }
  }
  function stateOf(c) {
    if (c.referral) {
      const amb = c.referral.ambulance_id ? ` · ${c.referral.ambulance_id}` : "";
      return el("span", { class: `badge ${c.referral.status}` }, `${label("rstatus", c.referral.status)}${amb}`);
    }
    if (c.plan.hospital_id) return el("span", { class: "badge" }, t(c.plan.by === "hand" ? "inc.planned_hand" : "inc.planned"));
    return el("span", { class: "badge bad", title: c.plan.note ?? "" }, c.plan.note ? t("inc.unplaced_why", { why: label("inc.why", c.plan.note) }) : t("inc.not_planned"));
  }
  function hospitalCell(c) {
    if (c.referral || current.closed_at) return c.referral ? name(c.referral.destination_id) : (c.plan.hospital_id ? name(c.plan.hospital_id) : "–");
    const sel = el("select", { "aria-label": t("inc.hospital_of", { k: c.label }), "data-casualty": c.id,
      onchange: (ev) => adjust(c, ev.target.value || null) },
      el("option", { value: "" }, t("inc.no_hospital")),
      ...hospitals.map((h) => el("option", { value: h.id, selected: c.plan.hospital_id === h.id }, h.name)));
    const time = c.plan.travel_time_s ? el("span", { class: "muted" }, ` ${fmtDuration(c.plan.travel_time_s)}`) : null;
    return [sel, time];
  }
  function show(inc) {
    current = inc;
    $("#board-card").hidden = false;
    $("#board-title").textContent = `${inc.name} · ${label("inc.kind", inc.kind)}`;
    const sent = inc.casualties.filter((c) => c.referral).length;
    const placed = inc.casualties.filter((c) => c.plan.hospital_id).length;
    $("#board-summary").textContent = t("inc.summary", { n: inc.casualties.length, r: inc.counts.red ?? 0, y: inc.counts.yellow ?? 0,
      g: inc.counts.green ?? 0, p: placed, s: sent, from: name(inc.origin_id) }) + (inc.closed_at ? ` ${t("inc.closed")}` : "");
    const open_ = !inc.closed_at;
    $("#plan-button").hidden = !open_ || sent === inc.casualties.length;
    $("#send-button").hidden = !open_;
    $("#send-button").disabled = !inc.casualties.some((c) => c.plan.hospital_id && !c.referral);
    $("#wave-button").hidden = !open_ || !dispatcher || !sent;
    $("#close-button").hidden = !open_;
    $("#add-box").hidden = !open_;
    $("#share").replaceChildren(...(inc.share.length ? [el("p", {}, `${t("inc.share")}: `,
      ...inc.share.map((s, i) => el("span", { class: "chip", "data-hospital": s.hospital_id }, `${i ? "" : ""}${name(s.hospital_id)}: ${s.casualties}`)))] : []));
    $("#casualties").replaceChildren(...inc.casualties.map((c) => el("tr", { "data-casualty": c.id, "data-label": c.label,
      "data-hospital": c.referral?.destination_id ?? c.plan.hospital_id ?? "", "data-status": c.referral?.status ?? "" },
      el("td", {}, el("strong", {}, c.label), el("br"), el("span", { class: "muted" }, `${c.age_years} th · ${label("sex", c.sex)}`)),
      el("td", {}, el("span", { class: `badge triage ${c.triage}` }, t(`triage.${c.triage}`))),
      el("td", {}, `${c.icd10.join(", ")}${c.bed ? ` · ${label("bed", c.bed)}` : ""}`),
      el("td", {}, ...[hospitalCell(c)].flat().filter(Boolean)),
      el("td", {}, stateOf(c)))));
    drawBoard();
  }
  function drawBoard() {
    if (!m || !current) return;
    layer.clearLayers();
    const scene = [current.lat, current.lon];
    m.L.marker(scene, { title: current.name, alt: current.name }).bindTooltip(plain(current.name)).addTo(layer);
    const pts = [scene];
    for (const s of current.share) {
      const ll = facilityLatLng(m, s.hospital_id);
      if (!ll) continue;
      numberMarker(m, ll, s.casualties, "#b3261e", `${name(s.hospital_id)}: ${s.casualties}`).addTo(layer);
      m.L.polyline([scene, ll], { color: "#b3261e", weight: 2, dashArray: "5 5", opacity: 0.7 }).addTo(layer);
      pts.push(ll);
    }
    if (pts.length > 1) m.map.fitBounds(pts, { padding: [30, 30], maxZoom: 12 });
  }
  const BUTTONS = ["#plan-button", "#send-button", "#close-button", "#add-button"];
  let busy = false; // one change at a time: a double click sends nothing twice
  async function act(path, method = "POST", body) {
    if (busy) return null;
    busy = true;
    for (const b of BUTTONS) $(b).disabled = true;
    try {
      const inc = await api(`/api/incidents/${encodeURIComponent(current.id)}${path}`, { method, body });
      show(inc);
      return inc;
    } catch (e) { announce(e.message, "bad"); return null; } finally {
      busy = false;
      for (const b of BUTTONS) $(b).disabled = false;
      if (current) $("#send-button").disabled = !current.casualties.some((c) => c.plan.hospital_id && !c.referral);
    }
  }
  $("#add-button").addEventListener("click", async () => {
    const err = $("#add-error");
    err.textContent = "";
    let more;
    try { more = parseList($("#add-list").value); } catch (e) { err.textContent = e.message; $("#add-list").focus(); return; }
    if (!more.length) { err.textContent = t("inc.need_list"); $("#add-list").focus(); return; }
    if (await act("/casualties", "POST", { casualties: more })) {
      $("#add-list").value = "";
      announce(t("inc.added", { n: more.length }), "ok");
    }
  });
  async function adjust(c, hospitalId) {
    if (await act(`/casualties/${c.id}`, "PATCH", { hospital_id: hospitalId })) announce(t("inc.adjusted", { k: c.label }), "ok");
    else show(current); // the select back to the plan
  }
  $("#plan-button").addEventListener("click", async () => {
    const inc = await act("/plan");
    if (inc) {
      const unplaced = inc.casualties.filter((c) => !c.plan.hospital_id && !c.referral).length;
      announce(unplaced ? t("inc.planned_some", { n: unplaced }) : t("inc.planned_all"), unplaced ? "warn" : "ok");
    }
  });
  $("#send-button").addEventListener("click", async () => {
    const inc = await act("/send");
    if (inc) { announce(t("inc.sent", { n: inc.casualties.filter((c) => c.referral).length }), "ok"); loadList(); }
  });
  $("#close-button").addEventListener("click", async (ev) => {
    const b = ev.currentTarget;
    if (!b.dataset.confirm) { b.dataset.confirm = "1"; b.textContent = t("inc.close_confirm"); return; }
    b.dataset.confirm = "";
    b.textContent = t("inc.close");
    if (await act("/close")) { announce(t("inc.closed"), "ok"); loadList(); }
  });

  // ------------------------------------------------------------------- ambulances in waves
  $("#wave-button").addEventListener("click", async () => {
    const ids = current.casualties.filter((c) => c.referral && c.referral.status === "accepted" && !c.referral.ambulance_id).map((c) => c.referral.id);
    if (!ids.length) { announce(t("inc.wave_none"), "warn"); return; }
    try {
      const p = await api("/api/dispatch/proposal", { method: "POST", body: { referral_ids: ids } });
      wave = p.assignments;
      const label_ = (rid) => current.casualties.find((c) => c.referral?.id === rid)?.label ?? rid;
      $("#wave-box").hidden = false;
      $("#wave").replaceChildren(...(wave.length ? wave.map((a) => el("li", { "data-referral": a.referral_id },
        t("inc.wave_row", { k: label_(a.referral_id), a: a.ambulance_id, d: fmtDuration(a.pickup_eta_s) })))
        : [el("li", { class: "notice warn" }, t("inc.wave_empty"))]),
        ...p.unassigned.map((u) => el("li", { class: "muted" }, `${label_(u.referral_id)}: ${u.reason}`)));
      $("#wave-assign").disabled = !wave.length;
    } catch (e) { announce(e.message, "bad"); }
  });
  $("#wave-assign").addEventListener("click", async () => {
    let n = 0;
    for (const a of wave) {
      try {
        await api("/api/dispatch/assign", { method: "POST", body: { referral_id: a.referral_id, ambulance_id: a.ambulance_id } });
        n++;
      } catch (e) { announce(e.message, "bad"); }
    }
    announce(t("inc.wave_done", { n }), "ok");
    $("#wave-box").hidden = true;
    open(current.id);
  });

  // ------------------------------------------------------------------------------- live
  const refresh = () => { if (current) open(current.id); };
  follow("/api/events/stream", () => refresh());
  setInterval(refresh, 15000);
  window.addEventListener("rujuk:lang", () => { if (current) show(current); loadList(); });
  applyI18n();
  await loadList();
  document.body.dataset.ready = "1"; // for tests and the page benchmark
}

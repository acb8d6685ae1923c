// Dispatcher: the live map of ambulances (status colours, stale marked, tracks, ETA to where each
// is heading), each trip's steps (at the pickup, transporting, at the hospital, handed over), the
// units on a trip that lost contact, the referrals waiting for an ambulance (live), the nearest
// available ambulance to a pickup by road (and those that cannot be ranked, with the reason), and
// assigning one to a referral.
import {
  $, announce, api, applyI18n, el, facilities, fmtAge, fmtDuration, follow, label, plain, soundAlarm, startPage, t,
} from "/static/common.js";
import { facilityLatLng, makeMap } from "/static/map.js";
import { contactLine } from "/static/contact.js";
import { drawRoads, roadEditor, roadsText } from "/static/roads.js";

const COLOURS = {
  available: "#1e8e3e", dispatched: "#e37400", at_pickup: "#b06000", transporting: "#1a73e8", at_hospital: "#8e24aa", out_of_service: "#5f6368",
};
//: the next step of a trip from each status (the dispatcher records it when the crew calls in)
const NEXT_STEPS = {
  dispatched: ["at_pickup", "transporting"], at_pickup: ["transporting"], transporting: ["at_hospital"], at_hospital: ["handed_over"],
};
//: statuses of a unit on a trip: losing contact then is an alert, not a badge
const ON_TRIP = new Set(["dispatched", "at_pickup", "transporting"]);

const who = await startPage("/dispatch");
if (who) await main();

async function main() {
  const fac = await facilities();
  const m = await makeMap("map", { label: t("dispatch.map") });
  const markers = new Map();
  let board = { ambulances: [], stale_after_s: 120 };
  let fetchedAt = Date.now();
  let track = null;
  let pickupMarker = null;
  let chosenReferral = null;
  window.rujukMap = { map: m?.map, markers }; // for people (and tests) looking at the page from the console
  // road conditions: drawn, and closed or lifted here; a change re-ranks the nearest shown
  const roads = drawRoads(m);
  const editor = roadEditor(m, roads);
  roads.listen(() => { if ($("#pickup").value && $("#nearest").children.length) findNearest(); });

  $("#legend").replaceChildren(...Object.entries(COLOURS).map(([s, c]) => el("span", { style: `--c:${c}` }, label("amb", s))));

  function ageOf(a) {
    return a.position ? a.position.age_s + (Date.now() - fetchedAt) / 1000 : null;
  }
  function isStale(a) {
    const age = ageOf(a);
    return age === null || age > board.stale_after_s;
  }

  function placeMarker(a) {
    if (!m || !a.position) return;
    const ll = [a.position.lat, a.position.lon];
    const stale = isStale(a);
    const style = {
      radius: 9, color: stale ? "#000" : "#fff", weight: stale ? 2 : 2, dashArray: stale ? "3 3" : null,
      fillColor: COLOURS[a.status] ?? "#444", fillOpacity: stale ? 0.35 : 0.95,
    };
    let mk = markers.get(a.id);
    if (!mk) {
      mk = m.L.circleMarker(ll, style).addTo(m.map);
      mk.bindTooltip("", { permanent: true, direction: "right", className: "amb-label", offset: [8, 0] });
      mk.on("click", () => showTrack(a.id));
      markers.set(a.id, mk);
    } else {
      mk.setLatLng(ll);
      mk.setStyle(style);
    }
    mk.setTooltipContent(plain(`${a.id}${stale ? ` (${t("dispatch.stale")})` : ""}${a.eta ? ` · ${fmtDuration(a.eta.eta_s)}` : ""}`));
  }

  let reasonFor = null; // the ambulance whose out-of-service reason is being written
  let reasonDraft = ""; // what was typed so far (the fleet is redrawn on every live position)
  function actionsOf(a) {
    const b = (text, onclick, cls = "secondary", data = {}) => el("button", { type: "button", class: cls, onclick, ...data }, text);
    if (reasonFor === a.id) {
      const had = document.activeElement?.id === `reason-${a.id}`;
      const input = el("input", { type: "text", id: `reason-${a.id}`, maxlength: "300", value: reasonDraft, placeholder: t("dispatch.reason_hint"),
        "aria-label": t("dispatch.reason"), oninput: (ev) => { reasonDraft = ev.target.value; } });
      if (had || !reasonDraft) setTimeout(() => { input.focus(); input.setSelectionRange(reasonDraft.length, reasonDraft.length); }, 0);
      return [el("label", { for: `reason-${a.id}`, class: "sr-only" }, t("dispatch.reason")), input,
        b(t("dispatch.reason_save"), () => setStatus(a, "out_of_service", input.value), "", { "data-do": "save-reason" }),
        b(t("dispatch.cancel"), () => { reasonFor = null; reasonDraft = ""; renderFleet(); })];
    }
    const out = (NEXT_STEPS[a.status] ?? []).map((st) => b(t(`dispatch.step.${st}`), () => step(a, st), "", { "data-step": st }));
    if (a.status === "dispatched" || a.status === "at_pickup") out.push(b(t("dispatch.release"), () => setStatus(a, "available"), "secondary", { "data-do": "release" }));
    if (a.status === "available" || a.status === "dispatched" || a.status === "at_pickup") out.push(b(t("dispatch.out_of_service"), () => { reasonFor = a.id; reasonDraft = ""; renderFleet(); }, "secondary", { "data-do": "out-of-service" }));
    if (a.status === "out_of_service") out.push(b(t("dispatch.back_in_service"), () => setStatus(a, "available"), "", { "data-do": "in-service" }));
    out.push(b(t("dispatch.track"), () => showTrack(a.id)));
    return out;
  }
  function tripText(a) {
    if (!a.trip) return a.status === "out_of_service" && a.status_reason ? a.status_reason : "";
    const route = `${fac.get(a.trip.pickup_id)?.name ?? a.trip.pickup_id} → ${fac.get(a.trip.destination_id)?.name ?? a.trip.destination_id}`;
    const last = ["at_hospital", "transporting", "at_pickup", "dispatched"].find((k) => a.trip[`${k}_at`]);
    const by = a.trip[`${last}_by`];
    return `${route} · ${t(`dispatch.since.${last}`, { at: fmtClock(a.trip[`${last}_at`]) })}${by === "gps" ? ` (${t("dispatch.by_gps")})` : by === "device" ? ` (${t("dispatch.by_device")})` : ""}`;
  }
  /** The trip's pickup and destination to call (the crew's news, a bed to hold). */
  function tripContacts(a) {
    if (!a.trip) return [];
    return [contactLine(fac.get(a.trip.pickup_id), t("contact.origin")), contactLine(fac.get(a.trip.destination_id), t("contact.destination"))];
  }
  function fmtClock(iso) {
    return iso ? new Date(iso).toLocaleTimeString(document.documentElement.lang || "id", { hour: "2-digit", minute: "2-digit" }) : "";
  }

  function renderFleet() {
    $("#fleet").replaceChildren(...board.ambulances.map((a) => {
      const age = ageOf(a);
      const stale = isStale(a);
      const trip = tripText(a);
      return el("tr", { "data-ambulance": a.id, "data-status": a.status, "data-lat": a.position?.lat, "data-lon": a.position?.lon },
        el("td", {}, el("strong", {}, a.id), el("br"), el("span", { class: "muted" }, `${label("kind", a.kind)} · ${fac.get(a.home_facility_id)?.name ?? a.home_facility_id}`)),
        el("td", {}, el("span", { class: `badge ${a.status}` }, label("amb", a.status)), trip ? el("div", { class: "muted trip" }, trip) : null,
          ...tripContacts(a),
          el("div", { class: "row-actions" }, ...actionsOf(a))),
        el("td", {}, a.position ? el("span", { class: stale ? `badge stale${ON_TRIP.has(a.status) ? " lost" : ""}` : "" }, `${fmtAge(age)}${stale ? ` · ${t("dispatch.stale")}` : ""}`) : t("dispatch.no_position"),
          el("div", { class: "eta" }, etaText(a))));
    }));
    for (const a of board.ambulances) placeMarker(a);
    declutter();
    renderLost();
  }
  function etaText(a) {
    if (a.eta) {
      const where = fac.get(a.eta.destination_id)?.name ?? a.eta.destination_id;
      const base = a.eta.leg === "pickup" ? t("dispatch.eta_pickup_row", { d: fmtDuration(a.eta.eta_s), f: where }) : `${fmtDuration(a.eta.eta_s)} → ${where}`;
      const roadsNote = roadsText(a.eta.road_conditions);
      return roadsNote ? `${base} · ${roadsNote}` : base;
    }
    return a.destination_id ? `→ ${fac.get(a.destination_id)?.name ?? a.destination_id}` : "–";
  }

  // units on a trip that stopped reporting: an alert that stays until they report again
  const { beep } = soundAlarm($("#sound"));
  const lostBefore = new Set();
  function renderLost() {
    const lost = board.ambulances.filter((a) => ON_TRIP.has(a.status) && isStale(a));
    $("#lost").hidden = !lost.length;
    $("#lost-list").replaceChildren(...lost.map((a) => el("li", { "data-ambulance": a.id },
      t("dispatch.lost_row", { id: a.id, status: label("amb", a.status), age: a.position ? fmtAge(ageOf(a)) : t("dispatch.never") }))));
    const fresh = lost.filter((a) => !lostBefore.has(a.id));
    if (fresh.length) beep();
    lostBefore.clear();
    for (const a of lost) lostBefore.add(a.id);
  }

  // labels that would overlap another are hidden (the marker stays; hovering shows its label)
  function declutter() {
    if (!m) return;
    const shown = [];
    const order = [...markers.entries()].sort(([a], [b]) => {
      const pa = ON_TRIP.has(board.ambulances.find((x) => x.id === a)?.status) ? 0 : 1;
      const pb = ON_TRIP.has(board.ambulances.find((x) => x.id === b)?.status) ? 0 : 1;
      return pa - pb || a.localeCompare(b);
    });
    for (const [, mk] of order) {
      const node = mk.getTooltip()?.getElement();
      if (!node) continue;
      node.classList.remove("hidden-label");
      const r = node.getBoundingClientRect();
      const clash = shown.some((o) => r.left < o.right && r.right > o.left && r.top < o.bottom && r.bottom > o.top);
      if (clash) node.classList.add("hidden-label");
      else shown.push(r);
    }
  }
  m?.map.on("zoomend moveend", declutter);

  async function step(a, st) {
    try {
      await api(`/api/ambulances/${encodeURIComponent(a.id)}/trip`, { method: "POST", body: { step: st } });
      announce(t("dispatch.step_done", { id: a.id, step: t(`dispatch.step.${st}`) }), "ok");
    } catch (e) { announce(e.message, "bad"); }
    loadBoard();
    loadWaiting();
  }
  async function setStatus(a, status, reason = "") {
    try {
      await api(`/api/ambulances/${encodeURIComponent(a.id)}/status`, { method: "PATCH", body: { status, reason } });
      reasonFor = null;
      reasonDraft = "";
      announce(t(status === "available" ? "dispatch.now_available" : "dispatch.now_out", { id: a.id }), "ok");
    } catch (e) { announce(e.message, "bad"); return; }
    loadBoard();
    loadWaiting();
  }

  const etaSeen = new Map(); // ETAs from the live feed, newer than a board read still on its way
  async function loadBoard() {
    const started = Date.now();
    try {
      board = await api("/api/dispatch/ambulances");
      fetchedAt = Date.now();
      for (const a of board.ambulances) {
        const seen = etaSeen.get(a.id);
        if (seen && seen.at >= started) a.eta = seen.eta;
      }
      $("#positions-note").replaceChildren(board.positions_available ? "" : el("p", { class: "notice bad" }, t("dispatch.unavailable")));
      renderFleet();
    } catch (e) { announce(e.message, "bad"); }
  }

  async function showTrack(id) {
    if (!m) return;
    try {
      const tr = await api(`/api/ambulances/${encodeURIComponent(id)}/track`);
      track?.remove();
      const pts = tr.positions.map((p) => [p.lat, p.lon]);
      if (!pts.length) { announce(t("dispatch.no_track", { id }), "warn"); return; }
      track = m.L.polyline(pts, { color: "#1a73e8", weight: 4, opacity: 0.8 }).bindTooltip(plain(t("dispatch.track_of", { id, n: pts.length }))).addTo(m.map);
      m.map.fitBounds(track.getBounds(), { padding: [30, 30], maxZoom: 14 });
      announce(t("dispatch.track_of", { id, n: pts.length }));
    } catch (e) { announce(e.message, "bad"); }
  }

  // ------------------------------------------------------------------------ live updates
  follow("/api/dispatch/stream", (type, ev) => {
    const a = board.ambulances.find((x) => x.id === ev.ambulance_id);
    if (type === "position" && a) {
      a.position = { ...(a.position ?? {}), lat: ev.lat, lon: ev.lon, age_s: Math.max(0, (Date.now() - ev.ts) / 1000) - (Date.now() - fetchedAt) / 1000 };
      renderFleet();
    } else if (type === "eta" && a) {
      a.eta = ev.eta_s === null ? null
        : { leg: a.status === "dispatched" ? "pickup" : "destination", destination_id: ev.destination_id, eta_s: ev.eta_s,
          road_conditions: a.eta?.destination_id === ev.destination_id ? a.eta.road_conditions : [] };
      etaSeen.set(a.id, { eta: a.eta, at: Date.now() });
      renderFleet();
    } else if (type === "positions_unavailable") {
      $("#positions-note").replaceChildren(el("p", { class: "notice bad" }, t("dispatch.unavailable")));
    } else {
      loadBoard();
      if (["dispatched", "arrived", "trip", "status"].includes(type)) loadWaiting();
      if (type === "stale") announce(t("dispatch.went_stale", { id: ev.ambulance_id }), "warn");
      if (type === "roads") roads.reload();
    }
  }, { onState: (up) => { $("#live-state").textContent = up ? t("live.on") : t("live.off"); } });
  setInterval(renderFleet, 15000);
  setInterval(loadBoard, 60000);
  // referrals accepted, released or cancelled anywhere: the waiting list follows at once
  follow("/api/events/stream", (_type, ev) => {
    if (["accept", "cancel", "release", "dispatch", "depart", "arrive"].includes(ev.kind)) loadWaiting();
  });

  // ------------------------------------------------------------------- waiting referrals
  async function loadWaiting() {
    try {
      const rows = await api("/api/referrals?box=transport&status=accepted&limit=50");
      $("#waiting-empty").hidden = rows.length > 0;
      $("#waiting").replaceChildren(...rows.map((r) => el("li", { class: "card", "data-referral": r.id },
        el("label", { class: "inline" },
          el("input", { type: "radio", name: "referral", value: r.id, checked: chosenReferral === r.id,
            onchange: () => chooseReferral(r) }),
          el("span", {}, el("strong", {}, `${fac.get(r.origin_id)?.name ?? r.origin_id} → ${fac.get(r.destination_id)?.name ?? r.destination_id}`),
            " ", r.emergency ? el("span", { class: "badge emergency" }, t("refer.emergency")) : null,
            el("br"), el("span", { class: "muted" }, `${r.icd10.join(", ")} · ${label("st", r.service_type)}`))),
        contactLine(fac.get(r.origin_id), t("contact.origin")),
        contactLine(fac.get(r.destination_id), t("contact.destination")))));
    } catch (e) { announce(e.message, "bad"); }
  }
  function chooseReferral(r) {
    chosenReferral = r.id;
    $("#pickup").value = r.origin_id;
    findNearest();
  }

  // ---------------------------------------------------------------------------- nearest
  const pickups = [...fac.values()].sort((a, b) => a.name.localeCompare(b.name));
  $("#pickup").replaceChildren(
    el("option", { value: "" }, t("dispatch.choose_pickup")),
    el("option", { value: "point", id: "pickup-point", hidden: true }, t("dispatch.map_point")),
    ...pickups.map((f) => el("option", { value: f.id }, f.name)));
  let point = null;
  m?.map.on("click", (ev) => {
    if (editor.picking()) return; // the click chose a road, not a pickup
    point = ev.latlng;
    $("#pickup-point").hidden = false;
    $("#pickup-point").textContent = `${t("dispatch.map_point")} (${point.lat.toFixed(4)}, ${point.lng.toFixed(4)})`;
    $("#pickup").value = "point";
    findNearest();
  });

  async function findNearest() {
    const err = $("#nearest-error");
    err.textContent = "";
    const v = $("#pickup").value;
    if (!v) { err.textContent = t("dispatch.need_pickup"); $("#pickup").focus(); return; }
    const q = new URLSearchParams({ k: "5" });
    if (v === "point") { q.set("lat", point.lat); q.set("lon", point.lng); } else q.set("facility_id", v);
    if ($("#kind").value) q.set("kind", $("#kind").value);
    let res;
    try { res = await api(`/api/dispatch/nearest?${q}`); } catch (e) { err.textContent = e.message; return; }
    if (m) {
      pickupMarker?.remove();
      const ll = v === "point" ? point : facilityLatLng(m, v);
      if (ll) pickupMarker = m.L.circleMarker(ll, { radius: 11, color: "#000", weight: 3, fill: false }).bindTooltip(plain(t("dispatch.pickup"))).addTo(m.map);
      const pts = [ll, ...res.ambulances.filter((a) => a.position).map((a) => [a.position.lat, a.position.lon])].filter(Boolean);
      if (pts.length > 1) m.map.fitBounds(pts, { padding: [40, 40], maxZoom: 13 });
    }
    $("#nearest").replaceChildren(...(res.ambulances.length ? res.ambulances.map((a, i) => el("li", { class: i === 0 ? "top" : "", "data-ambulance": a.id },
      el("div", { class: "cand-head" }, el("span", { class: "rank" }, `${i + 1}.`), el("span", { class: "name" }, a.id),
        el("span", { class: "muted" }, label("kind", a.kind)), el("span", { class: "time" }, t("dispatch.eta_to_pickup", { d: fmtDuration(a.eta_s) }))),
      a.road_conditions?.length ? el("p", { class: "muted road-note" }, roadsText(a.road_conditions)) : null,
      el("div", { class: "actions" }, el("button", { type: "button", disabled: !chosenReferral, onclick: () => assign(a.id) },
        chosenReferral ? t("dispatch.assign") : t("dispatch.assign_pick"))))) : [el("li", { class: "notice warn" }, t("dispatch.none_available"))]));
    const left = res.left_out ?? [];
    $("#left-out-box").hidden = !left.length;
    $("#left-out").replaceChildren(...left.map((x) => el("li", { "data-ambulance": x.id, "data-reason": x.reason },
      el("strong", {}, x.id), ` (${label("kind", x.kind)}): ${t(`dispatch.why.${x.reason}`)}`)));
  }
  $("#nearest-form").addEventListener("submit", (ev) => { ev.preventDefault(); findNearest(); });

  async function assign(ambulanceId) {
    try {
      await api("/api/dispatch/assign", { method: "POST", body: { referral_id: chosenReferral, ambulance_id: ambulanceId } });
      announce(t("dispatch.assigned", { id: ambulanceId }), "ok");
      chosenReferral = null;
      $("#nearest").replaceChildren();
      loadWaiting();
      loadBoard();
    } catch (e) { announce(e.message, "bad"); }
  }

  window.addEventListener("rujuk:lang", () => { renderFleet(); loadWaiting(); });
  applyI18n();
  await loadBoard();
  await loadWaiting();
  document.body.dataset.ready = "1"; // for tests and the page benchmark
}

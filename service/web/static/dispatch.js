// Dispatcher: the live map of ambulances (status colours, stale marked, tracks, ETA to the
// destination), the nearest available ambulance to a pickup by road, and assigning one to a referral.
import {
  $, announce, api, applyI18n, el, facilities, fmtAge, fmtDuration, follow, label, plain, startPage, t,
} from "/static/common.js";
import { facilityLatLng, makeMap } from "/static/map.js";

const COLOURS = {
  available: "#1e8e3e", dispatched: "#e37400", transporting: "#1a73e8", at_hospital: "#8e24aa", out_of_service: "#5f6368",
};

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

  function renderFleet() {
    $("#fleet").replaceChildren(...board.ambulances.map((a) => {
      const age = ageOf(a);
      const stale = isStale(a);
      return el("tr", { "data-ambulance": a.id, "data-lat": a.position?.lat, "data-lon": a.position?.lon },
        el("td", {}, el("strong", {}, a.id), el("br"), el("span", { class: "muted" }, `${label("kind", a.kind)} · ${fac.get(a.home_facility_id)?.name ?? a.home_facility_id}`)),
        el("td", {}, el("span", { class: `badge ${a.status}` }, label("amb", a.status))),
        el("td", {}, a.position ? el("span", { class: stale ? "badge stale" : "" }, `${fmtAge(age)}${stale ? ` · ${t("dispatch.stale")}` : ""}`) : t("dispatch.no_position")),
        el("td", { class: "eta" }, a.eta ? `${fmtDuration(a.eta.eta_s)} → ${fac.get(a.eta.destination_id)?.name ?? a.eta.destination_id}` : (a.destination_id ? `→ ${fac.get(a.destination_id)?.name ?? a.destination_id}` : "–")),
        el("td", {}, el("button", { type: "button", class: "secondary", onclick: () => showTrack(a.id) }, t("dispatch.track"))));
    }));
    for (const a of board.ambulances) placeMarker(a);
  }

  async function loadBoard() {
    try {
      board = await api("/api/dispatch/ambulances");
      fetchedAt = Date.now();
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
      a.eta = ev.eta_s === null ? null : { destination_id: ev.destination_id, eta_s: ev.eta_s };
      renderFleet();
    } else if (type === "positions_unavailable") {
      $("#positions-note").replaceChildren(el("p", { class: "notice bad" }, t("dispatch.unavailable")));
    } else {
      loadBoard();
      if (type === "dispatched" || type === "arrived") loadWaiting();
      if (type === "stale") announce(t("dispatch.went_stale", { id: ev.ambulance_id }), "warn");
    }
  }, { onState: (up) => { $("#live-state").textContent = up ? t("live.on") : t("live.off"); } });
  setInterval(renderFleet, 15000);
  setInterval(loadBoard, 60000);

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
            el("br"), el("span", { class: "muted" }, `${r.icd10.join(", ")} · ${label("st", r.service_type)}`))))));
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
      el("div", { class: "actions" }, el("button", { type: "button", disabled: !chosenReferral, onclick: () => assign(a.id) },
        chosenReferral ? t("dispatch.assign") : t("dispatch.assign_pick"))))) : [el("li", { class: "notice warn" }, t("dispatch.none_available"))]));
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

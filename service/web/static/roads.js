// rujuk: live road conditions on a map. Every page with a map draws them (a closed road in red,
// a slowed one in orange, an area shaded), read again every minute and when the dispatchers' feed
// says they changed; dispatchers and planners also close a road (click it on the map), mark an
// area (click its corners) and lift a condition.
import { $, announce, api, el, fmtNum, fmtTime, lang, plain, t } from "/static/common.js";

const COLOUR = { closed: "#c5221f", slow: "#e37400" };

function describe(c) {
  const what = c.kind === "closed" ? t("roads.closed") : t("roads.slow", { f: fmtNum(c.factor, 1) });
  const until = c.expires_at ? ` · ${t("roads.until", { at: fmtTime(c.expires_at) })}` : "";
  return `${what}: ${c.reason}${until}`;
}

/** Draw the conditions in force on a map; returns { reload, list, listen } (list: the last read;
 * listen(fn): fn(list) after every read). */
export function drawRoads(m) {
  const listeners = [];
  if (!m) return { reload: async () => [], list: () => [], listen: () => {} };
  const layer = m.L.layerGroup().addTo(m.map);
  let last = [];
  async function reload() {
    try {
      last = (await api("/api/road-conditions", { quiet: true })).conditions;
    } catch { return last; }
    layer.clearLayers();
    for (const c of last) {
      const style = { color: COLOUR[c.kind], weight: c.geometry.type === "LineString" ? 7 : 2, opacity: 0.9,
        dashArray: c.kind === "slow" ? "8 6" : null, fillColor: COLOUR[c.kind], fillOpacity: 0.18 };
      m.L.geoJSON(c.geometry, { style, interactive: true })
        .bindTooltip(plain(describe(c)), { sticky: true })
        .eachLayer((l) => { l.options.roadCondition = c.id; })
        .addTo(layer);
    }
    for (const f of listeners) f(last);
    return last;
  }
  reload();
  setInterval(reload, 60000);
  return { reload, list: () => last, listen: (f) => listeners.push(f) };
}

/**
 * The editor (dispatchers, planners): a card with the conditions in force (each liftable) and a
 * form to add one. While picking, clicks on the map choose the road (or the area's corners) and
 * nothing else; Escape or "Batal" leaves picking.
 */
export function roadEditor(m, roads) {
  const box = $("#roads-card");
  if (!box || !m) return { picking: () => false };
  box.hidden = false;
  $("#roads-hours").replaceChildren(el("option", { value: "0" }, t("roads.until_lifted")),
    ...[3, 6, 12, 24, 72].map((h) => el("option", { value: String(h) }, h < 48 ? t("roads.for_h", { h }) : t("roads.for_d", { d: h / 24 }))));
  let mode = null; // "segment" | "area" | null
  let at = null;
  let corners = [];
  const sketch = m.L.layerGroup().addTo(m.map);

  function renderList(list) {
    $("#roads-empty").hidden = list.length > 0;
    $("#roads-list").replaceChildren(...list.map((c) => el("li", { "data-condition": c.id, "data-kind": c.kind },
      el("span", { class: `badge ${c.kind === "closed" ? "bad" : "warn"}` }, c.kind === "closed" ? t("roads.closed") : t("roads.slow", { f: fmtNum(c.factor, 1) })),
      " ", c.reason, c.expires_at ? el("span", { class: "muted" }, ` · ${t("roads.until", { at: fmtTime(c.expires_at) })}`) : null, " ",
      el("button", { type: "button", class: "secondary", "data-do": "lift", onclick: () => lift(c) }, t("roads.lift")))));
  }
  roads.listen(renderList);

  function drawSketch() {
    sketch.clearLayers();
    if (mode === "segment" && at) m.L.circleMarker(at, { radius: 8, color: COLOUR.closed, weight: 3, fill: false }).addTo(sketch);
    if (mode === "area" && corners.length) {
      for (const c of corners) m.L.circleMarker(c, { radius: 4, color: COLOUR.closed, weight: 2 }).addTo(sketch);
      if (corners.length > 1) m.L.polygon(corners, { color: COLOUR.closed, weight: 2, fillOpacity: 0.1 }).addTo(sketch);
    }
    const ready = mode === "segment" ? Boolean(at) : corners.length >= 3;
    $("#roads-save").disabled = !ready;
    $("#roads-hint").textContent = mode === "segment" ? t(at ? "roads.hint_segment_done" : "roads.hint_segment")
      : mode === "area" ? t("roads.hint_area", { n: corners.length }) : "";
  }
  function start(newMode) {
    mode = newMode;
    at = null;
    corners = [];
    $("#roads-form").hidden = false;
    $("#roads-error").textContent = "";
    m.map.getContainer().classList.add("picking");
    drawSketch();
  }
  function stop() {
    mode = null;
    sketch.clearLayers();
    $("#roads-form").hidden = true;
    m.map.getContainer().classList.remove("picking");
  }
  m.map.on("click", (ev) => {
    if (!mode) return;
    if (mode === "segment") at = ev.latlng;
    else corners.push(ev.latlng);
    drawSketch();
  });
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && mode) stop(); });
  $("#roads-close-segment").addEventListener("click", () => start("segment"));
  $("#roads-mark-area").addEventListener("click", () => start("area"));
  $("#roads-cancel").addEventListener("click", stop);
  $("#roads-kind").addEventListener("change", () => { $("#roads-factor-row").hidden = $("#roads-kind").value !== "slow"; });
  $("#roads-save").addEventListener("click", async () => {
    const err = $("#roads-error");
    err.textContent = "";
    const body = { kind: $("#roads-kind").value, reason: $("#roads-reason").value.trim() };
    if (body.kind === "slow") body.factor = Number($("#roads-factor").value);
    const hours = Number($("#roads-hours").value);
    if (hours > 0) body.expires_at = new Date(Date.now() + hours * 3600e3).toISOString();
    if (mode === "segment") body.at = { lon: at.lng, lat: at.lat };
    else {
      const ring = corners.map((c) => [c.lng, c.lat]);
      body.polygon = { type: "Polygon", coordinates: [[...ring, ring[0]]] };
    }
    if (body.reason.length < 3) { err.textContent = t("roads.need_reason"); $("#roads-reason").focus(); return; }
    try {
      await api("/api/road-conditions", { method: "POST", body });
      announce(t("roads.saved"), "ok");
      $("#roads-reason").value = "";
      stop();
      await roads.reload();
    } catch (e) { err.textContent = e.message; }
  });
  async function lift(c) {
    try {
      await api(`/api/road-conditions/${encodeURIComponent(c.id)}`, { method: "DELETE" });
      announce(t("roads.lifted"), "ok");
    } catch (e) { announce(e.message, "bad"); }
    await roads.reload();
  }
  renderList(roads.list());
  return { picking: () => mode !== null };
}

/** The live road conditions that changed an ETA, as a short text ("" when none). */
export function roadsText(conds) {
  if (!conds?.length) return "";
  return t("roads.on_route", { list: conds.map((c) => c.text?.[lang] ?? c.text?.id ?? c.reason).join("; ") });
}

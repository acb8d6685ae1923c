// rujuk: maps. Leaflet (installed from npm at set-up) over a base layer drawn from rujuk's own data
// (kecamatan boundaries, the road network, facilities), so a map works with no internet. An
// online tile layer is added under it only when the server is configured with one.
import { api, el, plain, t, webConfig } from "/static/common.js";

export { webConfig };

let basePromise = null;

function baseData() {
  basePromise ??= api("/api/map/base");
  return basePromise;
}

/** A map in the element with this id, with the base layer; null (and a note) without Leaflet. */
export async function makeMap(id, { label } = {}) {
  const box = document.getElementById(id);
  box.setAttribute("role", "region");
  if (label) box.setAttribute("aria-label", label);
  const L = window.L;
  if (!L) {
    box.replaceChildren(el("p", { class: "notice warn" }, t("map.missing")));
    return null;
  }
  const map = L.map(box, { preferCanvas: true, zoomSnap: 0.5, attributionControl: true });
  const [cfg, base] = await Promise.all([webConfig(), baseData()]);
  if (cfg.tile_url) {
    L.tileLayer(cfg.tile_url, { attribution: cfg.tile_attribution ?? "", maxZoom: 18 }).addTo(map);
  }
  const boundaries = base.features.filter((f) => f.properties.layer === "boundary");
  const roads = base.features.filter((f) => f.properties.layer === "roads");
  const facilities = base.features.filter((f) => f.properties.layer === "facility");
  const regency = L.geoJSON(boundaries, {
    style: (f) => f.properties.level === "regency"
      ? { color: "#4a5560", weight: 2, fill: !cfg.tile_url, fillColor: "#f2f0e6", fillOpacity: 1 }
      : { color: "#8a949c", weight: 1, dashArray: "4 3", fill: false },
    // kecamatan named where they are, so a map reads without an online tile layer
    onEachFeature: (f, layer) => layer.bindTooltip(plain(f.properties.name), f.properties.level === "regency"
      ? { sticky: true }
      : { permanent: true, direction: "center", className: "place-label", interactive: false }),
    interactive: true,
  }).addTo(map);
  L.geoJSON(roads, { style: { color: "#b9a36a", weight: 2, opacity: 0.9 }, interactive: false }).addTo(map);
  const facilityLayer = L.geoJSON(facilities, {
    pointToLayer: (f, ll) => L.circleMarker(ll, f.properties.hospital
      ? { radius: 6, color: "#7a1f1f", weight: 2, fillColor: "#fff", fillOpacity: 1 }
      : { radius: 3.5, color: "#2f4f6f", weight: 1, fillColor: "#9db7cf", fillOpacity: 1 }),
    onEachFeature: (f, layer) => layer.bindTooltip(plain(f.properties.name)),
  }).addTo(map);
  map.fitBounds(regency.getBounds(), { padding: [8, 8] });
  map.on("zoomend moveend", () => declutter(box));
  requestAnimationFrame(() => declutter(box));
  const modelled = roads.some((f) => f.properties.modelled);
  map.attributionControl.setPrefix(false);
  map.attributionControl.addAttribution(modelled ? t("map.modelled") : t("map.own_data"));
  const byId = new Map(facilities.map((f) => [f.id, f]));
  return { L, map, facilityLayer, facilities: byId, regencyBounds: regency.getBounds() };
}

/** Place names that would overlap another are hidden (the larger regions first keep theirs); they
 * come back when a closer zoom makes room. */
function declutter(box) {
  const shown = [];
  for (const label of box.querySelectorAll(".leaflet-tooltip.place-label")) {
    label.style.visibility = "";
    const r = label.getBoundingClientRect();
    const hit = shown.some((o) => r.left < o.right + 2 && r.right > o.left - 2 && r.top < o.bottom + 1 && r.bottom > o.top - 1);
    if (hit) label.style.visibility = "hidden";
    else shown.push(r);
  }
}

/** [lat, lon] of a facility on the base map (or null). */
export function facilityLatLng(m, id) {
  const f = m?.facilities.get(id);
  return f ? [f.geometry.coordinates[1], f.geometry.coordinates[0]] : null;
}

/** A numbered marker (candidates, ranks). */
export function numberMarker(m, latlng, n, colour, title) {
  const { L } = m;
  const icon = L.divIcon({
    className: "",
    html: `<span style="display:inline-flex;width:26px;height:26px;border-radius:50%;background:${colour};color:#fff;`
      + `font-weight:700;align-items:center;justify-content:center;border:2px solid #fff;box-shadow:0 0 2px #000">${n}</span>`,
    iconSize: [26, 26],
    iconAnchor: [13, 13],
  });
  return L.marker(latlng, { icon, title, alt: title, keyboard: true });
}

// Planner: pick or upload a scenario, run simulate / compare / optimise, read the metrics side by
// side, look at the catchment and travel-time maps, download the tables.
import { $, announce, api, applyI18n, downloadCsv, el, fill, plain, startPage, t } from "/static/common.js";
import { makeMap } from "/static/map.js";
import { drawRoads } from "/static/roads.js";

const who = await startPage("/rencana");
if (who) await main();

async function main() {
  const examples = await api("/api/plan/examples");
  $("#example").append(...examples.map((x, i) => el("option", { value: String(i) }, x.name)));
  applyI18n();
  let scenario = null; // JSON form, checked by the server
  let checkedText = "";

  function setState(text, kind = "muted") {
    $("#scenario-state").className = kind;
    $("#scenario-state").textContent = text;
  }

  $("#example").addEventListener("change", () => {
    const x = examples[Number($("#example").value)];
    $("#yaml").value = x ? x.yaml : "";
    scenario = x ? x.scenario : null;
    checkedText = $("#yaml").value;
    setState(x ? `${x.name}: ${x.description}` : t("plan.no_scenario"));
  });
  $("#upload").addEventListener("change", async () => {
    const file = $("#upload").files[0];
    if (!file) return;
    if (file.size > 200000) { setState(t("plan.too_big"), "error"); return; }
    $("#yaml").value = await file.text();
    $("#example").value = "";
    await check();
  });

  /** The scenario as written now (checked by the server when it changed); null for none. */
  async function check() {
    const text = $("#yaml").value;
    if (!text.trim()) { scenario = null; checkedText = text; setState(t("plan.no_scenario")); return true; }
    if (text === checkedText && scenario) return true;
    try {
      const r = await api("/api/plan/scenario", { method: "POST", body: { yaml: text } });
      scenario = r.scenario;
      checkedText = text;
      setState(t("plan.checked", { name: r.name, n: r.changes }), "notice ok");
      return true;
    } catch (e) {
      scenario = null;
      setState(e.message, "error");
      return false;
    }
  }

  function demand() {
    const n = Number($("#referrals").value);
    const seed = Number($("#seed").value);
    if (!Number.isInteger(n) || n < 1 || n > 100000) throw new Error(t("plan.bad_referrals"));
    if (!Number.isInteger(seed) || seed < 0) throw new Error(t("plan.bad_seed"));
    return { referrals: n, seed };
  }

  // ----------------------------------------------------------------------------- results
  let tables = {};
  function showTables(tbls, summary) {
    tables = tbls;
    $("#results").hidden = false;
    $("#summary").replaceChildren(summary);
    $("#table-pick").replaceChildren(...Object.keys(tbls).map((k) => el("option", { value: k }, t(`table.${k}`) === `table.${k}` ? k : t(`table.${k}`))));
    renderTable();
    $("#results").scrollIntoView({ behavior: "smooth", block: "start" });
  }
  function cell(v) {
    if (typeof v === "number") return Number.isInteger(v) ? v.toLocaleString() : v.toLocaleString(undefined, { maximumFractionDigits: 3 });
    return v === null || v === undefined ? "–" : String(v);
  }
  function renderTable() {
    const rows = tables[$("#table-pick").value] ?? [];
    const cols = rows.length ? Object.keys(rows[0]) : [];
    $("#table").replaceChildren(
      el("thead", {}, el("tr", {}, cols.map((c) => el("th", { scope: "col" }, c)))),
      el("tbody", {}, rows.slice(0, 500).map((r) => el("tr", {}, cols.map((c) => el("td", { class: typeof r[c] === "number" ? "num" : "" }, cell(r[c])))))));
  }
  $("#table-pick").addEventListener("change", renderTable);
  $("#download").addEventListener("click", () => {
    const k = $("#table-pick").value;
    if (tables[k]) downloadCsv(`rujuk-${k}.csv`, tables[k]);
  });
  $("#download-all").addEventListener("click", () => {
    for (const [k, rows] of Object.entries(tables)) downloadCsv(`rujuk-${k}.csv`, rows);
  });

  /** The overall table, one metric per row: base | scenario | difference (or just the value). */
  function sideBySide(overall) {
    const r = overall[0] ?? {};
    const names = [...new Set(Object.keys(r).map((k) => k.replace(/_(base|scenario|diff)$/, "")))];
    const compared = Object.keys(r).some((k) => k.endsWith("_base"));
    return el("div", { class: "scroll" }, el("table", { id: "side-by-side" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("plan.metric")),
        ...(compared ? [t("plan.base"), t("plan.scenario_col"), t("plan.diff")] : [t("plan.value")]).map((h) => el("th", { scope: "col", class: "num" }, h)))),
      el("tbody", {}, names.map((n) => el("tr", {}, el("th", { scope: "row" }, t(`metric.${n}`) === `metric.${n}` ? n : t(`metric.${n}`)),
        ...(compared ? [r[`${n}_base`], r[`${n}_scenario`], r[`${n}_diff`]] : [r[n]]).map((v) =>
          el("td", { class: "num" }, cell(v))))))));
  }

  async function busy(what, fn) {
    const buttons = document.querySelectorAll(".actions button");
    buttons.forEach((b) => { b.disabled = true; });
    $("#busy").textContent = t("plan.running", { what });
    $("#plan-error").textContent = "";
    const t0 = performance.now();
    try {
      await fn();
      $("#busy").textContent = t("plan.done", { what, s: ((performance.now() - t0) / 1000).toFixed(1) });
    } catch (e) {
      $("#plan-error").textContent = e.message;
      $("#busy").textContent = "";
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  $("#run-simulate").addEventListener("click", () => busy(t("plan.simulate"), async () => {
    if (!(await check())) throw new Error(t("plan.fix_scenario"));
    const body = { ...demand(), scenario };
    const r = await api("/api/plan/simulate", { method: "POST", body });
    showTables(r.tables, sideBySide(r.tables.overall));
    await loadMaps(body, null);
  }));
  $("#run-compare").addEventListener("click", () => busy(t("plan.compare"), async () => {
    if (!(await check())) throw new Error(t("plan.fix_scenario"));
    if (!scenario) throw new Error(t("plan.need_scenario"));
    const d = demand();
    const r = await api("/api/plan/compare", { method: "POST", body: { ...d, scenario } });
    showTables(r.tables, el("div", {}, el("p", { id: "changed" }, t("plan.changed", { n: r.changed_destinations.toLocaleString(), total: d.referrals.toLocaleString() })),
      sideBySide(r.tables.overall)));
    await loadMaps({ ...d, scenario: null }, { ...d, scenario });
  }));
  $("#run-optimise").addEventListener("click", () => busy(t("plan.optimise"), async () => {
    const d = demand();
    const r = await api("/api/plan/optimise", { method: "POST", body: { referrals: d.referrals, seed: d.seed, time_limit_s: 10 } });
    const moves = Object.entries(r.assignment).map(([origin, region]) => ({ origin_id: origin, region }));
    showTables({ assignment: moves, load: Object.entries(r.load).map(([h, n]) => ({ hospital_id: h, load: n, capacity: r.capacity[h] })) },
      el("div", {},
        el("p", {}, t("plan.opt_result", { status: r.status, mean: r.mean_min, reg: r.regulation_mean_min, gap: r.gap === null ? "–" : `${(100 * r.gap).toFixed(2)}%`, s: r.solve_s })),
        el("div", { class: "actions" }, el("button", { type: "button", class: "secondary", onclick: () => {
          $("#yaml").value = r.scenario_yaml; $("#example").value = ""; check();
          announce(t("plan.opt_loaded"), "ok");
        } }, t("plan.use_optimised")))));
  }));

  // -------------------------------------------------------------------------------- maps
  const m = await makeMap("map", { label: t("plan.maps") });
  drawRoads(m); // closed and slowed roads, as every map shows them
  let layer = null;
  let maps = { base: null, scenario: null };
  async function loadMaps(baseBody, scenBody) {
    if (!m) return;
    const [b, s] = await Promise.all([
      api("/api/plan/map", { method: "POST", body: { referrals: baseBody.referrals, seed: baseBody.seed, scenario: baseBody.scenario } }),
      scenBody ? api("/api/plan/map", { method: "POST", body: { referrals: scenBody.referrals, seed: scenBody.seed, scenario: scenBody.scenario } }) : null,
    ]);
    maps = { base: b, scenario: s };
    $("#which-box").hidden = !s;
    $("#which").checked = Boolean(s);
    drawMap();
  }
  function drawMap() {
    const data = $("#which").checked && maps.scenario ? maps.scenario : maps.base;
    if (!m || !data) return;
    layer?.remove();
    layer = m.L.layerGroup().addTo(m.map);
    const view = document.querySelector("input[name=view]:checked").value;
    const colour = new Map(data.hospitals.map((h) => [h.id, h.colour]));
    const names = new Map(data.hospitals.map((h) => [h.id, h.name]));
    const top = Math.max(...data.desa.map((d) => d.population), 1);
    const band = (min) => data.time_bands.find((b) => min !== null && (b.max_min === null || min <= b.max_min)) ?? data.time_bands.at(-1);
    for (const d of data.desa) {
      const c = view === "catchment" ? colour.get(d.destination_id) ?? "#bbb" : band(d.nearest_hospital_min).colour;
      const tip = view === "catchment"
        ? `${d.name}: ${names.get(d.destination_id) ?? "–"} (${d.share === null ? "–" : `${Math.round(100 * d.share)}%`})`
        : `${d.name}: ${d.nearest_hospital_min ?? "–"} ${t("plan.min_to_hospital")}`;
      m.L.circleMarker([d.lat, d.lon], { radius: 3 + 7 * Math.sqrt(d.population / top), color: "#333", weight: 0.5, fillColor: c, fillOpacity: 0.85 })
        .bindTooltip(plain(tip)).addTo(layer);
    }
    fill($("#legend"), ...(view === "catchment"
      ? data.hospitals.slice(0, 10).map((h) => el("span", { style: `--c:${h.colour}` }, h.name))
      : data.time_bands.map((b) => el("span", { style: `--c:${b.colour}` }, b.label))),
    data.modelled_roads ? el("span", { class: "muted" }, t("map.modelled_times")) : null);
  }
  document.querySelectorAll("input[name=view]").forEach((r) => r.addEventListener("change", drawMap));
  $("#which").addEventListener("change", drawMap);
  await loadMaps({ ...demand(), scenario: null }, null);
  document.body.dataset.ready = "1"; // for tests and the page benchmark
}

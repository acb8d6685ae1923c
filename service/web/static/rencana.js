// Planner: pick or upload a scenario, run simulate / compare / optimise, read the metrics side by
// side, look at the catchment, travel-time and "what changes" maps, download the tables (Excel by
// default, or CSV for Excel set to Indonesian). Every figure in the user's language's format;
// every column and every error in words (i18n.js: col.*, plan.err.*), never the API's raw text.
import { $, ApiError, announce, api, applyI18n, el, fill, lang, plain, startPage, t } from "/static/common.js";
import { makeMap } from "/static/map.js";
import { drawRoads } from "/static/roads.js";

// ----------------------------------------------------------------------------- formats

const locale = () => (lang === "en" ? "en-GB" : "id-ID");

/** A number in the page's language (decimal comma and thousands dot in Bahasa Indonesia). */
function num(v, digits = 0, { sign = false, fixed = false } = {}) {
  return new Intl.NumberFormat(locale(), {
    minimumFractionDigits: fixed ? digits : 0, maximumFractionDigits: digits, signDisplay: sign ? "exceptZero" : "auto",
  }).format(v);
}

/** A share (0.232) as a percentage ("23,2%"). */
function pct(v, digits = 1, { sign = false } = {}) {
  return new Intl.NumberFormat(locale(), {
    style: "percent", minimumFractionDigits: digits, maximumFractionDigits: digits, signDisplay: sign ? "exceptZero" : "auto",
  }).format(v);
}

/** What a column holds, from its key (``mean_min_diff`` is minutes, a difference). */
function kind(key) {
  const base = key.replace(/_(base|scenario|diff)$/, "");
  if (base.startsWith("share_") || base === "load_vs_capacity") return "share";
  if (base.endsWith("_min")) return "min";
  if (base === "moved" || base === "today_over_capacity") return "bool";
  if (base === "name" || base === "kecamatan" || base.endsWith("_id") || base.endsWith("_name")) return "text";
  return "count";
}

function cell(key, v) {
  if (v === null || v === undefined || v === "") return "–";
  const diff = key.endsWith("_diff");
  switch (kind(key)) {
    case "share": return pct(v, diff ? 2 : 1, { sign: diff });
    case "min": return num(v, 2, { sign: diff, fixed: true });
    case "bool": return t(v ? "plan.yes" : "plan.no");
    case "text": return String(v);
    default: return typeof v === "number" ? num(v, 2, { sign: diff }) : String(v);
  }
}

/** A column's header in words: "Rujukan (selisih)". */
function header(key) {
  const m = /^(.*)_(base|scenario|diff)$/.exec(key);
  if (m && t(`col.${m[1]}`) !== `col.${m[1]}`) return `${t(`col.${m[1]}`)} (${t(`col.side.${m[2]}`)})`;
  return t(`col.${key}`);
}

function facilityName(name, id) {
  return name ?? (id ? id : t("plan.nowhere"));
}

// ----------------------------------------------------------------------------- errors

const KINDS = new Set(["move_origin", "close_facility", "add_services", "remove_services", "set_beds", "add_equipment",
  "set_competency", "close_road", "slow_road", "improve_road", "add_facility"]);
const CODES = new Set(["unknown_facility", "unknown_region", "facility_exists", "slowdown_factor", "improvement_factor",
  "bad_polygon", "one_change", "yaml_syntax", "missing", "extra_forbidden"]);

/** Where a problem is, in words: "Perubahan ke-3 (pindah wilayah Puskesmas), Puskesmas asal". */
function where(field) {
  const m = /^(?:scenario|yaml)\.changes\[(\d+)\](?:\.([A-Za-z_]+))?(?:\.([A-Za-z_]+))?/.exec(field ?? "");
  if (m) {
    const kindWords = !m[2] ? "…" : KINDS.has(m[2]) ? t(`plan.kind.${m[2]}`) : `«${m[2]}»`;
    const w = t("plan.err.where", { n: Number(m[1]) + 1, kind: kindWords });
    if (!m[3]) return w;
    const attr = t(`plan.attr.${m[3]}`) === `plan.attr.${m[3]}` ? `«${m[3]}»` : t(`plan.attr.${m[3]}`);
    return t("plan.err.where_attr", { where: w, attr });
  }
  const top = /^(?:scenario|yaml)\.([A-Za-z_]+)$/.exec(field ?? "");
  if (top) return top[1] === "name" ? t("plan.attr.scenario_name") : t(`plan.attr.${top[1]}`);
  return t("plan.scenario");
}

/** One problem of a 422 in words, from its field and code. */
function problem(item) {
  const field = item.field ?? "";
  const code = item.code ?? "";
  if (/(^|\.)referrals$/.test(field)) return t("plan.bad_referrals");
  if (/(^|\.)seed$/.test(field)) return t("plan.bad_seed");
  if (field.startsWith("tables") || ["unknown_table", "unknown_column", "one_table"].includes(code)) return t("plan.err.export");
  const w = where(field);
  if (CODES.has(code)) return t(`plan.err.${code}`, { where: w });
  if (code === "enum" || code === "literal_error") return t("plan.err.enum", { where: w });
  if (/_type$|_parsing$/.test(code)) return t("plan.err.type", { where: w });
  if (/^(greater|less)_than|finite_number/.test(code)) return t("plan.err.range", { where: w });
  if (/too_(short|long)$/.test(code)) return t("plan.err.length", { where: w });
  if (code === "string_pattern_mismatch") return t("plan.err.pattern", { where: w });
  return t("plan.err.invalid", { where: w });
}

/** Every problem of an error, in words (never the API's English ``detail``). */
function problems(e) {
  if (!(e instanceof ApiError)) return [e.message]; // the page's own checks, already in words
  if (e.status === 0) return [t("err.network")];
  if (e.status === 403) return [t("plan.err.denied")];
  if (e.status !== 422) return [t("plan.err.server", { status: e.status })];
  const items = e.errors.length ? e.errors : [{}];
  const out = items.slice(0, 6).map(problem);
  if (items.length > 6) out.push(t("plan.err.more", { n: items.length - 6 }));
  return out;
}

function showProblems(node, e) {
  const list = problems(e);
  fill(node, list.length === 1 ? list[0] : el("ul", {}, list.map((p) => el("li", {}, p))));
}

// -------------------------------------------------------------------------------- page

async function main() {
  const examples = await api("/api/plan/examples");
  $("#example").append(...examples.map((x, i) => el("option", { value: String(i) }, x.name)));
  applyI18n();
  let scenario = null; // JSON form, checked by the server
  let checkedText = "";
  let changes = null; // the last comparison's changes of destination, for the map

  function setState(content, kind = "muted") {
    $("#scenario-state").className = kind;
    fill($("#scenario-state"), content);
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
      setState(t("plan.checked", { name: r.name, n: num(r.changes) }), "notice ok");
      return true;
    } catch (e) {
      scenario = null;
      $("#scenario-state").className = "error";
      showProblems($("#scenario-state"), e);
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
  let summary = () => null; // redrawn when the language changes
  const MAX_ROWS = 500;
  function showTables(tbls, drawSummary, { scroll = true } = {}) {
    tables = tbls;
    summary = drawSummary;
    $("#results").hidden = false;
    const keep = $("#table-pick").value;
    fill($("#table-pick"), Object.keys(tbls).map((k) => el("option", { value: k }, t(`table.${k}`))));
    if (keep in tbls) $("#table-pick").value = keep;
    renderResults();
    if (scroll) $("#results").scrollIntoView({ behavior: "smooth", block: "start" });
  }
  function renderResults() {
    if ($("#results").hidden) return;
    for (const o of $("#table-pick").options) o.textContent = t(`table.${o.value}`);
    fill($("#summary"), summary());
    renderTable();
  }
  function renderTable() {
    const rows = tables[$("#table-pick").value] ?? [];
    const cols = rows.length ? Object.keys(rows[0]) : [];
    const numeric = (c) => kind(c) !== "text" && kind(c) !== "bool";
    $("#table").replaceChildren(
      el("thead", {}, el("tr", {}, cols.map((c) => el("th", { scope: "col", class: numeric(c) ? "num" : "" }, header(c))))),
      el("tbody", {}, rows.slice(0, MAX_ROWS).map((r) => el("tr", {}, cols.map((c) =>
        el("td", { class: numeric(c) ? "num" : "" }, cell(c, r[c])))))));
    fill($("#rows-note"), rows.length > MAX_ROWS ? t("plan.rows_shown", { n: num(MAX_ROWS), total: num(rows.length) }) : null);
  }
  $("#table-pick").addEventListener("change", renderTable);

  async function download(format) {
    const k = $("#table-pick").value;
    const body = { format, lang, tables: format === "csv" ? { [k]: tables[k] } : tables };
    try {
      const r = await api("/api/plan/export", { method: "POST", body, raw: true });
      const name = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") ?? "")?.[1] ?? `rujuk.${format}`;
      const href = URL.createObjectURL(await r.blob());
      const a = el("a", { href, download: name });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(href), 10000);
      announce(t("plan.downloaded", { name }), "ok");
    } catch (e) {
      showProblems($("#plan-error"), e);
    }
  }
  $("#download-xlsx").addEventListener("click", () => download("xlsx"));
  $("#download-csv").addEventListener("click", () => download("csv"));

  /** The overall table, one measure per row: today | scenario | difference (or just the value). */
  function sideBySide(overall) {
    const r = overall[0] ?? {};
    const names = [...new Set(Object.keys(r).map((k) => k.replace(/_(base|scenario|diff)$/, "")))];
    const compared = Object.keys(r).some((k) => k.endsWith("_base"));
    const sides = compared ? ["base", "scenario", "diff"] : [null];
    return el("div", { class: "scroll" }, el("table", { id: "side-by-side" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("plan.metric")),
        ...(compared ? [t("plan.base"), t("plan.scenario_col"), t("plan.diff")] : [t("plan.value")]).map((h) => el("th", { scope: "col", class: "num" }, h)))),
      el("tbody", {}, names.map((n) => el("tr", {}, el("th", { scope: "row" }, t(`col.${n}`)),
        ...sides.map((side) => {
          const key = side ? `${n}_${side}` : n;
          return el("td", { class: "num", dataset: { col: key } }, cell(key, r[key]));
        }))))));
  }

  async function busy(what, fn) {
    const buttons = document.querySelectorAll(".actions button");
    buttons.forEach((b) => { b.disabled = true; });
    $("#busy").textContent = t("plan.running", { what: what() });
    $("#plan-error").textContent = "";
    const t0 = performance.now();
    try {
      await fn();
      $("#busy").textContent = t("plan.done", { what: what(), s: num((performance.now() - t0) / 1000, 1) });
    } catch (e) {
      showProblems($("#plan-error"), e);
      $("#busy").textContent = "";
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  $("#run-simulate").addEventListener("click", () => busy(() => t("plan.simulate"), async () => {
    if (!(await check())) throw new Error(t("plan.fix_scenario"));
    const body = { ...demand(), scenario };
    const r = await api("/api/plan/simulate", { method: "POST", body });
    changes = null;
    showTables(r.tables, () => sideBySide(r.tables.overall));
    await loadMaps(body, null);
  }));

  $("#run-compare").addEventListener("click", () => busy(() => t("plan.compare"), async () => {
    if (!(await check())) throw new Error(t("plan.fix_scenario"));
    if (!scenario) throw new Error(t("plan.need_scenario"));
    const d = demand();
    const r = await api("/api/plan/compare", { method: "POST", body: { ...d, scenario } });
    const ch = r.changes;
    const overall = r.tables.overall[0] ?? {};
    showTables({ ...r.tables, changes: ch.by_puskesmas }, () => el("div", {},
      el("p", { id: "changed" }, t("plan.changed_share", { n: num(ch.referrals), total: num(d.referrals), share: pct(ch.referrals / d.referrals) })),
      ch.mean_min_diff === null ? null : el("p", { id: "changed-time" }, t("plan.changed_time", {
        a: num(ch.mean_min_base, 1, { fixed: true }), b: num(ch.mean_min_scenario, 1, { fixed: true }),
        d: num(ch.mean_min_diff, 1, { sign: true, fixed: true }),
      })),
      el("p", { id: "changed-overall", class: "muted" }, few(ch, d, overall)
        ? t("plan.changed_overall", { share: pct(ch.referrals / d.referrals), d: num(overall.mean_min_diff ?? 0, 2, { sign: true, fixed: true }) })
        : t("plan.exact_diff")),
      sideBySide(r.tables.overall)));
    changes = ch;
    await loadMaps({ ...d, scenario: null }, { ...d, scenario });
    if (ch.referrals) $("input[name=view][value=change]").checked = true;
    drawMap();
  }));

  /** Few referrals change and the mean barely moves: say why the regency's figures hardly change. */
  function few(ch, d, overall) {
    return ch.referrals > 0 && ch.referrals / d.referrals < 0.1 && Math.abs(overall.mean_min_diff ?? 0) < 1;
  }

  $("#run-optimise").addEventListener("click", () => busy(() => t("plan.optimise"), async () => {
    const d = demand();
    const r = await api("/api/plan/optimise", { method: "POST", body: { referrals: d.referrals, seed: d.seed, time_limit_s: 10 } });
    const over = r.tables.load.filter((h) => h.today_over_capacity).map((h) => h.name);
    showTables(r.tables, () => el("div", {},
      el("p", { id: "opt-result" }, t("plan.opt_result", {
        status: t(`plan.status.${r.status}`), mean: r.mean_min === null ? "–" : num(r.mean_min, 2, { fixed: true }),
        reg: num(r.regulation_mean_min, 2, { fixed: true }), gap: r.gap === null ? "–" : pct(r.gap, 2), s: num(r.solve_s, 2),
      })),
      el("p", {}, t("plan.opt_moves", { n: num(r.moves) })),
      over.length ? el("p", { class: "muted", id: "opt-over" }, t("plan.opt_over", { names: over.join(", ") })) : null,
      r.moves ? el("div", { class: "actions" }, el("button", { type: "button", class: "secondary", id: "use-optimised", onclick: async () => {
        $("#yaml").value = r.scenario_yaml; $("#example").value = "";
        if (await check()) announce(t("plan.opt_loaded"), "ok");
      } }, t("plan.use_optimised"))) : null));
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
  function bandLabel(b, i, bands) {
    const lo = i > 0 ? bands[i - 1].max_min : null;
    if (b.max_min === null) return t("plan.band.over", { a: num(lo ?? 0) });
    return lo === null ? t("plan.band.upto", { b: num(b.max_min) }) : t("plan.band.between", { a: num(lo), b: num(b.max_min) });
  }
  function drawMap() {
    const view = document.querySelector("input[name=view]:checked").value;
    const data = $("#which").checked && maps.scenario ? maps.scenario : maps.base;
    if (!m || !data) return;
    layer?.remove();
    layer = m.L.layerGroup().addTo(m.map);
    const top = Math.max(...data.desa.map((d) => d.population), 1);
    const radius = (pop) => 3 + 7 * Math.sqrt(pop / top);
    if (view === "change") {
      drawChanges(data, radius);
      return;
    }
    const colour = new Map(data.hospitals.map((h) => [h.id, h.colour]));
    const names = new Map(data.hospitals.map((h) => [h.id, h.name]));
    const band = (min) => data.time_bands.find((b) => min !== null && (b.max_min === null || min <= b.max_min)) ?? data.time_bands.at(-1);
    for (const d of data.desa) {
      const c = view === "catchment" ? colour.get(d.destination_id) ?? "#bbb" : band(d.nearest_hospital_min).colour;
      const tip = view === "catchment"
        ? `${d.name}: ${names.get(d.destination_id) ?? "–"} (${d.share === null ? "–" : pct(d.share, 0)})`
        : `${d.name}: ${d.nearest_hospital_min === null ? "–" : num(d.nearest_hospital_min, 0)} ${t("plan.min_to_hospital")}`;
      m.L.circleMarker([d.lat, d.lon], { radius: radius(d.population), color: "#333", weight: 0.5, fillColor: c, fillOpacity: 0.85 })
        .bindTooltip(plain(tip)).addTo(layer);
    }
    fill($("#legend"), ...(view === "catchment"
      ? data.hospitals.slice(0, 10).map((h) => el("span", { style: `--c:${h.colour}` }, h.name))
      : data.time_bands.map((b, i, all) => el("span", { style: `--c:${b.colour}` }, bandLabel(b, i, all)))),
    data.modelled_roads ? el("span", { class: "muted" }, t("map.modelled_times")) : null);
  }
  /** Desa whose referrals change destination, coloured by the change; the others in grey. */
  function drawChanges(data, radius) {
    if (!changes) {
      fill($("#legend"), el("span", { class: "muted" }, t("plan.change_hint")));
      return;
    }
    const moved = new Map(changes.desa.map((d) => [d.id, d]));
    const pop = new Map(data.desa.map((d) => [d.id, d.population]));
    for (const d of data.desa) {
      if (moved.has(d.id)) continue;
      m.L.circleMarker([d.lat, d.lon], { radius: 3, color: "#777", weight: 0.8, fillColor: "#cfcfcf", fillOpacity: 0.8, interactive: false }).addTo(layer);
    }
    const flowName = (f) => t("plan.change_flow", { from: facilityName(f.from_name, f.from_id), to: facilityName(f.to_name, f.to_id), n: num(f.referrals) });
    const nameOf = new Map(changes.flows.flatMap((f) => [[f.from_id, f.from_name], [f.to_id, f.to_name]]));
    for (const d of changes.desa) {
      const tip = t("plan.change_tip", { name: d.name, n: num(d.referrals), of: num(d.of),
        from: facilityName(nameOf.get(d.from_id), d.from_id), to: facilityName(nameOf.get(d.to_id), d.to_id) });
      m.L.circleMarker([d.lat, d.lon], { radius: Math.max(5, radius(pop.get(d.id) ?? 0)), color: "#222", weight: 1, fillColor: d.colour, fillOpacity: 0.9 })
        .bindTooltip(plain(tip)).addTo(layer);
    }
    fill($("#legend"), changes.flows.length
      ? changes.flows.slice(0, 12).map((f) => el("span", { style: `--c:${f.colour}`, class: "flow" }, flowName(f)))
      : el("span", { class: "muted" }, t("plan.change_none")));
  }
  document.querySelectorAll("input[name=view]").forEach((r) => r.addEventListener("change", drawMap));
  $("#which").addEventListener("change", drawMap);
  window.addEventListener("rujuk:lang", () => { renderResults(); drawMap(); });
  // the first view: today's map and today's figures (both kept by the server since start-up)
  const today = { ...demand(), scenario: null };
  const [, now] = await Promise.all([loadMaps(today, null), api("/api/plan/simulate", { method: "POST", body: today })]);
  if (!tables.overall) {
    showTables(now.tables, () => el("div", {}, el("p", { id: "today" }, t("plan.today", { n: num(today.referrals) })),
      sideBySide(now.tables.overall)), { scroll: false });
  }
  document.body.dataset.ready = "1"; // for tests and the page benchmark
}

// last: the helpers above are initialised before the page starts
const who = await startPage("/rencana");
if (who) await main();

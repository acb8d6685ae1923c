// The letter prefilled from the medical record (issue 20): staff pick the EMR's export (a FHIR
// Bundle, JSON), the server reads it (POST /api/letters/import, nothing stored) and the page puts
// each value in its field of the letter when that field is still empty, marked "diimpor" until
// staff change it. A field already written is never overwritten: the difference is listed, with a
// button to take the record's value. What was left out of the record is listed with the reason.
import { $, api, el, fieldLabel, fmtNum, t } from "/static/common.js";
import { TEXT } from "/static/i18n.js";

/** The letter's field (the API's name) -> its input on the form. */
const INPUTS = {
  "patient.name": "#p-name", "patient.nik": "#p-nik", "patient.medical_record_number": "#p-mrn",
  "patient.date_of_birth": "#p-dob", "patient.sex": "#p-sex", "patient.jkn_number": "#p-jkn",
  "patient.phone": "#p-phone", "patient.address": "#p-address",
  "medical.diagnosis_text": "#m-dx", "medical.icd10": "#m-icd", "medical.therapy": "#m-therapy",
  "medical.stabilisation": "#m-stab", "medical.procedures": "#m-proc",
  "medical.vital_signs.bp_systolic": "#v-sys", "medical.vital_signs.bp_diastolic": "#v-dia",
  "medical.vital_signs.pulse": "#v-pulse", "medical.vital_signs.respiratory_rate": "#v-rr",
  "medical.vital_signs.temperature_c": "#v-temp", "medical.vital_signs.spo2": "#v-spo2",
  "medical.vital_signs.gcs": "#v-gcs",
};
const MAX_BYTES = 2 * 1024 * 1024;
/** Units as a person reads them. */
const UNITS = { "[degF]": "°F", degF: "°F", "°F": "°F", K: "K", kPa: "kPa" };
/** The letter's unit of the vital signs a record may give in another. */
const LETTER_UNITS = { temperature_c: "°C", bp_systolic: "mmHg", bp_diastolic: "mmHg" };

/** A field's value from the answer's letter, as its input holds it. */
function valueOf(letter, field) {
  const v = field.split(".").reduce((o, k) => (o == null ? undefined : o[k]), letter);
  if (v === undefined || v === null) return null;
  if (field === "medical.icd10") return v.join(", ");
  // the form reads "code words, code words": a comma inside the words would split them
  if (field === "medical.procedures") return v.map((p) => `${p.code} ${p.note.replaceAll(",", ";")}`.trim()).join(", ");
  return String(v);
}

/** The same value, as written by a person or by the record ("o72.1,O15.0" is "O72.1, O15.0"). */
function same(field, a, b) {
  const norm = (s) => String(s).trim().toLowerCase();
  if (field === "medical.icd10") {
    const set = (s) => [...new Set(s.split(/[,;\s]+/).filter(Boolean).map((x) => x.toUpperCase()))].sort().join();
    return set(a) === set(b);
  }
  if (field.startsWith("medical.vital_signs.")) return Number(a) === Number(b);
  return norm(a).replace(/\s+/g, " ") === norm(b).replace(/\s+/g, " ");
}

function mark(input) {
  input.dataset.imported = "1";
  const label = document.querySelector(`label[for="${input.id}"]`);
  if (label && !label.querySelector(".imported-tag")) {
    label.append(" ", el("span", { class: "imported-tag", "data-i18n": "emr.tag" }, t("emr.tag")));
  }
}

/** The field is no longer the record's (staff changed it, or the page set another value). */
export function unmark(input) {
  if (!input?.dataset?.imported) return;
  delete input.dataset.imported;
  document.querySelector(`label[for="${input.id}"] .imported-tag`)?.remove();
}

/** The record's own words (a name, a medication, a code's display): data, not the page's language. */
const said = (text) => el("q", { lang: "und" }, text);

/** Where in the record: "Entri ke-13 (Pemeriksaan)". */
function where(s) {
  if (s.entry === null || s.entry === undefined) return t("emr.whole");
  const type = s.params?.type ?? s.element.split(".")[0];
  const kind = TEXT[`emr.type.${type}`] ? t(`emr.type.${type}`) : null;
  return [t("emr.entry", { n: s.entry + 1 }), kind ? ` (${kind})` : el("span", { lang: "zxx" }, ` (${type})`)];
}

/** Why, in the page's language, from the answer's code and parameters. */
function why(s) {
  const p = s.params ?? {};
  const f = p.field ? fieldLabel(p.field) : "";
  switch (s.code) {
    case "not_current": return t("emr.skip.not_current", { status: TEXT[`emr.status.${p.status}`] ? t(`emr.status.${p.status}`) : p.status });
    case "words_only": return t(p.field === "medical.stabilisation" ? "emr.skip.words_procedure" : "emr.skip.words_diagnosis");
    case "superseded": return t("emr.skip.superseded", { n: Number(p.newer) + 1 });
    case "unit": return p.unit ? t("emr.skip.unit", { unit: UNITS[p.unit] ?? p.unit }) : t("emr.skip.no_unit");
    case "out_of_range": return p.le !== undefined || p.ge !== undefined
      ? t("emr.skip.out_of_range", { v: fmtNum(p.value, 1), min: fmtNum(p.ge ?? p.gt, 1), max: fmtNum(p.le ?? p.lt, 1) })
      : t("emr.skip.absurd");
    case "not_vital": return p.text ? [t("emr.skip.not_vital"), " ", said(p.text)] : t("emr.skip.not_vital");
    default: {
      const key = `emr.skip.${s.code}`;
      return TEXT[key] ? t(key, { ...p, f, max: p.max }) : t("emr.skip.other");
    }
  }
}

/** What the server refused, in words: each problem's code, and the element for whoever exports. */
function refusal(e) {
  const problems = e.errors?.length ? e.errors : null;
  if (!problems || !problems.every((x) => TEXT[`emr.err.${x.code}`])) return e.message;
  // (el() flattens one level: the parts of every problem are laid out flat here)
  return problems.slice(0, 3).flatMap((x) => {
    const entries = String(x.params?.entries ?? "").split(",").filter(Boolean).map((n) => Number(n) + 1).join(", ");
    const element = x.field && x.field !== "body" ? el("code", { lang: "zxx", class: "muted" }, x.field) : null;
    return [t(`emr.err.${x.code}`, { ...x.params, entries }), element ? " " : null, element, " "];
  });
}

/** Wire the import on the letter form; returns ``clear()`` (marks and results away, e.g. after sending). */
export function emrImport(form) {
  const button = $("#emr-button", form);
  const file = $("#emr-file", form);
  const out = $("#emr-result", form);
  // staff changing a value take it over: it is theirs now, not the record's
  form.addEventListener("input", (ev) => unmark(ev.target));
  form.addEventListener("change", (ev) => { if (ev.isTrusted) unmark(ev.target); });
  const clear = () => {
    form.querySelectorAll("[data-imported]").forEach(unmark);
    out.replaceChildren();
  };
  form.addEventListener("reset", clear);
  button.addEventListener("click", () => file.click());
  file.addEventListener("change", async () => {
    const f = file.files?.[0];
    file.value = "";
    if (!f) return;
    if (f.size > MAX_BYTES) { show(out, el("p", { class: "error", role: "alert" }, t("emr.too_big"))); return; }
    let bundle;
    try { bundle = JSON.parse(await f.text()); } catch {
      show(out, el("p", { class: "error", role: "alert" }, t("emr.refused"), " ", t("emr.err.not_json")));
      return;
    }
    button.disabled = true;
    show(out, el("p", { class: "muted" }, t("emr.reading")));
    try {
      const answer = await api("/api/letters/import", { method: "POST", body: bundle });
      show(out, ...fill(answer));
    } catch (e) {
      show(out, el("p", { class: "error", role: "alert", id: "emr-error" }, t("emr.refused"), " ", refusal(e)));
    } finally {
      button.disabled = false;
    }
  });
  return clear;
}

function show(box, ...children) {
  box.replaceChildren(...children);
}

/** Put the answer's values in the empty fields; the rest listed. */
function fill(answer) {
  const filled = [];
  const conflicts = [];
  for (const field of answer.imported) {
    const input = $(INPUTS[field]);
    const value = valueOf(answer.letter, field);
    if (!input || value === null) continue;
    const typed = input.value;
    const empty = input.tagName === "SELECT" ? false : typed.trim() === "";
    if (empty || same(field, typed, value)) {
      if (empty) input.value = value;
      mark(input);
      filled.push(field);
    } else {
      conflicts.push({ field, input, value, typed });
    }
  }
  const parts = [el("p", { class: `notice ${filled.length ? "ok" : "warn"}`, id: "emr-summary" },
    filled.length ? t("emr.done", { n: filled.length }) : t("emr.none"))];
  if (conflicts.length) {
    parts.push(el("div", { class: "notice warn", id: "emr-conflicts" }, el("p", {}, t("emr.conflicts")),
      el("ul", { class: "plain" }, conflicts.map((c) => el("li", { "data-field": c.field },
        el("strong", {}, fieldLabel(c.field)), ": ", t("emr.in_form"), " ", said(shown(c.input, c.typed)), " · ",
        t("emr.in_record"), " ", said(shown(c.input, c.value)), " ",
        el("button", { type: "button", class: "secondary", onclick: (ev) => {
          c.input.value = c.value;
          mark(c.input);
          ev.currentTarget.closest("li").remove();
        } }, t("emr.use")))))));
  }
  for (const c of answer.converted ?? []) {
    const sign = c.field.split(".").pop();
    parts.push(el("p", { class: "muted" }, t("emr.converted", { f: fieldLabel(c.field), v: fmtNum(c.value, 1),
      u: UNITS[c.unit] ?? c.unit, to: fmtNum(valueOf(answer.letter, c.field), 1), lu: LETTER_UNITS[sign] ?? "" })));
  }
  const unused = answer.skipped.filter((s) => s.code === "not_in_letter");
  // a record's history of one vital sign: its older measurements in one line
  const older = new Map();  // (Map.groupBy is too new for the phones in use)
  for (const s of answer.skipped.filter((x) => x.code === "superseded")) older.set(s.params.field, [...(older.get(s.params.field) ?? []), s]);
  const listed = answer.skipped.filter((s) => s.code !== "not_in_letter" && !(s.code === "superseded" && older.get(s.params.field).length > 1));
  if (listed.length || unused.length || older.size) {
    const types = [...new Set(unused.map((s) => s.params.type))];
    parts.push(el("details", { id: "emr-skipped", open: window.innerWidth > 700 },
      el("summary", {}, t("emr.skipped", { n: answer.skipped.length })),
      el("ul", { class: "plain emr-skipped" },
        listed.map((s) => el("li", { "data-code": s.code }, el("strong", {}, where(s)), ": ", why(s))),
        [...older].filter(([, xs]) => xs.length > 1).map(([field, xs]) => el("li", { "data-code": "superseded" },
          el("strong", {}, fieldLabel(field)), ": ", t("emr.older", { n: fmtNum(xs.length), m: Number(xs[0].params.newer) + 1 }))),
        unused.length ? el("li", { "data-code": "not_in_letter" }, t("emr.unused", { n: unused.length }), " ",
          el("span", { lang: "zxx" }, types.join(", "))) : null)));
  }
  return parts;
}

/** A value as the person sees it in the form (a select's option text, not its code). */
function shown(input, value) {
  if (input.tagName !== "SELECT") return value;
  return [...input.options].find((o) => o.value === value)?.textContent ?? value;
}

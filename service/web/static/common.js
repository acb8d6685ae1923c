// rujuk: what every page shares. Sign-in (bearer token kept in this tab only), the API call with
// errors that name the field, live events (server-sent events read with fetch, so the token goes
// in a header and not in a URL), language switch (Bahasa Indonesia by default, English), formats.
import { TEXT } from "/static/i18n.js";

const LANG_KEY = "rujuk.lang";
const TOKEN_KEY = "rujuk.token";
const ME_KEY = "rujuk.me";
/** When a password was last typed in this browser (any tab): a revoked station waits for one. */
export const SIGNIN_AT_KEY = "rujuk.signin_at";

export let lang = localStorage.getItem(LANG_KEY) === "en" ? "en" : "id";

/** The jurisdiction's time zone (from the server's dataset): every time is shown in it. */
let zone = { id: undefined, label: "" };
let configPromise = null;

/** What the pages need to know from the server (fetched once per page). */
export function webConfig() {
  configPromise ??= api("/api/web/config").then((cfg) => {
    zone = { id: cfg.timezone, label: cfg.timezone_label };
    return cfg;
  });
  return configPromise;
}

/** A text in the current language; {name} placeholders are filled from vars. */
export function t(key, vars = {}) {
  return tIn(lang, key, vars);
}

/** A text in a given language (a letter's prefilled content is Bahasa on an English page too). */
export function tIn(l, key, vars = {}) {
  const entry = TEXT[key];
  let s = entry ? entry[l] ?? entry.id : key;
  for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

/** Texts in the page carry data-i18n="key": the catalogue (i18n.js) gives them in the page's
 * language; the Bahasa written in the HTML is what shows before the scripts run. */
export function applyI18n(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll("[data-i18n]")) {
    if (el.dataset.i18nId === undefined) el.dataset.i18nId = el.textContent;
    el.textContent = TEXT[el.dataset.i18n]?.[lang] ?? el.dataset.i18nId;
  }
  for (const attr of ["placeholder", "aria-label", "title"]) {
    for (const el of root.querySelectorAll(`[data-i18n-${attr}]`)) {
      const key = el.getAttribute(`data-i18n-${attr}`);
      const store = `i18n${attr.replace("-", "")}Id`;
      if (el.dataset[store] === undefined) el.dataset[store] = el.getAttribute(attr) ?? "";
      el.setAttribute(attr, TEXT[key]?.[lang] ?? el.dataset[store]);
    }
  }
}

export function setLang(l) {
  lang = l === "en" ? "en" : "id";
  localStorage.setItem(LANG_KEY, lang);
  applyI18n();
  window.dispatchEvent(new CustomEvent("rujuk:lang", { detail: lang }));
}

// ------------------------------------------------------------------------------------ helpers

/** Build an element: el("li", {class: "x", onclick: f}, "text", child). Text is never parsed as HTML. */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (v === true) e.setAttribute(k, "");
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export const $ = (sel, root = document) => root.querySelector(sel);

/** Minutes (and hours) for a duration in seconds. */
export function fmtDuration(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return "–";
  const m = Math.round(s / 60);
  if (m < 60) return t("fmt.min", { m });
  return t("fmt.hmin", { h: Math.floor(m / 60), m: m % 60 });
}

/** "40 menit lalu" for an age in seconds. */
export function fmtAge(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return "–";
  if (s < 60) return t("fmt.ago_s", { s: Math.max(0, Math.round(s)) });
  if (s < 3600) return t("fmt.ago_m", { m: Math.round(s / 60) });
  if (s < 86400) return t("fmt.ago_h", { h: Math.round(s / 3600) });
  return t("fmt.ago_d", { d: Math.round(s / 86400) });
}

/** A number as people here write it: "37,5" and "5.000" in Bahasa, "37.5" and "5,000" in English. */
export function fmtNum(x, digits = 0) {
  if (x === null || x === undefined || !Number.isFinite(Number(x))) return "–";
  return Number(x).toLocaleString(lang === "en" ? "en-GB" : "id-ID", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** A share (0-1) as a percentage: "23,2 %". */
export function fmtPct(share, digits = 1) {
  if (share === null || share === undefined || !Number.isFinite(Number(share))) return "–";
  return `${fmtNum(Number(share) * 100, digits)} %`;
}

export function fmtKm(m) {
  return m === null || m === undefined ? "" : `${fmtNum(m / 1000, 1)} km`;
}

export function fmtTime(iso) {
  if (!iso) return "–";
  const s = new Date(iso).toLocaleString(lang === "en" ? "en-GB" : "id-ID", {
    day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZone: zone.id,
  });
  return zone.label ? `${s} ${zone.label}` : s;
}

export function secondsSince(iso) {
  return iso ? (Date.now() - new Date(iso).getTime()) / 1000 : null;
}

/** An alert sound the user turns on with ``button`` (browsers play sound only after a click);
 * ``beep()`` plays it when it is on. */
export function soundAlarm(button) {
  let audio = null;
  const show = () => {
    button.setAttribute("aria-pressed", String(Boolean(audio)));
    button.textContent = t(audio ? "receive.sound_off" : "receive.sound_on");
  };
  function beep() {
    if (!audio) return;
    const now = audio.currentTime;
    for (const [i, f] of [880, 660, 880].entries()) {
      const o = audio.createOscillator();
      const g = audio.createGain();
      o.frequency.value = f;
      g.gain.setValueAtTime(0.25, now + i * 0.25);
      g.gain.exponentialRampToValueAtTime(0.001, now + i * 0.25 + 0.22);
      o.connect(g).connect(audio.destination);
      o.start(now + i * 0.25);
      o.stop(now + i * 0.25 + 0.23);
    }
  }
  button.addEventListener("click", () => {
    if (audio) { audio.close(); audio = null; } else { audio = new AudioContext(); beep(); }
    show();
  });
  window.addEventListener("rujuk:lang", show);
  return { beep };
}

/** Say something to everyone (screen readers too), for a few seconds. */
export function announce(message, kind = "info") {
  let box = $("#announce");
  if (!box) {
    box = el("div", { id: "announce", role: "status", "aria-live": "polite", class: "no-print" });
    document.body.prepend(box);
  }
  box.replaceChildren(el("div", { class: `notice ${kind}` }, message));
  clearTimeout(announce.timer);
  announce.timer = setTimeout(() => box.replaceChildren(), 8000);
}

/** A service (specialty) in the page's language, from the server's labels (web config). */
export function serviceLabel(cfg, s) {
  return (lang === "en" ? cfg?.service_labels_en?.[s] : cfg?.service_labels?.[s]) ?? cfg?.service_labels?.[s] ?? s;
}

/** Status and other enum values in words. */
export function label(group, value) {
  const key = `${group}.${value}`;
  return TEXT[key] ? t(key) : value;
}

// --------------------------------------------------------------------------------------- API

/** A problem's field as written (list positions as ``[n]``) and its named parts without the
 * request's part (``body``, ``query``, ``path``) or the positions. Pydantic says
 * "procedures.1.code", rujuk "changes[1].facility": both are the second of a list. */
function fieldPath(field) {
  const raw = String(field ?? "").replace(/\.(\d+)(?=\.|$)/g, "[$1]");
  const parts = raw.replace(/\[\d+\]/g, "").split(".").filter((p) => p && !["body", "query", "path"].includes(p));
  return { raw, parts };
}

/** A field's name for a person: ``body.patient.nik`` -> "NIK pasien" (i18n.js ``field.*``), tried
 * from the whole path (list positions dropped) to its last part; never the API's identifier. */
export function fieldLabel(field) {
  const { raw, parts } = fieldPath(field);
  // which one of a list: "changes[0].facility" is the first change's facility, "icd10[1]" the second code
  const lists = [...raw.matchAll(/([A-Za-z_0-9]+)\[(\d+)\]/g)].map(([, name, i]) => [name, Number(i) + 1]);
  const nth = (n) => t("field.nth", { n });
  for (let i = 0; i < parts.length; i++) {
    const key = `field.${parts.slice(i).join(".")}`;
    if (!TEXT[key]) continue;
    const named = parts.slice(i);  // the list positions inside what the label names belong to it
    const own = lists.filter(([name]) => named.includes(name)).map(([, n]) => nth(n));
    const outer = lists.filter(([name]) => !named.includes(name))
      .map(([name, n]) => (TEXT[`field.${name}`] ? `${t(`field.${name}`)} ${nth(n)}` : nth(n)));
    const label = [t(key), ...own].join(" ");
    return outer.length ? `${label} (${outer.join(", ")})` : label;
  }
  return t("field.unknown");
}

/** One problem of a refused request in the page's language: ``err.code.<code>`` filled from its
 * ``params`` (a field may have its own text: ``err.<field>.<code>``). On an English page an
 * unknown code shows the server's (English) message; on a Bahasa page never. */
export function problemText(item) {
  const code = item?.code ?? "invalid";
  const params = { ...(item?.params ?? {}) };
  const path = fieldPath(item?.field).parts;
  for (let i = 0; i < path.length; i++) {
    const own = `err.${path.slice(i).join(".")}.${code}`;
    if (TEXT[own]) return t(own, params);
  }
  if (code === "string_too_short" && Number(params.min_length) === 1) return t("err.code.missing");
  if (TEXT[`err.code.${code}`]) return t(`err.code.${code}`, params);
  return lang === "en" && item?.message ? item.message : t("err.code.invalid");
}

/** What a refused request tells the user, from the catalogue by the error's type, field and code. */
export function errorText(status, body) {
  const errors = Array.isArray(body?.errors) ? body.errors : [];
  if (errors.length) return errors.map((e) => `${fieldLabel(e.field)}: ${problemText(e)}`).join("; ");
  const type = body?.type;
  if (type && TEXT[`err.type.${type}`]) return t(`err.type.${type}`);
  if (status === 0 && body?.detail) return body.detail;
  return t("err.type.error", { status });
}

export class ApiError extends Error {
  constructor(status, body) {
    const errors = Array.isArray(body?.errors) ? body.errors : [];
    super(errorText(status, body));
    this.status = status;
    this.body = body;
    this.errors = errors;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** True while this tab holds a staff token that has not expired (read from its own claims, with a
 * few seconds to spare): a page can tell, without asking the server, whether patient data can be
 * read now or a sign-in is needed first. */
export function signedIn() {
  const tk = token();
  if (!tk) return false;
  try {
    const claims = JSON.parse(atob(tk.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return Number(claims.exp) * 1000 > Date.now() + 10_000;
  } catch {
    return false;
  }
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(ME_KEY);
  localStorage.removeItem("rujuk.last_user");
  location.href = "/";
}

/** What to tell the user when a sign-in is refused (wrong password, or locked for a while). */
export function signInProblem(e) {
  if (e.status === 401) return t("signin.wrong");
  if (e.status === 429) return t("signin.locked", { m: Math.max(1, Math.ceil((e.retryAfter || 60) / 60)) });
  return e.message;
}

/** Sign in; returns who. */
export async function signIn(username, password) {
  const r = await fetch("/api/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ username, password }),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const e = new ApiError(r.status, body);
    e.retryAfter = Number(r.headers.get("Retry-After")) || 0;
    throw e;
  }
  sessionStorage.setItem(TOKEN_KEY, body.access_token);
  const who = await api("/api/me");
  sessionStorage.setItem(ME_KEY, JSON.stringify(who));
  localStorage.setItem(SIGNIN_AT_KEY, String(Date.now()));
  window.dispatchEvent(new CustomEvent("rujuk:signed-in", { detail: who }));
  return who;
}

/** Ask for the password again without leaving the page (tokens are short-lived; work is kept). */
export function signInAgain() {
  if (signInAgain.pending) return signInAgain.pending;
  const who = me();
  const dlg = el("dialog", { "aria-labelledby": "again-title" },
    el("form", { method: "dialog" },
      el("h2", { id: "again-title" }, t("auth.again")),
      el("p", { class: "muted" }, t("auth.again_why")),
      el("label", { for: "again-user" }, t("auth.username")),
      el("input", { id: "again-user", type: "text", autocomplete: "username", value: who?.username ?? "", required: true }),
      el("label", { for: "again-pass" }, t("auth.password")),
      el("input", { id: "again-pass", type: "password", autocomplete: "current-password", required: true }),
      el("p", { class: "error", id: "again-error", role: "alert" }),
      el("div", { class: "actions" }, el("button", { type: "submit" }, t("auth.sign_in")))));
  document.body.append(dlg);
  signInAgain.pending = new Promise((resolve) => {
    dlg.querySelector("form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await signIn($("#again-user", dlg).value, $("#again-pass", dlg).value);
        dlg.close();
        dlg.remove();
        signInAgain.pending = null;
        resolve();
      } catch (e) {
        $("#again-error", dlg).textContent = signInProblem(e);
      }
    });
  });
  dlg.showModal();
  return signInAgain.pending;
}

/** Call the API: JSON in and out (a FormData body goes as a form, files and all); an ApiError
 * (message naming the field) when it says no. A 401 asks for the password again and retries,
 * unless ``quiet`` (then it is an ApiError like any). ``raw``: the Response itself (a file). */
export async function api(path, { method = "GET", body, headers = {}, raw = false, quiet = false } = {}) {
  const form = body instanceof FormData;
  for (let attempt = 0; ; attempt++) {
    const h = { ...headers };
    const tk = token();
    if (tk) h.Authorization = `Bearer ${tk}`;
    if (body !== undefined && !form) h["Content-Type"] = "application/json";
    let r;
    try {
      r = await fetch(path, { method, headers: h, body: body === undefined || form ? body : JSON.stringify(body) });
    } catch {
      throw new ApiError(0, { detail: t("err.network") });
    }
    if (r.status === 401 && attempt === 0 && path !== "/api/me" && !quiet) {
      await signInAgain();
      continue;
    }
    if (raw && r.ok) return r;
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
    if (!r.ok) throw new ApiError(r.status, data);
    return data;
  }
}

/** Who is signed in (from this tab's session). */
export function me() {
  const s = sessionStorage.getItem(ME_KEY);
  return s ? JSON.parse(s) : null;
}

export const PAGES = [
  // hospital staff refer onward and back; a Puskesmas receives its patients back (rujuk balik)
  { path: "/rujuk", roles: ["referrer", "receiver"], key: "nav.refer" },
  { path: "/terima", roles: ["receiver", "referrer"], key: "nav.receive" },
  { path: "/dispatch", roles: ["dispatcher"], key: "nav.dispatch" },
  { path: "/rencana", roles: ["planner"], key: "nav.plan" },
  { path: "/insiden", roles: ["dispatcher", "planner"], key: "nav.incidents" },
];

/** Where a user lands after signing in: the receiving page for receiving staff (alerts first), the
 * referring page for referring staff; null when there is no single obvious page (the chooser). */
export function landingPage(who) {
  const roles = new Set(who?.roles ?? []);
  if (roles.has("receiver")) return "/terima";
  if (roles.has("referrer")) return "/rujuk";
  if (roles.has("dispatcher")) return "/dispatch";
  if (roles.has("planner")) return "/rencana";
  const pages = pagesFor(who);
  return pages.length === 1 ? pages[0].path : null;
}

export function pagesFor(who) {
  const roles = new Set(who?.roles ?? []);
  return PAGES.filter((p) => roles.has("admin") || p.roles.some((r) => roles.has(r)));
}

/** The page's header (who, facility, the pages this user may open, language, sign out); sends
 * anyone not signed in, or without the role, to the sign-in page. */
export async function startPage(path) {
  registerWorker();
  const last = lastUser();
  if (!token() && !(offline() && last)) {
    location.href = `/?next=${encodeURIComponent(path)}`;
    return null;
  }
  let who;
  try {
    [who] = await Promise.all([api("/api/me"), webConfig()]);
    sessionStorage.setItem(ME_KEY, JSON.stringify(who));
    localStorage.setItem(LAST_USER_KEY, JSON.stringify(who));
  } catch (e) {
    // no network: the page opens for the last user of this device, to read what it kept and to
    // write letters that wait on the device until the network returns (Pasal 20(3))
    if (!(e instanceof ApiError && e.status === 0) || !last) {
      signOut();
      return null;
    }
    who = last;
    await webConfig().catch(() => null);
  }
  watchNetwork();
  const pages = pagesFor(who);
  if (!pages.some((p) => p.path === path)) {
    location.href = "/?denied=1";
    return null;
  }
  const header = el("header", { class: "top" },
    el("a", { class: "skip", href: "#main" }, t("nav.skip")),
    el("span", { class: "brand" }, "rujuk"),
    el("nav", { "aria-label": t("nav.pages") },
      pages.map((p) => el("a", { href: p.path, "aria-current": p.path === path ? "page" : null, "data-i18n": p.key }, t(p.key)))),
    el("span", { class: "who" }, `${who.username}${who.facility ? ` · ${who.facility.name}` : ""}`),
    el("button", { class: "link", type: "button", id: "lang-switch", onclick: () => setLang(lang === "id" ? "en" : "id") },
      lang === "id" ? "English" : "Bahasa Indonesia"),
    el("button", { class: "link", type: "button", onclick: signOut, "data-i18n": "nav.sign_out" }, "Keluar"));
  document.body.prepend(header);
  window.addEventListener("rujuk:lang", () => {
    $("#lang-switch").textContent = lang === "id" ? "English" : "Bahasa Indonesia";
  });
  applyI18n();
  const pushToggle = document.querySelector("#push-toggle");
  // loaded on its own: a page opened offline without it in the cache still works, without the toggle
  if (pushToggle) import("/static/push.js").then((m) => m.installPushToggle(pushToggle)).catch(() => { pushToggle.hidden = true; });
  return who;
}

// ---------------------------------------------------------------------------- offline, app

/** The last user signed in on this device (who they are, never their token): an offline page opens for them. */
const LAST_USER_KEY = "rujuk.last_user";
export function lastUser() {
  try { return JSON.parse(localStorage.getItem(LAST_USER_KEY) ?? "null"); } catch { return null; }
}

/** True when the browser knows it has no network. */
export function offline() {
  return navigator.onLine === false;
}

/** The service worker: the pages install as an app and open without a network (sw.js). */
export function registerWorker() {
  if (!("serviceWorker" in navigator)) return;
  // after the page has loaded: the worker's first fill of its cache never competes with the page
  const keep = (reg) => {
    const urls = [location.pathname, ...performance.getEntriesByType("resource").map((e) => e.name)]
      .filter((u) => new URL(u, location.href).origin === location.origin);
    (reg.active ?? navigator.serviceWorker.controller)?.postMessage({ type: "keep", urls });
  };
  const go = () => setTimeout(() => {
    navigator.serviceWorker.register("/sw.js", { type: "module" }).catch(() => undefined);
    navigator.serviceWorker.ready.then(keep).catch(() => undefined);
  }, 500);
  if (document.readyState === "complete") go(); else window.addEventListener("load", go, { once: true });
}

/** A banner while the network is down, in the page's language; gone when it returns. */
function watchNetwork() {
  const show = () => {
    let b = document.getElementById("net-state");
    if (!offline()) { b?.remove(); return; }
    if (!b) {
      b = el("p", { id: "net-state", class: "notice warn", role: "status" });
      document.querySelector("main")?.prepend(b);
    }
    b.textContent = t("net.offline");
  };
  window.addEventListener("online", show);
  window.addEventListener("offline", show);
  window.addEventListener("rujuk:lang", show);
  show();
}

// ------------------------------------------------------------------------------- live events

/** Read a server-sent-events body to its end: onEvent(type, data, id) per event with data (JSON). */
export async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let type = "message", data = "", id = null;
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) type = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
        else if (line.startsWith("id:")) id = line.slice(3).trim();
      }
      if (data) {
        try { onEvent(type, JSON.parse(data), id); } catch (e) { console.error(e); }
      }
    }
  }
}

/** Follow a server-sent-events route with the staff token; calls onEvent(type, data). Reconnects by
 * itself (resuming after the last event id); when the token has expired it asks for the password
 * (saying so through onState(false, text) first). onState(up, text): whether the feed is up, and
 * the words for it. Returns a function that stops it. */
export function follow(path, onEvent, { onState } = {}) {
  let stopped = false;
  let lastId = null;
  let ctrl = null;
  (async () => {
    while (!stopped) {
      ctrl = new AbortController();
      try {
        const headers = { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" };
        if (lastId !== null) headers["Last-Event-ID"] = lastId;
        const r = await fetch(path, { headers, signal: ctrl.signal });
        if (r.status === 401) {
          onState?.(false, t("live.signin"));
          await signInAgain();
          continue;
        }
        if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
        onState?.(true, t("live.on"));
        await readEvents(r.body, (type, data, id) => {
          if (id !== null) lastId = id;
          onEvent(type, data);
        });
      } catch (e) {
        if (stopped) return;
      }
      if (stopped) return;
      onState?.(false, t("live.off"));
      await new Promise((res) => setTimeout(res, 2000));
    }
  })();
  return () => { stopped = true; ctrl?.abort(); };
}

/** Facilities by id (public data, fetched once per page). */
let facilitiesPromise = null;
export function facilities() {
  facilitiesPromise ??= api("/api/facilities").then((list) => new Map(list.map((f) => [f.id, f])));
  return facilitiesPromise;
}

// ------------------------------------------------------------------------------ the letter

/** The signed-in person as their letters name them: "Ani Lestari, A.Md.Keb. (Bidan)"; the user
 * name only when the account has no full name recorded. */
export function staffName(who) {
  const name = who?.full_name || who?.username || "";
  return who?.profession ? `${name} (${who.profession})` : name;
}

/** The referral letter's page (HTML) in a language (the page's by default). */
export async function letterHtml(id, l = lang) {
  const r = await api(`/api/referrals/${encodeURIComponent(id)}/letter?lang=${l}`, { raw: true });
  return r.text();
}

/** Open the letter in a new tab (its language one click away: the other button opens the other). */
export async function openLetter(id, l = lang) {
  const url = URL.createObjectURL(new Blob([await letterHtml(id, l)], { type: "text/html" }));
  window.open(url, "_blank", "noopener");
}

/** Download the letter as a PDF (A4), rendered by the server from the same page. */
export async function downloadLetterPdf(id, number, l = lang) {
  const r = await api(`/api/referrals/${encodeURIComponent(id)}/letter.pdf?lang=${l}`, { raw: true });
  const a = el("a", {
    href: URL.createObjectURL(await r.blob()),
    download: `surat-rujukan-${String(number || id).replaceAll("/", "-")}${l === "en" ? "-en" : ""}.pdf`,
  });
  document.body.append(a);
  a.click();
  a.remove();
}

/** A table's rows as a CSV file download (planner tables). */
export function downloadCsv(filename, rows) {
  const cols = rows.length ? Object.keys(rows[0]) : [];
  const cell = (v) => {
    const s = v === null || v === undefined ? "" : String(v);
    return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  const text = [cols.join(","), ...rows.map((r) => cols.map((c) => cell(r[c])).join(","))].join("\n");
  const a = el("a", { href: URL.createObjectURL(new Blob([text], { type: "text/csv" })), download: filename });
  document.body.append(a);
  a.click();
  a.remove();
}

/** Replace a node's children, skipping null / false (replaceChildren would write "null"). */
export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

/** Text for a Leaflet tooltip or popup: Leaflet reads a string as HTML, so give it an element. */
export function plain(text) {
  return el("span", {}, text);
}

// rujuk: this screen as a *station* of its facility, so that the alert path (the live feed, the
// count of what waits, the banner, the sound) keeps going when the staff sign-in ends. The
// station's secret opens only the facility's feed and the list of what waits, without the patient
// (server: service/accounts/stations.py). It is registered once with the staff token, kept in this
// browser (localStorage, one per facility), renewed before it expires, sent only in X-Station-Key.
// Revoked, it is registered again only after a password is typed in this browser.
import {
  $, SIGNIN_AT_KEY, api, el, follow, me, readEvents, signedIn, signInAgain, t,
} from "/static/common.js";

const KEY_PREFIX = "rujuk.station.";
const DAY_MS = 86_400_000;

/** The stored station of a facility: {id, secret, created_at, expires_at}, or a refusal
 * {id, state: "revoked" | "expired", at}, or null. */
function load(fid) {
  try {
    return JSON.parse(localStorage.getItem(KEY_PREFIX + fid));
  } catch {
    return null;
  }
}

function save(fid, value) {
  localStorage.setItem(KEY_PREFIX + fid, JSON.stringify(value));
}

/** The facility of the signed-in staff member (who may register its station): a hospital's
 * receivers, a Puskesmas's referring staff (answers to its referrals, back-referrals it receives). */
function receivingFacility() {
  const who = me();
  return who?.facility?.id && (who.roles ?? []).some((r) => r === "receiver" || r === "referrer") ? who.facility.id : null;
}

function usable(st) {
  return Boolean(st?.secret) && new Date(st.expires_at).getTime() > Date.now();
}

/** Renew when less than a week, or half its life, is left. */
function dueForRenewal(st) {
  const expires = new Date(st.expires_at).getTime();
  const life = expires - new Date(st.created_at).getTime();
  return expires - Date.now() < Math.min(7 * DAY_MS, life / 2);
}

/** Why the server refused a station ("revoked" or "expired", from WWW-Authenticate: Station error="..."). */
function refusalOf(response, st) {
  const said = /error="(\w+)"/.exec(response.headers.get("WWW-Authenticate") ?? "")?.[1];
  if (said === "revoked" || said === "expired") return said;
  return new Date(st.expires_at).getTime() <= Date.now() ? "expired" : "revoked";
}

/** Forget a refused station's secret, remembering why (unless another tab replaced it already). */
function refused(fid, st, reason) {
  const now = load(fid);
  if (now?.secret && now.id !== st.id) return;
  save(fid, { id: st.id, state: reason, at: Date.now() });
}

async function register(fid, old) {
  const name = `${t("station.name")} · ${new Date().toLocaleDateString("id-ID")}`.slice(0, 64);
  try {
    const made = await api("/api/stations", { method: "POST", body: { name }, quiet: true });
    const st = { id: made.id, secret: made.secret, created_at: made.created_at, expires_at: made.expires_at };
    save(fid, st);
    // the one it renews stops now (an open feed with it ends, and follows the new one)
    if (usable(old)) api(`/api/stations/${old.id}`, { method: "DELETE", quiet: true }).catch(() => {});
    return st;
  } catch {
    return usable(old) ? old : null; // tried again at the next sign-in
  }
}

let registering = null;

/** This browser's station for the signed-in receiver's facility: the stored one, or one registered
 * (or renewed) now with the staff token while it is valid; null when there is none. */
export async function station() {
  const fid = receivingFacility();
  if (!fid) return null;
  const st = load(fid);
  if (usable(st) && !dueForRenewal(st)) return st;
  if (!signedIn()) return usable(st) ? st : null;
  if (st?.state === "revoked" && Number(localStorage.getItem(SIGNIN_AT_KEY) || 0) < st.at) return null;
  registering ??= register(fid, st).finally(() => { registering = null; });
  return registering;
}

/** What waits for the facility's answer, read with the station: {count, referrals: [{id,
 * origin_id, emergency, sent_at, status}]} (no patient), or null without a working station. */
export async function stationInbox() {
  const st = await station();
  if (!st) return null;
  let r;
  try {
    r = await fetch("/api/stations/inbox", { headers: { "X-Station-Key": st.secret } });
  } catch {
    return null;
  }
  if (r.status === 401) {
    refused(receivingFacility(), st, refusalOf(r, st));
    return null;
  }
  return r.ok ? r.json() : null;
}

/** A lasting notice at the top of the page saying why the alerts depend on a sign-in now (or
 * nothing, with null). */
function notice(key) {
  let box = $("#station-notice");
  if (!key) { box?.remove(); return; }
  if (!box) {
    box = el("div", { id: "station-notice", class: "notice bad no-print", role: "alert" });
    ($("main") ?? document.body).prepend(box);
  }
  box.dataset.state = key;
  box.replaceChildren(el("span", {}, t(`station.${key}`)), " ",
    el("button", { type: "button", class: "secondary", onclick: () => signInAgain() }, t("station.sign_in")));
}

/** Follow the facility's live feed with the station, so that alerts outlive the staff sign-in;
 * onEvent(type, data) gets the events of /api/events/stream (without their notes). Without a
 * station (revoked, expired with no one signed in, none registered) it says so on the page and
 * follows with the staff token instead, until a sign-in registers one. onState(up, text): whether
 * alerts come in now, and the words for it. Returns a function that stops it. */
export function followStation(onEvent, { onState } = {}) {
  let stopped = false;
  let lastId = null;
  let ctrl = null;
  let staff = null; // the staff feed followed while there is no station
  let running = false;

  async function run() {
    running = true;
    while (!stopped) {
      const fid = receivingFacility();
      const st = await station();
      if (!st) {
        // a receiver's screen says why its alerts depend on a sign-in now; other staff (a
        // Puskesmas receiving its patients back) have no station to speak of
        const why = fid ? load(fid)?.state : null;
        if (fid) notice(why === "revoked" || why === "expired" ? why : "none");
        staff = follow("/api/events/stream", onEvent, { onState });
        break;
      }
      ctrl = new AbortController();
      let ended = null;
      try {
        const headers = { "X-Station-Key": st.secret, Accept: "text/event-stream" };
        if (lastId !== null) headers["Last-Event-ID"] = lastId;
        const r = await fetch("/api/stations/stream", { headers, signal: ctrl.signal });
        if (r.status === 401) ended = refusalOf(r, st);
        else if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
        else {
          notice(null);
          onState?.(true, t("live.on"));
          await readEvents(r.body, (type, data, id) => {
            if (type === "station") { ended = data.state; return; }
            if (id !== null) lastId = id;
            onEvent(type, data);
          });
        }
      } catch {
        if (stopped) break;
      }
      if (stopped) break;
      if (ended) {
        refused(fid, st, ended); // the next turn registers anew, or falls back to the staff feed
        continue;
      }
      onState?.(false, t("live.off"));
      await new Promise((res) => setTimeout(res, 2000));
    }
    running = false;
  }

  window.addEventListener("rujuk:lang", () => {
    const box = $("#station-notice");
    if (box) notice(box.dataset.state);
  });
  // a password typed on this page: register (again) and go back to the station's feed
  window.addEventListener("rujuk:signed-in", () => {
    if (stopped || running) return;
    staff?.();
    staff = null;
    run();
  });
  run();
  return () => { stopped = true; ctrl?.abort(); staff?.(); };
}

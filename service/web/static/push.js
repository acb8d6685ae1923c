// Web Push on the page: "Aktifkan notifikasi" subscribes this browser to its facility's notices, so
// that a new referral (or an answer, for the sender) reaches staff whose page is closed; "Matikan
// notifikasi" deletes the subscription here and on the server (docs/notifications.md). The service
// worker shows what arrives (sw-push.js). Every state and every refusal is told in the page's words.
import { ApiError, api, el, t } from "/static/common.js";

/** True when this browser can receive pushes with the page closed. */
export function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

/** The bytes of base64url text (the server's key). */
function fromB64url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function sameBytes(a, b) {
  if (!a || !b) return false;
  const x = new Uint8Array(a);
  return x.length === b.length && x.every((v, i) => v === b[i]);
}

/** Why a subscription failed, as a text key (never the browser's or the server's English). */
function problemOf(e) {
  if (e instanceof ApiError) {
    if (e.status === 0) return "err.network";
    if (e.status === 403) return "push.no_facility";
    return "push.refused";
  }
  if (e?.name === "NotAllowedError") return "push.denied";
  if (e?.name === "NotSupportedError") return "push.unsupported";
  return "push.unreachable"; // AbortError, TimeoutError: the browser's push service cannot be reached
}

/** How long the browser may take to reach its push service before the page says it cannot: without
 * a network, Chrome keeps trying for minutes without an answer. */
const SUBSCRIBE_WITHIN_MS = 20_000;

/** ``promise``, or a TimeoutError after ``ms``. */
function within(promise, ms) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new DOMException("no answer in time", "TimeoutError")), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function registration() {
  await navigator.serviceWorker.register("/sw.js", { type: "module" });
  return navigator.serviceWorker.ready;
}

/** This browser's subscription as the server knows it (its id), or null. */
async function serverCopy(endpoint) {
  const mine = await api("/api/push/subscriptions", { quiet: true });
  return mine.find((s) => s.endpoint === endpoint) ?? null;
}

/** The toggle: a button that switches this device's notifications on and off, and a line telling
 * the state (or what went wrong). Returns a promise of the state it settled on. */
export function installPushToggle(button) {
  if (!button) return null;
  const line = el("span", { id: "push-state", role: "status", "aria-live": "polite" });
  button.after(" ", line);
  let on = false;
  let busy = false;
  let said = null; // [text key, kind]

  function render() {
    button.textContent = t(busy ? "push.working" : on ? "push.off" : "push.on");
    button.setAttribute("aria-pressed", String(on));
    button.disabled = busy || !pushSupported();
    const [key, kind] = said ?? (on ? ["push.active", "ok"] : [null, null]);
    line.textContent = key ? t(key) : "";
    line.hidden = !key;
    line.className = kind === "warn" ? "notice warn" : "muted";
    line.style.display = kind === "warn" ? "block" : "";
  }
  const say = (key, kind = "ok") => { said = key ? [key, kind] : null; };

  async function switchOn() {
    if (Notification.permission === "denied") return say("push.denied", "warn");
    if ((await Notification.requestPermission()) !== "granted") return say("push.denied", "warn");
    const reg = await registration();
    const { public_key: key } = await api("/api/push/key");
    let sub = await reg.pushManager.getSubscription();
    if (sub && !sameBytes(sub.options?.applicationServerKey, fromB64url(key))) {
      await sub.unsubscribe(); // made with a key the server no longer signs with
      sub = null;
    }
    // should the browser answer after the page gave up, the next visit finds it and tells the server
    sub ??= await within(
      reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromB64url(key) }),
      SUBSCRIBE_WITHIN_MS,
    );
    try {
      await api("/api/push/subscriptions", { method: "POST", body: sub.toJSON() });
    } catch (e) {
      await sub.unsubscribe().catch(() => undefined);
      throw e;
    }
    on = true;
    say(null);
  }

  async function switchOff() {
    const reg = await navigator.serviceWorker.getRegistration("/");
    const sub = await reg?.pushManager.getSubscription();
    if (sub) {
      const copy = await serverCopy(sub.endpoint);
      if (copy) await api(`/api/push/subscriptions/${copy.id}`, { method: "DELETE" });
      await sub.unsubscribe();
    }
    on = false;
    say("push.stopped");
  }

  button.addEventListener("click", async () => {
    if (busy) return;
    busy = true;
    say(null);
    render();
    try {
      await (on ? switchOff() : switchOn());
    } catch (e) {
      say(problemOf(e), "warn");
    } finally {
      busy = false;
      render();
    }
  });
  window.addEventListener("rujuk:lang", render);

  // where this device stands: subscribed already (kept in step with the server), or not
  const settled = (async () => {
    if (!pushSupported()) {
      say("push.unsupported", "warn");
      return "unsupported";
    }
    try {
      const reg = await navigator.serviceWorker.getRegistration("/");
      const sub = Notification.permission === "granted" ? await reg?.pushManager.getSubscription() : null;
      if (sub) {
        const { public_key: key } = await api("/api/push/key", { quiet: true });
        if (sameBytes(sub.options?.applicationServerKey, fromB64url(key))) {
          // the server may have forgotten it (another user's desk, a push service's 410): tell it again
          if (!(await serverCopy(sub.endpoint))) {
            await api("/api/push/subscriptions", { method: "POST", body: sub.toJSON(), quiet: true });
          }
          on = true;
        } else {
          await sub.unsubscribe();
        }
      } else if (Notification.permission === "denied") {
        say("push.denied", "warn");
      }
    } catch {
      // unknown for now (offline, signed out): the button still offers to switch on
    }
    return on ? "on" : "off";
  })().finally(render);
  render();
  return settled;
}

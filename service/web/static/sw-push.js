// Push notifications (a module of the service worker, see sw.js): a notice from rujuk shows as a
// notification while every rujuk page is closed; touching it opens (or brings forward) the page it
// names. The server builds the notice (service/notifications/notices.py, Notice.push_payload):
//   {kind, referral_id, title, body, url, emergency}
// in Bahasa Indonesia and without the patient's identity: the details wait behind a sign-in.

/** The pages a notice may open (anything else opens the start page). */
const PAGES = new Set(["/terima", "/rujuk"]);
/** Shown if a push cannot be read: a push must always show something (userVisibleOnly). */
const FALLBACK = {
  title: "rujuk",
  body: "Ada kabar rujukan. Buka rujuk untuk melihatnya.",
  url: "/",
  referral_id: "",
  emergency: false,
};

function readNotice(data) {
  try {
    const n = data ? data.json() : null;
    if (n && typeof n.title === "string" && n.title) return n;
  } catch {
    // not JSON: the fallback below
  }
  return FALLBACK;
}

self.addEventListener("push", (event) => {
  const n = readNotice(event.data);
  const url = PAGES.has(n.url) ? n.url : "/";
  const tag = typeof n.referral_id === "string" && n.referral_id ? `rujuk-${n.referral_id}` : undefined;
  event.waitUntil(self.registration.showNotification(n.title, {
    body: typeof n.body === "string" ? n.body : "",
    lang: "id",
    dir: "ltr",
    icon: "/static/icons/rujuk-192.png",
    badge: "/static/icons/rujuk-192.png",
    // a later notice of the same referral replaces the earlier one, and still alerts
    tag,
    renotify: Boolean(tag),
    // an emergency stays on the screen until someone touches it
    requireInteraction: Boolean(n.emergency),
    timestamp: Date.now(),
    data: { url, kind: n.kind ?? "", referral_id: n.referral_id ?? "" },
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(event.notification.data?.url ?? "/", self.location.origin);
  event.waitUntil((async () => {
    const open = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    const same = open.find((c) => new URL(c.url).pathname === target.pathname);
    if (same && "focus" in same) return same.focus();
    return self.clients.openWindow(target.href);
  })());
});

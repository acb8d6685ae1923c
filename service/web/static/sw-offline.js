// The offline app shell (Pasal 20(3) exists because the network goes down in Sambas): the pages,
// their scripts and the public data they read open without a network, from what was last fetched.
//
// Pages and static files: network first (an update is seen at once), the cache when the network
// fails. Of the API, only public, patient-free reads are kept (the facilities, the base map, the
// pages' configuration, ICD-10 search): nothing with a patient in it is ever stored here. Letters
// written offline are queued by the page itself (rujuk.js), not here.

const CACHE = "rujuk-shell-v1";
const SHELL = [
  "/", "/rujuk", "/terima",
  "/static/common.js", "/static/i18n.js", "/static/map.js", "/static/masuk.js", "/static/rujuk.js", "/static/emr.js",
  "/static/terima.js", "/static/lists.js", "/static/station.js", "/static/push.js", "/static/roads.js", "/static/contact.js",
  "/static/attachments.js",
  "/static/rujuk.css", "/static/icons/rujuk-192.png",
  "/manifest.webmanifest",
];
/** API reads without personal data that the pages need to open and to write a letter. */
const PUBLIC_API = [/^\/api\/facilities$/, /^\/api\/web\/config$/, /^\/api\/map\/base$/, /^\/api\/icd10\?/];

self.addEventListener("install", (ev) => {
  // each file on its own: one missing file (e.g. a page not built) does not stop the rest
  ev.waitUntil(caches.open(CACHE).then((c) => Promise.all(SHELL.map((u) => c.add(u).catch(() => undefined))))
    .then(() => self.skipWaiting()));
});

self.addEventListener("activate", (ev) => {
  ev.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith("rujuk-shell-") && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

function keep(url, req) {
  if (req.method !== "GET" || url.origin !== self.location.origin) return false;
  if (req.mode === "navigate" || url.pathname.startsWith("/static/") || url.pathname === "/manifest.webmanifest") return true;
  const path = url.pathname + url.search;
  return PUBLIC_API.some((re) => re.test(path));
}

// a page tells the worker what it loaded before the worker controlled it (its first visit): kept
// too, so that the page opens offline with every module and file it needs
self.addEventListener("message", (ev) => {
  if (ev.data?.type !== "keep" || !Array.isArray(ev.data.urls)) return;
  ev.waitUntil(caches.open(CACHE).then((c) => Promise.all(ev.data.urls.slice(0, 200).map((u) => {
    let url;
    try { url = new URL(u, self.location.origin); } catch { return undefined; }
    const req = new Request(url.href);
    if (!keep(url, { method: "GET", mode: "no-cors" }) && url.pathname !== "/rujuk" && url.pathname !== "/terima") return undefined;
    return c.match(req).then((hit) => hit ?? c.add(req)).catch(() => undefined);
  }))));
});

self.addEventListener("fetch", (ev) => {
  const req = ev.request;
  const url = new URL(req.url);
  if (!keep(url, req)) return; // everything else goes to the network as usual
  ev.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const res = await fetch(req);
      if (res.ok && res.status === 200) cache.put(req, res.clone()).catch(() => undefined);
      return res;
    } catch (e) {
      // a page is found without its query string (/rujuk?back=... opens /rujuk)
      const hit = await cache.match(req) ?? (req.mode === "navigate" ? await cache.match(url.pathname) : undefined);
      if (hit) return hit;
      throw e;
    }
  })());
});

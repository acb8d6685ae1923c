// rujuk's service worker (a module worker, served at /sw.js so that it controls every page):
// the pages and what they last read open without a network (sw-offline.js), and push
// notifications reach staff whose page is closed (sw-push.js).
import "/static/sw-offline.js";
import "/static/sw-push.js";

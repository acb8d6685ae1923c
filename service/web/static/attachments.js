// A referral's attachments (Pasal 17(1)d: lab, radiology and ECG results), for the referring
// facility (rujuk.js: the status card, with the upload) and the receiving one (terima.js): the
// list, and a viewer for every type on the page. Images zoom with buttons or two fingers (an ECG
// strip read up close); a PDF opens in the browser's own viewer inside the page, or in a new tab
// where the browser has none (phones); text is shown as text; a DICOM study is rendered by the
// server (service/referrals/dicom.py) frame by frame, with the radiographer's windows and its key
// tags. Every file is fetched with the staff token and shown from a blob: URL the page made, so
// nothing opens without a sign-in and nothing is kept by the browser.
import { api, el, fill, fmtNum, lang, t } from "/static/common.js";

export const KINDS = ["lab", "radiology", "ecg", "other"];
/** The types the server stores, as people name them (and the only types a blob is ever made as). */
const TYPES = { "application/pdf": "PDF", "image/png": "PNG", "image/jpeg": "JPEG", "application/dicom": "DICOM", "text/plain": "text" };
const ACCEPT = ".pdf,.png,.jpg,.jpeg,.dcm,.dicom,.txt,application/pdf,image/png,image/jpeg,application/dicom,text/plain";
const MAX_BYTES = 5 * 1024 * 1024;
const MAX_ZOOM = 8;

/** A file's size as people read it: "39 KB", "1,2 MB". */
export function fmtSize(n) {
  return n < 1024 * 1024 ? `${fmtNum(Math.max(1, Math.round(n / 1024)))} KB` : `${fmtNum(n / 1048576, 1)} MB`;
}

const typeName = (ctype) => (TYPES[ctype] === "text" ? t("att.type_text") : TYPES[ctype] ?? ctype);

/** The file as the server takes it: a DICOM file often has no extension ("IM0001"), or one the
 * browser gives no type; its "DICM" mark at byte 128 says what it is. */
async function typed(file) {
  let type = file.type;
  if (!type || type === "application/octet-stream") {
    const name = file.name.toLowerCase();
    if (/\.(dcm|dicom)$/.test(name)) type = "application/dicom";
    else if (name.endsWith(".txt")) type = "text/plain";
    else if (new TextDecoder().decode(await file.slice(128, 132).arrayBuffer()) === "DICM") type = "application/dicom";
  }
  return type === file.type ? file : new File([file], file.name, { type });
}

/** The attachments of referral ``r`` as a section: the list, each one opened in the viewer below
 * it, and (``upload``: the referring facility, while the referral is open) the form that adds one.
 * ``open``: unfolded at first (the sender's card); folded in a receiver's inbox card. */
export function attachmentsSection(r, { upload = false, open = true } = {}) {
  const base = `/api/referrals/${encodeURIComponent(r.id)}/attachments`;
  const uid = String(r.id).replace(/[^\w-]/g, "");
  let items = null; // the listing, once loaded
  let shown = null; // the attachment in the viewer
  let urls = []; // blob: URLs of what the viewer shows, revoked when it closes

  const count = el("span", { class: "att-count" });
  const summary = el("summary", {}, el("span", { class: "att-title" }, t("att.title")), " ", count);
  const list = el("ul", { class: "plain att-list" });
  const note = el("p", { class: "muted att-note", "aria-live": "polite" });
  const viewer = el("div", { class: "att-viewer", hidden: true, tabindex: "-1" });
  const section = el("details", { class: "attachments", "data-referral": r.id, open },
    summary, list, note, viewer, upload ? uploadForm() : null);

  function render() {
    count.textContent = items ? `(${items.length})` : "";
    if (items) section.dataset.count = items.length;  // loaded (for tests and the pages)
    if (items === null) { note.textContent = t("att.loading"); return; }
    note.textContent = items.length ? "" : t("att.none");
    fill(list, items.map((a) => el("li", { class: "att-item", "data-attachment": a.id, "data-type": a.content_type },
      el("span", { class: "badge" }, t(`att.kind.${KINDS.includes(a.kind) ? a.kind : "other"}`)),
      el("span", { class: "att-name", lang: "" }, a.filename),
      el("span", { class: "muted" }, `${typeName(a.content_type)} · ${fmtSize(a.size)}`),
      el("span", { class: "att-buttons" },
        el("button", { type: "button", class: "secondary att-view", "aria-expanded": String(shown?.id === a.id),
          onclick: () => (shown?.id === a.id ? close() : view(a)) }, t(shown?.id === a.id ? "att.close" : "att.view")),
        el("button", { type: "button", class: "link att-download", onclick: () => download(a) }, t("att.download"))))));
  }

  async function load() {
    try {
      items = await api(base, { quiet: true });
    } catch (e) {
      items = [];
      note.textContent = e.message;
      count.textContent = "";
      return;
    }
    render();
  }

  /** A blob: URL of an attachment (or a frame), of a type the page names itself: never HTML. */
  async function blobUrl(path, type) {
    const res = await api(path, { raw: true });
    const url = URL.createObjectURL(new Blob([await res.arrayBuffer()], { type }));
    urls.push(url);
    return url;
  }

  function close() {
    shown = null;
    for (const u of urls) URL.revokeObjectURL(u);
    urls = [];
    viewer.hidden = true;
    viewer.replaceChildren();
    render();
  }

  async function view(a) {
    close();
    shown = a;
    render();
    viewer.hidden = false;
    viewer.dataset.attachment = a.id;
    const head = el("div", { class: "att-viewer-head" },
      el("strong", { lang: "" }, a.filename),
      el("button", { type: "button", class: "secondary att-close", onclick: close }, t("att.close")));
    const body = el("div", { class: "att-body" }, el("p", { class: "muted" }, t("att.loading")));
    fill(viewer, head, body);
    const file = `${base}/${a.id}`;
    try {
      if (a.content_type === "application/dicom") await showDicom(body, a, file);
      else if (a.content_type === "application/pdf") showPdf(body, a, await blobUrl(file, "application/pdf"));
      else if (a.content_type === "text/plain") {
        const res = await api(file, { raw: true });
        fill(body, el("pre", { class: "att-text", lang: "" }, new TextDecoder("utf-8").decode(await res.arrayBuffer())));
      } else if (TYPES[a.content_type]) {
        const img = el("img", { class: "att-image", alt: t("att.image_alt", { name: a.filename }) });
        img.src = await blobUrl(file, a.content_type);
        fill(body, zoomable(img));
      }
    } catch (e) {
      if (shown?.id === a.id) fill(body, el("p", { class: "error", role: "alert" }, e.message));
    }
    viewer.focus({ preventScroll: true });
    if (viewer.getBoundingClientRect().top > window.innerHeight * 0.6) viewer.scrollIntoView({ block: "start" });
  }

  /** The browser's own PDF viewer inside the page where there is one (a desk), and always the
   * way to open it full size (a phone's browser shows a PDF only on its own). */
  function showPdf(body, a, url) {
    const tab = el("button", { type: "button", class: "secondary att-open-tab",
      onclick: () => window.open(url, "_blank", "noopener") }, t("att.open_tab"));
    fill(body, navigator.pdfViewerEnabled
      ? el("iframe", { class: "att-pdf", src: url, title: t("att.pdf_title", { name: a.filename }) })
      : el("p", { class: "muted" }, t("att.pdf_no_viewer")),
    el("div", { class: "actions" }, tab));
  }

  async function download(a) {
    try {
      const url = URL.createObjectURL(await (await api(`${base}/${a.id}`, { raw: true })).blob());
      const link = el("a", { href: url, download: a.filename });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (e) { note.textContent = e.message; }
  }

  // ---------------------------------------------------------------------------------- DICOM
  async function showDicom(body, a, file) {
    const tags = await api(`${file}/dicom`);
    const state = { frame: 1, preset: tags.presets[0] ?? null, window: null, level: null };
    const what = tags.kind === "waveform" ? t("att.dicom_ecg") : (tags.modality ?? "DICOM");
    const img = el("img", { class: "att-image dicom-frame", alt: "" });
    const error = el("p", { class: "error field-error", role: "alert" });
    const position = el("span", { class: "frame-position", "aria-live": "polite" });
    const prev = el("button", { type: "button", class: "secondary frame-prev", "aria-label": t("att.frame_prev"), onclick: () => go(-1) }, "‹");
    const next = el("button", { type: "button", class: "secondary frame-next", "aria-label": t("att.frame_next"), onclick: () => go(1) }, "›");
    const presets = tags.presets.map((p) => el("button", { type: "button", class: "secondary preset", "data-preset": p,
      title: PRESET_NUMBERS[p] ?? "", onclick: () => { Object.assign(state, { preset: p, window: null, level: null }); show(); } },
    t(`att.preset.${p}`)));
    let seq = 0;

    async function show() {
      const mine = ++seq;
      const q = new URLSearchParams();
      if (state.window !== null) { q.set("window", state.window); q.set("level", state.level); } else if (state.preset) q.set("preset", state.preset);
      position.textContent = `${state.frame} / ${tags.frames}`;
      prev.disabled = state.frame <= 1;
      next.disabled = state.frame >= tags.frames;
      for (const b of presets) b.setAttribute("aria-pressed", String(state.window === null && b.dataset.preset === state.preset));
      img.setAttribute("aria-busy", "true");
      try {
        const url = await blobUrl(`${file}/frames/${state.frame}.png?${q}`, "image/png");
        if (mine !== seq) return;
        const old = img.src;
        img.src = url;
        if (old) { URL.revokeObjectURL(old); urls = urls.filter((u) => u !== old); }
        img.alt = t("att.dicom_alt", { what, n: state.frame, of: tags.frames });
        img.dataset.frame = state.frame;
        img.dataset.preset = state.window === null ? (state.preset ?? "") : "custom";
        error.textContent = "";
      } catch (e) {
        if (mine === seq) error.textContent = e.message;
      } finally {
        if (mine === seq) img.removeAttribute("aria-busy");
      }
    }
    function go(step) {
      const n = Math.min(tags.frames, Math.max(1, state.frame + step));
      if (n !== state.frame) { state.frame = n; show(); }
    }

    const custom = tags.presets.length ? windowForm(state, error, show) : null;
    const pager = tags.frames > 1 ? el("div", { class: "frame-pager" }, prev, position, next) : null;
    const stage = zoomable(img);
    // on a desk, the arrow keys page through the frames
    stage.addEventListener("keydown", (ev) => {
      if (ev.key === "ArrowLeft") { ev.preventDefault(); go(-1); } else if (ev.key === "ArrowRight") { ev.preventDefault(); go(1); }
    });
    fill(body,
      presets.length ? el("div", { class: "presets", role: "group", "aria-label": t("att.presets") }, presets) : null,
      stage, pager, error, custom, dicomTags(tags));
    await show();
  }

  /** A window of one's own (greyscale only): width and centre, in the study's units (HU for CT). */
  function windowForm(state, error, show) {
    const w = el("input", { type: "number", id: `att-w-${uid}`, step: "any", min: 1, inputmode: "decimal" });
    const l = el("input", { type: "number", id: `att-l-${uid}`, step: "any", inputmode: "decimal" });
    return el("form", { class: "row window-form", novalidate: true, onsubmit: (ev) => {
      ev.preventDefault();
      const width = Number(w.value), level = Number(l.value);
      if (w.value === "" || !(width > 0)) { error.textContent = t("att.need_width"); w.focus(); return; }
      if (l.value === "" || !Number.isFinite(level)) { error.textContent = t("att.need_level"); l.focus(); return; }
      Object.assign(state, { window: width, level });
      show();
    } },
    el("div", {}, el("label", { for: w.id }, t("att.width")), w),
    el("div", {}, el("label", { for: l.id }, t("att.level")), l),
    el("div", { class: "window-apply" }, el("button", { type: "submit", class: "secondary" }, t("att.apply"))));
  }

  // ---------------------------------------------------------------------------------- upload
  function uploadForm() {
    const kind = el("select", { id: `att-kind-${uid}` }, KINDS.map((k) => el("option", { value: k }, t(`att.kind.${k}`))));
    const input = el("input", { type: "file", id: `att-file-${uid}`, class: "sr-only att-file", accept: ACCEPT });
    const chosen = el("span", { class: "muted att-chosen" }, t("att.no_file"));
    const error = el("p", { class: "error field-error", role: "alert", id: `att-error-${uid}` });
    const send = el("button", { type: "submit", class: "att-send" }, t("att.attach"));
    input.addEventListener("change", () => {
      chosen.textContent = input.files[0] ? `${input.files[0].name} · ${fmtSize(input.files[0].size)}` : t("att.no_file");
      error.textContent = "";
    });
    const form = el("form", { class: "att-upload", novalidate: true },
      el("h4", {}, t("att.add")),
      el("div", { class: "row" },
        el("div", { class: "att-kind" }, el("label", { for: kind.id }, t("att.kind")), kind),
        el("div", { class: "att-pick" }, el("span", { class: "label" }, t("att.file")),
          el("span", { class: "att-pick-row" }, input,
            el("label", { for: input.id, class: "button secondary att-choose" }, t("att.choose")), chosen))),
      el("p", { class: "muted" }, t("att.rules")),
      error,
      el("div", { class: "actions" }, send));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      error.textContent = "";
      const file = input.files[0];
      if (!file) { error.textContent = t("att.need_file"); return; }
      if (file.size > MAX_BYTES) { error.textContent = t("att.too_big"); return; }
      const data = new FormData();
      data.append("kind", kind.value);
      data.append("file", await typed(file));
      send.disabled = true;
      try {
        const added = await api(base, { method: "POST", body: data });
        form.reset();
        chosen.textContent = t("att.no_file");
        await load();
        note.textContent = t("att.added", { name: added.filename });
        // the conversation may point to it now (chat.js)
        window.dispatchEvent(new CustomEvent("rujuk:attachments", { detail: { referral: r.id } }));
      } catch (e) {
        error.textContent = e.status === 409 ? t("att.conflict") : e.message;
      } finally {
        send.disabled = false;
      }
    });
    return form;
  }

  render();
  /** Open one attachment in this section's viewer (a message of the conversation links to it). */
  section.show = async (id) => {
    if (items === null || !items.some((x) => x.id === id)) await load();  // attached since the list was read
    const a = items?.find((x) => x.id === id);
    if (!a) return false;
    section.open = true;
    await view(a);
    return true;
  };
  section.reload = load;
  load();
  return section;
}

/** The numbers of each CT preset (W, L in HU), as a radiographer reads them on the button. */
const PRESET_NUMBERS = {
  brain: "W80 L40", subdural: "W200 L75", stroke: "W40 L40", lung: "W1500 L-600", mediastinum: "W350 L50",
  abdomen: "W400 L40", liver: "W150 L30", bone: "W2000 L500",
};

/** A study's key tags: what it shows and how it was stored (never the patient: the letter says who). */
function dicomTags(tags) {
  const date = tags.study_date && /^\d{4}-\d{2}-\d{2}$/.test(tags.study_date)
    ? new Date(`${tags.study_date}T00:00:00Z`).toLocaleDateString(lang === "en" ? "en-GB" : "id-ID", { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" })
    : tags.study_date;
  const rows = [
    ["att.tag.modality", tags.modality],
    ["att.tag.body_part", tags.body_part, true],
    ["att.tag.date", date],
    ["att.tag.series", tags.series_description, true],
    ["att.tag.size", tags.rows ? t("att.pixels", { w: fmtNum(tags.columns), h: fmtNum(tags.rows) }) : null],
    ["att.tag.frames", tags.frames > 1 ? fmtNum(tags.frames) : null],
    ["att.tag.window", tags.window ? `W ${fmtNum(tags.window.width, 1)} · L ${fmtNum(tags.window.center, 1)}` : null],
    ["att.tag.syntax", tags.transfer_syntax, true],
    ["att.tag.photometric", tags.photometric, true],
  ].filter(([, v]) => v !== null && v !== undefined && v !== "");
  // a value written by the modality or the standard (CHEST, "JPEG Baseline") is the file's words
  return el("dl", { class: "dicom-tags" }, rows.flatMap(([key, v, theirs]) => [
    el("dt", {}, t(key)), el("dd", theirs ? { lang: "" } : {}, v)]));
}

// --------------------------------------------------------------------------------------- zoom
/** An image in a frame that zooms: − and + (and back to fit), two fingers on a phone, Ctrl and
 * the wheel on a desk; zoomed in, the frame scrolls (never the page sideways). */
function zoomable(img) {
  let zoom = 1;
  const frame = el("div", { class: "zoom-frame", tabindex: "0", "aria-label": t("att.zoom_area") }, img);
  const level = el("span", { class: "zoom-level muted" });
  const out = el("button", { type: "button", class: "secondary zoom-out", "aria-label": t("att.zoom_out"), onclick: () => set(zoom / 1.5) }, "−");
  const inn = el("button", { type: "button", class: "secondary zoom-in", "aria-label": t("att.zoom_in"), onclick: () => set(zoom * 1.5) }, "+");
  const fit = el("button", { type: "button", class: "secondary zoom-fit", onclick: () => set(1) }, t("att.zoom_fit"));
  function set(z, at = null) {
    const before = zoom;
    zoom = Math.min(MAX_ZOOM, Math.max(1, z));
    // keep the point under the fingers (or the middle) where it was
    const cx = at?.x ?? frame.clientWidth / 2, cy = at?.y ?? frame.clientHeight / 2;
    const fx = (frame.scrollLeft + cx) / before, fy = (frame.scrollTop + cy) / before;
    img.style.width = `${zoom * 100}%`;
    img.style.maxWidth = zoom > 1 ? "none" : "";
    frame.scrollLeft = fx * zoom - cx;
    frame.scrollTop = fy * zoom - cy;
    frame.dataset.zoom = zoom.toFixed(2);
    level.textContent = `${fmtNum(zoom * 100)} %`;
    out.disabled = zoom <= 1;
    inn.disabled = zoom >= MAX_ZOOM;
  }
  // two fingers: the distance between them scales the picture; one finger scrolls as usual
  const touches = new Map();
  let pinch = null;
  const spread = () => { const [a, b] = [...touches.values()]; return Math.hypot(a.x - b.x, a.y - b.y) || 1; };
  const centre = () => {
    const [a, b] = [...touches.values()];
    const box = frame.getBoundingClientRect();
    return { x: (a.x + b.x) / 2 - box.left, y: (a.y + b.y) / 2 - box.top };
  };
  frame.addEventListener("pointerdown", (ev) => {
    if (ev.pointerType !== "touch") return;
    touches.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
    if (touches.size === 2) pinch = { spread: spread(), zoom };
  });
  frame.addEventListener("pointermove", (ev) => {
    if (!touches.has(ev.pointerId)) return;
    touches.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
    if (pinch && touches.size === 2) { ev.preventDefault(); set(pinch.zoom * spread() / pinch.spread, centre()); }
  });
  for (const type of ["pointerup", "pointercancel"]) {
    frame.addEventListener(type, (ev) => { touches.delete(ev.pointerId); if (touches.size < 2) pinch = null; });
  }
  frame.addEventListener("wheel", (ev) => {
    if (!ev.ctrlKey) return;
    ev.preventDefault();
    const box = frame.getBoundingClientRect();
    set(zoom * (ev.deltaY < 0 ? 1.25 : 0.8), { x: ev.clientX - box.left, y: ev.clientY - box.top });
  }, { passive: false });
  frame.addEventListener("keydown", (ev) => {
    if (ev.key === "+" || ev.key === "=") set(zoom * 1.5);
    else if (ev.key === "-") set(zoom / 1.5);
  });
  set(1);
  return el("div", { class: "zoomable" }, frame, el("div", { class: "zoom-bar" }, out, level, inn, fit));
}

// rujuk: a video call inside a referral (service/referrals/calls.py). The browsers talk to each
// other with WebRTC; rujuk carries their signalling (offer, answer, ICE candidates) over its own
// signed-in API and records the call in the referral's history. On a weak connection (or without a
// camera) the call goes on with sound only.
import { $, announce, api, el, follow, t } from "/static/common.js";

/** The events of a call in a referral's feed. */
export const RING_KINDS = new Set(["call_from_sender", "call_from_receiver"]);
export const CALL_KINDS = new Set([...RING_KINDS, "call_start", "call_end"]);

let current = null; // the one call of this page
const WEAK_BITRATE = 150_000; // bits/s available to send: below it, sound only
const WEAK_RTT_S = 1.0;

function overlay() {
  let box = $("#call");
  if (!box) {
    box = el("section", { id: "call", class: "call-overlay", hidden: true, "aria-live": "polite", "aria-label": t("call.title") });
    document.body.append(box);
  }
  return box;
}

function render({ state, text, actions = [] }) {
  const box = overlay();
  box.hidden = false;
  box.dataset.state = state;
  const videos = current?.videos ?? null;
  box.replaceChildren(
    el("p", { class: "call-status" }, text),
    videos,
    el("div", { class: "actions" }, ...actions));
}

function close() {
  const c = current;
  current = null;
  c?.stopSignals?.();
  clearInterval(c?.statsTimer);
  c?.pc?.close();
  c?.stream?.getTracks().forEach((tr) => tr.stop());
  const box = overlay();
  box.hidden = true;
  box.dataset.state = "ended";
  box.replaceChildren();
}

async function media() {
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true }), audioOnly: false };
  } catch {
    // no camera (or refused): sound only, said
    return { stream: await navigator.mediaDevices.getUserMedia({ audio: true }), audioOnly: true };
  }
}

async function signal(kind, payload = {}) {
  if (!current) return;
  await api(`/api/calls/${current.id}/signals`, { method: "POST", body: { kind, payload }, quiet: true });
}

function hangUpButton() {
  return el("button", { type: "button", class: "danger call-hangup", onclick: hangUp }, t("call.hang_up"));
}
function audioButton() {
  return el("button", { type: "button", class: "secondary call-audio-only", onclick: () => goAudioOnly(true) }, t("call.audio_only"));
}

async function hangUp() {
  const c = current;
  if (!c) return;
  try { await api(`/api/calls/${c.id}/end`, { method: "POST", body: {}, quiet: true }); } catch { /* ended anyway here */ }
  close();
  announce(t("call.ended"));
}

/** Sound only: the camera's track is stopped and the other side told (a weak link, or chosen). */
function goAudioOnly(chosen) {
  const c = current;
  if (!c || c.audioOnly) return;
  c.audioOnly = true;
  c.stream.getVideoTracks().forEach((tr) => { tr.stop(); c.stream.removeTrack(tr); });
  c.pc.getSenders().filter((s) => s.track?.kind === "video" || s.track === null).forEach((s) => s.replaceTrack(null));
  overlay().dataset.audioOnly = "1";
  signal("audio_only", { chosen }).catch(() => undefined);
  showConnected();
  if (!chosen) announce(t("call.weak"), "warn");
}

function showConnected() {
  const c = current;
  render({ state: "connected", text: `${t("call.with", { f: c.other })}${c.audioOnly ? ` · ${t("call.sound_only")}` : ""}`,
    actions: [c.audioOnly ? null : audioButton(), hangUpButton()] });
}

/** Watch the link: too little bandwidth or too slow a round trip, and the call goes on with sound only. */
function watchLink() {
  const c = current;
  c.statsTimer = setInterval(async () => {
    if (!current || current !== c || c.audioOnly) return;
    const stats = await c.pc.getStats();
    stats.forEach((s) => {
      if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") {
        const weak = (s.availableOutgoingBitrate !== undefined && s.availableOutgoingBitrate < WEAK_BITRATE)
          || (s.currentRoundTripTime !== undefined && s.currentRoundTripTime > WEAK_RTT_S);
        if (weak) goAudioOnly(false);
      }
    });
  }, 3000);
}

async function connect(call, other, { caller }) {
  const { stream, audioOnly } = await media();
  const local = el("video", { class: "call-local", autoplay: true, muted: true, playsinline: true });
  local.srcObject = stream;
  local.muted = true;
  const remote = el("video", { class: "call-remote", autoplay: true, playsinline: true });
  const pc = new RTCPeerConnection({ iceServers: call.ice_servers ?? [] });
  current = { id: call.id, pc, stream, other, audioOnly, videos: el("div", { class: "call-videos" }, remote, local) };
  if (audioOnly) { overlay().dataset.audioOnly = "1"; signal("audio_only", { chosen: false }).catch(() => undefined); }
  stream.getTracks().forEach((tr) => pc.addTrack(tr, stream));
  pc.ontrack = (ev) => {
    remote.srcObject = ev.streams[0];
    remote.dataset.remote = "1";
  };
  pc.onicecandidate = (ev) => { if (ev.candidate) signal("candidate", ev.candidate.toJSON()).catch(() => undefined); };
  pc.onconnectionstatechange = () => {
    if (!current || current.pc !== pc) return;
    if (pc.connectionState === "connected") { showConnected(); watchLink(); }
    if (pc.connectionState === "failed") { announce(t("call.failed"), "bad"); hangUp(); }
  };
  const pending = []; // candidates that came before the description
  current.stopSignals = follow(`/api/calls/${call.id}/signals?after=0`, async (type, s) => {
    if (type === "ended") { close(); announce(t("call.ended_other", { f: other })); return; }
    try {
      if (s.kind === "offer") {
        await pc.setRemoteDescription(s.payload);
        for (const cand of pending.splice(0)) await pc.addIceCandidate(cand);
        await pc.setLocalDescription(await pc.createAnswer());
        await signal("answer", pc.localDescription.toJSON());
      } else if (s.kind === "answer") {
        await pc.setRemoteDescription(s.payload);
        for (const cand of pending.splice(0)) await pc.addIceCandidate(cand);
      } else if (s.kind === "candidate") {
        if (pc.remoteDescription) await pc.addIceCandidate(s.payload);
        else pending.push(s.payload);
      } else if (s.kind === "audio_only" && current) {
        overlay().dataset.otherAudioOnly = "1";
        announce(t("call.other_sound_only", { f: other }));
      }
    } catch (e) { console.error(e); }
  });
  render({ state: "connecting", text: t("call.connecting", { f: other }), actions: [hangUpButton()] });
  if (caller) {
    await pc.setLocalDescription(await pc.createOffer());
    await signal("offer", pc.localDescription.toJSON());
  }
}

/** Call the other side of a referral from this page. */
export async function startCall(referralId, other) {
  if (current) { announce(t("call.busy"), "warn"); return; }
  let call;
  try {
    call = await api(`/api/referrals/${referralId}/calls`, { method: "POST" });
  } catch (e) { announce(e.message, "bad"); return; }
  current = { id: call.id, other, videos: null };
  render({ state: "ringing", text: t("call.ringing", { f: other }), actions: [hangUpButton()] });
  // the other side's page answers: its offer arrives; until then, the call rings (and may be declined)
  current.stopSignals = follow(`/api/calls/${call.id}/signals?after=0`, (type) => {
    if (type === "ended") { close(); announce(t("call.not_answered", { f: other }), "warn"); }
  });
  const waitAnswer = setInterval(async () => {
    if (!current || current.id !== call.id) { clearInterval(waitAnswer); return; }
    try {
      const list = await api(`/api/referrals/${referralId}/calls`, { quiet: true });
      const now = list.find((c) => c.id === call.id);
      if (now?.state === "active") {
        clearInterval(waitAnswer);
        current.stopSignals?.();
        await connect(call, other, { caller: true });
      } else if (now?.state === "ended") { clearInterval(waitAnswer); close(); announce(t("call.not_answered", { f: other }), "warn"); }
    } catch { /* next time */ }
  }, 1000);
}

/** A call rings on this page (a feed event): answer or decline. */
export async function incomingCall(referralId, other, { beep } = {}) {
  if (current) return;
  let list;
  try { list = await api(`/api/referrals/${referralId}/calls`, { quiet: true }); } catch { return; }
  const call = list.find((c) => c.state === "ringing" && c.caller_side !== c.my_side);
  if (!call) return;
  current = { id: call.id, other, videos: null };
  beep?.();
  render({ state: "incoming", text: t("call.incoming", { f: other }), actions: [
    el("button", { type: "button", class: "accept call-answer", onclick: async () => {
      try {
        const answered = await api(`/api/calls/${call.id}/answer`, { method: "POST" });
        await connect(answered, other, { caller: false });
      } catch (e) { announce(e.message, "bad"); close(); }
    } }, t("call.answer")),
    el("button", { type: "button", class: "danger call-decline", onclick: async () => {
      try { await api(`/api/calls/${call.id}/end`, { method: "POST", body: { declined: true }, quiet: true }); } catch { /* gone */ }
      close();
    } }, t("call.decline")),
  ] });
}

/** A call's end seen on the feed (the other side hung up while this page was not yet connected). */
export function callEvent(ev) {
  if (ev.kind === "call_end" && current && !current.pc) close();
}

/** The button that calls the other side. */
export function callButton(referralId, other) {
  return el("button", { type: "button", class: "secondary call-start", onclick: () => startCall(referralId, other) }, t("call.start"));
}

// Visitas call page: device check, Socket.IO signaling and a WebRTC mesh with perfect
// negotiation. Plain ES module, no build step. Media goes peer to peer; the server only relays
// the offers, answers and ICE candidates of the room its ticket names.
import { io } from "./vendor/socket.io.esm.min.js";

const root = document.getElementById("call");
const $ = (id) => document.getElementById(id);

/** All call state lives here. */
const state = {
  role: root.dataset.role,
  callState: "idle",
  localStream: null,
  socket: null,
  selfId: null,
  joined: false,
  joinAttempts: 0, // joins sent without an answer since the last one that got in
  ended: false,
  peers: new Map(), // peer id -> { id, name, role, pc, polite, makingOffer, ignoreOffer, tracksAdded, pending, queue, tile }
  iceServers: [],
  maxVideoKbps: 500,
  muted: false,
  cameraOff: false,
  meter: null,
  keepAlive: 0,
  lobby: null, // { since, timer } while this relative waits to be let in
  rttMs: null, // how long the last ticket took to fetch, for the nurse's view of the device check
  timeline: {}, // milestone -> time (ms since the epoch, sub-ms), for diagnostics and benchmarks
  firstFrames: {}, // peer id -> time its first video frame was shown
};

/** Notes when a milestone of this join first happened. */
function mark(name) {
  state.timeline[name] ??= performance.timeOrigin + performance.now();
}

/** A translated string from the page's data-t-* attributes. */
function t(key) {
  const name = "t" + key.replace(/(^|-)([a-z])/g, (_, __, c) => c.toUpperCase());
  return root.dataset[name] || key;
}

// ---------------------------------------------------------------- call state

function setCallState(next) {
  state.callState = next;
  document.documentElement.dataset.callState = next;
  $("status").textContent = t(next);
}

/** Derives the shown state from the socket and the peer connections. */
function refreshCallState() {
  if (state.ended) return setCallState("ended");
  if (!state.joined) return setCallState(state.socket && state.selfId ? "reconnecting" : "connecting");
  const peers = [...state.peers.values()];
  if (peers.length === 0) return setCallState("waiting");
  const states = peers.map((p) => p.pc.connectionState);
  if (states.includes("connected")) return setCallState("connected");
  if (states.some((s) => s === "disconnected" || s === "failed")) return setCallState("reconnecting");
  setCallState("connecting");
}

function showNotice(message) {
  const notice = $("notice");
  notice.textContent = message;
  notice.hidden = !message;
}

// ---------------------------------------------------------------- media

const VIDEO = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 20, max: 24 } };
const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

/** Opens camera and microphone (the chosen ones, if any); falls back to sound only. */
async function openMedia() {
  if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
    throw Object.assign(new Error("insecure"), { key: "insecure" });
  }
  const cameraId = $("camera-select")?.value;
  const micId = $("mic-select")?.value;
  const video = cameraId ? { ...VIDEO, deviceId: { exact: cameraId } } : VIDEO;
  const audio = micId ? { ...AUDIO, deviceId: { exact: micId } } : AUDIO;
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ video, audio }), notice: "" };
  } catch (err) {
    if (err.name === "NotAllowedError" || err.name === "SecurityError") {
      throw Object.assign(err, { key: "perm-denied" });
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio });
      return { stream, notice: t("no-camera") };
    } catch (audioErr) {
      const key = audioErr.name === "NotAllowedError" ? "perm-denied" : "no-devices";
      throw Object.assign(audioErr, { key });
    }
  }
}

function stopMedia() {
  state.localStream?.getTracks().forEach((track) => track.stop());
  state.localStream = null;
  stopMeter();
}

/** Fills the device choices once the browser has let us see their names. */
async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  fillSelect($("camera-select"), devices.filter((d) => d.kind === "videoinput"), "videoinput");
  fillSelect($("mic-select"), devices.filter((d) => d.kind === "audioinput"), "audioinput");
}

function fillSelect(select, devices, kind) {
  const current = state.localStream?.getTracks().find((tr) => (kind === "videoinput" ? tr.kind === "video" : tr.kind === "audio"));
  const currentId = current?.getSettings().deviceId;
  select.replaceChildren(...devices.map((d, i) => {
    const option = new Option(d.label || `${kind === "videoinput" ? "📷" : "🎤"} ${i + 1}`, d.deviceId);
    option.selected = d.deviceId === currentId;
    return option;
  }));
  select.closest("label").hidden = devices.length === 0;
}

/** Microphone level bar, so a relative can see the microphone works. */
function startMeter(stream, bar = $("level")) {
  stopMeter();
  const track = stream.getAudioTracks()[0];
  if (!track || !window.AudioContext) return;
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Uint8Array(analyser.fftSize);
  let frame = 0;
  const draw = () => {
    analyser.getByteTimeDomainData(samples);
    let peak = 0;
    for (const s of samples) peak = Math.max(peak, Math.abs(s - 128));
    bar.style.width = `${Math.min(100, (peak / 64) * 100)}%`;
    frame = requestAnimationFrame(draw);
  };
  draw();
  context.resume().catch(() => {});
  state.meter = { context, stop: () => cancelAnimationFrame(frame) };
}

function stopMeter() {
  state.meter?.stop();
  state.meter?.context.close();
  state.meter = null;
}

// ---------------------------------------------------------------- device check (relatives)

async function runDeviceCheck() {
  $("check").hidden = false;
  $("check-error").hidden = true;
  $("retry").hidden = true;
  $("join").disabled = true;
  try {
    stopMedia();
    const { stream, notice } = await openMedia();
    state.localStream = stream;
    $("preview").srcObject = stream;
    startMeter(stream);
    await listDevices();
    if (notice) showCheckError(notice, false);
    $("join").disabled = false;
  } catch (err) {
    showCheckError(t(err.key || "no-devices"), true);
  }
}

function showCheckError(message, canRetry) {
  $("check-error").textContent = message;
  $("check-error").hidden = false;
  $("retry").hidden = !canRetry;
}

// ---------------------------------------------------------------- signaling

function connect() {
  $("check").hidden = true;
  $("stage").hidden = false;
  $("after").hidden = true;
  showNotice("");
  stopMeter();
  $("self-view").srcObject = state.localStream;
  state.ended = false;
  state.joinAttempts = 0;
  setCallState("connecting");

  const socket = io({
    transports: ["websocket"],
    reconnectionDelay: 500,
    reconnectionDelayMax: 3000,
    // A fresh ticket for every (re)connection: tickets live two minutes.
    auth: (cb) => fetchTicket().then((ticket) => cb({ ticket })),
  });
  state.socket = socket;
  // Fetching a ticket now and then keeps the session alive during a long call, so that a
  // reconnection after a network blip is still allowed.
  clearInterval(state.keepAlive);
  state.keepAlive = setInterval(() => fetchTicket(), 5 * 60 * 1000);

  socket.on("connect", () => {
    mark("socket-connected");
    requestJoin(socket);
  });
  socket.on("connect_error", () => {
    // A refused handshake (revoked, room closed, session over) is not retried by the client.
    if (!socket.active) endCall("not-allowed");
  });
  socket.on("disconnect", (reason) => {
    state.joined = false;
    closeAllPeers();
    if (reason === "io server disconnect" && !state.ended) return endCall("not-allowed");
    refreshCallState();
  });
  socket.on("peer-joined", (peer) => {
    showNotice("");
    ensurePeer(peer.id, peer.name, peer.role);
    refreshCallState();
  });
  socket.on("peer-left", ({ id }) => {
    const peer = state.peers.get(id);
    if (peer) showNotice(t("other-left").replace("{name}", peer.name || t("role-" + peer.role)));
    removePeer(id);
  });
  socket.on("signal", ({ from, data }) => {
    const peer = ensurePeer(from);
    peer.queue = peer.queue.then(() => handleSignal(peer, data)).catch((err) => console.warn("signal", err));
  });
  socket.on("ended", ({ reason, message }) => endCall(reason, message));
  // Let in from the waiting room: the same answer a join gets.
  socket.on("admitted", (answer) => {
    mark("admitted");
    onJoined(answer);
  });
  socket.on("not-now", ({ message }) => {
    $("lobby-message").textContent = t("not-now-" + message);
    $("lobby-message").dataset.message = message;
  });
  socket.on("notice", ({ key }) => showNotice(t(key)));
}

/** What the nurse sees of this device while the relative waits. */
function deviceCheck() {
  const live = (kind) => !!state.localStream?.getTracks().some((tr) => tr.kind === kind && tr.readyState === "live");
  return { camera: live("video"), microphone: live("audio"), browser: browserName(), rttMs: state.rttMs };
}

/** "Chrome 131 on Android", from the user agent, for the nurse's eyes only. */
function browserName() {
  const ua = navigator.userAgent;
  const found = [["Edg/", "Edge"], ["Firefox/", "Firefox"], ["Chrome/", "Chrome"], ["Version/", "Safari"]]
    .map(([token, name]) => { const m = ua.match(new RegExp(token.replace("/", "\\/") + "(\\d+)")); return m && `${name} ${m[1]}`; })
    .find(Boolean) || "";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Windows/.test(ua) ? "Windows"
    : /Mac OS/.test(ua) ? "macOS" : /Linux/.test(ua) ? "Linux" : "";
  return [found, os].filter(Boolean).join(" · ");
}

// ---------------------------------------------------------------- waiting room (relatives)

function enterLobby() {
  setCallState("waiting-room");
  $("stage").hidden = true;
  $("lobby").hidden = false;
  $("lobby-preview").srcObject = state.localStream;
  if (state.localStream) startMeter(state.localStream, $("lobby-level"));
  if (state.lobby) return;
  const since = Date.now();
  const tick = () => {
    const secs = Math.floor((Date.now() - since) / 1000);
    $("lobby-waited").textContent = `${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, "0")}`;
  };
  tick();
  state.lobby = { since, timer: setInterval(tick, 1000) };
}

function leaveLobby() {
  if (!state.lobby) return;
  clearInterval(state.lobby.timer);
  state.lobby = null;
  stopMeter();
  $("lobby").hidden = true;
  $("stage").hidden = false;
}

/** A short tone, so a relative can check they will hear the call. */
function testSpeaker() {
  const context = new AudioContext();
  const tone = context.createOscillator();
  const gain = context.createGain();
  tone.frequency.value = 660;
  gain.gain.value = 0.2;
  tone.connect(gain).connect(context.destination);
  tone.start();
  tone.stop(context.currentTime + 0.4);
  tone.onended = () => context.close();
}

/** A call ticket; "" when the server says no (the handshake then fails and the call ends).
 * Network and server errors are retried, so a blip does not end a visit. */
async function fetchTicket() {
  for (let attempt = 0; attempt < 6; attempt++) {
    try {
      const started = performance.now();
      const r = await fetch(root.dataset.ticketUrl, { credentials: "same-origin", cache: "no-store", redirect: "manual" });
      state.rttMs = Math.round(performance.now() - started);
      if (r.ok) return (await r.json()).ticket;
      if (r.type === "opaqueredirect" || (r.status >= 400 && r.status < 500)) return "";
    } catch {
      // Offline for a moment: try again below.
    }
    await new Promise((resolve) => setTimeout(resolve, 1000 * (attempt + 1)));
  }
  return "";
}

/** How long the server has to answer a `join`, and how many connections may try. */
const JOIN_TIMEOUT_MS = 5000;
const JOIN_ATTEMPTS = 3;

/** Sends `join`; without an answer in time, starts over on a fresh connection (a fresh ticket and
 * socket, which the server lets replace this one), and gives up with a clear message after a few
 * tries instead of showing "connecting" forever. */
function requestJoin(socket) {
  state.joinAttempts += 1;
  socket.timeout(JOIN_TIMEOUT_MS).emit("join", deviceCheck(), (err, answer) => {
    if (state.socket !== socket || state.ended) return;
    if (!err) return onJoined(answer);
    if (state.joinAttempts >= JOIN_ATTEMPTS) return endCall("no-answer");
    socket.disconnect();
    socket.connect();
  });
}

function onJoined(answer) {
  // A second join on one socket is refused; the first one's answer stands.
  if (answer?.error === "already-joined") return;
  if (!answer || answer.error) return endCall(answer?.error || "not-allowed");
  if (answer.waiting) return enterLobby();
  leaveLobby();
  state.joinAttempts = 0;
  mark("joined");
  state.selfId = answer.id;
  state.joined = true;
  state.iceServers = answer.iceServers || [];
  state.maxVideoKbps = answer.maxVideoKbps || 500;
  // The newcomer starts the negotiation with everyone already there.
  for (const peer of answer.peers) addLocalTracks(ensurePeer(peer.id, peer.name, peer.role));
  refreshCallState();
}

function send(to, data) {
  state.socket?.emit("signal", { to, data });
}

// ---------------------------------------------------------------- peers

function ensurePeer(id, name = "", role = "") {
  let peer = state.peers.get(id);
  if (peer) {
    if (name) peer.name = name;
    if (role) peer.role = role;
    return peer;
  }
  const pc = new RTCPeerConnection({ iceServers: state.iceServers });
  peer = { id, name, role, pc, polite: state.selfId < id, makingOffer: false, ignoreOffer: false,
    tracksAdded: false, pending: [], queue: Promise.resolve(), tile: createTile(id, name, role) };
  state.peers.set(id, peer);

  pc.ontrack = ({ track, streams }) => {
    const video = peer.tile.querySelector("video");
    const stream = streams[0] || video.srcObject || new MediaStream();
    if (!streams[0]) stream.addTrack(track);
    if (video.srcObject !== stream) video.srcObject = stream;
    if (track.kind === "video") watchFirstFrame(peer, video);
    // Autoplay with sound can be refused where nobody tapped the page: then the picture plays
    // muted at once, and one big button brings the sound.
    video.play?.().catch(() => {
      video.muted = true;
      video.play().catch(() => {});
      $("unmute-audio").hidden = false;
    });
  };
  pc.onicecandidate = ({ candidate }) => send(id, { candidate: candidate ? candidate.toJSON() : null });
  pc.onnegotiationneeded = async () => {
    try {
      peer.makingOffer = true;
      await pc.setLocalDescription();
      send(id, { description: pc.localDescription.toJSON() });
      mark(pc.localDescription.type + "-sent");
    } catch (err) {
      console.warn("negotiation", err);
    } finally {
      peer.makingOffer = false;
    }
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "connected") capBitrate(peer);
    if (pc.connectionState === "failed") pc.restartIce?.();
    refreshCallState();
  };
  pc.oniceconnectionstatechange = () => {
    if (pc.iceConnectionState === "connected") mark("ice-connected");
    if (pc.iceConnectionState === "failed") pc.restartIce?.();
  };
  return peer;
}

/** Perfect negotiation (W3C WebRTC §10.7): works whoever offers first, and after a reload. */
async function handleSignal(peer, { description, candidate }) {
  const pc = peer.pc;
  if (description) {
    const collision = description.type === "offer" && (peer.makingOffer || pc.signalingState !== "stable");
    peer.ignoreOffer = !peer.polite && collision;
    if (peer.ignoreOffer) return;
    mark(description.type + "-received");
    await pc.setRemoteDescription(description);
    for (const c of peer.pending.splice(0)) await addCandidate(peer, c);
    if (description.type === "offer") {
      addLocalTracks(peer); // reuses the offer's transceivers, so the answer carries our media
      await pc.setLocalDescription();
      send(peer.id, { description: pc.localDescription.toJSON() });
    }
  } else if (candidate !== undefined) {
    if (!pc.remoteDescription) peer.pending.push(candidate);
    else await addCandidate(peer, candidate);
  }
}

async function addCandidate(peer, candidate) {
  try {
    await peer.pc.addIceCandidate(candidate ?? undefined);
  } catch (err) {
    if (!peer.ignoreOffer) console.warn("candidate", err);
  }
}

/** Notes when the first frame of a peer's video is on screen. */
function watchFirstFrame(peer, video) {
  const seen = () => {
    const at = performance.timeOrigin + performance.now();
    state.firstFrames[peer.id] ??= at;
    mark("first-frame");
  };
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(seen);
  else video.addEventListener("loadeddata", seen, { once: true });
}

function addLocalTracks(peer) {
  if (peer.tracksAdded || !state.localStream) return;
  peer.tracksAdded = true;
  for (const track of state.localStream.getTracks()) peer.pc.addTrack(track, state.localStream);
}

/** Keeps each video sender under the site's bitrate cap. */
function capBitrate(peer) {
  for (const sender of peer.pc.getSenders()) {
    if (sender.track?.kind !== "video") continue;
    const params = sender.getParameters();
    if (!params.encodings || params.encodings.length === 0) params.encodings = [{}];
    params.encodings[0].maxBitrate = state.maxVideoKbps * 1000;
    sender.setParameters(params).catch((err) => console.warn("bitrate", err));
  }
}

function createTile(id, name, role) {
  const tile = document.createElement("figure");
  tile.className = "tile";
  tile.dataset.peerId = id;
  const video = document.createElement("video");
  video.autoplay = true;
  video.playsInline = true;
  const caption = document.createElement("figcaption");
  caption.textContent = name || (role ? t("role-" + role) : "");
  tile.append(video, caption);
  $("remotes").append(tile);
  return tile;
}

function removePeer(id) {
  const peer = state.peers.get(id);
  if (!peer) return;
  state.peers.delete(id);
  peer.pc.close();
  peer.tile.remove();
  refreshCallState();
}

function closeAllPeers() {
  for (const id of [...state.peers.keys()]) removePeer(id);
}

// ---------------------------------------------------------------- controls

function endCall(reason, message) {
  if (state.ended) return;
  state.ended = true;
  leaveLobby();
  clearInterval(state.keepAlive);
  state.joined = false;
  closeAllPeers();
  state.socket?.disconnect();
  state.socket = null;
  stopMedia();
  setCallState("ended");
  const text = message ? t("sent-away-" + message) : reason && reason !== "hangup" ? t("ended-" + reason) : "";
  showNotice(text);
  $("after").hidden = state.role === "bedside";
  api.onEnd?.(reason);
}

function hangUp() {
  state.socket?.emit("leave");
  endCall("hangup");
}

function toggleMute() {
  state.muted = !state.muted;
  state.localStream?.getAudioTracks().forEach((track) => (track.enabled = !state.muted));
  $("mute").textContent = t(state.muted ? "unmute" : "mute");
  $("mute").setAttribute("aria-pressed", String(state.muted));
}

function toggleCamera() {
  setCameraOff(!state.cameraOff);
}

function setCameraOff(off) {
  state.cameraOff = off;
  state.localStream?.getVideoTracks().forEach((track) => (track.enabled = !state.cameraOff));
  $("camera").textContent = t(state.cameraOff ? "camera-on" : "camera-off");
  $("camera").setAttribute("aria-pressed", String(state.cameraOff));
}

async function startCall() {
  state.timeline = {};
  mark("join-click");
  if (!state.localStream) {
    try {
      const { stream, notice } = await openMedia();
      state.localStream = stream;
      if (notice) showNotice(notice);
    } catch (err) {
      $("stage").hidden = false;
      setCallState("ended");
      showNotice(t(err.key || "no-devices"));
      $("after").hidden = state.role === "bedside";
      api.onEnd?.(err.key || "no-devices");
      return;
    }
  }
  connect();
}

/** Numbers for tests and diagnostics: what each peer connection has received. */
async function stats() {
  const result = [];
  for (const peer of state.peers.values()) {
    const report = await peer.pc.getStats();
    let framesDecoded = 0;
    let audioPackets = 0;
    report.forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      if (s.kind === "video") framesDecoded += s.framesDecoded || 0;
      if (s.kind === "audio") audioPackets += s.packetsReceived || 0;
    });
    const video = peer.tile.querySelector("video");
    // Playing with sound: not paused, not muted by the autoplay fallback.
    const playing = !!video && !video.paused && !video.muted;
    result.push({ id: peer.id, name: peer.name, role: peer.role, connectionState: peer.pc.connectionState, framesDecoded, audioPackets, playing });
  }
  return result;
}

/** What the bedside page drives: it starts and ends calls on one long-lived page. */
export const api = { startCall, hangUp, setCameraOff, state, onEnd: null };

window.visitas = { stats, state, timeline: () => state.timeline, firstFrames: () => state.firstFrames };

$("join").addEventListener("click", startCall);
$("unmute-audio").addEventListener("click", () => {
  $("unmute-audio").hidden = true;
  for (const video of document.querySelectorAll(".tile video")) {
    video.muted = false;
    video.play().catch(() => {});
  }
});
// Browsers start an AudioContext made without a tap suspended; the first tap wakes the meter.
document.addEventListener("pointerdown", () => state.meter?.context.resume(), { once: false, passive: true });
$("retry").addEventListener("click", runDeviceCheck);
$("speaker-test").addEventListener("click", testSpeaker);
$("camera-select").addEventListener("change", runDeviceCheck);
$("mic-select").addEventListener("change", runDeviceCheck);
$("hangup").addEventListener("click", hangUp);
$("mute").addEventListener("click", toggleMute);
$("camera").addEventListener("click", toggleCamera);
$("rejoin").addEventListener("click", () => location.reload());
window.addEventListener("pagehide", () => state.socket?.emit("leave"));

if (state.role === "relative") {
  runDeviceCheck();
} else if (state.role === "bedside") {
  // The bedside page (bedside.js) starts each call when it is let in.
} else {
  // The bedside device and staff start at once: nobody at the bed should have to tap anything.
  startCall();
}

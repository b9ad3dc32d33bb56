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
  selfId: null, // this person's peer id, issued by the server, the same for the whole visit
  session: newSession(), // this page instance: a reload is a new one
  joined: false,
  everJoined: false, // in the call at least once since connect(): a reconnection resumes
  graceSecs: 60, // how long the server keeps a lost person's place
  heartbeat: 0,
  joinAttempts: 0, // joins sent without an answer since the last one that got in
  ended: false,
  peers: new Map(), // peer id -> { id, name, role, session, pc, polite, makingOffer, ignoreOffer, tracksAdded, pending, queue, tile, away, confirmed, restartTimer }
  iceServers: [],
  iceTransportPolicy: "all", // "relay" where the site sends every call through its TURN server
  maxVideoKbps: 500, // the call's video cap now (the site's budget may lower it live); 0: audio-only
  floorKbps: 150, // the lowest video bitrate worth sending: a weak link steps down to it first
  mediaSent: "", // the last `media` state told to the others
  qualityTimer: 0,
  muted: false,
  cameraOff: false,
  meter: null,
  keepAlive: 0,
  lobby: null, // { since, timer } while this relative waits to be let in
  rttMs: null, // how long the last ticket took to fetch, for the nurse's view of the device check
  timeline: {}, // milestone -> time (ms since the epoch, sub-ms), for diagnostics and benchmarks
  firstFrames: {}, // peer id -> time its first video frame was shown
};

function newSession() {
  if (window.crypto?.randomUUID) return crypto.randomUUID();
  return Array.from({ length: 4 }, () => Math.random().toString(36).slice(2, 10)).join("-");
}

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
  if (next === "connected") startTimer();
  state.callState = next;
  document.documentElement.dataset.callState = next;
  const attempts = next === "reconnecting" && state.attempts ? " " + plural("attempts", state.attempts) : "";
  $("status").textContent = t(next) + attempts;
}

/** A text with a number, in its singular or plural form ("1 intento", "2 intentos"). */
function plural(key, n) {
  return t(`${key}-${n === 1 ? "one" : "other"}`).replace("{n}", String(n));
}

/** The call's length, from when it first connected: "12:05". */
function startTimer() {
  if (state.timerSince) return;
  state.timerSince = Date.now();
  const tick = () => {
    const secs = Math.floor((Date.now() - state.timerSince) / 1000);
    const h = Math.floor(secs / 3600);
    const m = Math.floor((secs % 3600) / 60);
    const mm = h ? String(m).padStart(2, "0") : String(m);
    $("call-timer").textContent = `${h ? h + ":" : ""}${mm}:${String(secs % 60).padStart(2, "0")}`;
  };
  tick();
  $("call-timer").hidden = false;
  state.timerHandle = setInterval(tick, 1000);
}

function stopTimer() {
  clearInterval(state.timerHandle);
  state.timerSince = 0;
  $("call-timer").hidden = true;
}

/** Derives the shown state from the socket and the peer connections. */
function refreshCallState() {
  if (state.ended) return setCallState("ended");
  if (!state.joined) return setCallState(state.everJoined ? "reconnecting" : "connecting");
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
  state.meter = { context, stop: () => cancelAnimationFrame(frame) };
  // A page opened without a tap on it (Firefox: the code page's tap does not carry over) gets
  // its sound suspended, and the bar would stay flat while the page says "speak": ask for the
  // one tap that wakes it.
  context.onstatechange = () => showMeterTap(context.state === "suspended");
  context.resume().catch(() => {});
  setTimeout(() => showMeterTap(state.meter?.context === context && context.state === "suspended"), 500);
}

function showMeterTap(show) {
  for (const button of document.querySelectorAll(".meter-tap")) button.hidden = !show;
}

function stopMeter() {
  showMeterTap(false);
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
  offerFlip();
  $("check").hidden = true;
  $("stage").hidden = false;
  $("after").hidden = true;
  showNotice("");
  stopMeter();
  $("self-view").srcObject = state.localStream;
  state.ended = false;
  state.everJoined = false;
  state.joinAttempts = 0;
  setCallState("connecting");

  const socket = io({
    transports: ["websocket"],
    reconnectionDelay: 500,
    reconnectionDelayMax: 3000,
    // A connection attempt on a network that drops packets gives up after this, and the next
    // one starts: better than the default 20 s when the network comes back.
    timeout: 5000,
    // A fresh ticket for every (re)connection: tickets live two minutes.
    // Unreachable for now (null): this attempt is dropped and the next one tries again.
    auth: (cb) => fetchTicket().then((ticket) => (ticket === null ? socket.io.engine?.close() : cb({ ticket }))),
  });
  state.socket = socket;
  // Fetching a ticket now and then keeps the session alive during a long call, so that a
  // reconnection after a network blip is still allowed.
  clearInterval(state.keepAlive);
  state.keepAlive = setInterval(() => fetchTicket(), 5 * 60 * 1000);

  // Each try to reconnect, counted on the status line while it lasts.
  socket.io.on("reconnect_attempt", (attempt) => {
    state.attempts = attempt;
    refreshCallState();
  });
  socket.on("connect", () => {
    mark("socket-connected");
    startHeartbeat(socket);
    requestJoin(socket);
  });
  socket.on("connect_error", () => {
    // A refused handshake (revoked, room closed, session over) is not retried by the client.
    if (!socket.active) endCall("not-allowed");
  });
  socket.on("disconnect", (reason) => {
    // The peer connections stay: media goes browser to browser and may well still flow. The
    // socket reconnects by itself and takes this person's place back.
    state.joined = false;
    stopHeartbeat();
    if (reason === "io server disconnect" && !state.ended) return endCall("not-allowed");
    refreshCallState();
  });
  socket.on("peer-joined", peerArrived);
  socket.on("peer-back", peerArrived);
  socket.on("peer-away", ({ id }) => {
    const peer = state.peers.get(id);
    if (peer) setPeerAway(peer, true);
  });
  socket.on("peer-left", ({ id, reason }) => {
    const peer = state.peers.get(id);
    if (peer) {
      const text = reason === "connection-lost" ? t("other-lost") : t("other-left");
      showNotice(text.replace("{name}", peer.name || t("role-" + peer.role)));
    }
    removePeer(id);
  });
  socket.on("signal", ({ from, data }) => {
    const peer = state.peers.get(from) || ensurePeer(from);
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
  socket.on("peer-media", (info) => {
    const peer = state.peers.get(info.id);
    if (peer) setPeerMedia(peer, info);
  });
  // The site's video budget changed this call's cap (0: audio-only for now).
  socket.on("video-cap", ({ kbps }) => {
    state.maxVideoKbps = kbps;
    for (const peer of state.peers.values()) applySenderLimits(peer);
  });
}

/** Asks the server every 2 s whether this connection still works: a network that silently
 * drops everything is noticed within 3 s (the transport's own timeout takes 15 s or more), and
 * the socket reconnects at once. */
function startHeartbeat(socket) {
  stopHeartbeat();
  let asking = false;
  state.heartbeat = setInterval(() => {
    if (asking || state.socket !== socket || !socket.connected) return;
    asking = true;
    socket.timeout(3000).emit("alive", (err) => {
      asking = false;
      if (err && state.socket === socket && socket.connected && !state.ended) {
        socket.io.engine?.close();
      }
    });
  }, 2000);
}

function stopHeartbeat() {
  clearInterval(state.heartbeat);
  state.heartbeat = 0;
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

/** A call ticket; "" when the server says no (the handshake then fails and the call ends);
 * null when it could not be reached. Network and server errors are retried a few times, each
 * try cut short after 5 s, so a blip does not end a visit. */
async function fetchTicket() {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const started = performance.now();
      const signal = window.AbortSignal?.timeout ? AbortSignal.timeout(5000) : undefined;
      const r = await fetch(root.dataset.ticketUrl, { credentials: "same-origin", cache: "no-store", redirect: "manual", signal });
      state.rttMs = Math.round(performance.now() - started);
      if (r.ok) return (await r.json()).ticket;
      if (r.type === "opaqueredirect" || (r.status >= 400 && r.status < 500)) return "";
    } catch {
      // Offline for a moment: try again below.
    }
    await new Promise((resolve) => setTimeout(resolve, 1000 * (attempt + 1)));
  }
  return null;
}

/** How long the server has to answer a `join`, and how many connections may try. */
const JOIN_TIMEOUT_MS = 5000;
const JOIN_ATTEMPTS = 3;

/** Sends `join`; without an answer in time, starts over on a fresh connection (a fresh ticket and
 * socket, which the server lets take this person's place). A first join gives up with a clear
 * message after a few tries instead of showing "connecting" forever; a rejoin keeps trying. */
function requestJoin(socket) {
  state.joinAttempts += 1;
  const payload = { ...deviceCheck(), session: state.session, resume: state.everJoined };
  socket.timeout(JOIN_TIMEOUT_MS).emit("join", payload, (err, answer) => {
    if (state.socket !== socket || state.ended) return;
    if (!err) return onJoined(answer);
    if (!state.everJoined && state.joinAttempts >= JOIN_ATTEMPTS) return endCall("no-answer");
    // Closing the transport (not a disconnect, which would be a hang-up) reconnects.
    socket.io.engine?.close();
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
  state.everJoined = true;
  state.attempts = 0;
  state.graceSecs = answer.rejoinGraceSecs || 60;
  state.iceServers = answer.iceServers || [];
  state.iceTransportPolicy = answer.iceTransportPolicy || "all";
  state.maxVideoKbps = answer.maxVideoKbps ?? 500;
  state.floorKbps = answer.videoFloorKbps || 150;
  state.mediaSent = "";
  startQualityWatch();
  const listed = new Set();
  for (const info of answer.peers) {
    listed.add(info.id);
    const known = state.peers.get(info.id);
    if (known && known.session === info.session) {
      // Back after a blip, and so is this page: the connection between us stays, with the fresh
      // TURN credentials for its next ICE restart.
      known.pc.setConfiguration?.({ ...known.pc.getConfiguration(), iceServers: state.iceServers });
      known.confirmed = true;
      setPeerAway(known, !!info.reconnecting);
      setPeerMedia(known, info);
      resync(known);
      continue;
    }
    if (known) removePeer(info.id);
    // The newcomer (or a reloaded page) starts the negotiation with everyone already there.
    const peer = ensurePeer(info.id, info.name, info.role, info.session);
    setPeerAway(peer, !!info.reconnecting);
    setPeerMedia(peer, info);
    addLocalTracks(peer);
  }
  for (const peer of [...state.peers.values()]) {
    if (listed.has(peer.id)) continue;
    if (peer.pc.connectionState === "connected") {
      // Still connected but not listed: the server restarted and they have not rejoined yet.
      // Kept while media flows; gone if they are not back within the grace.
      peer.confirmed = false;
      setTimeout(() => {
        if (!peer.confirmed && state.peers.get(peer.id) === peer) removePeer(peer.id);
      }, state.graceSecs * 1000);
    } else {
      removePeer(peer.id);
    }
  }
  reportMedia();
  refreshCallState();
}

/** `peer-joined` or `peer-back`: someone (maybe someone we still have a connection with) is in. */
function peerArrived(info) {
  showNotice("");
  const known = state.peers.get(info.id);
  if (known && known.session === info.session) {
    known.confirmed = true;
    setPeerAway(known, false);
    resync(known);
  } else {
    // New, or their page was reloaded: they offer to us afresh.
    if (known) removePeer(info.id);
    ensurePeer(info.id, info.name, info.role, info.session);
  }
  setPeerMedia(state.peers.get(info.id), info);
  refreshCallState();
}

/** After the signaling was down: an offer that could not be sent goes now, and a connection
 * that failed meanwhile restarts ICE. */
function resync(peer) {
  const pc = peer.pc;
  if (pc.signalingState === "have-local-offer" && pc.localDescription) {
    send(peer.id, { description: pc.localDescription.toJSON() });
  }
  if (pc.connectionState === "failed" || pc.connectionState === "disconnected") restartIce(peer);
}

function restartIce(peer) {
  clearTimeout(peer.restartTimer);
  state.iceRestarts = (state.iceRestarts || 0) + 1;
  peer.pc.restartIce?.();
}

/** Shows on the person's tile that their connection is lost (they may come back). */
function setPeerAway(peer, away) {
  peer.away = away;
  refreshTile(peer);
}

function refreshTile(peer) {
  const pcLost = ["disconnected", "failed"].includes(peer.pc.connectionState);
  const reconnecting = peer.away || pcLost;
  peer.tile.dataset.reconnecting = String(reconnecting);
  const label = peer.tile.querySelector(".tile-state");
  label.textContent = reconnecting ? t("peer-reconnecting").replace("{name}", peer.name || t("role-" + peer.role)) : "";
  label.hidden = !reconnecting;
}

/** Relays a description or candidate. Not while the signaling is down: the client would buffer
 * it and send it before the rejoin, where it goes nowhere; [`resync`] sends what matters. */
function send(to, data) {
  if (!state.joined || !state.socket?.connected) return;
  state.socket.emit("signal", { to, data });
}

// ---------------------------------------------------------------- peers

function ensurePeer(id, name = "", role = "", session = "") {
  let peer = state.peers.get(id);
  if (peer) {
    if (name) peer.name = name;
    if (role) peer.role = role;
    return peer;
  }
  // With a TURN server, start allocating a relay as soon as the connection exists (the side that
  // answers creates it on `peer-joined`, before the offer arrives).
  const turn = state.iceServers.some((s) => [].concat(s.urls).some((u) => /^turns?:/.test(u)));
  const pc = new RTCPeerConnection({ iceServers: state.iceServers, iceTransportPolicy: state.iceTransportPolicy,
    iceCandidatePoolSize: turn ? 1 : 0 });
  peer = { id, name, role, session, pc, polite: state.selfId < id, makingOffer: false, ignoreOffer: false,
    tracksAdded: false, pending: [], queue: Promise.resolve(), tile: createTile(id, name, role),
    away: false, confirmed: true, restartTimer: 0,
    media: { microphone: true, camera: true, paused: false },
    quality: { level: 0, bad: 0, good: 0, hold: 10, last: null, connectedAt: 0 } };
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
  // A network change or a cut: ICE restarts when the connection failed, or stayed
  // disconnected for 5 s (it often comes back by itself sooner). Perfect negotiation sorts out
  // both sides restarting at once.
  pc.onconnectionstatechange = () => {
    const now = pc.connectionState;
    if (now === "connected") {
      mark("connected");
      clearTimeout(peer.restartTimer);
      peer.quality.connectedAt ||= Date.now();
      applySenderLimits(peer);
    } else if (now === "disconnected") {
      clearTimeout(peer.restartTimer);
      peer.restartTimer = setTimeout(() => {
        if (pc.connectionState === "disconnected") restartIce(peer);
      }, 5000);
    } else if (now === "failed") {
      restartIce(peer);
      // Staff can act on it: no path for media between the browsers (Wi-Fi that isolates
      // clients or blocks the multicast Firefox's .local addresses need) wants a STUN/TURN server.
      if (state.role === "staff" || state.role === "patient") showNotice(t("no-media-path"));
    }
    refreshTile(peer);
    refreshCallState();
  };
  pc.oniceconnectionstatechange = () => {
    if (pc.iceConnectionState === "connected") mark("ice-connected");
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

// ---------------------------------------------------------------- weak links and the site's budget

/** The video bitrate this page may send to a peer now: the call's cap (the site's budget), lowered
 * to the floor on a weak link, and none when the video is paused to keep the sound. */
function videoKbps(peer) {
  if (state.maxVideoKbps === 0 || peer.quality.level >= 2) return 0;
  if (peer.quality.level === 1) return Math.min(state.maxVideoKbps, state.floorKbps);
  return state.maxVideoKbps;
}

/** Applies [`videoKbps`] to the peer's video sender (RTCRtpSender.setParameters), live. */
async function applySenderLimits(peer) {
  const kbps = videoKbps(peer);
  for (const sender of peer.pc.getSenders()) {
    if (sender.track?.kind !== "video") continue;
    const params = sender.getParameters();
    if (!params.encodings || params.encodings.length === 0) params.encodings = [{}];
    const encoding = params.encodings[0];
    encoding.active = kbps > 0;
    if (kbps > 0) encoding.maxBitrate = kbps * 1000;
    encoding.scaleResolutionDownBy = peer.quality.level === 1 ? 2 : 1;
    try {
      await sender.setParameters(params);
    } catch (err) {
      console.warn("bitrate", err);
    }
  }
  reportMedia();
}

/** Watches each connection's sending side every 2 s (getStats: loss, round trip, the available
 * outgoing bitrate, the encoder's quality limitation reason) and steps down with hysteresis: after two bad readings to a
 * lower resolution and the floor bitrate, after two more to sound only (video paused, the
 * person told); back up by itself after the link has been good for a while (10 s to leave the
 * floor; from sound only a try after 10 s, then 20, 40, 80 s if the link falls again). */
function startQualityWatch() {
  clearInterval(state.qualityTimer);
  state.qualityTimer = setInterval(() => {
    for (const peer of state.peers.values()) checkQuality(peer).catch(() => {});
    const now = Date.now();
    if (summary.tick && videoPaused()) summary.audioOnlyMs += now - summary.tick;
    summary.tick = now;
  }, 2000);
  if (!summary.since) {
    summary.since = Date.now();
    summary.timer = setInterval(sendSummary, 30000);
  }
}

// ---------------------------------------------------------------- the call's quality summary

// What this page's call added up to since it first joined, over every connection it had (one
// made again after a peer came back adds to it): for the visit log.
const summary = { since: 0, tick: 0, timer: 0, sentBytes: 0, receivedBytes: 0, received: 0, lost: 0, audioOnlyMs: 0 };

/** Adds what a connection's counters grew by since its last reading. */
function addToSummary(peer, report) {
  const now = { sentBytes: 0, receivedBytes: 0, received: 0, lost: 0 };
  report.forEach((s) => {
    if (s.type === "outbound-rtp") {
      now.sentBytes += s.bytesSent || 0;
    } else if (s.type === "inbound-rtp") {
      now.receivedBytes += s.bytesReceived || 0;
      now.received += s.packetsReceived || 0;
      now.lost += Math.max(0, s.packetsLost || 0);
    }
  });
  const last = peer.totals || { sentBytes: 0, receivedBytes: 0, received: 0, lost: 0 };
  for (const key of Object.keys(now)) summary[key] += Math.max(0, now[key] - last[key]);
  peer.totals = now;
}

/** Sends the summary (every 30 s, and when the person hangs up). */
function sendSummary() {
  if (!state.joined || !state.socket?.connected || !summary.since) return;
  const secs = Math.max(1, (Date.now() - summary.since) / 1000);
  const packets = summary.received + summary.lost;
  state.socket.emit("quality", {
    sentKbps: Math.round((summary.sentBytes * 8) / secs / 1000),
    receivedKbps: Math.round((summary.receivedBytes * 8) / secs / 1000),
    lossPermille: packets > 0 ? Math.round((1000 * summary.lost) / packets) : 0,
    audioOnlySecs: Math.round(summary.audioOnlyMs / 1000),
  });
}

async function checkQuality(peer) {
  const q = peer.quality;
  const connection = peer.pc.connectionState;
  if (connection === "disconnected" && q.connectedAt && Date.now() - q.connectedAt > 10000) {
    // A link so weak that the connection checks fail: as bad as a reading gets.
    return judge(peer, true, false);
  }
  if (connection !== "connected") {
    q.last = null;
    return;
  }
  const report = await peer.pc.getStats();
  addToSummary(peer, report);
  let sent = 0;
  let lost = 0;
  let rtt = null;
  let available = null;
  let limited = false;
  report.forEach((s) => {
    if (s.type === "outbound-rtp") {
      sent += s.packetsSent || 0;
      if (s.kind === "video" && s.qualityLimitationReason === "bandwidth") limited = true;
    } else if (s.type === "remote-inbound-rtp") {
      lost += Math.max(0, s.packetsLost || 0);
      if (typeof s.roundTripTime === "number") rtt = Math.max(rtt ?? 0, s.roundTripTime);
    } else if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded" && s.availableOutgoingBitrate) {
      available = s.availableOutgoingBitrate;
    }
  });
  const previous = q.last;
  q.last = { sent, lost };
  // The first seconds of a call the bandwidth estimate is still climbing: judge nothing yet.
  if (!previous || Date.now() - q.connectedAt < 10000) return;
  const delta = sent - previous.sent + (lost - previous.lost);
  if (delta <= 0) return;
  const loss = (lost - previous.lost) / delta;
  // The bandwidth estimate (Chromium) says early what loss says late: below 60 % of the cap at
  // full quality, or below the floor itself at the floor, the link cannot carry this video.
  const capBps = videoKbps(peer) * 1000;
  const floorBps = state.floorKbps * 1000;
  const starved = available !== null && capBps > 0 && available < (q.level === 0 ? capBps * 0.6 : floorBps);
  // The encoder's own word (qualityLimitationReason): at full quality, held back by the
  // bandwidth while the estimate is under the cap, it already sends less than the cap allows.
  // (At the floor it is held back by our own cap, so it says nothing there.)
  const squeezed = q.level === 0 && limited && available !== null && capBps > 0 && available < capBps * 0.85;
  const bad = loss > 0.08 || (rtt !== null && rtt > 1) || starved || squeezed;
  const roomy = available === null || q.level !== 1 || available >= floorBps * 1.5;
  const good = loss < 0.03 && (rtt === null || rtt < 0.5) && !starved && !squeezed && roomy;
  judge(peer, bad, good);
}

/** One reading of the link to `peer`: two bad in a row step down, enough good ones step up. */
function judge(peer, bad, good) {
  const q = peer.quality;
  if (bad) {
    q.good = 0;
    q.bad += 1;
    if (q.bad >= 2 && q.level < 2) {
      if (q.level === 1 && q.upAt && Date.now() - q.upAt < 30000) q.hold = Math.min(q.hold * 2, 80);
      q.level += 1;
      q.bad = 0;
      applySenderLimits(peer);
    }
    return;
  }
  q.bad = 0;
  if (!good) return;
  q.good += 1;
  if (q.level === 1 && q.upAt && Date.now() - q.upAt > 30000) q.hold = 10;
  const needed = q.level === 2 ? q.hold / 2 : 5;
  if (q.level > 0 && q.good >= needed) {
    q.level -= 1;
    q.good = 0;
    q.upAt = Date.now();
    applySenderLimits(peer);
  }
}

/** Tells the others what this page sends (their tiles show a microphone or camera that is off, or
 * video paused), when it changed. */
/** This page's video is paused to keep the sound (the site's budget, or a weak link). */
function videoPaused() {
  return state.maxVideoKbps === 0 || [...state.peers.values()].some((p) => p.quality.level >= 2);
}

function reportMedia() {
  const paused = videoPaused();
  const media = { microphone: !state.muted, camera: !state.cameraOff, paused };
  const key = JSON.stringify(media);
  showQuality(paused ? (state.maxVideoKbps === 0 ? "video-paused-site" : "video-paused-weak") : "");
  if (!state.joined || !state.socket?.connected || key === state.mediaSent) return;
  state.mediaSent = key;
  state.socket.emit("media", media);
}

function showQuality(key) {
  const line = $("quality");
  line.textContent = key ? t(key) : "";
  line.hidden = !key;
}

/** Shows on a peer's tile what their page says it sends. */
function setPeerMedia(peer, info) {
  if (!peer) return;
  peer.media = { microphone: info.microphone !== false, camera: info.camera !== false, paused: !!info.paused };
  const tile = peer.tile;
  tile.dataset.microphone = peer.media.microphone ? "on" : "off";
  tile.dataset.camera = peer.media.camera && !peer.media.paused ? "on" : "off";
  const badges = tile.querySelector(".tile-badges");
  const notes = [];
  if (!peer.media.microphone) notes.push(t("peer-mic-off"));
  if (peer.media.paused) notes.push(t("peer-video-paused"));
  else if (!peer.media.camera) notes.push(t("peer-camera-off"));
  badges.replaceChildren(...notes.map((text) => Object.assign(document.createElement("span"), { textContent: text })));
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
  const reconnecting = document.createElement("p");
  reconnecting.className = "tile-state";
  reconnecting.setAttribute("role", "status");
  reconnecting.hidden = true;
  const placeholder = document.createElement("div");
  placeholder.className = "tile-placeholder";
  placeholder.setAttribute("aria-hidden", "true");
  placeholder.textContent = (name || (role ? t("role-" + role) : "?")).trim().charAt(0).toUpperCase();
  const badges = document.createElement("p");
  badges.className = "tile-badges";
  tile.append(video, placeholder, caption, badges, reconnecting);
  $("remotes").append(tile);
  return tile;
}

function removePeer(id) {
  const peer = state.peers.get(id);
  if (!peer) return;
  clearTimeout(peer.restartTimer);
  state.peers.delete(id);
  // The same person (the same peer id) may come back on a new connection: its first frame is new.
  delete state.firstFrames[id];
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
  stopHeartbeat();
  stopTimer();
  clearInterval(state.qualityTimer);
  showQuality("");
  state.joined = false;
  state.everJoined = false;
  closeAllPeers();
  state.socket?.disconnect();
  state.socket = null;
  stopMedia();
  setCallState("ended");
  const text = message ? t("sent-away-" + message) : reason === "hangup" ? t("thanks") : reason ? t("ended-" + reason) : "";
  showNotice(text);
  // Joining again is offered only where it can work: after hanging up or losing the connection
  // (the server said the visit is still open), not after being removed.
  const canRejoin = ["hangup", "connection-lost", "no-answer", "server-shutdown"].includes(reason);
  $("after").hidden = state.role === "bedside";
  $("rejoin").hidden = !canRejoin;
  // After hanging up: their next visit, if one is booked. Otherwise: whom to call.
  if ($("after-next")) $("after-next").hidden = reason !== "hangup";
  if ($("after-phone")) $("after-phone").hidden = reason === "hangup";
  api.onEnd?.(reason);
}

function hangUp() {
  sendSummary();
  state.socket?.emit("leave");
  endCall("hangup");
}

function toggleMute() {
  state.muted = !state.muted;
  state.localStream?.getAudioTracks().forEach((track) => (track.enabled = !state.muted));
  $("mute").querySelector(".label").textContent = t(state.muted ? "unmute" : "mute");
  $("mute").setAttribute("aria-pressed", String(state.muted));
  reportMedia();
}

function toggleCamera() {
  setCameraOff(!state.cameraOff);
}

function setCameraOff(off) {
  state.cameraOff = off;
  state.localStream?.getVideoTracks().forEach((track) => (track.enabled = !state.cameraOff));
  $("camera").querySelector(".label").textContent = t(state.cameraOff ? "camera-on" : "camera-off");
  $("camera").setAttribute("aria-pressed", String(state.cameraOff));
  reportMedia();
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

/** Shows "Flip camera" where there is more than one camera (a phone's front and back). */
async function offerFlip() {
  const cameras = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
  $("flip").hidden = cameras.length < 2 || !state.localStream?.getVideoTracks().length;
}

/** Switches between the front and the back camera, in the call, without renegotiating. */
async function flipCamera() {
  const current = state.localStream?.getVideoTracks()[0];
  if (!current) return;
  const facing = current.getSettings().facingMode === "environment" ? "user" : "environment";
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { ...VIDEO, facingMode: { exact: facing } } });
  } catch {
    const cameras = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
    const at = cameras.findIndex((d) => d.deviceId === current.getSettings().deviceId);
    const next = cameras[(at + 1) % cameras.length];
    stream = await navigator.mediaDevices.getUserMedia({ video: { ...VIDEO, deviceId: { exact: next.deviceId } } });
  }
  const track = stream.getVideoTracks()[0];
  track.enabled = !state.cameraOff;
  for (const peer of state.peers.values()) {
    for (const sender of peer.pc.getSenders()) {
      if (sender.track?.kind === "video") await sender.replaceTrack(track);
    }
  }
  state.localStream.removeTrack(current);
  current.stop();
  state.localStream.addTrack(track);
  $("self-view").srcObject = state.localStream;
  $("self-view").classList.toggle("environment", track.getSettings().facingMode === "environment");
}

/** Numbers for tests and diagnostics: what each peer connection has received. */
async function stats() {
  const result = [];
  for (const peer of state.peers.values()) {
    const report = await peer.pc.getStats();
    let framesDecoded = 0;
    let audioPackets = 0;
    let pairId = null;
    report.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
      if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded" && !pairId) pairId = s.id;
    });
    const pair = pairId && report.get(pairId);
    const localCandidateType = pair ? report.get(pair.localCandidateId)?.candidateType : null;
    const remoteCandidateType = pair ? report.get(pair.remoteCandidateId)?.candidateType : null;
    report.forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      if (s.kind === "video") framesDecoded += s.framesDecoded || 0;
      if (s.kind === "audio") audioPackets += s.packetsReceived || 0;
    });
    const video = peer.tile.querySelector("video");
    // Playing with sound: not paused, not muted by the autoplay fallback.
    const playing = !!video && !video.paused && !video.muted;
    result.push({ id: peer.id, name: peer.name, role: peer.role, connectionState: peer.pc.connectionState, framesDecoded, audioPackets, playing, away: peer.away, localCandidateType, remoteCandidateType });
  }
  return result;
}

/** What the bedside page drives: it starts and ends calls on one long-lived page. */
export const api = { startCall, hangUp, setCameraOff, state, onEnd: null };

/** For tests and diagnostics: each video sender's limits now. */
function senders() {
  return [...state.peers.values()].flatMap((peer) => peer.pc.getSenders()
    .filter((sender) => sender.track?.kind === "video")
    .map((sender) => {
      const encoding = sender.getParameters().encodings?.[0] || {};
      return { peer: peer.id, level: peer.quality.level, active: encoding.active !== false, maxBitrate: encoding.maxBitrate ?? null };
    }));
}

window.visitas = { stats, senders, sendSummary, state, timeline: () => state.timeline, firstFrames: () => state.firstFrames };

$("join").addEventListener("click", startCall);
$("unmute-audio").addEventListener("click", () => {
  $("unmute-audio").hidden = true;
  for (const video of document.querySelectorAll(".tile video")) {
    video.muted = false;
    video.play().catch(() => {});
  }
});
// Browsers start an AudioContext made without a tap suspended; the first tap wakes the meter.
const wakeMeter = () => state.meter?.context.resume().then(() => showMeterTap(false), () => {});
document.addEventListener("pointerdown", wakeMeter, { passive: true });
for (const button of document.querySelectorAll(".meter-tap")) button.addEventListener("click", wakeMeter);
$("retry").addEventListener("click", runDeviceCheck);
$("speaker-test").addEventListener("click", testSpeaker);
$("camera-select").addEventListener("change", runDeviceCheck);
$("mic-select").addEventListener("change", runDeviceCheck);
$("hangup").addEventListener("click", hangUp);
$("mute").addEventListener("click", toggleMute);
$("camera").addEventListener("click", toggleCamera);
$("flip").addEventListener("click", () => flipCamera().catch((err) => console.warn("flip", err)));
$("rejoin").addEventListener("click", () => {
  $("after").hidden = true;
  startCall();
});
// The language switch reloads the page. In a call that is not hanging up: the page goes without
// `leave` (the others see "reconnecting" for a moment), and the reloaded page, in the other
// language, goes straight back in after its device check and takes the same place.
const BACK_IN = "visitas-back-in-call";
document.querySelector(".lang-switch")?.addEventListener("submit", () => {
  if (!state.joined || state.ended) return;
  state.switchingLanguage = true;
  try { sessionStorage.setItem(BACK_IN, String(Date.now())); } catch { /* private mode: a plain reload */ }
});
function backInCall() {
  let at = null;
  try { at = Number(sessionStorage.getItem(BACK_IN)); sessionStorage.removeItem(BACK_IN); } catch { /* none */ }
  return at !== null && Date.now() - at < 30000;
}
window.addEventListener("pagehide", () => {
  sendSummary();
  if (!state.switchingLanguage) state.socket?.emit("leave");
});

if (state.role === "relative") {
  const back = backInCall();
  runDeviceCheck().then(() => { if (back && !$("join").disabled) startCall(); });
} else if (state.role === "bedside") {
  // The bedside page (bedside.js) starts each call when it is let in.
} else {
  // The bedside device and staff start at once: nobody at the bed should have to tap anything.
  startCall();
}

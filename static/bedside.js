// The bedside screen: one long-lived page that pairs the tablet, shows a clock while idle, and
// answers the bed's calls by itself. It never navigates: the one tap on "start" lets it play
// sound for the rest of its life (Firefox does not carry a tap across a page change).
import { io } from "./vendor/socket.io.esm.min.js";
import { api } from "./call.js";

const root = document.getElementById("bedside");
const $ = (id) => document.getElementById(id);
const SCREENS = ["start", "pairing", "idle", "incoming", "call"];
const ANSWER_SECONDS = 10;
/** Alone in a call this long (everyone else left), the bedside hangs up by itself. */
const ALONE_SECONDS = 15;
/** A ring nobody answers (tap mode) stops after this long. */
const RING_SECONDS = 90;

/** All bedside state lives here. */
const state = {
  screen: "start",
  device: null, // what /bedside/state said
  audio: null, // the AudioContext unlocked by the first tap
  standby: null, // the socket that waits for calls
  pairingTimer: 0,
  pollTimer: 0,
  countdown: 0,
  wakeLock: null,
  incoming: null,
  aloneSince: 0,
};

function t(key) {
  const name = "t" + key.replace(/(^|-)([a-z])/g, (_, __, c) => c.toUpperCase());
  return root.dataset[name] || key;
}

/** The one place that decides what shows. */
function show(screen) {
  state.screen = screen;
  document.documentElement.dataset.bedsideScreen = screen;
  for (const name of SCREENS.slice(0, 4)) $("screen-" + name).hidden = name !== screen;
  $("call").hidden = screen !== "call";
}

async function fetchState() {
  const r = await fetch("/bedside/state", { credentials: "same-origin", cache: "no-store" });
  if (!r.ok) throw new Error("state " + r.status);
  state.device = await r.json();
  return state.device;
}

function post(path) {
  const body = new URLSearchParams({ csrf: root.dataset.csrf });
  return fetch(path, { method: "POST", body, credentials: "same-origin" });
}

// ---------------------------------------------------------------- start (the unlocking tap)

/** Runs inside the tap: the page may play sound from now on (sticky user activation). */
function unlockMedia() {
  try {
    state.audio = new AudioContext();
    const silence = state.audio.createBuffer(1, 1, 22050);
    const source = state.audio.createBufferSource();
    source.buffer = silence;
    source.connect(state.audio.destination);
    source.start();
    state.audio.resume();
  } catch {
    // No Web Audio: the chime stays silent; the call still plays.
  }
  document.documentElement.requestFullscreen?.().catch(() => {});
}

async function start() {
  unlockMedia();
  await route();
}

/** Picks the screen from what the server says of this tablet. */
async function route() {
  clearTimeout(state.pollTimer);
  try {
    const device = await fetchState();
    if (device.state === "paired") return idle();
    return pairing();
  } catch {
    state.pollTimer = setTimeout(route, 3000);
  }
}

// ---------------------------------------------------------------- pairing

async function pairing() {
  closeStandby();
  show("pairing");
  clearTimeout(state.pairingTimer);
  try {
    const r = await post("/bedside/pairing");
    if (r.status === 409) return route();
    if (!r.ok) throw new Error("pairing " + r.status);
    const { code, qrSvg, expiresAt } = await r.json();
    $("pairing-code").textContent = code;
    $("pairing-qr").innerHTML = qrSvg;
    // A fresh code shortly before this one expires.
    const refreshIn = Math.max(5000, expiresAt * 1000 - Date.now() - 20000);
    state.pairingTimer = setTimeout(refreshCode, refreshIn);
  } catch {
    state.pairingTimer = setTimeout(refreshCode, 5000);
  }
  waitForPairing();
}

/** A fresh code, only while the pairing screen still shows. */
function refreshCode() {
  if (state.screen === "pairing") pairing();
}

/** Asks every second whether a nurse typed the code. */
function waitForPairing() {
  clearTimeout(state.pollTimer);
  state.pollTimer = setTimeout(async () => {
    if (state.screen !== "pairing") return;
    try {
      const device = await fetchState();
      if (device.state === "paired") {
        clearTimeout(state.pairingTimer);
        return idle();
      }
    } catch {
      // Try again below.
    }
    waitForPairing();
  }, 1000);
}

async function forget() {
  await post("/bedside/forget");
  location.replace("/login");
}

// ---------------------------------------------------------------- idle

function idle() {
  clearTimeout(state.pairingTimer);
  stopCountdown();
  show("idle");
  releaseWakeLock();
  tickClock();
  renderIdle();
  openStandby();
}

function renderIdle() {
  const device = state.device || {};
  $("idle-title").textContent = device.title || "";
  $("next-visit").textContent = device.nextVisit ? t("next-visit").replace("{time}", device.nextVisit) : t("no-visit");
}

function tickClock() {
  const now = new Date();
  const lang = root.dataset.lang;
  $("clock").textContent = now.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  $("date").textContent = now.toLocaleDateString(lang, { weekday: "long", day: "numeric", month: "long" });
}

/** The socket that stands by for this bed's calls. */
function openStandby() {
  if (state.standby) return;
  const socket = io({
    transports: ["websocket"],
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
    auth: (cb) => bedsideTicket().then((ticket) => cb({ ticket })),
  });
  state.standby = socket;
  socket.on("connect", () => socket.emit("ready", () => {}));
  socket.on("incoming", (call) => incoming(call));
  socket.on("ended", ({ reason }) => {
    closeStandby();
    if (reason === "unpaired") return unpaired();
    state.pollTimer = setTimeout(route, 3000);
  });
  socket.on("connect_error", () => {
    if (socket.active) return;
    // Refused: unpaired, or the bed has no open room. Look again shortly.
    closeStandby();
    state.pollTimer = setTimeout(route, 3000);
  });
}

function closeStandby() {
  const socket = state.standby;
  state.standby = null;
  socket?.disconnect();
}

async function bedsideTicket() {
  try {
    const r = await fetch("/bedside/ticket", { credentials: "same-origin", cache: "no-store" });
    if (r.ok) return (await r.json()).ticket;
  } catch {
    // Offline for a moment: the socket retries.
  }
  return "";
}

/** This tablet is no longer the bed's device: drop the call and go back to pairing. */
function unpaired() {
  stopCountdown();
  closeStandby();
  state.device = null;
  if (state.screen !== "pairing") pairing();
}

// ---------------------------------------------------------------- a call coming in

function incoming(call) {
  if (state.screen === "call" || state.screen === "incoming") return;
  state.incoming = call;
  show("incoming");
  chime();
  const auto = call.answer !== "tap";
  $("answer").hidden = auto;
  stopCountdown();
  if (!auto) {
    $("answer-countdown").textContent = "";
    // Nobody came to tap: back to the clock (the relative is told the patient did not answer
    // by the nurse, who sees the bedside on the room page).
    state.countdown = setTimeout(() => state.screen === "incoming" && idle(), RING_SECONDS * 1000);
    return;
  }
  let left = ANSWER_SECONDS;
  const tick = () => {
    $("answer-countdown").textContent = t("answering-in").replace("{n}", left);
    if (left <= 0) return answer();
    left -= 1;
    state.countdown = setTimeout(tick, 1000);
  };
  tick();
}

function stopCountdown() {
  clearTimeout(state.countdown);
  state.countdown = 0;
}

function chime() {
  const context = state.audio;
  if (!context) return;
  context.resume().catch(() => {});
  [0, 0.35, 0.7].forEach((at, i) => {
    const tone = context.createOscillator();
    const gain = context.createGain();
    tone.frequency.value = [660, 880, 990][i];
    gain.gain.setValueAtTime(0.25, context.currentTime + at);
    gain.gain.exponentialRampToValueAtTime(0.001, context.currentTime + at + 0.3);
    tone.connect(gain).connect(context.destination);
    tone.start(context.currentTime + at);
    tone.stop(context.currentTime + at + 0.32);
  });
}

async function answer() {
  stopCountdown();
  if (state.screen !== "incoming") return;
  state.aloneSince = 0;
  show("call");
  keepAwake();
  await api.startCall();
  if (state.incoming?.cameraOff) api.setCameraOff(true);
}

function decline() {
  stopCountdown();
  state.standby?.emit("decline");
  idle();
}

// ---------------------------------------------------------------- after a call

api.onEnd = (reason) => {
  releaseWakeLock();
  if (reason === "unpaired") return unpaired();
  // Back to the clock, with nothing of the call left on screen.
  $("remotes").replaceChildren();
  $("self-view").srcObject = null;
  $("stage").hidden = true;
  route();
};

async function keepAwake() {
  try {
    state.wakeLock = await navigator.wakeLock?.request("screen");
  } catch {
    // No Wake Lock API (older tablets): the README's kiosk settings keep the screen on.
  }
}

function releaseWakeLock() {
  state.wakeLock?.release?.().catch(() => {});
  state.wakeLock = null;
}

// ---------------------------------------------------------------- wiring

$("start-device").addEventListener("click", start);
$("forget-device").addEventListener("click", forget);
$("answer").addEventListener("click", answer);
$("decline").addEventListener("click", decline);
setInterval(() => {
  if (state.screen === "idle") tickClock();
  if (state.screen === "call") hangUpWhenAlone();
}, 1000);

/** Nobody at the bed has to press anything: when the others have left, the call ends. */
function hangUpWhenAlone() {
  const alone = api.state.joined && api.state.peers.size === 0;
  if (!alone) {
    state.aloneSince = 0;
    return;
  }
  state.aloneSince ||= Date.now();
  if (Date.now() - state.aloneSince > ALONE_SECONDS * 1000) {
    state.aloneSince = 0;
    api.hangUp();
  }
}
// The next visit's time, now and then.
setInterval(async () => {
  if (state.screen !== "idle") return;
  try {
    const device = await fetchState();
    if (device.state !== "paired") return unpaired();
    renderIdle();
  } catch {
    // Offline for a moment.
  }
}, 60000);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && state.screen === "call") keepAwake();
});

window.visitasBedside = { state };
show("start");

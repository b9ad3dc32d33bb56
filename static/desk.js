// The visit desk keeps itself current: it holds one request open on `/desk/version?after=N`,
// which the server answers as soon as anything the desk shows changed (a relative starting to
// wait shows at once), then fetches fresh rows and the waiting room. Every 30 s it fetches the
// rows anyway, for states that change with the clock. Running durations tick here. A sound
// tells the nurse someone new is waiting (the checkbox turns it off, remembered per browser).
// The room page uses the same module for its own waiting room.

const table = document.getElementById("desk");
const body = document.getElementById("desk-rows");
const waiting = document.getElementById("waiting");
const sound = document.getElementById("alert-sound");
const state = {
  version: Number(table?.dataset.version ?? waiting?.dataset.version ?? 0),
  lastRows: Date.now(),
  waitingInvites: new Set(invitesWaiting()),
  waitingHtml: null, // the last panel fetched
  heldHtml: null, // a newer panel, held while the nurse is choosing in the current one
};

function invitesWaiting() {
  return [...(waiting?.querySelectorAll("[data-waiting-invite]") ?? [])].map((el) => el.dataset.waitingInvite);
}

async function refreshRows() {
  if (!table || !body) return;
  const date = encodeURIComponent(table.dataset.date);
  const response = await fetch(`/desk/rows?date=${date}`, { credentials: "same-origin" });
  if (response.redirected || !response.ok) return;
  body.innerHTML = await response.text();
  state.lastRows = Date.now();
  tickDurations();
}

async function refreshWaiting() {
  if (!waiting) return;
  const room = waiting.dataset.room ? `?room=${encodeURIComponent(waiting.dataset.room)}` : "";
  const response = await fetch(`/desk/waiting${room}`, { credentials: "same-origin" });
  if (response.redirected || !response.ok) return;
  const html = await response.text();
  if (html === state.waitingHtml) return;
  state.waitingHtml = html;
  // Swapping the panel under a nurse who is picking a message would reset their choice.
  if (waiting.contains(document.activeElement)) {
    state.heldHtml = html;
    return;
  }
  showWaiting(html);
}

function showWaiting(html) {
  state.heldHtml = null;
  waiting.innerHTML = html;
  const now = invitesWaiting();
  if (now.some((id) => !state.waitingInvites.has(id))) ding();
  state.waitingInvites = new Set(now);
}

/** Two soft notes. Browsers allow it once the nurse has clicked anything on the page. */
function ding() {
  if (sound && !sound.checked) return;
  try {
    const context = new AudioContext();
    [0, 0.25].forEach((at, i) => {
      const tone = context.createOscillator();
      const gain = context.createGain();
      tone.frequency.value = [740, 988][i];
      gain.gain.setValueAtTime(0.2, context.currentTime + at);
      gain.gain.exponentialRampToValueAtTime(0.001, context.currentTime + at + 0.25);
      tone.connect(gain).connect(context.destination);
      tone.start(context.currentTime + at);
      tone.stop(context.currentTime + at + 0.26);
    });
    setTimeout(() => context.close(), 1000);
  } catch {
    // No Web Audio: the list still shows them.
  }
}

/** Resolves once the page is visible: a hidden desk asks nothing (so it does not keep a
 * session alive either). */
function visible() {
  if (!document.hidden) return Promise.resolve();
  return new Promise((resolve) => {
    const seen = () => {
      if (document.hidden) return;
      document.removeEventListener("visibilitychange", seen);
      resolve();
    };
    document.addEventListener("visibilitychange", seen);
  });
}

async function watch() {
  for (;;) {
    await visible();
    try {
      const response = await fetch(`/desk/version?after=${state.version}`, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok || response.redirected) throw new Error("version");
      const { version } = await response.json();
      if (version !== state.version || Date.now() - state.lastRows > 30000) {
        state.version = version;
        await Promise.all([refreshRows(), refreshWaiting()]);
      }
    } catch {
      // Offline or signed out for a moment: wait, then ask again.
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}

function tickDurations() {
  const now = Date.now() / 1000;
  for (const el of body?.querySelectorAll("[data-since]") ?? []) {
    const secs = Math.max(0, Math.floor(now - Number(el.dataset.since)));
    el.textContent = `${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, "0")}`;
  }
}

if (sound) {
  sound.checked = localStorage.getItem("visitas-alert-sound") !== "off";
  sound.addEventListener("change", () => localStorage.setItem("visitas-alert-sound", sound.checked ? "on" : "off"));
}
waiting?.addEventListener("focusout", () => {
  setTimeout(() => {
    if (state.heldHtml && !waiting.contains(document.activeElement)) showWaiting(state.heldHtml);
  }, 0);
});
if ((table && body) || waiting) {
  watch();
  setInterval(tickDurations, 1000);
}

// The visit desk keeps itself current: every second it asks the server whether anything changed
// (one number from memory), and only then fetches fresh rows; every 30 s it fetches them anyway,
// for states that change with the clock. Running durations tick here.

const table = document.getElementById("desk");
const body = document.getElementById("desk-rows");
const state = {
  version: Number(table?.dataset.version ?? 0),
  lastRows: Date.now(),
  busy: false,
};

async function refreshRows() {
  const date = encodeURIComponent(table.dataset.date);
  const response = await fetch(`/desk/rows?date=${date}`, { credentials: "same-origin" });
  if (response.redirected || !response.ok) return;
  body.innerHTML = await response.text();
  state.lastRows = Date.now();
  tickDurations();
}

async function poll() {
  if (state.busy || document.hidden) return;
  state.busy = true;
  try {
    const response = await fetch("/desk/version", { credentials: "same-origin" });
    if (response.ok && !response.redirected) {
      const { version } = await response.json();
      if (version !== state.version || Date.now() - state.lastRows > 30000) {
        state.version = version;
        await refreshRows();
      }
    }
  } catch {
    // The next tick tries again.
  } finally {
    state.busy = false;
  }
}

function tickDurations() {
  const now = Date.now() / 1000;
  for (const el of body.querySelectorAll("[data-since]")) {
    const secs = Math.max(0, Math.floor(now - Number(el.dataset.since)));
    el.textContent = `${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, "0")}`;
  }
}

if (table && body) {
  setInterval(poll, 1000);
  setInterval(tickDurations, 1000);
  document.addEventListener("visibilitychange", poll);
}

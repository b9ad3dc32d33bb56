// Before a visit's window opens: a countdown, and the page reloads by itself when it opens.

const box = document.getElementById("visit-waiting");
const out = document.getElementById("countdown");
const opensAt = Number(box?.dataset.opensAt ?? 0) * 1000;

function show(ms) {
  const secs = Math.max(0, Math.ceil(ms / 1000));
  const days = Math.floor(secs / 86400);
  const h = Math.floor((secs % 86400) / 3600);
  const m = Math.floor((secs % 3600) / 60);
  const s = secs % 60;
  const pad = (n) => String(n).padStart(2, "0");
  out.textContent = `${days > 0 ? `${days} d ` : ""}${pad(h)}:${pad(m)}:${pad(s)}`;
}

function tick() {
  const left = opensAt - Date.now();
  show(left);
  if (left <= 0) {
    box.dataset.state = "open";
    window.location.reload();
    return;
  }
  setTimeout(tick, Math.min(1000, left));
}

if (box && out && opensAt) tick();

// Rooms list: refresh "who is in the room now" every few seconds without reloading the page.
const nobody = document.getElementById("nobody");

async function refreshPresence() {
  try {
    const response = await fetch("/rooms/presence", { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return;
    const presence = await response.json();
    for (const cell of document.querySelectorAll("[data-presence]")) {
      const here = presence[cell.dataset.presence];
      if (here) {
        cell.textContent = here;
      } else {
        cell.replaceChildren(nobody.content.cloneNode(true));
      }
    }
  } catch {
    // Offline for a moment: try again on the next tick.
  }
}

setInterval(refreshPresence, 5000);

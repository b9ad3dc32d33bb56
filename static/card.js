// The invite card's print button (no inline script: the CSP forbids it).
document.getElementById("print-card")?.addEventListener("click", () => window.print());

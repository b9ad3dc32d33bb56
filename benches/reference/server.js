// The reference: a small Node.js relay built the way the Visitas prototype was, with Express and
// socket.io 4.8, speaking the same signaling events as Visitas (join, signal, leave; peer-joined,
// peer-left, signal). Like the prototype it trusts the room the client names and checks nothing;
// it serves an equivalent rooms page from memory and the same static file. HTTPS with the
// certificate Visitas generated, so both are measured over TLS.
//
// It also serves the scheduler's desk and week view, rendered per request from the hospital's
// data held in memory (the same wards, patients and visits Visitas has in SQLite), filtering and
// sorting the visits as an Express app would.
//
// Usage: node server.js PORT CERT.pem KEY.pem ROOMS.json STATIC_DIR [HOSPITAL.json]
"use strict";
const fs = require("node:fs");
const https = require("node:https");
const express = require("express");
const { Server } = require("socket.io");

const [port, certPath, keyPath, roomsPath, staticDir, hospitalPath] = process.argv.slice(2);
const rooms = JSON.parse(fs.readFileSync(roomsPath, "utf8"));
const hospital = hospitalPath
  ? JSON.parse(fs.readFileSync(hospitalPath, "utf8"))
  : { wards: [], patients: [], visits: [], nurse_wards: [] };
const app = express();

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

app.get("/rooms", (_req, res) => {
  const rows = rooms
    .map((r) => `<tr><td><a href="/patients/${escape(r.patient_id)}">${escape(r.patient_name)}</a></td>` +
      `<td>${escape(r.ward)}</td><td>${escape(r.bed)}</td><td>${escape(r.created)}</td>` +
      `<td class="presence">${escape(r.here || "Nadie")}</td><td>${escape(r.next || "—")}</td>` +
      `<td><a class="button" href="/rooms/${escape(r.id)}">Abrir</a></td></tr>`)
    .join("\n");
  res.type("html").send(`<!doctype html><html lang="es"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Salas abiertas · Visitas</title>
<link rel="stylesheet" href="/static/visitas.css"></head><body><header class="top"><a class="brand" href="/">Visitas</a>
<nav><a href="/rooms">Salas</a><a href="/patients">Pacientes</a></nav></header><main><h1>Salas abiertas</h1>
<table><thead><tr><th>Paciente</th><th>Planta</th><th>Cama</th><th>Creada</th><th>En la sala ahora</th><th>Visita actual o próxima</th><th>Acciones</th></tr></thead>
<tbody>${rows}</tbody></table></main></body></html>`);
});
const pad = (n) => String(n).padStart(2, "0");
const clock = (secs) => { const d = new Date(secs * 1000); return `${pad(d.getHours())}:${pad(d.getMinutes())}`; };
const midnight = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime() / 1000;
const page = (title, body) => `<!doctype html><html lang="es"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>${escape(title)} · Visitas</title>
<link rel="stylesheet" href="/static/visitas.css"></head><body><header class="top"><a class="brand" href="/">Visitas</a>
<nav><a href="/desk">Visitas de hoy</a><a href="/patients">Pacientes</a><a href="/rooms">Salas</a></nav></header><main>${body}</main></body></html>`;
const wardName = (id) => (hospital.wards.find((w) => w.id === id) || {}).name || "";
const STATES = { upcoming: "Próxima", opened: "Ha abierto el enlace", ended: "Terminada", missed: "No se conectó nadie", cancelled: "Anulada" };
const stateOf = (v, now) => v.cancelled ? "cancelled" : now >= v.ends ? (v.came ? "ended" : "missed") : v.came ? "ended" : v.opened ? "opened" : "upcoming";

app.get("/desk", (_req, res) => {
  const now = Date.now() / 1000;
  const start = midnight(new Date());
  const end = midnight(new Date((start + 36 * 3600) * 1000));
  const mine = new Set(hospital.nurse_wards);
  const rows = hospital.visits
    .filter((v) => mine.has(v.ward) && v.starts >= start && v.starts < end)
    .sort((a, b) => a.starts - b.starts)
    .map((v) => {
      const p = hospital.patients[v.patient];
      const state = stateOf(v, now);
      const duration = v.came ? `${Math.floor((v.last_leave - v.first_join) / 60)}:${pad((v.last_leave - v.first_join) % 60)}` : "";
      return `<tr data-visit="${v.id}" data-state="${state}"><td>${clock(v.starts)}–${clock(v.ends)}</td>` +
        `<td><a href="/patients/${escape(p.id)}">${escape(p.name)}</a><br><small>${escape(wardName(v.ward))} · Cama ${escape(p.bed)}</small></td>` +
        `<td>${escape(v.relative)}</td><td><span class="badge state">${STATES[state]}</span> ${duration}` +
        `${v.override ? '<span class="badge override">Excepción</span>' : ""}</td>` +
        `<td><a class="button primary" href="/rooms/${escape(v.room)}/call?as=patient">Abrir la llamada en el dispositivo de la cama</a>` +
        `<a class="button" href="/visits/${v.id}">Imprimir tarjeta · Cambiar la hora · Anular la visita</a>` +
        `<form method="post" action="/visits/${v.id}/end"><button class="danger">Terminar la visita</button></form></td></tr>`;
    })
    .join("\n");
  res.type("html").send(page("Visitas de hoy", `<h1>Visitas</h1><table class="desk"><thead><tr><th>Cuándo</th><th>Paciente</th>` +
    `<th>Familiares autorizados</th><th>Estado</th><th>Acciones</th></tr></thead><tbody>${rows}</tbody></table>`));
});

app.get("/wards/:id/week", (req, res) => {
  const ward = hospital.wards.find((w) => w.id === req.params.id);
  if (!ward) return res.status(404).send("not found");
  const now = Date.now() / 1000;
  const today = new Date();
  const monday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - ((today.getDay() + 6) % 7));
  const weekStart = monday.getTime() / 1000;
  const weekEnd = new Date(monday.getFullYear(), monday.getMonth(), monday.getDate() + 7).getTime() / 1000;
  const visits = hospital.visits.filter((v) => v.ward === ward.id && !v.cancelled && v.starts < weekEnd && v.ends > weekStart);
  const days = [];
  for (let i = 0; i < 7; i++) {
    const day = new Date(monday.getFullYear(), monday.getMonth(), monday.getDate() + i);
    const slots = [];
    for (let minute = 8 * 60; minute + ward.step <= 22 * 60; minute += ward.step) {
      const start = new Date(day.getFullYear(), day.getMonth(), day.getDate(), 0, minute).getTime() / 1000;
      const end = start + ward.step * 60;
      const booked = visits.filter((v) => v.starts < end && v.ends > start);
      const free = Math.max(0, ward.max - booked.length);
      slots.push(`<li class="slot" data-slot="${pad(Math.floor(minute / 60))}:${pad(minute % 60)}" data-free="${free}">` +
        `<span class="slot-time">${pad(Math.floor(minute / 60))}:${pad(minute % 60)}</span>` +
        booked.map((v) => `<a class="booked" href="/visits/${v.id}">${escape(hospital.patients[v.patient].name)}</a>`).join("") +
        `<span class="free">${free} ${free === 1 ? "plaza libre" : "plazas libres"}</span>` +
        (free > 0 && start > now ? `<a class="button small" href="/patients/x/visits/new?date=${day.toISOString().slice(0, 10)}">Programar aquí</a>` : "") +
        `</li>`);
    }
    days.push(`<section class="week-day"><h2>${day.toLocaleDateString("es-ES", { weekday: "long" })} <small>${day.toISOString().slice(0, 10)}</small></h2><ul class="slots">${slots.join("")}</ul></section>`);
  }
  res.type("html").send(page(`Semana · ${ward.name}`, `<h1>Semana · ${escape(ward.name)}</h1><div class="week">${days.join("")}</div>`));
});

app.use("/static", express.static(staticDir));
app.get("/healthz", (_req, res) => res.send("ok"));

const server = https.createServer({ cert: fs.readFileSync(certPath), key: fs.readFileSync(keyPath) }, app);
const io = new Server(server, { transports: ["websocket"], maxHttpBufferSize: 64 * 1024 });

io.on("connection", (socket) => {
  let room = null;
  socket.on("join", async (data, ack) => {
    if (typeof data === "function") [data, ack] = [{}, data];
    room = String((data && data.room) || "default");
    const others = await io.in(room).fetchSockets();
    socket.join(room);
    const peers = others.map((s) => ({ id: s.id, role: "relative", name: "" }));
    if (typeof ack === "function") ack({ id: socket.id, peers, iceServers: [], maxVideoKbps: 500 });
    socket.to(room).emit("peer-joined", { id: socket.id, role: "relative", name: "" });
  });
  socket.on("signal", (message) => {
    if (!message || typeof message.to !== "string") return;
    io.to(message.to).emit("signal", { from: socket.id, data: message.data });
  });
  const leave = (reason) => {
    if (room) socket.to(room).emit("peer-left", { id: socket.id, reason });
    room = null;
  };
  socket.on("leave", () => { leave("hangup"); socket.disconnect(true); });
  socket.on("disconnect", () => leave("connection-lost"));
});

server.listen(Number(port), "127.0.0.1", () => console.log(`reference listening on ${server.address().port}`));
process.on("SIGTERM", () => process.exit(0));

// The reference: a small Node.js relay built the way the Visitas prototype was, with Express and
// socket.io 4.8, speaking the same signaling events as Visitas (join, signal, leave; peer-joined,
// peer-left, signal). Like the prototype it trusts the room the client names and checks nothing;
// it serves an equivalent rooms page from memory and the same static file. HTTPS with the
// certificate Visitas generated, so both are measured over TLS.
//
// Usage: node server.js PORT CERT.pem KEY.pem ROOMS.json STATIC_DIR
"use strict";
const fs = require("node:fs");
const https = require("node:https");
const express = require("express");
const { Server } = require("socket.io");

const [port, certPath, keyPath, roomsPath, staticDir] = process.argv.slice(2);
const rooms = JSON.parse(fs.readFileSync(roomsPath, "utf8"));
const app = express();

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

app.get("/rooms", (_req, res) => {
  const rows = rooms
    .map((r) => `<tr><td><a href="/patients/${escape(r.patient_id)}">${escape(r.patient_name)}</a></td>` +
      `<td>${escape(r.ward)}</td><td>${escape(r.bed)}</td><td>${escape(r.created)}</td>` +
      `<td class="presence">${escape(r.here || "Nadie")}</td><td><a class="button" href="/rooms/${escape(r.id)}">Abrir</a></td></tr>`)
    .join("\n");
  res.type("html").send(`<!doctype html><html lang="es"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Salas abiertas · Visitas</title>
<link rel="stylesheet" href="/static/visitas.css"></head><body><header class="top"><a class="brand" href="/">Visitas</a>
<nav><a href="/rooms">Salas</a><a href="/patients">Pacientes</a></nav></header><main><h1>Salas abiertas</h1>
<table><thead><tr><th>Paciente</th><th>Planta</th><th>Cama</th><th>Creada</th><th>En la sala ahora</th><th>Acciones</th></tr></thead>
<tbody>${rows}</tbody></table></main></body></html>`);
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

// Socket.IO load generator for the Visitas benchmark: the official socket.io-client in Node,
// WebSocket transport only, against Visitas or the reference relay.
//
//   node load.js idle  URL ORIGIN COUNT TICKET
//       opens COUNT idle connections, prints {"connected":n,"failed":m}, holds them until stdin closes
//   node load.js relay URL ORIGIN PAIRS_JSON RATE SECONDS BYTES [URL_B ORIGIN_B]
//       PAIRS_JSON is [{"a": ticket, "b": ticket, "room": name}, ...]: one pair of sockets per entry,
//       joined in one room, offer-sized signals from a to b at RATE messages/s (all pairs together)
//       for SECONDS; prints {"phase":"sending"} once every pair has joined, then
//       {"sent","received","p50_ms","p99_ms"} once the last message had 2 s to arrive, before closing.
//       With URL_B, every b socket connects there (another node of the same database).
// The reference checks no ticket and takes the room name from the join, like the prototype.
"use strict";
const { io } = require("socket.io-client");

const [mode, url, origin, ...rest] = process.argv.slice(2);

function open(ticket, at = url, from = origin) {
  return new Promise((resolve) => {
    const socket = io(at, {
      transports: ["websocket"],
      reconnection: false,
      rejectUnauthorized: false,
      extraHeaders: { origin: from },
      auth: { ticket },
      timeout: 60000,
    });
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", () => resolve(null));
  });
}

async function openMany(count, ticket, parallel = 100) {
  const sockets = [];
  let failed = 0;
  let next = 0;
  async function worker() {
    while (next < count) {
      next += 1;
      const socket = await open(ticket);
      if (socket) sockets.push(socket);
      else failed += 1;
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker));
  return { sockets, failed };
}

async function idle(count, ticket) {
  const { sockets, failed } = await openMany(Number(count), ticket);
  console.log(JSON.stringify({ connected: sockets.length, failed }));
  process.stdin.resume();
  process.stdin.on("end", () => process.exit(0));
}

function join(socket, room) {
  return new Promise((resolve) => socket.emit("join", { room }, resolve));
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function relay(ticketsJson, rate, seconds, bytes, urlB = url, originB = origin) {
  const entries = JSON.parse(ticketsJson);
  const pairs = [];
  for (const entry of entries) {
    const a = await open(entry.a);
    const b = await open(entry.b, urlB, originB);
    if (!a || !b) throw new Error("could not connect a relay pair");
    await join(a, entry.room);
    const ack = await join(b, entry.room);
    pairs.push({ a, b, bId: ack.id });
  }
  const latencies = [];
  let received = 0;
  for (const { b } of pairs) {
    b.on("signal", ({ data }) => {
      received += 1;
      // The send time rides in the SDP's first line: Visitas relays only well-formed descriptions.
      const sentAt = BigInt(data.description.sdp.slice(2, data.description.sdp.indexOf("\r\n")));
      latencies.push(Number(process.hrtime.bigint() - sentAt) / 1e6);
    });
  }
  const padding = "a=x".repeat(Math.max(0, Math.floor((Number(bytes) - 25) / 3)));
  const total = Number(rate) * Number(seconds);
  const interval = 1000 / Number(rate);
  let sent = 0;
  console.log(JSON.stringify({ phase: "sending" }));
  const start = process.hrtime.bigint();
  await new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(Number(process.hrtime.bigint() - start) / 1e6 / interval) + 1);
      while (sent < due) {
        const pair = pairs[sent % pairs.length];
        pair.a.emit("signal", { to: pair.bId, data: { description: { type: "offer", sdp: `t=${process.hrtime.bigint()}\r\n${padding}` } } });
        sent += 1;
      }
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await new Promise((resolve) => setTimeout(resolve, 2000));
  latencies.sort((x, y) => x - y);
  console.log(JSON.stringify({ sent, received, p50_ms: percentile(latencies, 50), p99_ms: percentile(latencies, 99) }));
  for (const { a, b } of pairs) { a.close(); b.close(); }
  process.exit(0);
}

if (mode === "idle") idle(rest[0], rest[1]);
else if (mode === "relay") relay(rest[0], rest[1], rest[2], rest[3], rest[4], rest[5]);
else { console.error("usage: node load.js idle|relay ..."); process.exit(2); }

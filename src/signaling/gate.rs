//! The connect gate: a WebSocket stream that stops reading after the client's Socket.IO connect
//! packet until the server has answered it.
//!
//! socketioxide authenticates a namespace connect in a task of its own and only then adds the
//! socket to the namespace; a packet read in the meantime finds no socket and closes the
//! connection. A client may well write its first event in the same TCP segment as the connect
//! (nothing in the protocol forbids it, and a phone on a slow link batches writes), so the gate
//! keeps those bytes in the kernel's buffer, unread, until the connect reply (`40`) or refusal
//! (`44`) has been written. From then on it passes every byte straight through.
//!
//! It reads WebSocket frame headers (RFC 6455 §5.2) to find where the connect frame ends, and
//! never hands the reader a byte past it while the connect is unanswered.
//!
//! It is also where the server hangs up: socketioxide's `disconnect` ends the Socket.IO session
//! but leaves the WebSocket open, so a removed participant kept holding a connection. A fired
//! [`Hangup`] ends the stream (end of file for the reader, an error for the writer), and
//! Engine.IO closes the connection.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, Waker},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Where the connection is in its Socket.IO connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading frames one at a time, looking for the connect packet.
    BeforeConnect,
    /// The connect packet has been read; nothing more is read until it is answered.
    AwaitingAnswer,
    /// Answered: every byte passes.
    Through,
}

/// The server's way to end one connection.
#[derive(Debug, Clone, Default)]
pub struct Hangup(Arc<HangupState>);

#[derive(Debug, Default)]
struct HangupState {
    fired: AtomicBool,
    reader: Mutex<Option<Waker>>,
}

impl Hangup {
    /// Ends the connection: its reader sees the end of the stream at once.
    pub fn fire(&self) {
        self.0.fired.store(true, Ordering::SeqCst);
        let reader = self
            .0
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(reader) = reader {
            reader.wake();
        }
    }

    fn fired(&self) -> bool {
        self.0.fired.load(Ordering::SeqCst)
    }

    fn wake_on_fire(&self, waker: &Waker) {
        let mut reader = self.0.reader.lock().unwrap_or_else(PoisonError::into_inner);
        if !reader.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *reader = Some(waker.clone());
        }
    }
}

/// A stream wrapper that holds back reads between a Socket.IO connect and its answer, and ends
/// the stream when its [`Hangup`] fires.
#[derive(Debug)]
pub struct ConnectGate<S> {
    inner: S,
    hangup: Hangup,
    phase: Phase,
    incoming: FrameScanner,
    outgoing: FrameScanner,
    /// The connect message started in a frame without FIN: gate after its last fragment.
    connect_unfinished: bool,
    reader: Option<Waker>,
}

impl<S> ConnectGate<S> {
    /// Wraps a freshly upgraded WebSocket connection (server side).
    pub fn new(inner: S, hangup: Hangup) -> Self {
        Self {
            inner,
            hangup,
            phase: Phase::BeforeConnect,
            incoming: FrameScanner::default(),
            outgoing: FrameScanner::default(),
            connect_unfinished: false,
            reader: None,
        }
    }

    fn on_incoming_frame(&mut self, frame: Frame) {
        let starts_connect = frame.opcode == OPCODE_TEXT && frame.prefix() == b"40";
        let continues_connect = frame.opcode == OPCODE_CONTINUATION && self.connect_unfinished;
        if starts_connect || continues_connect {
            if frame.fin {
                self.connect_unfinished = false;
                self.phase = Phase::AwaitingAnswer;
            } else {
                self.connect_unfinished = true;
            }
        }
    }

    fn on_outgoing_frame(&mut self, frame: Frame) {
        let answer = frame.opcode == OPCODE_TEXT && matches!(frame.prefix(), b"40" | b"44");
        if answer {
            self.phase = Phase::Through;
            if let Some(reader) = self.reader.take() {
                reader.wake();
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ConnectGate<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.hangup.fired() {
            return Poll::Ready(Ok(()));
        }
        let read = this.read_gated(cx, buf);
        if read.is_pending() {
            this.hangup.wake_on_fire(cx.waker());
            // Fired between the check above and registering the waker: nobody would wake us.
            if this.hangup.fired() {
                return Poll::Ready(Ok(()));
            }
        }
        read
    }
}

impl<S: AsyncRead + Unpin> ConnectGate<S> {
    fn read_gated(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self;
        match this.phase {
            Phase::Through => Pin::new(&mut this.inner).poll_read(cx, buf),
            Phase::AwaitingAnswer => {
                this.reader = Some(cx.waker().clone());
                Poll::Pending
            }
            Phase::BeforeConnect => {
                // Never read past the part of the frame being scanned: what follows the connect
                // must stay unread.
                let mut chunk = [0u8; 512];
                let limit = this.incoming.wanted().min(chunk.len()).min(buf.remaining());
                let mut limited = ReadBuf::new(&mut chunk[..limit]);
                match Pin::new(&mut this.inner).poll_read(cx, &mut limited) {
                    Poll::Ready(Ok(())) => {
                        let read = limited.filled();
                        buf.put_slice(read);
                        if let Some(frame) = this.incoming.feed(read) {
                            this.on_incoming_frame(frame);
                        }
                        Poll::Ready(Ok(()))
                    }
                    other => other,
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ConnectGate<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.hangup.fired() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if this.phase != Phase::Through
            && let Poll::Ready(Ok(n)) = written
        {
            let mut rest = &buf[..n];
            while !rest.is_empty() {
                let take = this.outgoing.wanted().min(rest.len());
                let (part, tail) = rest.split_at(take);
                rest = tail;
                if let Some(frame) = this.outgoing.feed(part) {
                    this.on_outgoing_frame(frame);
                }
            }
        }
        written
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

const OPCODE_CONTINUATION: u8 = 0x0;
const OPCODE_TEXT: u8 = 0x1;

/// A whole frame that went by: its kind and the first two bytes of its payload, unmasked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Frame {
    fin: bool,
    opcode: u8,
    prefix: [u8; 2],
    prefix_len: usize,
}

impl Frame {
    fn prefix(&self) -> &[u8] {
        &self.prefix[..self.prefix_len]
    }
}

/// Follows a stream of WebSocket frames fed in pieces no longer than [`FrameScanner::wanted`].
#[derive(Debug, Default)]
struct FrameScanner {
    header: [u8; 14],
    header_len: usize,
    /// Payload bytes left in the current frame, once its header is complete.
    payload_left: Option<u64>,
    frame: Option<Frame>,
}

impl FrameScanner {
    /// The header's full length, once its first two bytes say.
    fn header_size(&self) -> usize {
        if self.header_len < 2 {
            return 2;
        }
        let masked = self.header[1] & 0x80 != 0;
        let extended = match self.header[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        2 + extended + if masked { 4 } else { 0 }
    }

    /// How many bytes may be fed before the scanner reaches a boundary (end of header or frame).
    fn wanted(&self) -> usize {
        match self.payload_left {
            Some(left) => usize::try_from(left).unwrap_or(usize::MAX),
            None => self.header_size() - self.header_len,
        }
    }

    /// Takes bytes (at most [`Self::wanted`]); returns the frame when its last byte went by.
    fn feed(&mut self, bytes: &[u8]) -> Option<Frame> {
        debug_assert!(bytes.len() <= self.wanted());
        match self.payload_left {
            None => {
                self.header[self.header_len..self.header_len + bytes.len()].copy_from_slice(bytes);
                self.header_len += bytes.len();
                if self.header_len < self.header_size() {
                    return None;
                }
                self.start_payload();
                if self.payload_left == Some(0) {
                    return self.finish();
                }
                None
            }
            Some(left) => {
                let mask = self.mask();
                if let Some(frame) = self.frame.as_mut() {
                    // The prefix is the payload's start, so its length is the payload offset.
                    let missing = 2 - frame.prefix_len;
                    for &byte in bytes.iter().take(missing) {
                        let at = frame.prefix_len;
                        frame.prefix[at] = byte ^ mask.map_or(0, |key| key[at % 4]);
                        frame.prefix_len += 1;
                    }
                }
                let left = left - bytes.len() as u64;
                self.payload_left = Some(left);
                if left == 0 { self.finish() } else { None }
            }
        }
    }

    fn mask(&self) -> Option<[u8; 4]> {
        let size = self.header_size();
        (self.header[1] & 0x80 != 0).then(|| {
            let mut key = [0u8; 4];
            key.copy_from_slice(&self.header[size - 4..size]);
            key
        })
    }

    fn start_payload(&mut self) {
        let length = match self.header[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
            127 => {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(&self.header[2..10]);
                u64::from_be_bytes(bytes)
            }
            short => u64::from(short),
        };
        self.payload_left = Some(length);
        self.frame = Some(Frame {
            fin: self.header[0] & 0x80 != 0,
            opcode: self.header[0] & 0x0f,
            prefix: [0; 2],
            prefix_len: 0,
        });
    }

    fn finish(&mut self) -> Option<Frame> {
        self.header_len = 0;
        self.payload_left = None;
        self.frame.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A frame as a client writes it (masked) or a server does (unmasked).
    fn frame(opcode: u8, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut out = vec![(u8::from(fin) << 7) | opcode];
        let mask_bit = if mask.is_some() { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => out.push(mask_bit | n as u8),
            n if n <= usize::from(u16::MAX) => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        match mask {
            Some(key) => {
                out.extend_from_slice(&key);
                out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
            }
            None => out.extend_from_slice(payload),
        }
        out
    }

    const KEY: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

    fn scan(bytes: &[u8], piece: usize) -> Vec<Frame> {
        let mut scanner = FrameScanner::default();
        let mut frames = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let take = scanner.wanted().min(piece).min(rest.len());
            let (part, tail) = rest.split_at(take);
            rest = tail;
            frames.extend(scanner.feed(part));
        }
        frames
    }

    #[test]
    fn the_scanner_finds_every_frame_and_its_unmasked_prefix_in_any_pieces() {
        let long = vec![b'x'; 300];
        let huge = vec![b'y'; 70_000];
        let mut stream = frame(OPCODE_TEXT, true, b"40{\"ticket\":\"t\"}", KEY);
        stream.extend(frame(0x9, true, b"", KEY));
        stream.extend(frame(OPCODE_TEXT, true, &long, KEY));
        stream.extend(frame(OPCODE_TEXT, false, b"4", None));
        stream.extend(frame(OPCODE_CONTINUATION, true, &huge, None));

        for piece in [1, 2, 3, 7, 512, usize::MAX] {
            let frames = scan(&stream, piece);
            let seen: Vec<(u8, bool, &[u8])> = frames
                .iter()
                .map(|f| (f.opcode, f.fin, f.prefix()))
                .collect();
            assert_eq!(
                seen,
                vec![
                    (OPCODE_TEXT, true, &b"40"[..]),
                    (0x9, true, &b""[..]),
                    (OPCODE_TEXT, true, &b"xx"[..]),
                    (OPCODE_TEXT, false, &b"4"[..]),
                    (OPCODE_CONTINUATION, true, &b"yy"[..]),
                ],
                "pieces of {piece}"
            );
        }
    }

    #[tokio::test]
    async fn nothing_after_the_connect_is_read_until_the_answer_is_written() {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (mut client_read, mut client_write) = tokio::io::split(client);
        let mut gate = ConnectGate::new(server, Hangup::default());
        let open = frame(OPCODE_TEXT, true, b"0{\"sid\":\"x\"}", None);
        let connect = frame(OPCODE_TEXT, true, b"40{\"ticket\":\"t\"}", KEY);
        let join = frame(OPCODE_TEXT, true, b"420[\"join\"]", KEY);
        let mut written = connect.clone();
        written.extend(&join);

        gate.write_all(&open).await.unwrap();
        client_write.write_all(&written).await.unwrap();
        let mut got = vec![0u8; connect.len()];
        gate.read_exact(&mut got).await.unwrap();
        assert_eq!(got, connect);
        let mut more = [0u8; 1];
        let early =
            tokio::time::timeout(std::time::Duration::from_millis(100), gate.read(&mut more)).await;
        assert!(early.is_err(), "the join is held back before the answer");

        let answer = frame(OPCODE_TEXT, true, b"40{\"sid\":\"y\"}", None);
        gate.write_all(&answer).await.unwrap();
        let mut rest = vec![0u8; join.len()];
        gate.read_exact(&mut rest).await.unwrap();
        assert_eq!(rest, join);
        let mut echoed = vec![0u8; open.len() + answer.len()];
        client_read.read_exact(&mut echoed).await.unwrap();
        assert!(echoed.ends_with(&answer));
    }

    #[tokio::test]
    async fn a_fired_hangup_ends_a_reader_waiting_for_data() {
        let (_client, server) = tokio::io::duplex(1024);
        let hangup = Hangup::default();
        let mut gate = ConnectGate::new(server, hangup.clone());
        let reader = tokio::spawn(async move {
            let mut byte = [0u8; 1];
            let read = gate.read(&mut byte).await;
            (read.ok(), gate.write(b"x").await.is_err())
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;

        hangup.fire();

        let (read, write_failed) = tokio::time::timeout(std::time::Duration::from_secs(1), reader)
            .await
            .expect("the reader wakes")
            .expect("the task ends");
        assert_eq!(read, Some(0), "end of stream");
        assert!(write_failed);
    }

    #[tokio::test]
    async fn a_refused_connect_opens_the_gate_too() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut gate = ConnectGate::new(server, Hangup::default());
        let connect = frame(OPCODE_TEXT, true, b"40{}", KEY);
        let next = frame(OPCODE_TEXT, true, b"42[\"x\"]", KEY);
        client.write_all(&connect).await.unwrap();
        client.write_all(&next).await.unwrap();
        let mut got = vec![0u8; connect.len()];
        gate.read_exact(&mut got).await.unwrap();

        gate.write_all(&frame(
            OPCODE_TEXT,
            true,
            b"44{\"message\":\"unauthorized\"}",
            None,
        ))
        .await
        .unwrap();

        let mut rest = vec![0u8; next.len()];
        gate.read_exact(&mut rest).await.unwrap();
        assert_eq!(rest, next);
    }
}

//! What one client may hold of the server: deadlines on every connection, a cap on the connections
//! of one address, a bound on the request head, and as many open files as the system allows.
//!
//! Without deadlines a connection that completed its TLS handshake and then said nothing was
//! never closed, and about a thousand of them from one laptop used up the process's open files:
//! the server stopped answering anyone. The values, and why:
//! - [`TLS_HANDSHAKE`] 10 s: a handshake is a few round trips; an old phone on weak ward Wi-Fi
//!   needs well under a second.
//! - [`FIRST_REQUEST`] 10 s after the handshake: a browser sends its request at once.
//! - [`REQUEST_HEAD`] 15 s for reading a request head, which is also how long a kept-alive
//!   connection may sit idle between requests (hyper times both with one timer): a slow client
//!   trickling header lines (slowloris) is cut, and a browser simply opens a new connection
//!   after an idle one closed.
//! - [`MAX_HEAD_BYTES`] 16 KiB: our heads are well under 2 KiB (a few cookies); larger ones get
//!   `431 Request Header Fields Too Large`.
//! - At most `--max-connections-per-address` (256) open connections per client address, refused
//!   before the TLS handshake: a ward of thirty devices behind one NAT, each with a call socket and
//!   a few page connections, stays far below it, while one attacker can no longer take every file.
//! - A WebSocket that does not complete its Socket.IO connect within 10 s is closed (signaling).

use std::{
    collections::HashMap,
    future::Future,
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum_server::accept::Accept;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};

/// Deadline for the TLS handshake.
pub const TLS_HANDSHAKE: Duration = Duration::from_secs(10);
/// Deadline for the first request after the handshake.
pub const FIRST_REQUEST: Duration = Duration::from_secs(10);
/// Deadline for reading a request head, and for an idle kept-alive connection.
pub const REQUEST_HEAD: Duration = Duration::from_secs(15);
/// Largest request head accepted; hyper answers larger ones with 431.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Open connections per client address, shared by every accepted connection.
#[derive(Debug, Clone)]
pub struct PerAddressLimit<A> {
    inner: A,
    max: usize,
    /// Each connection starts with a PROXY protocol header naming its client.
    proxy_protocol: bool,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    /// When a refusal was last logged: a flood of refusals must not become a flood of logs.
    last_logged: Arc<Mutex<Option<Instant>>>,
}

impl<A> PerAddressLimit<A> {
    /// Wraps the acceptor that runs first on a new TCP connection (before TLS).
    pub fn new(inner: A, max: usize, proxy_protocol: bool) -> Self {
        Self {
            inner,
            max,
            proxy_protocol,
            open: Arc::default(),
            last_logged: Arc::default(),
        }
    }
}

/// Counts one open connection of an address until dropped.
#[derive(Debug)]
struct Slot {
    address: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

impl<A> PerAddressLimit<A> {
    fn log_refusal(&self, address: IpAddr) {
        let mut last = self
            .last_logged
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if last.is_none_or(|at| now.duration_since(at) >= Duration::from_secs(10)) {
            *last = Some(now);
            tracing::warn!(%address, max = self.max, "refusing connections: too many open from one address (logged once every 10 s)");
        }
    }

    fn take_slot(&self, address: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(address).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Slot {
            address,
            open: self.open.clone(),
        })
    }
}

/// A TCP connection that holds its address's slot while it is open.
#[derive(Debug)]
pub struct Counted<S> {
    stream: S,
    _slot: Slot,
}

impl<S, A> Accept<TcpStream, S> for PerAddressLimit<A>
where
    A: Accept<TcpStream, WithPeer<S>> + Clone + Send + Sync + 'static,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
    S: Send + 'static,
{
    type Stream = Counted<A::Stream>;
    type Service = A::Service;
    type Future =
        Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send + 'static>>;

    fn accept(&self, mut stream: TcpStream, service: S) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let peer = if this.proxy_protocol {
                read_proxy_header(&mut stream).await?
            } else {
                stream.peer_addr()?
            };
            let Some(slot) = this.take_slot(peer.ip()) else {
                this.log_refusal(peer.ip());
                // Dropping the stream closes it at once: no TLS handshake is spent on it.
                drop(stream);
                return Err(io::Error::other("too many connections from one address"));
            };
            let (stream, service) = this
                .inner
                .accept(
                    stream,
                    WithPeer {
                        inner: service,
                        peer,
                    },
                )
                .await?;
            Ok((
                Counted {
                    stream,
                    _slot: slot,
                },
                service,
            ))
        })
    }
}

/// The client address of a connection: the one its PROXY protocol header states
/// (`--proxy-protocol`), else its TCP peer. Every request of the connection carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxiedPeer(pub SocketAddr);

/// A connection's service, putting [`ProxiedPeer`] on each of its requests.
#[derive(Debug, Clone)]
pub struct WithPeer<S> {
    inner: S,
    peer: SocketAddr,
}

impl<S, B> tower::Service<axum::http::Request<B>> for WithPeer<S>
where
    S: tower::Service<axum::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: axum::http::Request<B>) -> Self::Future {
        request.extensions_mut().insert(ProxiedPeer(self.peer));
        self.inner.call(request)
    }
}

/// How long a load balancer may take to send its PROXY header.
const PROXY_HEADER: Duration = Duration::from_secs(10);

/// Reads (consumes) the PROXY protocol header at the start of `stream`: the client's address,
/// or the TCP peer for a `LOCAL` or `UNKNOWN` header (the balancer's own health checks). No
/// header, or a malformed one, is an error: the connection is closed.
async fn read_proxy_header(stream: &mut TcpStream) -> io::Result<SocketAddr> {
    use tokio::io::AsyncReadExt;
    let parsed = tokio::time::timeout(PROXY_HEADER, async {
        let mut buf = [0u8; 536];
        loop {
            // Peeked, not read: past the header is the TLS handshake, which must stay unread.
            let seen = stream.peek(&mut buf).await?;
            if seen == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
            match proxy_header::parse(&buf[..seen]) {
                proxy_header::Parsed::Incomplete if seen < buf.len() => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                proxy_header::Parsed::Done { len, client } => return Ok((len, client)),
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "no PROXY protocol header (--proxy-protocol is on)",
                    ));
                }
            }
        }
    })
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no PROXY protocol header in time"))??;
    let (len, client) = parsed;
    let mut header = vec![0u8; len];
    stream.read_exact(&mut header).await?;
    match client {
        Some(client) => Ok(client),
        None => stream.peer_addr(),
    }
}

/// The PROXY protocol header (HAProxy's specification, versions 1 and 2).
pub mod proxy_header {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

    const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

    /// What the start of a connection holds.
    #[derive(Debug, PartialEq, Eq)]
    pub enum Parsed {
        /// A header, not whole yet.
        Incomplete,
        /// Not a PROXY header.
        Invalid,
        /// A header of `len` bytes naming `client` (none: `LOCAL` or `UNKNOWN`).
        Done {
            len: usize,
            client: Option<SocketAddr>,
        },
    }

    /// Parses the header at the start of `buf`.
    pub fn parse(buf: &[u8]) -> Parsed {
        if buf.len() < V2_SIGNATURE.len() {
            let v1 = b"PROXY ";
            let v2 = &V2_SIGNATURE[..buf.len()];
            let prefix = &v1[..buf.len().min(v1.len())];
            return if buf == v2 || buf.starts_with(prefix) {
                Parsed::Incomplete
            } else {
                Parsed::Invalid
            };
        }
        if buf.starts_with(&V2_SIGNATURE) {
            return parse_v2(buf);
        }
        if buf.starts_with(b"PROXY ") {
            return parse_v1(buf);
        }
        Parsed::Invalid
    }

    fn parse_v1(buf: &[u8]) -> Parsed {
        // At most 107 bytes, ending in CRLF.
        let Some(end) = buf.windows(2).take(106).position(|w| w == b"\r\n") else {
            return if buf.len() < 107 {
                Parsed::Incomplete
            } else {
                Parsed::Invalid
            };
        };
        let Ok(line) = std::str::from_utf8(&buf[..end]) else {
            return Parsed::Invalid;
        };
        let fields: Vec<&str> = line.split(' ').collect();
        let client = match fields.as_slice() {
            ["PROXY", "UNKNOWN", ..] => None,
            ["PROXY", "TCP4" | "TCP6", source, _, port, _] => {
                let (Ok(ip), Ok(port)) = (source.parse::<IpAddr>(), port.parse::<u16>()) else {
                    return Parsed::Invalid;
                };
                Some(SocketAddr::new(ip, port))
            }
            _ => return Parsed::Invalid,
        };
        Parsed::Done {
            len: end + 2,
            client,
        }
    }

    fn parse_v2(buf: &[u8]) -> Parsed {
        if buf.len() < 16 {
            return Parsed::Incomplete;
        }
        let version_command = buf[12];
        if version_command >> 4 != 2 {
            return Parsed::Invalid;
        }
        let length = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
        let len = 16 + length;
        if buf.len() < len {
            return Parsed::Incomplete;
        }
        let body = &buf[16..len];
        let client = match (version_command & 0x0f, buf[13]) {
            // LOCAL: the balancer speaking for itself.
            (0, _) => None,
            (1, 0x11) if body.len() >= 12 => {
                let ip = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
                Some(SocketAddr::new(
                    IpAddr::V4(ip),
                    u16::from_be_bytes([body[8], body[9]]),
                ))
            }
            (1, 0x21) if body.len() >= 36 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&body[..16]);
                Some(SocketAddr::new(
                    IpAddr::V6(Ipv6Addr::from(octets)),
                    u16::from_be_bytes([body[32], body[33]]),
                ))
            }
            // PROXY over something else (UNIX, UDP): no address of ours to use.
            (1, _) => None,
            _ => return Parsed::Invalid,
        };
        Parsed::Done { len, client }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn version_one_names_the_client_and_leaves_the_rest_unread() {
            let header = b"PROXY TCP4 198.51.100.7 10.0.0.2 51234 3000\r\n\x16\x03\x01";
            assert_eq!(
                parse(header),
                Parsed::Done {
                    len: header.len() - 3,
                    client: Some("198.51.100.7:51234".parse().unwrap()),
                }
            );
            assert_eq!(parse(b"PROXY TCP4 198.51"), Parsed::Incomplete);
            assert_eq!(parse(b"PRO"), Parsed::Incomplete);
            assert_eq!(
                parse(b"PROXY UNKNOWN\r\n"),
                Parsed::Done {
                    len: 15,
                    client: None
                }
            );
            assert_eq!(parse(b"PROXY TCP4 nonsense\r\n"), Parsed::Invalid);
            assert_eq!(
                parse(b"\x16\x03\x01\x02\x00"),
                Parsed::Invalid,
                "a bare TLS hello"
            );
            assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Parsed::Invalid);
        }

        #[test]
        fn version_two_names_the_client() {
            let mut header = V2_SIGNATURE.to_vec();
            header.extend([0x21, 0x11, 0, 12]);
            header.extend([198, 51, 100, 7, 10, 0, 0, 2]);
            header.extend(51234u16.to_be_bytes());
            header.extend(3000u16.to_be_bytes());
            let len = header.len();
            header.extend([0x16, 0x03]);
            assert_eq!(
                parse(&header),
                Parsed::Done {
                    len,
                    client: Some("198.51.100.7:51234".parse().unwrap()),
                }
            );
            assert_eq!(parse(&header[..14]), Parsed::Incomplete);
            assert_eq!(parse(&header[..20]), Parsed::Incomplete);
            let mut local = V2_SIGNATURE.to_vec();
            local.extend([0x20, 0x00, 0, 0]);
            assert_eq!(
                parse(&local),
                Parsed::Done {
                    len: 16,
                    client: None
                }
            );
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Raises this process's soft limit on open files to its hard limit and logs both: the soft
/// limit (often 1,024) is what a server would otherwise run out of first.
pub fn raise_open_files_limit() {
    match rlimit::Resource::NOFILE.get() {
        Ok((soft, hard)) => {
            let raised = rlimit::increase_nofile_limit(hard).unwrap_or(soft);
            tracing::info!(soft_before = soft, soft = raised, hard, "open files limit");
            if raised < 4096 {
                tracing::warn!(
                    soft = raised,
                    "few open files allowed: raise LimitNOFILE (systemd) or ulimit -n for many calls"
                );
            }
        }
        Err(err) => tracing::warn!(error = %err, "reading the open files limit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_address_and_given_back() {
        let limit = PerAddressLimit::new((), 2, false);
        let one: IpAddr = "192.0.2.1".parse().expect("an address");
        let two: IpAddr = "192.0.2.2".parse().expect("an address");

        let first = limit.take_slot(one);
        let second = limit.take_slot(one);
        let third = limit.take_slot(one);
        let other = limit.take_slot(two);

        assert!(first.is_some() && second.is_some());
        assert!(third.is_none(), "the third from one address is refused");
        assert!(other.is_some(), "another address has its own count");
        drop(first);
        assert!(
            limit.take_slot(one).is_some(),
            "a closed one frees its slot"
        );
    }
}

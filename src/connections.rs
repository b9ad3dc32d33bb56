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
    net::IpAddr,
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
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    /// When a refusal was last logged: a flood of refusals must not become a flood of logs.
    last_logged: Arc<Mutex<Option<Instant>>>,
}

impl<A> PerAddressLimit<A> {
    /// Wraps the acceptor that runs first on a new TCP connection (before TLS).
    pub fn new(inner: A, max: usize) -> Self {
        Self {
            inner,
            max,
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
    A: Accept<TcpStream, S>,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = Counted<A::Stream>;
    type Service = A::Service;
    type Future =
        Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send + 'static>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let address = stream.peer_addr().map(|peer| peer.ip());
        let slot = match address {
            Ok(address) => self.take_slot(address).ok_or(address),
            Err(err) => return Box::pin(std::future::ready(Err(err))),
        };
        let slot = match slot {
            Ok(slot) => slot,
            Err(address) => {
                self.log_refusal(address);
                // Dropping the stream closes it at once: no TLS handshake is spent on it.
                drop(stream);
                return Box::pin(std::future::ready(Err(io::Error::other(
                    "too many connections from one address",
                ))));
            }
        };
        let accepted = self.inner.accept(stream, service);
        Box::pin(async move {
            let (stream, service) = accepted.await?;
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
        let limit = PerAddressLimit::new((), 2);
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

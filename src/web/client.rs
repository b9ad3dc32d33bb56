//! Who is asking: the address of the person behind a request, for throttles and logs.
//!
//! It is the connection's own peer, unless that peer is a load balancer the hospital trusts:
//! - with `--proxy-protocol`, the balancer (HAProxy's `send-proxy-v2`) states the client's address
//!   in a header before TLS, and every connection must carry it ([`crate::connections`]); the
//!   per-address connection limit counts that address too;
//! - with `--trusted-proxy` (addresses or networks), a request *from one of those* may name its
//!   client in `X-Forwarded-For`: the list is read from the right, skipping the trusted proxies,
//!   and the first other address is the client.
//!
//! Anyone else's `X-Forwarded-For` is ignored: an outsider can write any header, and must not
//! choose the address their failed codes are counted against.

use std::{
    convert::Infallible,
    net::{IpAddr, SocketAddr},
};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, request::Parts},
};

use crate::{config::IpNetwork, connections::ProxiedPeer, state::AppState};

/// The address of the person behind a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        // The connection's client (its PROXY header's, else its TCP peer); the TCP peer where
        // no acceptor ran (a router served without one, in tests of its parts).
        let peer = parts
            .extensions
            .get::<ProxiedPeer>()
            .map(|proxied| proxied.0.ip())
            .or_else(|| {
                parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|info| info.0.ip())
            })
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        Ok(ClientAddr(client_of(
            peer,
            &parts.headers,
            &state.config.trusted_proxies,
        )))
    }
}

/// The client behind `peer`: `peer` itself, or from a trusted proxy the first untrusted address
/// of `X-Forwarded-For` read from the right.
pub fn client_of(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNetwork]) -> IpAddr {
    let is_trusted = |address: IpAddr| trusted.iter().any(|net| net.contains(address));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // An entry that is not an address ends the trust: the last hop we believed stands.
        let Ok(address) = hop.parse::<IpAddr>() else {
            break;
        };
        client = address;
        if !is_trusted(address) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append("x-forwarded-for", value.parse().expect("a header value"));
        }
        map
    }

    fn net(text: &str) -> IpNetwork {
        text.parse().expect("a network")
    }

    #[test]
    fn a_forwarded_header_counts_only_from_a_trusted_proxy() {
        let trusted = [net("10.0.0.5"), net("192.168.7.0/24")];
        let outsider: IpAddr = "203.0.113.9".parse().unwrap();
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();

        // An outsider's own header changes nothing.
        assert_eq!(
            client_of(outsider, &headers(&["1.2.3.4"]), &trusted),
            outsider
        );
        // From the proxy: the client it names.
        assert_eq!(
            client_of(proxy, &headers(&["198.51.100.7"]), &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        // A forged entry in front of the real one is skipped: read from the right.
        assert_eq!(
            client_of(proxy, &headers(&["1.2.3.4, 198.51.100.7"]), &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        // Through two trusted proxies.
        assert_eq!(
            client_of(proxy, &headers(&["198.51.100.7", "192.168.7.20"]), &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        // No header, or garbage: the proxy itself.
        assert_eq!(client_of(proxy, &HeaderMap::new(), &trusted), proxy);
        assert_eq!(
            client_of(proxy, &headers(&["not-an-address"]), &trusted),
            proxy
        );
        // Nothing trusted: the header never counts.
        assert_eq!(client_of(proxy, &headers(&["198.51.100.7"]), &[]), proxy);
    }
}

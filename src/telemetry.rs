//! `/metrics`: the server's figures in Prometheus' text format, for IT. Counters are counted
//! where things happen (the `metrics` crate's macros); the gauges (calls, participants, waiting
//! relatives, the database pool) are read at each scrape. No label ever holds a patient,
//! relative, room or visit identifier: routes are their templates (`/visit-log/{id}`), reasons
//! are fixed words. Readable from the box itself, or with `--metrics-token`.

use std::{sync::OnceLock, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// The request durations' buckets (seconds).
const DURATION_BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder, once (the servers of one test process share it).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("visitas_http_request_duration_seconds".to_string()),
                    &DURATION_BUCKETS,
                )
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(err) => {
                    tracing::warn!(error = %err, "metrics are off: no recorder");
                    None
                }
            }
        })
        .as_ref()
}

/// Counts every routed request by its route template, method and status class, and times it.
pub async fn track_http(matched: Option<MatchedPath>, request: Request, next: Next) -> Response {
    let route = matched.map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let method = request.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = match response.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::counter!(
        "visitas_http_requests_total",
        "route" => route.clone(),
        "method" => method.clone(),
        "status" => status
    )
    .increment(1);
    metrics::histogram!(
        "visitas_http_request_duration_seconds",
        "route" => route,
        "method" => method
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// Whether a client may read the metrics: one on the box itself, or one that shows the token.
pub fn may_read(client: std::net::IpAddr, headers: &HeaderMap, token: Option<&str>) -> bool {
    if client.is_loopback() {
        return true;
    }
    let Some(token) = token else {
        return false;
    };
    let shown = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    use subtle::ConstantTimeEq;
    shown.len() == token.len() && bool::from(shown.as_bytes().ct_eq(token.as_bytes()))
}

/// `GET /metrics`.
pub async fn scrape(
    State(state): State<AppState>,
    crate::web::client::ClientAddr(client): crate::web::client::ClientAddr,
    headers: HeaderMap,
) -> Response {
    let token = state.config.metrics_token.as_ref().map(|t| t.0.as_str());
    if !may_read(client, &headers, token) {
        return (StatusCode::FORBIDDEN, "forbidden\n").into_response();
    }
    let Some(handle) = install() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "metrics are off\n").into_response();
    };
    let counts = state.signaling.counts();
    let gauge = |name: &'static str, value: usize| {
        metrics::gauge!(name).set(f64::from(u32::try_from(value).unwrap_or(u32::MAX)));
    };
    gauge("visitas_calls_running", counts.calls);
    gauge("visitas_participants", counts.participants);
    gauge("visitas_participants_reconnecting", counts.reconnecting);
    gauge("visitas_relatives_waiting", counts.waiting);
    gauge("visitas_bedside_devices_standing_by", counts.standing_by);
    let size = state.db.size() as usize;
    let idle = state.db.num_idle();
    metrics::gauge!("visitas_db_connections", "state" => "idle")
        .set(f64::from(u32::try_from(idle).unwrap_or(u32::MAX)));
    metrics::gauge!("visitas_db_connections", "state" => "in_use").set(f64::from(
        u32::try_from(size.saturating_sub(idle)).unwrap_or(u32::MAX),
    ));
    let failures = crate::db::STORAGE_FAILURES.load(std::sync::atomic::Ordering::Relaxed);
    metrics::gauge!("visitas_storage_failures").set(failures as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_box_or_the_token_may_read() {
        let outside: std::net::SocketAddr = "10.0.0.7:5555".parse().expect("an address");
        let inside: std::net::SocketAddr = "127.0.0.1:5555".parse().expect("an address");
        let mut headers = HeaderMap::new();
        assert!(may_read(inside.ip(), &headers, None));
        assert!(!may_read(outside.ip(), &headers, None));
        assert!(!may_read(
            outside.ip(),
            &headers,
            Some("a-long-enough-token")
        ));
        headers.insert(
            header::AUTHORIZATION,
            "Bearer a-long-enough-token".parse().expect("a header"),
        );
        assert!(may_read(
            outside.ip(),
            &headers,
            Some("a-long-enough-token")
        ));
        assert!(!may_read(
            outside.ip(),
            &headers,
            Some("another-long-token!")
        ));
        assert!(!may_read(outside.ip(), &headers, None));
    }
}

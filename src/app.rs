//! The application: shared state, the one route table, and starting the HTTPS server. `main` and
//! the tests both start Visitas through [`start`].

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Router,
    extract::{MatchedPath, Request},
    http::StatusCode,
    middleware,
    response::IntoResponse,
    routing::{get, post},
};
use axum_server::{Handle, tls_rustls::RustlsConfig};
use tokio::task::JoinHandle;
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer, compression::CompressionLayer, limit::RequestBodyLimitLayer,
    timeout::TimeoutLayer, trace::TraceLayer,
};
use tower_sessions::{
    Expiry, SessionManagerLayer, cookie::SameSite, session_store::ExpiredDeletion,
};

use crate::{
    auth::{self, Passwords, secret::ServerSecret},
    cache::Caches,
    config::Config,
    connections,
    db::{self, sessions::SessionTable},
    domain::random_token,
    signaling,
    state::{AppState, Shared},
    telemetry, tls, web,
};

/// How long a printed setup link stays valid.
pub const SETUP_LINK_SECS: i64 = 60 * 60;
/// Name of the staff session cookie. `__Host-` makes browsers insist on Secure, Path=/ and no
/// Domain, so no other host can set or read it.
pub const SESSION_COOKIE: &str = "__Host-visitas-session";

/// The one route table. `/socket.io/` is served by signaling, outside the page middleware (no
/// timeout or compression on a long-lived WebSocket) but inside the session layer (so the
/// handshake sees the staff session).
pub fn router(state: AppState) -> Router {
    let session_store = state.sessions.clone();
    let idle =
        time::Duration::seconds(i64::try_from(state.config.session_idle_secs).unwrap_or(i64::MAX));
    let sessions = SessionManagerLayer::new(session_store)
        .with_name(SESSION_COOKIE)
        .with_secure(true)
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(idle));

    Router::new()
        .route("/", get(web::home))
        .route("/healthz", get(web::health))
        .route("/metrics", get(telemetry::scrape))
        .route("/lang", post(web::switch_language))
        .route("/static/{*path}", get(web::assets::serve))
        .route("/login", get(web::login::show).post(web::login::submit))
        .route("/logout", post(web::login::logout))
        .route(
            "/setup/{token}",
            get(web::setup::show).post(web::setup::submit),
        )
        .route(
            "/patients",
            get(web::patients::list).post(web::patients::create),
        )
        .route("/patients/new", get(web::patients::new_form))
        .route("/patients/{id}", get(web::patients::show))
        .route(
            "/patients/{id}/edit",
            get(web::patients::edit_form).post(web::patients::update),
        )
        .route("/patients/{id}/no-visits", post(web::patients::no_visits))
        .route(
            "/patients/{id}/discharge",
            get(web::patients::discharge_confirm).post(web::patients::discharge),
        )
        .route("/patients/{id}/rooms", post(web::rooms::create))
        .route("/patients/{id}/relatives", post(web::relatives::create))
        .route(
            "/patients/{patient}/relatives/{relative}/withdraw",
            get(web::relatives::withdraw_confirm).post(web::relatives::withdraw),
        )
        .route("/patients/{id}/visits", post(web::visits::create))
        .route("/patients/{id}/visits/new", get(web::visits::new_form))
        .route("/patients/{id}/visits/now", post(web::visits::create_now))
        .route("/desk", get(web::desk::show))
        .route("/desk/rows", get(web::desk::rows_fragment))
        .route("/desk/version", get(web::desk::version))
        .route("/desk/waiting", get(web::waiting::panel))
        .route("/waiting/{id}/admit", post(web::waiting::admit))
        .route("/waiting/{id}/not-now", post(web::waiting::not_now))
        .route("/waiting/{id}/send-away", post(web::waiting::send_away))
        .route("/visits/{id}/admit-all", post(web::waiting::admit_all))
        .route("/bedside", get(web::bedside::show))
        .route("/bedside/state", get(web::bedside::current_state))
        .route("/bedside/pairing", post(web::bedside::pairing))
        .route("/bedside/ticket", get(web::bedside::ticket))
        .route("/bedside/forget", post(web::bedside::forget))
        .route(
            "/pair",
            get(web::devices::pair_form).post(web::devices::pair_chosen),
        )
        .route("/patients/{id}/devices", post(web::devices::pair))
        .route(
            "/patients/{id}/devices/{device}/unpair",
            post(web::devices::unpair),
        )
        .route("/patients/{id}/bedside", post(web::devices::settings))
        .route("/visits/{id}", get(web::visits::show))
        .route("/visits/{id}/reschedule", post(web::visits::reschedule))
        .route(
            "/visits/{id}/cancel",
            get(web::visits::cancel_confirm).post(web::visits::cancel),
        )
        .route("/visits/{id}/end", post(web::visits::end))
        .route("/visits/{id}/relatives", post(web::visits::add_relative))
        .route("/visits/{visit}/cards/{invite}", get(web::visits::card))
        .route("/wards/{id}/week", get(web::week::show))
        .route("/rooms", get(web::rooms::list))
        .route("/rooms/{id}", get(web::rooms::show))
        .route(
            "/rooms/{id}/close",
            get(web::rooms::close_confirm).post(web::rooms::close),
        )
        .route("/rooms/presence", get(web::rooms::presence))
        .route("/rooms/{id}/call", get(web::call::staff_call))
        .route("/rooms/{id}/ticket", get(web::call::staff_ticket))
        .route(
            "/rooms/{room}/invites/{invite}/revoke",
            get(web::invites::revoke_confirm).post(web::invites::revoke),
        )
        .route("/i/{token}", get(web::visit::open_link))
        .route("/visit", get(web::visit::show))
        .route("/visit/code", post(web::visit::submit_code))
        .route("/visit/ticket", get(web::visit::ticket))
        .route("/visit/calendar.ics", get(web::visit::calendar))
        .route("/admin/visits", get(web::visit_log::moved))
        .route("/visit-log", get(web::visit_log::list))
        .route("/visit-log/export.csv", get(web::visit_log::export))
        .route("/visit-log/stats", get(web::stats::page))
        .route("/visit-log/{id}", get(web::visit_log::show))
        .route("/admin/audit", get(web::audit::list))
        .route(
            "/admin/staff",
            get(web::staff::list).post(web::staff::create),
        )
        .route(
            "/admin/staff/{id}/deactivate",
            get(web::staff::deactivate_confirm).post(web::staff::deactivate),
        )
        .route("/admin/staff/{id}/wards", post(web::staff::assign_wards))
        .route(
            "/admin/wards",
            get(web::wards::list).post(web::wards::create),
        )
        .route(
            "/admin/wards/{id}",
            get(web::wards::show).post(web::wards::update),
        )
        .route(
            "/admin/wards/{id}/exceptions",
            post(web::wards::add_exception),
        )
        .route(
            "/admin/wards/{ward}/exceptions/{exception}/remove",
            post(web::wards::remove_exception),
        )
        .route("/admin/ca.pem", get(web::staff::download_ca))
        .route(
            "/admin/staff/{id}",
            get(web::staff::edit).post(web::staff::update),
        )
        .route("/admin/staff/{id}/reactivate", post(web::staff::reactivate))
        .route(
            "/admin/staff/{id}/password",
            post(web::staff::reset_password),
        )
        .route(
            "/account/password",
            get(web::staff::own_password).post(web::staff::change_own_password),
        )
        .route("/patients/{id}/readmit", post(web::patients::readmit))
        .fallback(web::not_found)
        .layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn(telemetry::track_http))
                .layer(middleware::from_fn(web::flash::remember))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|request: &Request| {
                        // The matched route, never the raw path: paths can hold secrets (setup
                        // links, invite tokens) that must not reach the logs.
                        let route = request
                            .extensions()
                            .get::<MatchedPath>()
                            .map_or("(unmatched)", MatchedPath::as_str);
                        tracing::info_span!("request", method = %request.method(), route)
                    }),
                )
                .layer(CompressionLayer::new())
                .layer(middleware::from_fn(web::security_headers))
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    web::render_error_pages,
                ))
                .layer(middleware::from_fn(web::bedside::fence))
                .layer(CatchPanicLayer::custom(
                    |_: Box<dyn std::any::Any + Send>| {
                        tracing::error!("a request handler panicked");
                        StatusCode::INTERNAL_SERVER_ERROR.into_response()
                    },
                ))
                .layer(middleware::from_fn_with_state(
                    state.config.clone(),
                    auth::csrf::protect,
                ))
                .layer(RequestBodyLimitLayer::new(auth::csrf::MAX_FORM_BYTES))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Duration::from_secs(30),
                )),
        )
        .layer(middleware::from_fn_with_state(
            state.signaling.clone(),
            signaling::accept_socket,
        ))
        .layer(sessions)
        .with_state(state)
}

/// A running server.
pub struct Server {
    /// The address it listens on (the real port when 0 was asked for).
    pub addr: SocketAddr,
    /// The one-time link that creates the first administrator, while none exists.
    pub setup_url: Option<String>,
    /// The state shared by the handlers, for tests and tools.
    pub state: AppState,
    handle: Handle<SocketAddr>,
    task: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
    /// Held while the server runs: `visitas restore` refuses meanwhile.
    _lock: Option<db::DatabaseLock>,
}

impl Server {
    /// Stops accepting, lets requests in flight finish (up to 10 s), and waits.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.state.signaling.end_all().await;
        self.handle.graceful_shutdown(Some(Duration::from_secs(10)));
        for task in &self.background {
            task.abort();
        }
        self.task.await.context("joining the server task")??;
        self.state.db.close().await;
        Ok(())
    }
}

/// Opens the database, prepares TLS and starts serving on `config.bind`.
pub async fn start(config: Config) -> anyhow::Result<Server> {
    tls::install_crypto_provider();
    config.validate_for_serving().map_err(anyhow::Error::msg)?;
    connections::raise_open_files_limit();
    // Owner-only: the database holds patients' names, the directory the keys.
    db::create_private_dir(&config.data_dir)?;
    let exposed = db::readable_by_others(&config.data_dir);
    if !exposed.is_empty() {
        tracing::warn!(
            paths = ?exposed,
            "THE DATA DIRECTORY IS READABLE BY OTHER USERS: it holds patients' names and the \
             server's keys. Fix it with: chmod -R go-rwx {}",
            config.data_dir.display()
        );
    }
    telemetry::install();
    let location = config.database_location();
    // One server per SQLite file; on PostgreSQL, any number of nodes share the database.
    let lock = match &location {
        db::Location::File(path) => match db::lock_database(path)? {
            Some(lock) => Some(lock),
            None => anyhow::bail!(
                "another Visitas server is running on {} (stop it first)",
                path.display()
            ),
        },
        db::Location::Postgres(_) => None,
    };
    let db = db::open(&location).await?;

    let generated = tls::GeneratedPaths {
        dir: config.tls_dir(),
    };
    let server_tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => tls::load_provided(cert, key)?,
        _ => tls::ensure_generated(
            &generated,
            &tls::local_names(),
            time::OffsetDateTime::now_utc(),
        )?,
    };
    let rustls = RustlsConfig::from_pem(server_tls.chain_pem.clone(), server_tls.key_pem.clone())
        .await
        .context("loading the TLS certificate and key")?;

    let listener = std::net::TcpListener::bind(config.bind)
        .with_context(|| format!("listening on {}", config.bind))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;

    let setup_url = if db::staff::active_admin_exists(&db).await? {
        None
    } else {
        let token = random_token(32);
        let mut conn = db.acquire().await?;
        db::setup::replace_token(&mut conn, &token, SETUP_LINK_SECS).await?;
        Some(format!(
            "{}/setup/{token}",
            config.public_base_url(addr.port())
        ))
    };

    // On one SQLite file nobody else is in a call now. On PostgreSQL other nodes may be: while
    // one is alive, the open stays are theirs to close.
    let node = crate::domain::RandomId::new().as_str().to_string();
    let closed = match db.engine() {
        db::Engine::Sqlite => db::visit_log::close_dangling(&db).await?,
        db::Engine::Postgres => {
            let since = db::now() - crate::nodes::NODE_TIMEOUT.as_secs() as i64;
            match db::nodes::others_alive(&db, &node, since).await? {
                0 => db::visit_log::close_dangling(&db).await?,
                _ => 0,
            }
        }
    };
    if closed > 0 {
        tracing::warn!(
            closed,
            "closed visit log entries left open by an earlier crash"
        );
    }
    let secret = match &config.secret_file {
        Some(shared) => ServerSecret::load_shared(shared)?,
        None => ServerSecret::load_or_create(&config.data_dir.join("secret.key"))?,
    };
    let config = Arc::new(config);
    let caches = Arc::new(Caches::default());
    let link = match &db {
        db::Pool::Postgres(pool) => signaling::Link::postgres(pool.clone()),
        db::Pool::Sqlite(_) => signaling::Link::Alone,
    };
    let liveness = signaling::Liveness {
        heartbeat: crate::nodes::HEARTBEAT,
        timeout: crate::nodes::NODE_TIMEOUT,
    };
    let signaling = signaling::build(
        db.clone(),
        secret.clone(),
        config.clone(),
        caches.clone(),
        node.clone(),
        link,
        liveness,
    )
    .await?;
    let mut background = Vec::new();
    if let db::Pool::Postgres(pool) = &db {
        // Several nodes may share this database: each says it is alive and tells the others
        // what it changed, and their signaling meets.
        db::nodes::beat(&db, &node, db::now()).await?;
        background = crate::nodes::connect(
            pool.clone(),
            caches.clone(),
            signaling.clone(),
            node.clone(),
        );
    }
    let state = AppState::new(Shared {
        config,
        db: db.clone(),
        passwords: Passwords::new().await?,
        ca_pem: server_tls.ca_pem.as_deref().map(Arc::from),
        secret,
        signaling,
        sessions: SessionTable::new(db.clone()),
        caches,
        last_probe: std::sync::Mutex::new(None),
        write_gate: db::WriteGate::default(),
    });
    let app = router(state.clone());
    let handle = Handle::new();
    let per_address = state.config.max_connections_per_address;
    let mut server = axum_server::from_tcp_rustls(listener, rustls.clone())?
        .map(|tls| {
            tls.handshake_timeout(connections::TLS_HANDSHAKE).acceptor(
                connections::PerAddressLimit::new(
                    // Signaling is small messages that must not wait for the previous one's ACK
                    // (Nagle and delayed ACKs stalled some for 40 ms).
                    axum_server::accept::NoDelayAcceptor::new(),
                    per_address,
                    state.config.proxy_protocol,
                ),
            )
        })
        .first_request_timeout(connections::FIRST_REQUEST)
        .accept_error_handler(
            |_, err| tracing::debug!(error = %err, "a connection was not accepted"),
        )
        .handle(handle.clone());
    server
        .http_builder()
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(connections::REQUEST_HEAD)
        .max_buf_size(connections::MAX_HEAD_BYTES);
    let task = tokio::spawn(server.serve(app.into_make_service_with_connect_info::<SocketAddr>()));

    background.extend([
        tokio::spawn(delete_expired_sessions(state.sessions.clone())),
        tokio::spawn(unpair_unseen_devices(state.clone())),
        tokio::spawn(settle_visits(state.clone())),
        tokio::spawn(purge_expired(state.clone())),
    ]);
    if server_tls.ca_pem.is_some() {
        background.push(tokio::spawn(renew_certificate(rustls, generated)));
    }

    Ok(Server {
        addr,
        setup_url,
        state,
        handle,
        task,
        background,
        _lock: lock,
    })
}

/// At start and every minute, settles the outcomes of the visits that are over (the log's pages
/// also do it before they read; at start, so that the first page does not pay for the backlog).
async fn settle_visits(state: AppState) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        every.tick().await;
        if let Err(err) = crate::actions::settle_visits(&state).await {
            tracing::warn!(error = %err, "settling the outcomes of visits that are over");
        }
    }
}

/// Ten minutes after start and then once a day, removes the records older than
/// `--retain-days` (not at once: a start is busy enough).
async fn purge_expired(state: AppState) {
    let mut every = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(10 * 60),
        Duration::from_secs(24 * 60 * 60),
    );
    loop {
        every.tick().await;
        match crate::actions::purge_expired(&state).await {
            Ok(purged) if purged.is_empty() => {}
            Ok(purged) => tracing::info!(
                visits = purged.visits,
                stays = purged.stays,
                invites = purged.invites,
                relatives = purged.relatives,
                "removed records older than the retention period"
            ),
            Err(err) => {
                tracing::warn!(error = %err, "removing records older than the retention period")
            }
        }
    }
}

/// Every hour, unpairs the bedside tablets not seen for `--device-unseen-days`.
async fn unpair_unseen_devices(state: AppState) {
    let mut every = tokio::time::interval(Duration::from_secs(60 * 60));
    loop {
        every.tick().await;
        match crate::actions::unpair_unseen(&state, state.config.device_unseen_days).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                devices = n,
                "unpaired bedside devices not seen for too long"
            ),
            Err(err) => tracing::warn!(error = %err, "unpairing unseen bedside devices"),
        }
    }
}

async fn delete_expired_sessions(store: SessionTable) {
    let mut every = tokio::time::interval(Duration::from_secs(10 * 60));
    loop {
        every.tick().await;
        if let Err(err) = store.delete_expired().await {
            tracing::warn!(error = %err, "deleting expired sessions");
        }
    }
}

/// Twice a day, reissues the generated server certificate if it nears expiry or the machine's
/// names or addresses changed, and swaps it in without a restart.
async fn renew_certificate(rustls: RustlsConfig, paths: tls::GeneratedPaths) {
    let mut every = tokio::time::interval(Duration::from_secs(12 * 60 * 60));
    every.tick().await;
    loop {
        every.tick().await;
        let names = tls::local_names();
        let result = tls::ensure_generated(&paths, &names, time::OffsetDateTime::now_utc());
        match result {
            Ok(fresh) if fresh.reissued => {
                if let Err(err) = rustls.reload_from_pem(fresh.chain_pem, fresh.key_pem).await {
                    tracing::error!(error = %err, "loading the renewed certificate");
                }
            }
            Ok(_) => {}
            Err(err) => tracing::error!(error = format!("{err:#}"), "renewing the certificate"),
        }
    }
}

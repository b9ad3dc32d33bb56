//! Shared test helpers: start the real server (HTTPS, 127.0.0.1, port 0, its own temporary data
//! directory) and talk to it like a browser would.

#![allow(
    clippy::unwrap_used,
    dead_code,
    reason = "each test binary uses a different part of the helpers"
)]

pub mod axe;
pub mod browser;
pub mod coturn;
pub mod haproxy;
pub mod journeys;
pub mod netns;
pub mod postgres;
pub mod process;
pub mod socket;

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use reqwest::{
    Client, Response, StatusCode,
    cookie::{CookieStore, Jar},
    header,
};

use tempfile::TempDir;
use visitas::{
    actions::{AccountInput, create_staff},
    app::{self, Server},
    config::Config,
    domain::Role,
};

/// A strong password accepted by the rules.
pub const PASSWORD: &str = "correct horse battery 42";

/// A running server with its own data directory and a cookie-keeping client.
pub struct TestApp {
    pub server: Option<Server>,
    pub addr: SocketAddr,
    pub base: String,
    pub dir: TempDir,
    pub config: Config,
    pub client: Client,
    pub jar: Arc<Jar>,
}

/// Starts a server with the default settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server after `adjust` changes the settings.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    // `VISITAS_TEST_LOGS=1 cargo test ...` prints the servers' warnings and errors.
    static LOGS: std::sync::Once = std::sync::Once::new();
    LOGS.call_once(|| {
        if std::env::var("VISITAS_TEST_LOGS").is_ok() {
            let _ = tracing::subscriber::set_global_default(
                tracing_subscriber::fmt()
                    .with_max_level(tracing::Level::WARN)
                    .finish(),
            );
        }
    });
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut config = Config::with_defaults("127.0.0.1:0".parse().unwrap(), dir.path().join("data"));
    // A socket a test drops has left soon, not after the minute a real page gets to come back.
    config.rejoin_grace_secs = 2;
    adjust(&mut config);
    start_in(dir, config).await
}

/// Keeps a server on its SQLite file on every leg: for what only SQLite has (its file, its
/// pragmas, backups by copy).
pub fn on_sqlite(config: &mut Config) {
    config.database = Some(
        config
            .data_dir
            .join("visitas.db")
            .to_string_lossy()
            .into_owned(),
    );
}

/// The database a server process with the data directory `data` uses, opened here too.
pub async fn open_database_of(data: &std::path::Path) -> visitas::db::Pool {
    let location = match postgres::database_for(data) {
        Some(url) => visitas::db::Location::Postgres(url),
        None => visitas::db::Location::File(data.join("visitas.db")),
    };
    visitas::db::open(&location)
        .await
        .expect("the database opens")
}

/// Starts a server on an existing data directory (a restart).
pub async fn start_in(dir: TempDir, mut config: Config) -> TestApp {
    if config.database.is_none() {
        config.database = postgres::database_for(&config.data_dir);
    }
    if matches!(
        config.database_location(),
        visitas::db::Location::Postgres(_)
    ) {
        let files = postgres::NodeFiles::beside(&config.data_dir);
        config.tls_cert.get_or_insert(files.tls_cert);
        config.tls_key.get_or_insert(files.tls_key);
        config.secret_file.get_or_insert(files.secret_file);
    }
    let server = app::start(config.clone()).await.expect("server starts");
    let addr = server.addr;
    let (client, jar) = new_client();
    TestApp {
        base: format!("https://{addr}"),
        server: Some(server),
        addr,
        dir,
        config,
        client,
        jar,
    }
}

/// A client like a fresh browser: its own cookies, no redirects followed, the self-signed
/// certificate accepted.
pub fn new_client() -> (Client, Arc<Jar>) {
    visitas::tls::install_crypto_provider();
    let jar = Arc::new(Jar::default());
    let client = Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .tls_danger_accept_invalid_certs(true)
        .build()
        .expect("http client");
    (client, jar)
}

impl TestApp {
    /// The database the server uses.
    pub fn db(&self) -> visitas::db::Pool {
        self.server.as_ref().expect("running").state.db.clone()
    }

    /// Everything the database holds, as the bytes someone with a copy would read: on SQLite the
    /// file with its WAL and shared memory (each found one, with its name); on PostgreSQL every
    /// row of every table as text.
    pub async fn stored_bytes(&self) -> Vec<(String, Vec<u8>)> {
        if let Some(file) = self.config.database_path() {
            return ["", "-wal", "-shm"]
                .into_iter()
                .filter_map(|suffix| {
                    let path = format!("{}{suffix}", file.display());
                    std::fs::read(&path).ok().map(|bytes| (path, bytes))
                })
                .collect();
        }
        let db = self.db();
        let tables: Vec<(String,)> = visitas::sql!(&db, |c| {
            sqlx::query_as(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'"
        )
        .fetch_all(&mut *c)
        .await
        })
        .unwrap();
        let mut found = Vec::new();
        for (table,) in tables {
            let rows: Vec<(String,)> = visitas::sql!(&db, |c| sqlx::query_as(sqlx::AssertSqlSafe(
                format!("SELECT CAST(t AS TEXT) FROM \"{table}\" t")
            ))
            .fetch_all(&mut *c)
            .await)
            .unwrap();
            let text: Vec<String> = rows.into_iter().map(|(row,)| row).collect();
            found.push((table, text.join("\n").into_bytes()));
        }
        found
    }

    /// The one-time setup link printed at start, with the host the tests can reach.
    pub fn setup_path(&self) -> Option<String> {
        let url = self.server.as_ref()?.setup_url.clone()?;
        Some(url[url.find("/setup/")?..].to_string())
    }

    /// Full URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET with this app's client.
    pub async fn get(&self, path: &str) -> Response {
        self.get_with(&self.client, path).await
    }

    /// GET with another client (another device).
    pub async fn get_with(&self, client: &Client, path: &str) -> Response {
        client.get(self.url(path)).send().await.expect("GET")
    }

    /// The form token this client's browser would have, fetching a page first if needed.
    pub async fn csrf_token(&self, client: &Client, jar: &Jar) -> String {
        let url = self.base.parse().unwrap();
        if let Some(token) = cookie_in(jar, &url, "__Host-visitas-csrf") {
            return token;
        }
        self.get_with(client, "/login").await;
        cookie_in(jar, &url, "__Host-visitas-csrf").expect("the server hands out a form token")
    }

    /// POST a form as a same-origin page would: with the form token and the Origin header.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.post_with(&self.client, &self.jar, path, fields).await
    }

    /// POST a form from another client.
    pub async fn post_with(
        &self,
        client: &Client,
        jar: &Jar,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let token = self.csrf_token(client, jar).await;
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf", &token));
        client
            .post(self.url(path))
            .header(header::ORIGIN, &self.base)
            .form(&form)
            .send()
            .await
            .expect("POST")
    }

    /// Creates an account directly, as the staff page would.
    pub async fn create_staff(&self, role: Role, username: &str) -> String {
        let state = &self.server.as_ref().expect("running").state;
        create_staff(
            &state.db,
            &state.passwords,
            state.config.min_password_length,
            AccountInput {
                username,
                display_name: username,
                password: PASSWORD,
                confirmation: PASSWORD,
            },
            role,
            None,
            None,
        )
        .await
        .expect("account created")
    }

    /// Logs this app's client in.
    pub async fn login(&self, username: &str) -> Response {
        self.login_with(&self.client, &self.jar, username, PASSWORD)
            .await
    }

    /// Logs a client in with a password.
    pub async fn login_with(
        &self,
        client: &Client,
        jar: &Jar,
        username: &str,
        password: &str,
    ) -> Response {
        self.post_with(
            client,
            jar,
            "/login",
            &[("username", username), ("password", password)],
        )
        .await
    }

    /// A new nurse account working in the ward "UCI" (open for visits all day), logged in on
    /// this app's client.
    pub async fn logged_in_nurse(&self) -> String {
        let id = self.create_staff(Role::Nurse, "nurse.ana").await;
        let ward = self.ward("UCI", "00:00-24:00").await;
        self.assign(&id, &ward).await;
        let response = self.login("nurse.ana").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        id
    }

    /// The ward called `name`, created with `hours` every day (30-minute visits, up to 8 hours,
    /// 100 at once) when it does not exist yet; its id.
    pub async fn ward(&self, name: &str, hours: &str) -> String {
        self.ward_with(name, hours, 100).await
    }

    /// Like [`TestApp::ward`], with at most `max_video` visits at once.
    pub async fn ward_with(&self, name: &str, hours: &str, max_video: i64) -> String {
        let db = self.db();
        let existing: Option<(String,)> = visitas::sql!(&db, |c| sqlx::query_as(
            "SELECT id FROM wards WHERE name = $1"
        )
        .bind(name)
        .fetch_optional(&mut *c)
        .await)
        .unwrap();
        if let Some((id,)) = existing {
            return id;
        }
        let day = visitas::domain::parse_day(hours).expect("valid hours");
        let week: [Vec<visitas::domain::Window>; 7] = std::array::from_fn(|_| day.clone());
        let mut conn = db.acquire().await.unwrap();
        let id = visitas::db::wards::create(
            &mut conn,
            &visitas::db::wards::WardInput {
                name,
                default_minutes: 30,
                max_minutes: 480,
                max_video_visits: max_video,
                auto_admit: false,
                bedside_shows_name: false,
                phone: "",
                week: &week,
            },
        )
        .await
        .unwrap();
        self.server.as_ref().unwrap().state.caches.wards_changed();
        id
    }

    /// Adds a ward to the wards a staff member works in.
    pub async fn assign(&self, staff_id: &str, ward_id: &str) {
        visitas::sql!(&self.db(), |c| sqlx::query(
            "INSERT INTO staff_wards (staff_id, ward_id) VALUES ($1, $2)"
        )
        .bind(staff_id)
        .bind(ward_id)
        .execute(&mut *c)
        .await
        .map(|done| done.rows_affected()))
        .unwrap();
        self.server.as_ref().unwrap().state.caches.wards_changed();
    }

    /// The value of the staff session cookie this client holds.
    pub fn session_cookie(&self, jar: &Jar) -> Option<String> {
        cookie_in(
            jar,
            &self.base.parse().unwrap(),
            visitas::app::SESSION_COOKIE,
        )
    }

    /// Registers a patient through the form and returns its id.
    pub async fn register_patient(&self, name: &str, record: &str) -> String {
        self.ward("UCI", "00:00-24:00").await;
        let response = self.post_patient(name, "UCI", "7", record).await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "patient registered"
        );
        location(&response)
            .trim_start_matches("/patients/")
            .to_string()
    }

    /// Submits the patient form as it is filled in, whatever the answer. `ward` is a ward's name
    /// (sent as its id) or, when no ward has that name, sent as it is.
    pub async fn post_patient(&self, name: &str, ward: &str, bed: &str, record: &str) -> Response {
        let found: Option<(String,)> = visitas::sql!(&self.db(), |c| sqlx::query_as(
            "SELECT id FROM wards WHERE name = $1"
        )
        .bind(ward)
        .fetch_optional(&mut *c)
        .await)
        .unwrap();
        let ward_id = found.map_or_else(|| ward.to_string(), |(id,)| id);
        let fields = [
            ("display_name", name),
            ("ward_id", ward_id.as_str()),
            ("bed", bed),
            ("record_number", record),
        ];
        self.post("/patients", &fields).await
    }

    /// Submits the form that authorises a relative, as filled in, whatever the answer.
    pub async fn post_relative(
        &self,
        patient_id: &str,
        name: &str,
        relationship: &str,
        lang: &str,
    ) -> Response {
        let fields = [
            ("display_name", name),
            ("relationship", relationship),
            ("lang", lang),
        ];
        self.post(&format!("/patients/{patient_id}/relatives"), &fields)
            .await
    }

    /// Authorises a relative of a patient through the form; their id.
    pub async fn authorise(&self, patient_id: &str, name: &str, lang: &str) -> String {
        let ids = || async {
            let rows: Vec<(String,)> = visitas::sql!(&self.db(), |c| sqlx::query_as(
                "SELECT id FROM relatives WHERE patient_id = $1 AND display_name = $2",
            )
            .bind(patient_id)
            .bind(name)
            .fetch_all(&mut *c)
            .await)
            .unwrap();
            rows.into_iter().map(|(id,)| id).collect::<Vec<_>>()
        };
        let before = ids().await;
        let response = self.post_relative(patient_id, name, "hija", lang).await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "relative authorised"
        );
        let mut new: Vec<String> = ids()
            .await
            .into_iter()
            .filter(|id| !before.contains(id))
            .collect();
        assert_eq!(new.len(), 1, "one relative authorised");
        new.remove(0)
    }

    /// A GET from a fresh device that presents `session` as its staff session cookie (a stolen or
    /// replayed cookie).
    pub async fn replay_session(&self, path: &str, session: &str) -> Response {
        new_client()
            .0
            .get(self.url(path))
            .header(
                header::COOKIE,
                format!("{}={session}", visitas::app::SESSION_COOKIE),
            )
            .send()
            .await
            .expect("GET")
    }

    /// A GET with this app's client whose browser asks for `languages` (`Accept-Language`).
    pub async fn get_in_language(&self, path: &str, languages: &str) -> Response {
        self.client
            .get(self.url(path))
            .header(header::ACCEPT_LANGUAGE, languages)
            .send()
            .await
            .expect("GET")
    }

    /// A nurse signed in on this app's client, a patient registered and a room open for them:
    /// the patient's and the room's ids.
    pub async fn nurse_with_room(&self, patient_name: &str) -> (String, String) {
        self.logged_in_nurse().await;
        let patient = self.register_patient(patient_name, "").await;
        let room = self.create_room(&patient).await;
        (patient, room)
    }

    /// The one value a query returns (a count, a flag, a pragma).
    pub async fn scalar<T>(&self, sql: &'static str) -> T
    where
        T: Send
            + Unpin
            + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>
            + for<'r> sqlx::Decode<'r, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>,
    {
        let (value,): (T,) =
            visitas::sql!(&self.db(), |c| sqlx::query_as(sql).fetch_one(&mut *c).await)
                .expect("the query answers");
        value
    }

    /// Creates a room for a patient and returns its id.
    pub async fn create_room(&self, patient_id: &str) -> String {
        let response = self
            .post(&format!("/patients/{patient_id}/rooms"), &[])
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "room created");
        location(&response)
            .trim_start_matches("/rooms/")
            .to_string()
    }

    /// Counts rows of a table.
    pub async fn count(&self, table: &str) -> i64 {
        let sql = match table {
            "patients" => "SELECT COUNT(*) FROM patients",
            "rooms" => "SELECT COUNT(*) FROM rooms",
            "staff" => "SELECT COUNT(*) FROM staff",
            "sessions" => "SELECT COUNT(*) FROM sessions",
            "invites" => "SELECT COUNT(*) FROM invites",
            "visits" => "SELECT COUNT(*) FROM visits",
            "relatives" => "SELECT COUNT(*) FROM relatives",
            "wards" => "SELECT COUNT(*) FROM wards",
            "ward_exceptions" => "SELECT COUNT(*) FROM ward_exceptions",
            "visit_log" => "SELECT COUNT(*) FROM visit_log",
            "code_failures" => "SELECT COUNT(*) FROM code_failures",
            "audit_events" => "SELECT COUNT(*) FROM audit_events",
            other => panic!("unknown table {other}"),
        };
        let (n,): (i64,) =
            visitas::sql!(&self.db(), |c| sqlx::query_as(sql).fetch_one(&mut *c).await).unwrap();
        n
    }

    /// Stops the server, keeping the data directory.
    pub async fn stop(mut self) -> (TempDir, Config) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
        (self.dir, self.config)
    }

    /// Where generated certificates are.
    pub fn tls_dir(&self) -> PathBuf {
        self.config.tls_dir()
    }

    /// Where the CA of the server's certificate is (`ca.pem`): the generated one's, or on the
    /// PostgreSQL leg the one beside the node's own certificate.
    pub fn ca_dir(&self) -> PathBuf {
        match &self.config.tls_cert {
            Some(cert) => cert.parent().expect("a directory").to_path_buf(),
            None => self.tls_dir(),
        }
    }
}

/// An invite as its card shows it, once.
#[derive(Debug, Clone)]
pub struct InviteCard {
    pub link: String,
    pub code: String,
    pub html: String,
}

impl TestApp {
    /// Authorises a relative called `name` for the room's patient, starts a visit now for them
    /// ("visit now") and reads their card.
    pub async fn create_invite(&self, room_id: &str, name: &str) -> InviteCard {
        let (patient_id,): (String,) = visitas::sql!(&self.db(), |c| sqlx::query_as(
            "SELECT patient_id FROM rooms WHERE id = $1"
        )
        .bind(room_id)
        .fetch_one(&mut *c)
        .await)
        .unwrap();
        let relative = self.authorise(&patient_id, name, "es").await;
        // A second relative joins the visit already running (a patient has one at a time).
        let running: Option<(String,)> = visitas::sql!(&self.db(), |c| sqlx::query_as(
            "SELECT id FROM visits WHERE room_id = $1 AND cancelled_at IS NULL
               AND COALESCE(ended_at, ends_at) > $2 AND starts_at <= $2",
        )
        .bind(room_id)
        .bind(chrono::Utc::now().timestamp())
        .fetch_optional(&mut *c)
        .await)
        .unwrap();
        let visit = match running {
            Some((visit,)) => {
                let added = self
                    .post(
                        &format!("/visits/{visit}/relatives"),
                        &[("relative", relative.as_str()), ("admit_on_arrival", "on")],
                    )
                    .await;
                assert_eq!(added.status(), StatusCode::SEE_OTHER, "relative added");
                visit
            }
            None => self.visit_now(&patient_id, &[&relative]).await,
        };
        self.card_of(&visit, &relative).await
    }

    /// Starts a visit now for these relatives of a patient, letting them in as they arrive (no
    /// waiting room); the visit's id.
    pub async fn visit_now(&self, patient_id: &str, relatives: &[&str]) -> String {
        self.visit_now_with(patient_id, relatives, true).await
    }

    /// Starts a visit now; `admit_on_arrival` false sends its relatives to the waiting room.
    pub async fn visit_now_with(
        &self,
        patient_id: &str,
        relatives: &[&str],
        admit_on_arrival: bool,
    ) -> String {
        let mut fields: Vec<(&str, &str)> = relatives.iter().map(|r| ("relative", *r)).collect();
        fields.push(("minutes", "60"));
        if admit_on_arrival {
            fields.push(("admit_on_arrival", "on"));
        }
        let response = self
            .post(&format!("/patients/{patient_id}/visits/now"), &fields)
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "visit started");
        location(&response)
            .trim_start_matches("/visits/")
            .to_string()
    }

    /// The printable card of a relative of a visit.
    pub async fn card_of(&self, visit_id: &str, relative_id: &str) -> InviteCard {
        let (invite,): (String,) = visitas::sql!(&self.db(), |c| sqlx::query_as(
            "SELECT id FROM invites WHERE visit_id = $1 AND relative_id = $2"
        )
        .bind(visit_id)
        .bind(relative_id)
        .fetch_one(&mut *c)
        .await)
        .unwrap();
        let response = self
            .get(&format!("/visits/{visit_id}/cards/{invite}"))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "the card prints");
        let html = text(response).await;
        let link = attribute(&html, "data-invite-link").expect("the card shows the link");
        let code = attribute(&html, "data-invite-code").expect("the card shows the code");
        InviteCard { link, code, html }
    }

    /// The path of an invite link on this test server (the card names the host the nurse used).
    pub fn invite_path(card: &InviteCard) -> String {
        card.link[card.link.find("/i/").expect("an invite link")..].to_string()
    }

    /// `device` types `code` on the code page, whatever the answer.
    pub async fn type_code(&self, device: &Client, jar: &Jar, code: &str) -> Response {
        self.post_with(device, jar, "/visit/code", &[("code", code)])
            .await
    }

    /// A relative's device that opened the link and typed the code.
    pub async fn admitted_relative(&self, card: &InviteCard) -> (Client, Arc<Jar>) {
        let (client, jar) = new_client();
        let opened = self.get_with(&client, &Self::invite_path(card)).await;
        assert_eq!(opened.status(), StatusCode::OK);
        assert!(
            text(opened).await.contains("url=/visit"),
            "the link page moves on to /visit"
        );
        let entered = self.type_code(&client, &jar, &card.code).await;
        assert_eq!(
            entered.status(),
            StatusCode::SEE_OTHER,
            "the code is accepted"
        );
        (client, jar)
    }

    /// A call ticket fetched the way the call page does.
    pub async fn ticket_with(&self, client: &Client, path: &str) -> String {
        let response = self.get_with(client, path).await;
        assert_eq!(response.status(), StatusCode::OK, "a ticket from {path}");
        let body: serde_json::Value = response.json().await.unwrap();
        body["ticket"].as_str().unwrap().to_string()
    }

    /// The Cookie header a browser holding `jar` would send.
    pub fn cookie_header(&self, jar: &Jar) -> String {
        jar.cookies(&self.base.parse().unwrap())
            .map(|h| h.to_str().unwrap().to_string())
            .unwrap_or_default()
    }

    /// The origin browsers use for this server in the WebSocket tests.
    pub fn ws_origin(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }
}

/// The value of the first `name="..."` attribute in some HTML, unescaped.
pub fn attribute(html: &str, name: &str) -> Option<String> {
    let start = html.find(&format!("{name}=\""))? + name.len() + 2;
    let end = start + html[start..].find('"')?;
    Some(
        html[start..end]
            .replace("&#x2f;", "/")
            .replace("&#47;", "/")
            .replace("&amp;", "&"),
    )
}

/// One cookie's value from a jar.
pub fn cookie_in(jar: &Jar, url: &reqwest::Url, name: &str) -> Option<String> {
    let header = jar.cookies(url)?;
    header
        .to_str()
        .ok()?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The Location header of a redirect.
pub fn location(response: &Response) -> String {
    response
        .headers()
        .get(header::LOCATION)
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_string()
}

/// The body as text.
pub async fn text(response: Response) -> String {
    response.text().await.expect("body")
}

/// A TLS client configuration that trusts only the CA the server generated in `tls_dir`.
pub fn trusting_ca(tls_dir: &std::path::Path) -> Arc<rustls::ClientConfig> {
    visitas::tls::install_crypto_provider();
    let ca = std::fs::read(tls_dir.join("ca.pem")).expect("the generated CA");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&ca) {
        roots
            .add(cert.expect("a CA certificate"))
            .expect("a usable CA");
    }
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A raw TLS connection to `addr` (for clients that misbehave below HTTP); `None` when the
/// server refused it (closed before or during the handshake).
pub async fn raw_tls(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> Option<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .ok()
}

//! The benchmark harness: Visitas next to the Node.js + Express + socket.io reference, measured the
//! same way in one run. `cargo bench --bench compare` runs it in full; the test command runs it in
//! quick mode (small numbers) so that it cannot silently rot. Everything binds 127.0.0.1 and is
//! stopped when the harness ends.

#![allow(
    dead_code,
    reason = "the quick test and the full bench use different parts"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a harness that cannot measure stops loudly"
)]

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

#[path = "../../tests/helpers/browser.rs"]
pub mod browser;
#[path = "../../tests/helpers/coturn.rs"]
pub mod coturn;
pub mod hospital;
#[path = "../../tests/helpers/netns.rs"]
#[allow(dead_code, reason = "the bench uses the cut, not the rate limit")]
pub mod netns;

use reqwest::{Client, cookie::Jar};
use serde_json::{Value, json};

/// Sizes of one run.
#[derive(Debug, Clone)]
pub struct Options {
    pub quick: bool,
    pub visitas_bin: PathBuf,
    pub idle_counts: Vec<usize>,
    pub relay_rate: usize,
    pub relay_seconds: usize,
    pub relay_pairs: usize,
    pub relay_bytes: usize,
    pub http_seconds: usize,
    pub rounds: usize,
    pub joins: usize,
    /// The hospital the scheduler's figures are measured on.
    pub hospital: hospital::Size,
    /// Requests each of the 20 nurses sends when scheduling and registering.
    pub posts_per_nurse: usize,
    /// Which parts to run (all of them unless narrowed with `--only`).
    pub parts: Vec<Part>,
}

/// The parts of a run, to narrow it while working on one figure (`--only http,idle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The rooms page and a static file under wrk.
    Http,
    /// Idle connections, then the relay with them held.
    Idle,
    /// Join to first frame and the call page's weight, in Chromium.
    Browser,
    /// The desk, the week view and scheduling, on a hospital-sized data set.
    Schedule,
    /// A 5-second network cut healing, and joins through TURN only (root, coturn).
    Network,
    /// The visit log over a year of a large hospital: its pages and a year's export.
    Log,
    /// The desk and scheduling on PostgreSQL beside SQLite (a throwaway cluster).
    Postgres,
}

impl Part {
    pub const ALL: [Part; 7] = [
        Part::Http,
        Part::Idle,
        Part::Browser,
        Part::Schedule,
        Part::Network,
        Part::Log,
        Part::Postgres,
    ];

    /// Parses `http`, `idle`, `browser`, `schedule`, `network`, `log` or `postgres`.
    pub fn parse(name: &str) -> Option<Part> {
        match name {
            "http" => Some(Part::Http),
            "idle" => Some(Part::Idle),
            "browser" => Some(Part::Browser),
            "schedule" => Some(Part::Schedule),
            "network" => Some(Part::Network),
            "log" => Some(Part::Log),
            "postgres" => Some(Part::Postgres),
            _ => None,
        }
    }
}

impl Options {
    /// The full run of the issue.
    pub fn full(visitas_bin: PathBuf) -> Self {
        Self {
            quick: false,
            visitas_bin,
            idle_counts: vec![1_000, 5_000, 10_000],
            relay_rate: 1_000,
            relay_seconds: 10,
            // 20 messages/s per sender: under the server's per-socket rate limit (30/s), which a
            // benchmark should measure around, not into.
            relay_pairs: 50,
            relay_bytes: 3_000,
            http_seconds: 10,
            rounds: 2,
            joins: 20,
            hospital: hospital::Size::FULL,
            posts_per_nurse: 50,
            parts: Part::ALL.to_vec(),
        }
    }

    /// Small numbers, for the test command.
    pub fn quick(visitas_bin: PathBuf) -> Self {
        Self {
            quick: true,
            visitas_bin,
            idle_counts: vec![20, 50],
            relay_rate: 100,
            relay_seconds: 1,
            relay_pairs: 2,
            relay_bytes: 3_000,
            http_seconds: 1,
            rounds: 1,
            joins: 2,
            hospital: hospital::Size::QUICK,
            posts_per_nurse: 3,
            parts: Part::ALL.to_vec(),
        }
    }
}

/// One figure of the table.
#[derive(Debug, Clone)]
pub struct Metric {
    pub name: String,
    pub unit: &'static str,
    pub visitas: Option<f64>,
    pub reference: Option<f64>,
    /// A target on the Visitas figure: (description, holds).
    pub target: Option<(String, bool)>,
}

impl Metric {
    fn new(
        name: impl Into<String>,
        unit: &'static str,
        visitas: Option<f64>,
        reference: Option<f64>,
    ) -> Self {
        Self {
            name: name.into(),
            unit,
            visitas,
            reference,
            target: None,
        }
    }

    /// A target judged from figures beyond this metric's own.
    fn judged(mut self, description: &str, holds: bool) -> Self {
        self.target = Some((description.to_string(), holds));
        self
    }

    fn target(mut self, description: &str, holds: impl FnOnce(f64, Option<f64>) -> bool) -> Self {
        let holds = self.visitas.is_some_and(|v| holds(v, self.reference));
        self.target = Some((description.to_string(), holds));
        self
    }

    /// Visitas over reference.
    pub fn ratio(&self) -> Option<f64> {
        match (self.visitas, self.reference) {
            (Some(v), Some(r)) if r != 0.0 => Some(v / r),
            _ => None,
        }
    }

    /// The machine-readable line.
    pub fn json(&self) -> Value {
        json!({
            "metric": self.name,
            "unit": self.unit,
            "visitas": self.visitas,
            "reference": self.reference,
            "ratio": self.ratio(),
            "target": self.target.as_ref().map(|t| &t.0),
            "target_holds": self.target.as_ref().map(|t| t.1),
        })
    }
}

/// Prints the table and one JSON line per metric.
pub fn print_report(metrics: &[Metric]) {
    let fmt = |v: Option<f64>| {
        v.map_or("—".to_string(), |v| {
            if v >= 100.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            }
        })
    };
    println!();
    println!(
        "{:<46} {:>12} {:>12} {:>8}  target",
        "metric", "visitas", "reference", "ratio"
    );
    for m in metrics {
        let target = m.target.as_ref().map_or(String::new(), |(d, ok)| {
            format!("{} {d}", if *ok { "holds" } else { "MISSED" })
        });
        println!(
            "{:<46} {:>12} {:>12} {:>8}  {target}",
            format!("{} ({})", m.name, m.unit),
            fmt(m.visitas),
            fmt(m.reference),
            m.ratio().map_or("—".into(), |r| format!("{r:.2}×")),
        );
    }
    println!();
    for m in metrics {
        println!("BENCH {}", m.json());
    }
}

fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Installs what the harness needs from the package registries: the reference's npm packages,
/// and wrk from Debian (as root).
pub fn ensure_tools() {
    let reference = repo_dir().join("benches/reference");
    if !reference.join("node_modules/socket.io").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&reference)
            .status()
            .expect("npm runs (Node.js is needed for the reference)");
        assert!(status.success(), "npm ci in benches/reference");
    }
    if Command::new("wrk").arg("--version").output().is_err() {
        let status = Command::new("sh")
            .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null"])
            .status()
            .expect("apt-get runs");
        assert!(
            status.success(),
            "installing wrk from Debian (run as root, or: apt-get install wrk)"
        );
    }
}

/// A server process the harness started; killed on drop.
pub struct Process {
    child: Child,
    pub port: u16,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in bytes.
    pub fn rss(&self) -> f64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib * 1024.0)
    }

    /// User plus system CPU time in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        let after_name = stat.rsplit(')').next().unwrap_or_default();
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // Fields 14 and 15 of /proc/PID/stat; after the name, they are the 12th and 13th.
        (ticks(11) + ticks(12)) / 100.0
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> (Client, Arc<Jar>) {
    visitas::tls::install_crypto_provider();
    let jar = Arc::new(Jar::default());
    let client = Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .tls_danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    (client, jar)
}

async fn wait_healthy(ip: &str, port: u16) {
    let (client, _) = client();
    for _ in 0..300 {
        if client
            .get(format!("https://{ip}:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server on port {port} did not become healthy");
}

const PASSWORD: &str = "bench password 1234";

/// Visitas, started from its binary with its own data directory and one administrator.
pub struct Visitas {
    pub process: Process,
    /// The ward every patient of the run is in (open for visits all day).
    pub ward_id: String,
    pub data: tempfile::TempDir,
    pub base: String,
    pub client: Client,
    pub jar: Arc<Jar>,
    /// Its database.
    pub location: visitas::db::Location,
}

/// A throwaway PostgreSQL cluster (`.ci/postgres`, in a temporary directory, on a Unix socket),
/// stopped when dropped.
pub struct PostgresCluster {
    dir: tempfile::TempDir,
    pub url: String,
}

impl PostgresCluster {
    /// Starts one; `None` (with the reason printed) where PostgreSQL's server binaries are
    /// missing.
    pub fn start() -> Option<PostgresCluster> {
        let dir = tempfile::Builder::new()
            .prefix("visitas-pg-")
            .tempdir()
            .ok()?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).ok()?;
        let output = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/postgres"))
            .arg("start")
            .arg(dir.path().join("cluster"))
            .output()
            .ok()?;
        if !output.status.success() {
            eprintln!(
                "no PostgreSQL for the bench: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            return None;
        }
        let url = String::from_utf8_lossy(&output.stdout).trim().to_string();
        Some(PostgresCluster { dir, url })
    }

    /// A new, empty database `name` in it, for one node set.
    pub async fn database(&self, name: &str) -> PostgresNode {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&self.url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let (server, options) = self.url.split_once('?').unwrap_or((&self.url, ""));
        let (server, _) = server.rsplit_once('/').unwrap();
        let shared = self.dir.path().join(format!("{name}-shared"));
        std::fs::create_dir_all(&shared).unwrap();
        PostgresNode {
            url: format!("{server}/{name}?{options}"),
            shared,
        }
    }
}

impl Drop for PostgresCluster {
    fn drop(&mut self) {
        let _ = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/postgres"))
            .arg("stop")
            .arg(self.dir.path().join("cluster"))
            .status();
    }
}

/// A PostgreSQL database for Visitas nodes, with what they share: the hospital's certificate
/// and the secret key.
pub struct PostgresNode {
    pub url: String,
    shared: PathBuf,
}

impl PostgresNode {
    /// The flags of a node on it (`data` is the node's own data directory).
    pub fn flags(&self, _data: &Path) -> Vec<String> {
        let paths = visitas::tls::GeneratedPaths {
            dir: self.shared.join("tls"),
        };
        visitas::tls::ensure_generated(
            &paths,
            &visitas::tls::local_names(),
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
        let secret = self.shared.join("secret.key");
        visitas::auth::secret::ServerSecret::load_or_create(&secret).unwrap();
        vec![
            "--database".into(),
            self.url.clone(),
            "--tls-cert".into(),
            paths.server_cert().to_string_lossy().into_owned(),
            "--tls-key".into(),
            paths.server_key().to_string_lossy().into_owned(),
            "--secret-file".into(),
            secret.to_string_lossy().into_owned(),
        ]
    }
}

impl Visitas {
    /// Starts Visitas with the hospital of `size` already in its database.
    pub async fn start(bin: &Path, size: hospital::Size) -> (Visitas, hospital::Hospital) {
        Self::start_with(bin, size, "127.0.0.1", &[]).await
    }

    /// [`Visitas::start`] listening on `ip`, with `extra` flags.
    pub async fn start_with(
        bin: &Path,
        size: hospital::Size,
        ip: &str,
        extra: &[&str],
    ) -> (Visitas, hospital::Hospital) {
        Self::start_prepared(bin, size, ip, extra, 0).await
    }

    /// [`Visitas::start_with`] with `history` past visits added to the hospital
    /// ([`hospital::add_history`]).
    pub async fn start_prepared(
        bin: &Path,
        size: hospital::Size,
        ip: &str,
        extra: &[&str],
        history: i64,
    ) -> (Visitas, hospital::Hospital) {
        Self::start_on(bin, size, ip, extra, history, None).await
    }

    /// [`Visitas::start_prepared`] on the PostgreSQL database of `node` (its SQLite file
    /// without one).
    pub async fn start_on(
        bin: &Path,
        size: hospital::Size,
        ip: &str,
        extra: &[&str],
        history: i64,
        node: Option<&PostgresNode>,
    ) -> (Visitas, hospital::Hospital) {
        let data = tempfile::tempdir().unwrap();
        let node_flags = node.map(|n| n.flags(data.path())).unwrap_or_default();
        let mut create = Command::new(bin)
            .args(["admin", "create", "--username", "bench.admin", "--data-dir"])
            .arg(data.path())
            .args(&node_flags)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        writeln!(create.stdin.take().unwrap(), "{PASSWORD}").unwrap();
        assert!(create.wait().unwrap().success(), "visitas admin create");
        let location = match node {
            Some(node) => visitas::db::Location::Postgres(node.url.clone()),
            None => visitas::db::Location::File(data.path().join("visitas.db")),
        };
        let hospital = hospital::generate(&location, size).await;
        if history > 0 {
            hospital::add_history(&data.path().join("visitas.db"), history).await;
        }
        let port = browser::free_port();
        // `VISITAS_BENCH_WRAP="heaptrack -o /tmp/visitas"` runs the server under a profiler; the
        // figures of such a run measure the profiler too.
        let wrap = std::env::var("VISITAS_BENCH_WRAP").unwrap_or_default();
        let mut words = wrap.split_whitespace();
        let mut command = match words.next() {
            Some(program) => {
                let mut command = Command::new(program);
                command.args(words).arg(bin);
                command
            }
            None => Command::new(bin),
        };
        let child = command
            .args(["--bind", &format!("{ip}:{port}"), "--data-dir"])
            .arg(data.path())
            .args(&node_flags)
            .args(extra)
            // Every load client is on 127.0.0.1: lift the per-address cap above the idle sockets.
            .args(["--max-connections-per-address", "100000"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let process = Process { child, port };
        wait_healthy(ip, port).await;
        let (client, jar) = client();
        let mut visitas = Visitas {
            location,
            ward_id: String::new(),
            process,
            data,
            base: format!("https://{ip}:{port}"),
            client,
            jar,
        };
        let login = visitas
            .post(
                &visitas.client,
                "/login",
                &[("username", "bench.admin"), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(login.status(), 303, "the harness logs in");
        let day = "00:00-24:00";
        let ward = visitas
            .post(
                &visitas.client,
                "/admin/wards",
                &[
                    ("name", "UCI"),
                    ("default_minutes", "30"),
                    ("max_minutes", "480"),
                    ("max_video_visits", "100"),
                    ("hours_0", day),
                    ("hours_1", day),
                    ("hours_2", day),
                    ("hours_3", day),
                    ("hours_4", day),
                    ("hours_5", day),
                    ("hours_6", day),
                ],
            )
            .await;
        assert_eq!(ward.status(), 303, "the harness creates a ward");
        visitas.ward_id = ward.headers()["location"]
            .to_str()
            .unwrap()
            .trim_start_matches("/admin/wards/")
            .to_string();
        (visitas, hospital)
    }

    /// `count` rooms named `prefix N`, each with two relatives' tickets: the relay's pairs, as
    /// the load generator takes them.
    pub async fn relay_pairs(&self, prefix: &str, count: usize) -> Value {
        let mut pairs = Vec::new();
        for i in 0..count {
            let room = self.create_room(&format!("{prefix} {i}")).await;
            let mut tickets = self.relative_tickets(&room, &["A", "B"]).await;
            let (a, b) = (tickets.remove(0), tickets.remove(0));
            pairs.push(json!({ "a": a, "b": b, "room": room }));
        }
        Value::Array(pairs)
    }

    /// Creates the nurse `bench.nurse`, working in `wards`, and signs them in; their cookie.
    pub async fn nurse_of(&self, wards: &[String]) -> Nurse {
        let created = self
            .post(
                &self.client,
                "/admin/staff",
                &[
                    ("username", "bench.nurse"),
                    ("display_name", "Enfermera de carga"),
                    ("password", PASSWORD),
                    ("password_confirm", PASSWORD),
                ],
            )
            .await;
        assert_eq!(created.status(), 303, "the nurse is created");
        let db = visitas::db::open(&self.location).await.unwrap();
        let (nurse_id,): (String,) = visitas::sql!(&db, |c| sqlx::query_as(
            "SELECT id FROM staff WHERE username = 'bench.nurse'"
        )
        .fetch_one(&mut *c)
        .await)
        .unwrap();
        db.close().await;
        let fields: Vec<(&str, &str)> = wards.iter().map(|w| ("ward", w.as_str())).collect();
        let assigned = self
            .post(
                &self.client,
                &format!("/admin/staff/{nurse_id}/wards"),
                &fields,
            )
            .await;
        assert_eq!(assigned.status(), 303, "the nurse is assigned");
        use reqwest::cookie::CookieStore;
        let (_, jar) = self.signed_in_nurse().await;
        Nurse {
            cookie: jar
                .cookies(&self.base.parse().unwrap())
                .unwrap()
                .to_str()
                .unwrap()
                .to_string(),
        }
    }

    /// A new browser signed in as `bench.nurse`.
    async fn signed_in_nurse(&self) -> (Client, Arc<Jar>) {
        let (client, jar) = client();
        let login = self
            .post(
                &client,
                "/login",
                &[("username", "bench.nurse"), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(login.status(), 303, "the nurse signs in");
        (client, jar)
    }

    /// `count` browsers signed in as `bench.nurse`, each with its form token.
    pub async fn nurse_clients(&self, count: usize) -> Vec<NurseClient> {
        let mut nurses = Vec::new();
        for _ in 0..count {
            let (client, _) = self.signed_in_nurse().await;
            let page = self.page(&client, "/desk").await;
            let token = attribute(&page, "name=\"csrf\" value").expect("a form token");
            nurses.push(NurseClient {
                client,
                base: self.base.clone(),
                token,
            });
        }
        nurses
    }

    /// The text of a page, fetched by `client`.
    async fn page(&self, client: &Client, path: &str) -> String {
        client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn post(
        &self,
        client: &Client,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let url = format!("{}{path}", self.base);
        let page = self.page(client, "/login").await;
        let token = attribute(&page, "name=\"csrf\" value").expect("a form token");
        let mut form = fields.to_vec();
        form.push(("csrf", &token));
        client
            .post(url)
            .header("origin", &self.base)
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Registers a patient with a room; returns the room id.
    pub async fn create_room(&self, name: &str) -> String {
        let patient = self
            .post(
                &self.client,
                "/patients",
                &[
                    ("display_name", name),
                    ("ward_id", &self.ward_id),
                    ("bed", "1"),
                    ("record_number", ""),
                ],
            )
            .await;
        let location = patient.headers()["location"].to_str().unwrap().to_string();
        let room = self
            .post(&self.client, &format!("{location}/rooms"), &[])
            .await;
        room.headers()["location"]
            .to_str()
            .unwrap()
            .trim_start_matches("/rooms/")
            .to_string()
    }

    /// Relative tickets for a visit starting now in `room`, one per name: each relative
    /// authorised, the visit booked, each link opened and code typed.
    pub async fn relative_tickets(&self, room: &str, names: &[&str]) -> Vec<String> {
        let mut tickets = Vec::new();
        for (link, code) in self.cards(room, names).await {
            let (relative, _) = client();
            relative.get(&link).send().await.unwrap();
            let entered = self
                .post(&relative, "/visit/code", &[("code", &code)])
                .await;
            assert_eq!(entered.status(), 303, "the code is accepted");
            let ticket: Value = relative
                .get(format!("{}/visit/ticket", self.base))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            tickets.push(ticket["ticket"].as_str().unwrap().to_string());
        }
        tickets
    }

    /// The cards (link, code) of a visit starting now in `room`, one per relative named: each
    /// authorised, then the visit booked for them all, letting them in as they arrive.
    pub async fn cards(&self, room: &str, names: &[&str]) -> Vec<(String, String)> {
        self.visit_now(room, names, true)
            .await
            .1
            .into_iter()
            .map(|(_, link, code)| (link, code))
            .collect()
    }

    /// A visit starting now in `room` for the relatives named (each authorised first): the
    /// visit's path and each card's invite id, link and code. Without `admit_on_arrival` they
    /// wait in the waiting room until admitted.
    pub async fn visit_now(
        &self,
        room: &str,
        names: &[&str],
        admit_on_arrival: bool,
    ) -> (String, Vec<(String, String, String)>) {
        let room_page = self.page(&self.client, &format!("/rooms/{room}")).await;
        let start = room_page.find("/patients/").unwrap() + "/patients/".len();
        let patient = room_page[start..start + 22].to_string();
        // Each name once: a relative authorised by an earlier visit is booked again.
        let authorised_names = |page: &str| -> Vec<(String, String)> {
            page.match_indices("data-relative=\"")
                .map(|(at, m)| {
                    let id = page[at + m.len()..at + m.len() + 22].to_string();
                    let row = &page[at..];
                    let cell = row.find("<td>").map_or("", |i| &row[i + 4..]);
                    let name = cell[..cell.find('<').unwrap_or(0)].trim().to_string();
                    (id, name)
                })
                .collect()
        };
        let patient_path = format!("/patients/{patient}");
        let known = authorised_names(&self.page(&self.client, &patient_path).await);
        for name in names {
            if known.iter().any(|(_, n)| n == name) {
                continue;
            }
            let authorised = self
                .post(
                    &self.client,
                    &format!("/patients/{patient}/relatives"),
                    &[
                        ("display_name", name),
                        ("relationship", "hija"),
                        ("lang", "es"),
                    ],
                )
                .await;
            assert_eq!(authorised.status(), 303, "relative authorised");
        }
        let relatives: Vec<String> =
            authorised_names(&self.page(&self.client, &patient_path).await)
                .into_iter()
                .filter(|(_, n)| names.contains(&n.as_str()))
                .map(|(id, _)| id)
                .collect();
        let mut fields: Vec<(&str, &str)> =
            relatives.iter().map(|r| ("relative", r.as_str())).collect();
        fields.push(("minutes", "240"));
        if admit_on_arrival {
            fields.push(("admit_on_arrival", "on"));
        }
        let visit = self
            .post(
                &self.client,
                &format!("/patients/{patient}/visits/now"),
                &fields,
            )
            .await;
        if visit.status() != 303 {
            let page = visit.text().await.unwrap_or_default();
            let error = page
                .split("class=\"error\"")
                .nth(1)
                .map(|rest| rest.chars().take(300).collect::<String>())
                .unwrap_or(page);
            panic!("the visit did not start: {error}");
        }
        let visit_path = visit.headers()["location"].to_str().unwrap().to_string();
        let visit_page = self.page(&self.client, &visit_path).await;
        let cards: Vec<String> = visit_page
            .match_indices(&format!("{visit_path}/cards/"))
            .map(|(at, m)| visit_page[at..at + m.len() + 22].to_string())
            .collect();
        let mut found = Vec::new();
        for card_path in cards {
            let card = self.page(&self.client, &card_path).await;
            let link = attribute(&card, "data-invite-link").unwrap();
            let code = attribute(&card, "data-invite-code").unwrap();
            let invite = card_path.rsplit('/').next().unwrap().to_string();
            found.push((invite, link, code));
        }
        (visit_path, found)
    }

    /// The session cookie header, for wrk.
    pub fn cookie(&self) -> String {
        use reqwest::cookie::CookieStore;
        self.jar
            .cookies(&self.base.parse().unwrap())
            .map(|h| h.to_str().unwrap().to_string())
            .unwrap_or_default()
    }

    pub fn origin(&self) -> String {
        self.base.clone()
    }
}

/// The value of an HTML attribute: `name="..."`.
fn attribute(html: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let start = html.find(&needle)? + needle.len();
    let end = start + html[start..].find('"')?;
    Some(
        html[start..end]
            .replace("&#x2f;", "/")
            .replace("&amp;", "&"),
    )
}

/// The reference relay, started with Visitas' certificate and the same rooms.
pub async fn start_reference(
    visitas: &Visitas,
    rooms: &[Value],
    hospital: &hospital::Hospital,
) -> Process {
    let dir = repo_dir().join("benches/reference");
    let rooms_file = visitas.data.path().join("reference-rooms.json");
    std::fs::write(&rooms_file, serde_json::to_vec(rooms).unwrap()).unwrap();
    let hospital_file = visitas.data.path().join("reference-hospital.json");
    let mut data = hospital.reference.clone();
    data["nurse_wards"] = json!([hospital.wards[0], hospital.wards[1]]);
    std::fs::write(&hospital_file, serde_json::to_vec(&data).unwrap()).unwrap();
    let port = browser::free_port();
    let tls = visitas.data.path().join("tls");
    let child = Command::new("node")
        .arg(dir.join("server.js"))
        .arg(port.to_string())
        .arg(tls.join("server.pem"))
        .arg(tls.join("server.key"))
        .arg(&rooms_file)
        .arg(repo_dir().join("static"))
        .arg(&hospital_file)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let process = Process { child, port };
    wait_healthy("127.0.0.1", port).await;
    process
}

/// Runs the Node load generator.
fn load(args: &[&str]) -> Child {
    Command::new("node")
        .arg(repo_dir().join("benches/reference/load.js"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs")
}

fn first_json_line(child: &mut Child) -> Value {
    json_line(&mut std::io::BufReader::new(child.stdout.as_mut().unwrap()))
}

fn json_line(reader: &mut impl std::io::BufRead) -> Value {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    serde_json::from_str(line.trim()).unwrap_or_else(|_| panic!("load generator said {line:?}"))
}

/// Holds `count` idle connections open; returns (connected, the generator to drop later).
pub fn hold_idle(url: &str, origin: &str, count: usize, ticket: &str) -> (usize, Child) {
    let mut child = load(&["idle", url, origin, &count.to_string(), ticket]);
    let answer = first_json_line(&mut child);
    (answer["connected"].as_u64().unwrap_or(0) as usize, child)
}

/// Stops a load generator (its connections close).
pub fn release(mut child: Child) {
    drop(child.stdin.take());
    let _ = child.wait();
}

/// Runs a relay phase; returns the generator's JSON.
/// One relay run: the generator's answer, and the server's CPU seconds and the wall time between
/// the first message sent and the answer (connecting, joining and leaving are left out).
pub fn relay(
    server: &Process,
    url: &str,
    origin: &str,
    pairs: &Value,
    opts: &Options,
) -> (Value, f64, Duration) {
    let mut child = load(&[
        "relay",
        url,
        origin,
        &pairs.to_string(),
        &opts.relay_rate.to_string(),
        &opts.relay_seconds.to_string(),
        &opts.relay_bytes.to_string(),
    ]);
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap());
    let started = json_line(&mut lines);
    assert_eq!(
        started["phase"], "sending",
        "the load generator started sending"
    );
    let (cpu_before, wall) = (server.cpu_seconds(), Instant::now());
    let answer = json_line(&mut lines);
    let (cpu, elapsed) = (server.cpu_seconds() - cpu_before, wall.elapsed());
    let _ = child.wait();
    (answer, cpu, elapsed)
}

/// A relay run whose `b` sockets connect to `url_b` (another node of the same database): the
/// generator's answer.
pub fn relay_across(url_a: &str, url_b: &str, pairs: &Value, opts: &Options) -> Value {
    let mut child = load(&[
        "relay",
        &format!("{url_a}/"),
        url_a,
        &pairs.to_string(),
        &opts.relay_rate.to_string(),
        &opts.relay_seconds.to_string(),
        &opts.relay_bytes.to_string(),
        &format!("{url_b}/"),
        url_b,
    ]);
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap());
    let started = json_line(&mut lines);
    assert_eq!(
        started["phase"], "sending",
        "the load generator started sending"
    );
    let answer = json_line(&mut lines);
    let _ = child.wait();
    answer
}

/// wrk against one URL: (requests per second, p99 in ms).
pub fn wrk(url: &str, cookie: Option<&str>, seconds: usize) -> (f64, f64) {
    let mut command = Command::new("wrk");
    command.args(["-t2", "-c32", &format!("-d{seconds}s"), "--latency"]);
    if let Some(cookie) = cookie {
        command.args(["-H", &format!("Cookie: {cookie}")]);
    }
    let output = command.arg(url).output().expect("wrk runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| parse_duration_ms(v.trim()))
        .unwrap_or(0.0);
    (rps, p99)
}

fn parse_duration_ms(text: &str) -> f64 {
    let (number, factor) = if let Some(v) = text.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = text.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = text.strip_suffix('s') {
        (v, 1000.0)
    } else {
        (text, 1.0)
    };
    number.parse::<f64>().unwrap_or(0.0) * factor
}

fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

/// Runs every measurement and returns the table.
pub async fn run(opts: &Options) -> Vec<Metric> {
    ensure_tools();
    let mut metrics = Vec::new();
    let (visitas, hospital) = Visitas::start(&opts.visitas_bin, opts.hospital).await;

    // A nurse of two of the hospital's wards; the rooms page shows their 60 rooms (with each
    // room's current or next visit) on both servers.
    let nurse = visitas.nurse_of(&hospital.wards[..2]).await;
    let rooms = hospital.rooms_of(&hospital.wards[..2]);
    let reference = start_reference(&visitas, &rooms, &hospital).await;
    let v_url = visitas.base.clone();
    let r_url = format!("https://127.0.0.1:{}", reference.port);

    // 1. Memory at rest.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let v_rest = visitas.process.rss();
    let r_rest = reference.rss();
    metrics.push(
        Metric::new(
            "server RSS at rest",
            "MiB",
            Some(mib(v_rest)),
            Some(mib(r_rest)),
        )
        .target("≤ 10 MiB", |v, _| v <= 10.0),
    );

    if opts.parts.contains(&Part::Http) {
        metrics.extend(http(&nurse.cookie, &v_url, &r_url, opts.http_seconds));
    }
    if opts.parts.contains(&Part::Schedule) {
        metrics.extend(scheduler(opts, &visitas, &nurse, &hospital, &r_url).await);
    }
    if opts.parts.contains(&Part::Postgres) {
        metrics.extend(engines(opts, &visitas, &nurse, &hospital).await);
    }
    if opts.parts.contains(&Part::Idle) {
        metrics.extend(idle_and_relay(opts, &visitas, &reference).await);
    }
    drop(reference);

    // 4 and 5. Join to first frame, and the weight of the call page, in headless Chromium.
    if opts.parts.contains(&Part::Browser) {
        metrics.extend(join_to_first_frame(&visitas, opts.joins).await);
    }
    drop(visitas);
    // 7. Real networks: a cut healing, and joins through TURN against the direct ones.
    if opts.parts.contains(&Part::Network) {
        let direct = metrics
            .iter()
            .find(|m| m.name == LATER_SIDE_MEDIAN)
            .and_then(|m| m.visitas);
        metrics.extend(network(opts, direct).await);
    }
    // 8. The visit log over a year of a large hospital.
    if opts.parts.contains(&Part::Log) {
        let rooms_p99 = metrics
            .iter()
            .find(|m| m.name == "rooms page p99")
            .and_then(|m| m.visitas);
        metrics.extend(visit_log(opts, rooms_p99).await);
    }
    metrics
}

/// [`Part::Log`]: the visit log's pages under `wrk` over a year of a large hospital's visits
/// (a million in the full run), judged against the rooms page's p99 of the same run; and the
/// export of the whole year, streamed, with the server's memory sampled every 20 ms.
async fn visit_log(opts: &Options, rooms_p99: Option<f64>) -> Vec<Metric> {
    let visits: i64 = if opts.quick { 20_000 } else { 1_000_000 };
    let (visitas, hospital) =
        Visitas::start_prepared(&opts.visitas_bin, opts.hospital, "127.0.0.1", &[], visits).await;
    let cookie = visitas.cookie();
    let base = visitas.base.clone();
    let today = chrono::Local::now().date_naive();
    let month_ago = today - chrono::Days::new(29);
    let year_ago = today - chrono::Days::new(365);
    let seconds = opts.http_seconds;
    let mut metrics = Vec::new();
    // The newest page; a month of one ward's completed visits; a page half a year deep.
    let half = visits / 2;
    let step = 365 * 86_400 / visits;
    let deep_start = chrono::Utc::now().timestamp() - 7200 - half * step;
    let pages = [
        ("visit log, newest page", format!("{base}/visit-log")),
        (
            "visit log, one ward, a month, one outcome",
            format!(
                "{base}/visit-log?ward={}&from={month_ago}&until={today}&outcome=completed",
                hospital.wards[0]
            ),
        ),
        (
            "visit log, a page half a year deep",
            format!("{base}/visit-log?before={deep_start}.H{half:0>21}"),
        ),
    ];
    for (name, url) in pages {
        let (rps, p99) = wrk(&url, Some(&cookie), seconds);
        metrics.push(Metric::new(name, "req/s", Some(rps), None));
        metrics.push(
            Metric::new(format!("{name}, p99"), "ms", Some(p99), None).judged(
                "≤ 3× rooms page p99",
                rooms_p99.is_some_and(|rooms| p99 <= 3.0 * rooms),
            ),
        );
    }

    // A year's export, streamed, while the server's memory is sampled.
    let pid = visitas.process.pid();
    let rss = move || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib * 1024.0)
    };
    let before = rss();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0.0_f64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss());
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let started = std::time::Instant::now();
    let mut response = visitas
        .client
        .get(format!(
            "{base}/visit-log/export.csv?from={year_ago}&until={today}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the export answers");
    let (mut bytes, mut lines) = (0_usize, 0_usize);
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
    }
    let seconds_taken = started.elapsed().as_secs_f64();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.join().unwrap_or(0.0);
    let rows = lines.saturating_sub(1);
    metrics.push(Metric::new(
        "year's CSV export, rows",
        "rows",
        Some(rows as f64),
        None,
    ));
    metrics.push(Metric::new(
        "year's CSV export, size",
        "MiB",
        Some(mib(bytes as f64)),
        None,
    ));
    metrics.push(Metric::new(
        "year's CSV export, time",
        "s",
        Some(seconds_taken),
        None,
    ));
    metrics.push(Metric::new(
        "  year's CSV export, server RSS before it (after the log's pages)",
        "MiB",
        Some(mib(before)),
        None,
    ));
    metrics.push(
        Metric::new(
            "year's CSV export, server RSS growth",
            "MiB",
            Some(mib((peak - before).max(0.0))),
            None,
        )
        .target("< 20 MiB", |v, _| v < 20.0),
    );
    drop(visitas);
    metrics
}

/// 6. HTTP, while both servers list the same ten rooms.
fn http(cookie: &str, v_url: &str, r_url: &str, seconds: usize) -> Vec<Metric> {
    let mut metrics = Vec::new();
    let (v_rooms, v_rooms_p99) = wrk(&format!("{v_url}/rooms"), Some(cookie), seconds);
    let (r_rooms, r_rooms_p99) = wrk(&format!("{r_url}/rooms"), None, seconds);
    let (v_static, v_static_p99) = wrk(&format!("{v_url}/static/visitas.css"), None, seconds);
    let (r_static, r_static_p99) = wrk(&format!("{r_url}/static/visitas.css"), None, seconds);
    metrics.push(
        Metric::new("rooms page", "req/s", Some(v_rooms), Some(r_rooms))
            .target("≥ 4× reference", |v, r| r.is_some_and(|r| v >= 4.0 * r)),
    );
    metrics.push(Metric::new(
        "rooms page p99",
        "ms",
        Some(v_rooms_p99),
        Some(r_rooms_p99),
    ));
    metrics.push(Metric::new(
        "static file",
        "req/s",
        Some(v_static),
        Some(r_static),
    ));
    metrics.push(Metric::new(
        "static file p99",
        "ms",
        Some(v_static_p99),
        Some(r_static_p99),
    ));
    metrics
}

/// The scheduler on the hospital: the desk of a nurse of two wards and a ward's week view under
/// wrk, against the reference's equivalent pages; then 20 nurses at once registering patients
/// and scheduling visits (every rule checked), each request timed.
async fn scheduler(
    opts: &Options,
    visitas: &Visitas,
    nurse: &Nurse,
    hospital: &hospital::Hospital,
    r_url: &str,
) -> Vec<Metric> {
    let mut metrics = Vec::new();
    let cookie = &nurse.cookie;
    let v_url = &visitas.base;
    let seconds = opts.http_seconds;
    let (v_desk, v_desk_p99) = wrk(&format!("{v_url}/desk"), Some(cookie), seconds);
    let (r_desk, r_desk_p99) = wrk(&format!("{r_url}/desk"), None, seconds);
    let week = format!("/wards/{}/week", hospital.wards[0]);
    let (v_week, v_week_p99) = wrk(&format!("{v_url}{week}"), Some(cookie), seconds);
    let (r_week, r_week_p99) = wrk(&format!("{r_url}{week}"), None, seconds);
    metrics.push(
        Metric::new("desk page, 2 wards", "req/s", Some(v_desk), Some(r_desk))
            .target("≥ 4× reference", |v, r| r.is_some_and(|r| v >= 4.0 * r)),
    );
    metrics.push(
        Metric::new(
            "desk page, 2 wards, p99",
            "ms",
            Some(v_desk_p99),
            Some(r_desk_p99),
        )
        .target("≤ 0.25× reference", |v, r| {
            r.is_some_and(|r| v <= 0.25 * r)
        }),
    );
    metrics.push(
        Metric::new("week view", "req/s", Some(v_week), Some(r_week))
            .target("≥ 2× reference", |v, r| r.is_some_and(|r| v >= 2.0 * r)),
    );
    metrics.push(Metric::new(
        "week view p99",
        "ms",
        Some(v_week_p99),
        Some(r_week_p99),
    ));

    // Each nurse books on days past the generated visits, so every request passes every rule
    // (and checks each one).
    let first_free =
        chrono::Local::now().date_naive() + chrono::Duration::days(opts.hospital.days / 2 + 3);
    let (register_p99, schedule_p99) = nurse_load(opts, visitas, hospital, first_free).await;
    metrics.push(Metric::new(
        "registering a patient p99, 20 nurses",
        "ms",
        Some(register_p99),
        None,
    ));
    metrics.push(
        Metric::new(
            "scheduling a visit p99, 20 nurses",
            "ms",
            Some(schedule_p99),
            None,
        )
        .judged("≤ 2× registering p99", schedule_p99 <= 2.0 * register_p99),
    );
    metrics
}

/// 20 nurses at once, first registering patients, then scheduling visits (from `first_free`
/// on): the p99 of each, in ms.
async fn nurse_load(
    opts: &Options,
    visitas: &Visitas,
    hospital: &hospital::Hospital,
    first_free: chrono::NaiveDate,
) -> (f64, f64) {
    // 20 nurses at once: first registering patients, then scheduling visits.
    let nurses = visitas.nurse_clients(20).await;
    let ward = hospital.wards[0].clone();
    let registering = timed_posts(&nurses, opts.posts_per_nurse, |n, i| {
        (
            "/patients".to_string(),
            vec![
                ("display_name".to_string(), format!("Nuevo {n}-{i}")),
                ("ward_id".to_string(), ward.clone()),
                ("bed".to_string(), "99".to_string()),
                ("record_number".to_string(), String::new()),
            ],
        )
    })
    .await;
    // Each nurse books for patients of their own, from `first_free` on.
    let mine: Vec<_> = hospital
        .patients
        .iter()
        .filter(|(_, w, _)| *w < 2)
        .cloned()
        .collect();
    let per_nurse = (mine.len() / nurses.len()).max(1);
    let scheduling = timed_posts(&nurses, opts.posts_per_nurse, |n, i| {
        let (patient, _, relative) = &mine[(n * per_nurse + i % per_nurse) % mine.len()];
        let day = first_free + chrono::Duration::days((i / per_nurse) as i64);
        (
            format!("/patients/{patient}/visits"),
            vec![
                ("relative".to_string(), relative.clone()),
                ("date".to_string(), day.to_string()),
                ("time".to_string(), format!("{:02}:00", 10 + n % 8)),
                ("minutes".to_string(), "30".to_string()),
            ],
        )
    })
    .await;
    let p99 = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[((v.len() as f64 * 0.99).ceil() as usize)
            .saturating_sub(1)
            .min(v.len() - 1)]
    };
    (p99(registering), p99(scheduling))
}

/// [`Part::Postgres`]: the desk page and scheduling on PostgreSQL and on SQLite, side by side,
/// each server with the same hospital.
async fn engines(
    opts: &Options,
    sqlite: &Visitas,
    sqlite_nurse: &Nurse,
    hospital: &hospital::Hospital,
) -> Vec<Metric> {
    let Some(cluster) = PostgresCluster::start() else {
        return Vec::new();
    };
    let node = cluster.database("bench").await;
    let (postgres, pg_hospital) = Visitas::start_on(
        &opts.visitas_bin,
        opts.hospital,
        "127.0.0.1",
        &[],
        0,
        Some(&node),
    )
    .await;
    let pg_nurse = postgres.nurse_of(&pg_hospital.wards[..2]).await;
    let seconds = opts.http_seconds;
    let (s_desk, s_desk_p99) = wrk(
        &format!("{}/desk", sqlite.base),
        Some(&sqlite_nurse.cookie),
        seconds,
    );
    let (p_desk, p_desk_p99) = wrk(
        &format!("{}/desk", postgres.base),
        Some(&pg_nurse.cookie),
        seconds,
    );
    // Later days than the scheduling part's, which may have booked on the SQLite server.
    let first_free =
        chrono::Local::now().date_naive() + chrono::Duration::days(opts.hospital.days / 2 + 60);
    let (s_register, s_schedule) = nurse_load(opts, sqlite, hospital, first_free).await;
    let (p_register, p_schedule) = nurse_load(opts, &postgres, &pg_hospital, first_free).await;
    let side = |name: &str, unit: &'static str, s: f64, p: f64| {
        [
            Metric::new(format!("{name}: SQLite"), unit, Some(s), None),
            Metric::new(format!("{name}: PostgreSQL"), unit, Some(p), None),
        ]
    };
    let mut metrics = Vec::new();
    metrics.extend(side("desk page, 2 wards", "req/s", s_desk, p_desk));
    metrics.extend(side(
        "desk page, 2 wards, p99",
        "ms",
        s_desk_p99,
        p_desk_p99,
    ));
    metrics.extend(side(
        "registering a patient p99, 20 nurses",
        "ms",
        s_register,
        p_register,
    ));
    metrics.extend(side(
        "scheduling a visit p99, 20 nurses",
        "ms",
        s_schedule,
        p_schedule,
    ));
    metrics.extend(across_nodes(opts, &postgres, &node).await);
    drop(postgres);
    drop(cluster);
    metrics
}

/// Signals relayed between two sockets of one node, and between a socket on each of two nodes
/// (through socketioxide-postgres's adapter, LISTEN/NOTIFY): p50 and p99 at the relay rate.
async fn across_nodes(opts: &Options, first: &Visitas, node: &PostgresNode) -> Vec<Metric> {
    let data = tempfile::tempdir().unwrap();
    let port = browser::free_port();
    let child = Command::new(&opts.visitas_bin)
        .args(["--bind", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data.path())
        .args(node.flags(data.path()))
        .args(["--max-connections-per-address", "100000"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let second = Process { child, port };
    wait_healthy("127.0.0.1", port).await;
    let second_base = format!("https://127.0.0.1:{port}");
    let pairs = first.relay_pairs("Nodos", opts.relay_pairs).await;
    let mut one = Vec::new();
    let mut two = Vec::new();
    for _ in 0..opts.rounds {
        one.push(relay_across(&first.base, &first.base, &pairs, opts));
        two.push(relay_across(&first.base, &second_base, &pairs, opts));
    }
    drop(second);
    let pick = |answers: &[Value], key: &str| -> Option<f64> {
        let mut values: Vec<f64> = answers.iter().filter_map(|a| a[key].as_f64()).collect();
        (!values.is_empty()).then(|| median(&mut values))
    };
    let lost = |answers: &[Value]| -> f64 {
        answers
            .iter()
            .map(|a| a["sent"].as_f64().unwrap_or(0.0) - a["received"].as_f64().unwrap_or(0.0))
            .sum()
    };
    let side = |name: &str, key: &str| {
        [
            Metric::new(format!("{name}: one node"), "ms", pick(&one, key), None),
            Metric::new(format!("{name}: two nodes"), "ms", pick(&two, key), None),
        ]
    };
    let mut metrics = Vec::new();
    metrics.extend(side("relay p50 on PostgreSQL", "p50_ms"));
    metrics.extend(side("relay p99 on PostgreSQL", "p99_ms"));
    metrics.push(
        Metric::new(
            "relayed messages lost: two nodes",
            "messages",
            Some(lost(&two)),
            None,
        )
        .target("0", |v, _| v == 0.0),
    );
    metrics
}

/// A nurse's browser for the load: its client (cookies), the server's address and its form
/// token.
#[derive(Clone)]
pub struct NurseClient {
    pub client: Client,
    pub base: String,
    pub token: String,
}

/// Sends `count` form posts from each nurse, all nurses at once; the latency of each in ms. Every
/// answer must be a redirect (the form was accepted).
async fn timed_posts(
    nurses: &[NurseClient],
    count: usize,
    request: impl Fn(usize, usize) -> (String, Vec<(String, String)>),
) -> Vec<f64> {
    let mut tasks = Vec::new();
    for (n, nurse) in nurses.iter().enumerate() {
        let requests: Vec<_> = (0..count).map(|i| request(n, i)).collect();
        let nurse = nurse.clone();
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            for (path, mut fields) in requests {
                fields.push(("csrf".to_string(), nurse.token.clone()));
                let started = Instant::now();
                let response = nurse
                    .client
                    .post(format!("{}{path}", nurse.base))
                    .header("origin", &nurse.base)
                    .form(&fields)
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let _ = response.bytes().await;
                times.push(started.elapsed().as_secs_f64() * 1000.0);
                assert_eq!(status, 303, "{path} accepted");
            }
            times
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all
}

/// A signed-in nurse's wrk cookie.
pub struct Nurse {
    pub cookie: String,
}

/// 2 and 3. Idle connections, alternating servers; then the relay with the largest load held.
async fn idle_and_relay(opts: &Options, visitas: &Visitas, reference: &Process) -> Vec<Metric> {
    let mut metrics = Vec::new();
    let (v_url, origin) = (visitas.base.clone(), visitas.origin());
    let r_url = format!("https://127.0.0.1:{}", reference.port);
    let r_origin = r_url.clone();
    let (v_rest, r_rest) = (visitas.process.rss(), reference.rss());
    let mut held: Option<(Child, Child)> = None;
    for &count in &opts.idle_counts {
        if let Some((a, b)) = held.take() {
            release(a);
            release(b);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let idle_room = visitas.create_room(&format!("Carga {count}")).await;
        let ticket = visitas
            .relative_tickets(&idle_room, &["Carga"])
            .await
            .remove(0);
        let (v_connected, v_load) = hold_idle(&format!("{v_url}/"), &origin, count, &ticket);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let v_rss = visitas.process.rss();
        let (r_connected, r_load) = hold_idle(&format!("{r_url}/"), &r_origin, count, "idle");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let r_rss = reference.rss();
        assert_eq!(v_connected, count, "Visitas accepted every idle connection");
        assert_eq!(
            r_connected, count,
            "the reference accepted every idle connection"
        );
        let m = Metric::new(
            format!("RSS with {count} idle connections"),
            "MiB",
            Some(mib(v_rss)),
            Some(mib(r_rss)),
        );
        metrics.push(if count >= 10_000 {
            m.target("≤ 200 MiB", |v, _| v <= 200.0)
        } else {
            m
        });
        metrics.push(Metric::new(
            format!("bytes per connection at {count}"),
            "KiB",
            Some((v_rss - v_rest) / count as f64 / 1024.0),
            Some((r_rss - r_rest) / count as f64 / 1024.0),
        ));
        held = Some((v_load, r_load));
    }

    // 3. Relay with the largest idle load still held.
    let pairs = visitas.relay_pairs("Relevo", opts.relay_pairs).await;
    // What each server spends per second with the idle connections alone (their heartbeats):
    // measured over as long as a relay run, to show the relay's own cost beside the total.
    let idle_window = Duration::from_secs(opts.relay_seconds as u64 + 2);
    let (v_idle_before, r_idle_before) = (visitas.process.cpu_seconds(), reference.cpu_seconds());
    tokio::time::sleep(idle_window).await;
    let idle_rate = |before: f64, process: &Process| {
        (process.cpu_seconds() - before) / idle_window.as_secs_f64()
    };
    let (v_idle, r_idle) = (
        idle_rate(v_idle_before, &visitas.process),
        idle_rate(r_idle_before, reference),
    );
    let mut results = Vec::new();
    for round in 0..opts.rounds {
        for (process, url, origin, idle) in [
            (&visitas.process, &v_url, &origin, v_idle),
            (reference, &r_url, &r_origin, r_idle),
        ] {
            let (answer, cpu, elapsed) = relay(process, &format!("{url}/"), origin, &pairs, opts);
            let received = answer["received"].as_f64().unwrap_or(0.0).max(1.0);
            let net = (cpu - idle * elapsed.as_secs_f64()).max(0.0);
            results.push((
                std::ptr::eq(process, &visitas.process),
                round,
                answer.clone(),
                (cpu / received * 1e6, net / received * 1e6),
            ));
        }
    }
    let pick = |visitas_side: bool, key: &str| -> Option<f64> {
        let mut values: Vec<f64> = results
            .iter()
            .filter(|r| r.0 == visitas_side)
            .filter_map(|r| match key {
                "cpu" => Some(r.3.0),
                "cpu_net" => Some(r.3.1),
                _ => r.2[key].as_f64(),
            })
            .collect();
        (!values.is_empty()).then(|| median(&mut values))
    };
    let held_count = opts.idle_counts.last().copied().unwrap_or(0);
    metrics.push(Metric::new(
        format!("relay p50 ({held_count} idle held)"),
        "ms",
        pick(true, "p50_ms"),
        pick(false, "p50_ms"),
    ));
    metrics.push(
        Metric::new(
            format!("relay p99 ({held_count} idle held)"),
            "ms",
            pick(true, "p99_ms"),
            pick(false, "p99_ms"),
        )
        .target("≤ reference", |v, r| r.is_some_and(|r| v <= r)),
    );
    metrics.push(
        Metric::new(
            "CPU per relayed message",
            "µs",
            pick(true, "cpu"),
            pick(false, "cpu"),
        )
        .target("≤ 0.4× reference", |v, r| {
            r.is_some_and(|r| v <= 0.4 * r)
        }),
    );
    metrics.push(Metric::new(
        "  net of idle heartbeats",
        "µs",
        pick(true, "cpu_net"),
        pick(false, "cpu_net"),
    ));
    let lost = |visitas_side: bool| -> Option<f64> {
        let total: f64 = results
            .iter()
            .filter(|r| r.0 == visitas_side)
            .map(|r| r.2["sent"].as_f64().unwrap_or(0.0) - r.2["received"].as_f64().unwrap_or(0.0))
            .sum();
        Some(total)
    };
    metrics.push(
        Metric::new("relayed messages lost", "messages", lost(true), lost(false))
            .target("0", |v, _| v == 0.0),
    );
    if let Some((a, b)) = held.take() {
        release(a);
        release(b);
    }
    metrics
}

fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (!sorted.is_empty()).then(|| {
        sorted[((p / 100.0) * sorted.len() as f64)
            .floor()
            .min(sorted.len() as f64 - 1.0) as usize]
    })
}

const CALL_STATE: &str = "document.documentElement.dataset.callState";

/// Join → first frame on the later of the two sides of each join, the median: the direct joins'
/// figure the relayed ones are held against (the same per-join figure).
const LATER_SIDE_MEDIAN: &str = "join → first frame, later side, median";

/// Milestones of a relative's join, after the Join click.
const MILESTONES: [&str; 6] = [
    "socket-connected",
    "joined",
    "offer-sent",
    "answer-received",
    "ice-connected",
    "connected",
];

/// Waits for the first remote frame on both pages: the relative's timeline, and when the
/// bedside showed the relative's first frame (ms since the epoch).
async fn first_frames(relative: &browser::Browser, bedside: &browser::Browser) -> (Value, f64) {
    let wait = Duration::from_secs(30);
    relative
        .wait_for(
            "window.visitas.timeline()['first-frame']",
            wait,
            "the relative's first frame",
        )
        .await;
    let timeline = relative.eval("return window.visitas.timeline()").await;
    let me = relative.eval("return window.visitas.state.selfId").await;
    let me = me.as_str().unwrap_or_default().to_string();
    bedside
        .wait_for(
            &format!("window.visitas.firstFrames()['{me}']"),
            wait,
            "the bedside's first frame",
        )
        .await;
    let bedside_frame = bedside
        .eval(&format!("return window.visitas.firstFrames()['{me}']"))
        .await;
    (timeline, bedside_frame.as_f64().unwrap())
}

/// The relative waits in the waiting room `admissions` times (a new visit each time, so a new
/// invite nobody has let in), and the nurse admits them: from the Admit request to the first
/// remote frame on each side, in ms. The bedside and the relative are the pages of
/// [`join_to_first_frame`]; `visit_path` is its visit, ended first.
async fn admit_to_first_frame(
    visitas: &Visitas,
    room: &str,
    visit_path: &str,
    bedside: &browser::Browser,
    relative: &browser::Browser,
    admissions: usize,
) -> (Vec<f64>, Vec<f64>) {
    let wait = Duration::from_secs(30);
    let mut running = visit_path.to_string();
    let (mut relative_totals, mut bedside_totals) = (Vec::new(), Vec::new());
    for _ in 0..admissions {
        // One visit at a time per patient: end the last one (its relative leaves the call).
        let ended = visitas
            .post(&visitas.client, &format!("{running}/end"), &[])
            .await;
        assert_eq!(ended.status(), 303, "the visit ended");
        bedside
            .wait_for(
                &format!("{CALL_STATE} === 'waiting'"),
                wait,
                "the bedside alone",
            )
            .await;
        let (visit, mut cards) = visitas.visit_now(room, &["Rita"], false).await;
        running = visit;
        let (invite, link, code) = cards.remove(0);
        relative.goto(&link).await;
        relative
            .wait_for("document.querySelector('#code')", wait, "the code page")
            .await;
        relative.type_into("#code", &code).await;
        relative.click("#code-submit").await;
        relative
            .wait_for("document.querySelector('#join') && !document.querySelector('#join').disabled && document.querySelector('#preview').videoWidth > 0", wait, "the device check")
            .await;
        relative.click("#join").await;
        relative
            .wait_for(
                &format!("{CALL_STATE} === 'waiting-room'"),
                wait,
                "the waiting room",
            )
            .await;
        let clicked = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            * 1000.0;
        let admitted = visitas
            .post(&visitas.client, &format!("/waiting/{invite}/admit"), &[])
            .await;
        assert_eq!(admitted.status(), 303, "admitted");
        let (timeline, bedside_frame) = first_frames(relative, bedside).await;
        relative_totals.push(timeline["first-frame"].as_f64().unwrap() - clicked);
        bedside_totals.push(bedside_frame - clicked);
    }
    (relative_totals, bedside_totals)
}

/// A bedside and a relative in two Chromiums, on `visitas`, and the relative joining `joins`
/// times: what each join took.
struct Joins {
    relative_totals: Vec<f64>,
    bedside_totals: Vec<f64>,
    steps: Vec<Vec<f64>>,
    weight: Value,
    room: String,
    visit_path: String,
    bedside: browser::Browser,
    relative: browser::Browser,
}

/// The bedside (the admin as the patient) in one Chromium and the relative in another, inside
/// `netns` when given; the relative is at the device check of a visit running now.
async fn bedside_and_relative(
    visitas: &Visitas,
    netns: Option<&netns::Netns>,
) -> (String, String, browser::Browser, browser::Browser) {
    use browser::{Browser, Engine};
    let wait = Duration::from_secs(30);
    let room = visitas.create_room("Primer fotograma").await;
    let bedside = Browser::start().await;
    bedside.goto(&format!("{}/login", visitas.base)).await;
    bedside
        .type_into("input[name=username]", "bench.admin")
        .await;
    bedside.type_into("input[name=password]", PASSWORD).await;
    bedside
        .click("form[action='/login'] button[type=submit]")
        .await;
    bedside
        .wait_for("location.pathname === '/desk'", wait, "login")
        .await;
    bedside
        .goto(&format!("{}/rooms/{room}/call?as=patient", visitas.base))
        .await;
    bedside
        .wait_for(&format!("{CALL_STATE} === 'waiting'"), wait, "the bedside")
        .await;

    let (visit_path, mut cards) = visitas.visit_now(&room, &["Rita"], true).await;
    let (_, link, code) = cards.remove(0);
    let relative = match netns {
        Some(netns) => Browser::start_inside(Engine::Chromium, netns).await,
        None => Browser::start().await,
    };
    relative.goto(&link).await;
    relative
        .wait_for("document.querySelector('#code')", wait, "the code page")
        .await;
    relative.type_into("#code", &code).await;
    relative.click("#code-submit").await;
    (room, visit_path, bedside, relative)
}

async fn joins(visitas: &Visitas, joins: usize) -> Joins {
    let wait = Duration::from_secs(30);
    let (room, visit_path, bedside, relative) = bedside_and_relative(visitas, None).await;
    let mut relative_totals = Vec::new();
    let mut bedside_totals = Vec::new();
    let mut steps: Vec<Vec<f64>> = vec![Vec::new(); MILESTONES.len()];
    let mut weight = Value::Null;
    for i in 0..joins {
        if i > 0 {
            relative.goto(&format!("{}/visit", visitas.base)).await;
        }
        relative
            .wait_for("document.querySelector('#join') && !document.querySelector('#join').disabled && document.querySelector('#preview').videoWidth > 0", wait, "the device check")
            .await;
        if i > 0 {
            // The previous stay of this relative must be gone from the bedside first.
            bedside
                .wait_for(
                    &format!("{CALL_STATE} === 'waiting'"),
                    wait,
                    "the bedside alone",
                )
                .await;
        }
        relative.click("#join").await;
        let (timeline, bedside_frame) = first_frames(&relative, &bedside).await;
        let click = timeline["join-click"].as_f64().unwrap();
        relative_totals.push(timeline["first-frame"].as_f64().unwrap() - click);
        bedside_totals.push(bedside_frame - click);
        for (j, step) in MILESTONES.iter().enumerate() {
            if let Some(at) = timeline[*step].as_f64() {
                steps[j].push(at - click);
            }
        }
        if i == 0 {
            weight = relative
                .eval(
                    "const size = (e) => e.transferSize > 0 ? e.transferSize : e.encodedBodySize;
                     const nav = performance.getEntriesByType('navigation')[0];
                     const res = performance.getEntriesByType('resource');
                     return { bytes: size(nav) + res.reduce((a, e) => a + size(e), 0), requests: 1 + res.length + 1 };",
                )
                .await;
        }
    }

    Joins {
        relative_totals,
        bedside_totals,
        steps,
        weight,
        room,
        visit_path,
        bedside,
        relative,
    }
}

/// A bedside and a relative in two Chromiums; the relative joins `joins` times, then waits and
/// is admitted `joins` times.
pub async fn join_to_first_frame(visitas: &Visitas, joins_count: usize) -> Vec<Metric> {
    let joins = joins_count;
    let Joins {
        relative_totals,
        bedside_totals,
        steps,
        weight,
        room,
        visit_path,
        bedside,
        relative,
    } = self::joins(visitas, joins).await;
    let (admit_relative, admit_bedside) =
        admit_to_first_frame(visitas, &room, &visit_path, &bedside, &relative, joins).await;

    relative.goto(&format!("{}/login", visitas.base)).await;
    let floor = first_frame_floor(&relative, joins, &json!({})).await;

    let mut metrics = Vec::new();
    for (side, totals) in [("relative", &relative_totals), ("bedside", &bedside_totals)] {
        for (label, p, limit) in [("median", 50.0, 350.0), ("p95", 95.0, 600.0)] {
            metrics.push(
                Metric::new(
                    format!("join → first frame, {side}, {label}"),
                    "ms",
                    percentile(totals, p),
                    None,
                )
                .target(&format!("≤ {limit} ms"), |v, _| v <= limit),
            );
        }
    }
    let join_median = percentile(&relative_totals, 50.0)
        .zip(percentile(&bedside_totals, 50.0))
        .map(|(a, b)| a.max(b));
    // Each join's later side: what the relayed joins are held against, measured the same way.
    let later: Vec<f64> = relative_totals
        .iter()
        .zip(&bedside_totals)
        .map(|(a, b)| a.max(*b))
        .collect();
    metrics.push(Metric::new(
        LATER_SIDE_MEDIAN,
        "ms",
        percentile(&later, 50.0),
        None,
    ));
    for (side, totals) in [("relative", &admit_relative), ("bedside", &admit_bedside)] {
        let median = percentile(totals, 50.0);
        let holds = median
            .zip(join_median)
            .is_some_and(|(m, join)| m <= 1.5 * join);
        metrics.push(
            Metric::new(
                format!("admit → first frame, {side}, median"),
                "ms",
                median,
                None,
            )
            .judged("≤ 1.5× join → first frame median", holds),
        );
    }
    for (step, values) in MILESTONES.iter().zip(&steps) {
        metrics.push(Metric::new(
            format!("  join → {step}, median"),
            "ms",
            percentile(values, 50.0),
            None,
        ));
    }
    metrics.push(Metric::new(
        "first frame floor (two peers, one page), median",
        "ms",
        percentile(&floor, 50.0),
        None,
    ));
    metrics.push(
        Metric::new(
            "call page weight, cold (compressed)",
            "KiB",
            weight["bytes"].as_f64().map(|b| b / 1024.0),
            None,
        )
        .target("≤ 60 KB", |v, _| v * 1024.0 <= 60_000.0),
    );
    metrics.push(
        Metric::new(
            "call page requests, cold",
            "requests",
            weight["requests"].as_f64(),
            None,
        )
        .target("≤ 12", |v, _| v <= 12.0),
    );
    drop(bedside);
    drop(relative);
    metrics
}

/// The floor of join → first frame: two peer connections in one page (no server, no network
/// between them), `times` times, with `config` (an `RTCConfiguration`): from the first track added
/// to the first remote frame, in ms.
async fn first_frame_floor(page: &browser::Browser, times: usize, config: &Value) -> Vec<f64> {
    let floor = page
        .eval_async(&format!(
            "const done = arguments[0];
             (async () => {{
               const config = {config};
               const stream = await navigator.mediaDevices.getUserMedia({{ video: {{ width: 640, height: 360 }}, audio: true }});
               const times = [];
               for (let i = 0; i < {times}; i++) {{
                 const a = new RTCPeerConnection(config), b = new RTCPeerConnection(config);
                 a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
                 b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
                 const video = document.createElement('video');
                 video.muted = true; video.autoplay = true; video.playsInline = true; document.body.append(video);
                 const first = new Promise((resolve) => {{ b.ontrack = (ev) => {{
                   if (ev.track.kind !== 'video') return;
                   video.srcObject = ev.streams[0];
                   video.requestVideoFrameCallback(() => resolve(performance.now()));
                 }}; }});
                 const start = performance.now();
                 stream.getTracks().forEach((t) => a.addTrack(t, stream));
                 await a.setLocalDescription(); await b.setRemoteDescription(a.localDescription);
                 await b.setLocalDescription(); await a.setRemoteDescription(b.localDescription);
                 times.push((await first) - start);
                 a.close(); b.close(); video.remove();
               }}
               done(times);
             }})().catch((e) => done([]));"
        ))
        .await;
    floor
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

/// Video frames the page has decoded from all its peers.
async fn decoded(browser: &browser::Browser) -> u64 {
    browser
        .stats()
        .await
        .iter()
        .map(|s| s["framesDecoded"].as_u64().unwrap_or(0))
        .sum()
}

/// Real networks (part 7): a call whose relative is in a network namespace (see
/// `tests/helpers/netns.rs`) has all its traffic cut for 5 s, `cuts` times: from the network
/// coming back to frames flowing again on both sides, in ms. `None` without root.
async fn cut_to_frames(opts: &Options, cuts: usize) -> Option<Vec<f64>> {
    let netns = netns::Netns::create()?;
    let ip = netns.host_addr.to_string();
    let (visitas, _) =
        Visitas::start_with(&opts.visitas_bin, hospital::Size::QUICK, &ip, &[]).await;
    let wait = Duration::from_secs(30);
    let (_, _, bedside, relative) = bedside_and_relative(&visitas, Some(&netns)).await;
    relative
        .wait_for("document.querySelector('#join') && !document.querySelector('#join').disabled && document.querySelector('#preview').videoWidth > 0", wait, "the device check")
        .await;
    relative.click("#join").await;
    first_frames(&relative, &bedside).await;
    let mut healed = Vec::new();
    for _ in 0..cuts {
        tokio::time::sleep(Duration::from_secs(3)).await;
        netns.cut();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let before = (decoded(&relative).await, decoded(&bedside).await);
        netns.restore();
        let back = Instant::now();
        let (mut relative_at, mut bedside_at) = (None, None);
        while back.elapsed() < Duration::from_secs(30)
            && (relative_at.is_none() || bedside_at.is_none())
        {
            if relative_at.is_none() && decoded(&relative).await >= before.0 + 3 {
                relative_at = Some(back.elapsed());
            }
            if bedside_at.is_none() && decoded(&bedside).await >= before.1 + 3 {
                bedside_at = Some(back.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // A cut that did not heal within 30 s counts as 30 s (and is counted apart): the
        // median must not forget the failures.
        healed.push(match (relative_at, bedside_at) {
            (Some(a), Some(b)) => a.max(b).as_secs_f64() * 1000.0,
            _ => f64::INFINITY,
        });
    }
    drop((bedside, relative, visitas));
    Some(healed)
}

/// What [`relay_joins`] measured (ms, one per join).
struct Relayed {
    /// Join → first frame, the later side.
    totals: Vec<f64>,
    /// Join → ICE connected, the relative.
    ice: Vec<f64>,
    /// Join → connected (DTLS done), the relative.
    connected: Vec<f64>,
    /// Two peer connections in one page through the same coturn, relay only.
    floor: Vec<f64>,
}

/// Join → first frame with every call through a real coturn (`--ice-transport-policy relay`),
/// on a Visitas of its own; `None` without coturn.
async fn relay_joins(opts: &Options) -> Option<Relayed> {
    let coturn = coturn::Coturn::start()?;
    let url = coturn.url();
    let flags = [
        "--ice-url",
        url.as_str(),
        "--turn-secret",
        coturn.secret.as_str(),
        "--ice-transport-policy",
        "relay",
    ];
    let (visitas, _) = Visitas::start_with(
        &opts.visitas_bin,
        hospital::Size::QUICK,
        "127.0.0.1",
        &flags,
    )
    .await;
    let run = joins(&visitas, opts.joins).await;
    let stats = run.relative.stats().await;
    let through_turn = stats
        .iter()
        .all(|s| s["localCandidateType"] == "relay" && s["remoteCandidateType"] == "relay");
    assert!(
        through_turn,
        "the relayed joins went through coturn: {stats:?}"
    );
    let totals = run
        .relative_totals
        .iter()
        .zip(&run.bedside_totals)
        .map(|(a, b)| a.max(*b))
        .collect();
    let step = |name: &str| {
        let at = MILESTONES.iter().position(|m| *m == name);
        at.map(|i| run.steps[i].clone()).unwrap_or_default()
    };
    let (ice, connected) = (step("ice-connected"), step("connected"));
    // The same through the same coturn with no server and no page of ours: Chromium's own cost
    // of a relayed connection.
    let (username, credential) =
        visitas::auth::turn::rest_credential(&coturn.secret, chrono::Utc::now().timestamp() + 3600);
    let config = json!({
        "iceServers": [{ "urls": [url], "username": username, "credential": credential }],
        "iceTransportPolicy": "relay",
    });
    run.relative.goto(&format!("{}/login", visitas.base)).await;
    let floor = first_frame_floor(&run.relative, opts.joins, &config).await;
    drop((run, visitas, coturn));
    Some(Relayed {
        totals,
        ice,
        connected,
        floor,
    })
}

/// The figures of [`Part::Network`]; `direct` is the median over this run's direct joins of each
/// join's later side, to hold the relayed ones (measured the same way) against.
pub async fn network(opts: &Options, direct: Option<f64>) -> Vec<Metric> {
    let cuts = if opts.quick { 1 } else { 7 };
    let healed = cut_to_frames(opts, cuts).await;
    let unhealed = healed
        .as_ref()
        .map(|h| h.iter().filter(|ms| ms.is_infinite()).count() as f64);
    let healed = healed.map(|h| {
        h.into_iter()
            .map(|ms| if ms.is_finite() { ms } else { 30_000.0 })
            .collect::<Vec<_>>()
    });
    let relayed = relay_joins(opts).await;
    let median =
        |pick: fn(&Relayed) -> &Vec<f64>| relayed.as_ref().and_then(|r| percentile(pick(r), 50.0));
    let relayed_median = median(|r| &r.totals);
    let relayed_ice = median(|r| &r.ice);
    let relayed_connected = median(|r| &r.connected);
    let relayed_floor = median(|r| &r.floor);
    vec![
        Metric::new(
            "5 s network cut → frames flowing again, median",
            "ms",
            healed.as_deref().and_then(|h| percentile(h, 50.0)),
            None,
        )
        .target("≤ 3000 ms", |v, _| v <= 3000.0),
        Metric::new(
            "  cuts after which frames did not flow again within 30 s",
            "cuts",
            unhealed,
            None,
        ),
        Metric::new(
            "join → first frame through TURN (relay only), median",
            "ms",
            relayed_median,
            None,
        )
        .judged(
            "≤ 1.5× direct join median",
            relayed_median
                .zip(direct)
                .is_some_and(|(relay, direct)| relay <= 1.5 * direct),
        ),
        Metric::new(
            "  TURN join → ice-connected, median",
            "ms",
            relayed_ice,
            None,
        ),
        Metric::new(
            "  TURN join → connected, median",
            "ms",
            relayed_connected,
            None,
        ),
        Metric::new(
            "TURN first frame floor (two peers, one page, relay only), median",
            "ms",
            relayed_floor,
            None,
        ),
    ]
}

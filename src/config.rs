//! Command line and configuration. Every setting is a flag and a `VISITAS_*` environment
//! variable; `visitas --help` is the reference, and the README's table mirrors it.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, CommandFactory, FromArgMatches, Parser};

use crate::{domain::HospitalZone, i18n::Lang};

/// Every server setting.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(
        long,
        env = "VISITAS_BIND",
        default_value = "0.0.0.0:3000",
        global = true
    )]
    pub bind: SocketAddr,

    /// Directory for the database and the generated certificates; created when missing.
    #[arg(long, env = "VISITAS_DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,

    /// The database: a SQLite file [default: DATA_DIR/visitas.db], or a PostgreSQL URL
    /// (`postgres://user@host/db`, its password in PGPASSWORD or the URL) for several nodes on
    /// one database.
    #[arg(long, env = "VISITAS_DATABASE", global = true)]
    pub database: Option<String>,

    /// PEM certificate chain of the hospital's own certificate (with --tls-key). Without it a
    /// local CA and server certificate are generated in DATA_DIR/tls and renewed automatically
    /// (one box only: on PostgreSQL, with several nodes, the hospital's certificate is required).
    #[arg(long, env = "VISITAS_TLS_CERT", requires = "tls_key", global = true)]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "VISITAS_TLS_KEY", requires = "tls_cert", global = true)]
    pub tls_key: Option<PathBuf>,

    /// Load balancers whose `X-Forwarded-For` names the client (throttles and logs count that
    /// address): addresses or networks (`10.0.0.5`, `10.0.0.0/24`), repeated or comma-separated.
    /// From anyone else the header is ignored.
    #[arg(
        long = "trusted-proxy",
        env = "VISITAS_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<IpNetwork>,

    /// Every connection starts with a PROXY protocol header (v1 or v2, as HAProxy's `send-proxy`
    /// or `send-proxy-v2` writes) naming the client: for a server reached only through such a
    /// load balancer. A connection without one is closed.
    #[arg(long, env = "VISITAS_PROXY_PROTOCOL", global = true)]
    pub proxy_protocol: bool,

    /// The server's secret key: signs call tickets and keys the hashes of access codes
    /// [default: DATA_DIR/secret.key, created on first start]. Every node of one PostgreSQL
    /// database must use the same key (required there): 32 random bytes in URL-safe base64 in an
    /// owner-only file, e.g. `head -c 32 /dev/urandom | basenc --base64url | tr -d =`.
    #[arg(long, env = "VISITAS_SECRET_FILE", global = true)]
    pub secret_file: Option<PathBuf>,

    /// The address people use to reach this server, e.g. https://visitas.hospital.local:3000.
    /// Used in printed links and accepted as an origin [default: https://localhost:PORT].
    #[arg(long, env = "VISITAS_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// The hospital's time zone, an IANA name such as Europe/Madrid: every time is shown in it
    /// [default: the machine's zone].
    #[arg(long, env = "VISITAS_TIME_ZONE", value_parser = parse_zone, global = true)]
    pub time_zone: Option<HospitalZone>,

    /// Language used when the browser asks for neither Spanish nor English (es or en).
    #[arg(long, env = "VISITAS_DEFAULT_LANG", default_value = "es", value_parser = parse_lang, global = true)]
    pub default_lang: Lang,

    /// Minimum length of staff passwords, in characters.
    #[arg(
        long,
        env = "VISITAS_MIN_PASSWORD_LENGTH",
        default_value_t = 12,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(8..=256),
        global = true
    )]
    pub min_password_length: usize,

    /// A staff session ends after this many seconds without a request.
    #[arg(
        long,
        env = "VISITAS_SESSION_IDLE_SECS",
        default_value_t = 30 * 60,
        value_parser = clap::value_parser!(u64).range(60..=7 * 24 * 60 * 60),
        global = true
    )]
    pub session_idle_secs: u64,

    /// A staff session ends this many seconds after login, however active.
    #[arg(
        long,
        env = "VISITAS_SESSION_MAX_SECS",
        default_value_t = 12 * 60 * 60,
        value_parser = clap::value_parser!(u64).range(60..=30 * 24 * 60 * 60),
        global = true
    )]
    pub session_max_secs: u64,

    /// Minutes before a visit's start from which its relatives' invites work (they end with the
    /// visit).
    #[arg(
        long,
        env = "VISITAS_INVITE_EARLY_MINUTES",
        default_value_t = 15,
        value_parser = clap::value_parser!(u32).range(0..=120),
        global = true
    )]
    pub invite_early_minutes: u32,

    /// Days after which a bedside tablet that has not been seen is unpaired (it returns to its
    /// pairing screen when it comes back).
    #[arg(
        long,
        env = "VISITAS_DEVICE_UNSEEN_DAYS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u32).range(1..=3650),
        global = true
    )]
    pub device_unseen_days: u32,

    /// Most participants in one call (patient included).
    #[arg(
        long,
        env = "VISITAS_ROOM_CAPACITY",
        default_value_t = 4,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..=16),
        global = true
    )]
    pub room_capacity: usize,

    /// Upper bound of each sender's video bitrate, in kbit/s, so visits never saturate the ward's
    /// network.
    #[arg(
        long,
        env = "VISITAS_MAX_VIDEO_KBPS",
        default_value_t = 500,
        value_parser = clap::value_parser!(u32).range(50..=20_000),
        global = true
    )]
    pub max_video_kbps: u32,

    /// The video bitrate all running calls together may use, in kbit/s (the share of the
    /// hospital network given to visits). Calls share it fairly, each sender's cap pushed live
    /// to the pages, down to --video-floor-kbps; beyond that, new calls start audio-only. No
    /// budget by default.
    #[arg(
        long,
        env = "VISITAS_SITE_VIDEO_KBPS",
        value_parser = clap::value_parser!(u32).range(50..=10_000_000),
        global = true
    )]
    pub site_video_kbps: Option<u32>,

    /// The lowest video bitrate worth sending, in kbit/s: the site budget never caps a call
    /// below it (new calls go audio-only instead), and a page on a weak link steps down to it
    /// before pausing its video.
    #[arg(
        long,
        env = "VISITAS_VIDEO_FLOOR_KBPS",
        default_value_t = 150,
        value_parser = clap::value_parser!(u32).range(30..=5_000),
        global = true
    )]
    pub video_floor_kbps: u32,

    /// Seconds a participant whose connection is lost keeps their place in the call: their page
    /// rejoins by itself within it, and the others see them as reconnecting; after it they have
    /// left with `connection-lost`.
    #[arg(
        long,
        env = "VISITAS_REJOIN_GRACE_SECS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=3600),
        global = true
    )]
    pub rejoin_grace_secs: u64,

    /// Signaling events one call participant may send at once (an offer and its ICE candidates
    /// arrive as a burst); more are dropped and a socket that keeps flooding is disconnected.
    #[arg(
        long,
        env = "VISITAS_SIGNAL_BURST",
        default_value_t = 100,
        value_parser = clap::value_parser!(u32).range(10..=100_000),
        global = true
    )]
    pub signal_burst: u32,

    /// Signaling events per second one call participant may keep sending after the burst.
    #[arg(
        long,
        env = "VISITAS_SIGNAL_RATE",
        default_value_t = 30,
        value_parser = clap::value_parser!(u32).range(1..=10_000),
        global = true
    )]
    pub signal_rate: u32,

    /// Most connections open at once from one client address; more are refused before the TLS
    /// handshake. A ward behind one NAT shares an address: leave room for it.
    #[arg(
        long,
        env = "VISITAS_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 256,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(8..=1_000_000),
        global = true
    )]
    pub max_connections_per_address: usize,

    /// A STUN or TURN server for the call pages (repeatable; comma-separated in the variable),
    /// e.g. turn:turn.hospital.local:3478. None by default: on one LAN peers reach each other.
    #[arg(
        long = "ice-url",
        env = "VISITAS_ICE_URLS",
        value_delimiter = ',',
        global = true
    )]
    pub ice_urls: Vec<String>,

    /// coturn's static-auth-secret (`use-auth-secret`): TURN URLs then get time-limited
    /// credentials in coturn's REST format, valid until the end of the participant's visit plus
    /// a margin, handed out only to participants in a call.
    #[arg(
        long,
        env = "VISITAS_TURN_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub turn_secret: Option<Secret>,

    /// Which ICE candidates the call pages use: `all` (browser to browser when they can reach
    /// each other, the TURN server when not) or `relay` (every call through the TURN server:
    /// for a site whose policy wants one audited path for media, or whose Wi-Fi isolates
    /// clients). `relay` needs a turn: --ice-url.
    #[arg(
        long,
        env = "VISITAS_ICE_TRANSPORT_POLICY",
        value_enum,
        default_value_t = IcePolicy::All,
        global = true
    )]
    pub ice_transport_policy: IcePolicy,

    /// Days the records of closed visits are kept (their stays, invites and admissions), and
    /// the relatives of patients discharged that long ago; a daily job removes older ones and
    /// writes the counts (never the contents) to the audit trail.
    #[arg(
        long,
        env = "VISITAS_RETAIN_DAYS",
        default_value_t = 400,
        value_parser = clap::value_parser!(u32).range(30..=36_500),
        global = true
    )]
    pub retain_days: u32,

    /// How log lines are written: `text` (for people) or `json` (one object per line, for log
    /// collectors).
    #[arg(
        long,
        env = "VISITAS_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        global = true
    )]
    pub log_format: LogFormat,

    /// A bearer token that lets clients other than the box itself read `/metrics`
    /// (`Authorization: Bearer TOKEN`); without it only loopback clients may.
    #[arg(
        long,
        env = "VISITAS_METRICS_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub metrics_token: Option<Secret>,
}

/// How the server writes its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// RTCConfiguration's `iceTransportPolicy`, as the call pages get it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IcePolicy {
    /// Direct when possible, relayed when not.
    All,
    /// Always relayed through the TURN server.
    Relay,
}

/// Only the settings, to read their defaults.
#[derive(Debug, Parser)]
#[command(name = "visitas")]
struct DefaultsOnly {
    #[command(flatten)]
    config: Config,
}

/// A setting that must never reach the logs.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

fn parse_zone(value: &str) -> Result<HospitalZone, String> {
    HospitalZone::parse(value).ok_or_else(|| {
        format!("unknown time zone {value:?}: use an IANA name such as Europe/Madrid")
    })
}

fn parse_lang(value: &str) -> Result<Lang, String> {
    Lang::from_code(value).ok_or_else(|| format!("unsupported language {value:?}: use es or en"))
}

impl Config {
    /// The settings with every default (ignoring `VISITAS_*` variables), listening on `bind` and
    /// keeping data in `data_dir`.
    pub fn with_defaults(bind: SocketAddr, data_dir: PathBuf) -> Config {
        let mut command = DefaultsOnly::command();
        let ids: Vec<clap::Id> = command
            .get_arguments()
            .map(|a| a.get_id().clone())
            .collect();
        for id in ids {
            command = command.mut_arg(id, |arg| arg.env(None));
        }
        let matches = command
            .try_get_matches_from(["visitas"])
            .expect("the defaults parse");
        let mut config = DefaultsOnly::from_arg_matches(&matches)
            .expect("the defaults parse")
            .config;
        config.bind = bind;
        config.data_dir = data_dir;
        config
    }

    /// Checks what one flag alone cannot: how settings fit together and the form of URLs. Every
    /// number is also bounded where it is parsed, so nonsense such as `--room-capacity 0` stops
    /// the start with clap's message naming the flag and the accepted range.
    pub fn validate(&self) -> Result<(), String> {
        if self.session_max_secs < self.session_idle_secs {
            return Err(format!(
                "--session-max-secs ({}) must not be shorter than --session-idle-secs ({})",
                self.session_max_secs, self.session_idle_secs
            ));
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("https://") && url.len() > "https://".len())
        {
            return Err(format!(
                "--public-url must be an https:// address (browsers allow the camera only there), not {url:?}"
            ));
        }
        for url in &self.ice_urls {
            let known = ["stun:", "turn:", "turns:"];
            if !known.iter().any(|scheme| url.starts_with(scheme)) {
                return Err(format!(
                    "--ice-url must start with stun:, turn: or turns:, not {url:?}"
                ));
            }
        }
        let has_turn = self
            .ice_urls
            .iter()
            .any(|url| url.starts_with("turn:") || url.starts_with("turns:"));
        if self.video_floor_kbps > self.max_video_kbps {
            return Err(format!(
                "--video-floor-kbps ({}) must not be above --max-video-kbps ({})",
                self.video_floor_kbps, self.max_video_kbps
            ));
        }
        if self.ice_transport_policy == IcePolicy::Relay && !has_turn {
            return Err(
                "--ice-transport-policy relay needs a TURN server: --ice-url turn:HOST:3478".into(),
            );
        }
        if self
            .metrics_token
            .as_ref()
            .is_some_and(|token| token.0.chars().count() < 16)
        {
            return Err("--metrics-token must be at least 16 characters".into());
        }
        if self.turn_secret.is_some() && !has_turn {
            return Err("--turn-secret is set but no --ice-url is a turn: or turns: URL".into());
        }
        Ok(())
    }

    /// [`Config::validate`], and what serving needs besides: on PostgreSQL (several nodes), the
    /// hospital's certificate and a shared secret key.
    pub fn validate_for_serving(&self) -> Result<(), String> {
        self.validate()?;
        if matches!(self.database_location(), crate::db::Location::Postgres(_)) {
            // Each node would otherwise make its own CA and key, and a ticket or a certificate
            // of one node would be worthless on the next.
            if self.tls_cert.is_none() {
                return Err(
                    "on PostgreSQL (several nodes) the hospital's own certificate is \
                            required: --tls-cert and --tls-key (the generated local CA is for one \
                            box)"
                        .into(),
                );
            }
            if self.secret_file.is_none() {
                return Err(
                    "on PostgreSQL (several nodes) every node needs the same secret key: \
                            --secret-file"
                        .into(),
                );
            }
        }
        Ok(())
    }

    /// How long before a visit's start its invites open, in seconds.
    pub fn invite_early_secs(&self) -> i64 {
        i64::from(self.invite_early_minutes) * 60
    }

    /// The database in use.
    pub fn database_location(&self) -> crate::db::Location {
        crate::db::Location::parse(self.database.as_deref(), &self.data_dir)
    }

    /// The SQLite file in use, when the database is one.
    pub fn database_path(&self) -> Option<PathBuf> {
        match self.database_location() {
            crate::db::Location::File(path) => Some(path),
            crate::db::Location::Postgres(_) => None,
        }
    }

    /// Where generated certificates live.
    pub fn tls_dir(&self) -> PathBuf {
        self.data_dir.join("tls")
    }

    /// Idle timeout of staff sessions.
    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(self.session_idle_secs)
    }

    /// Absolute timeout of staff sessions.
    pub fn session_max(&self) -> Duration {
        Duration::from_secs(self.session_max_secs)
    }

    /// True when `origin` (an `Origin` header) is this server as the browser reached it (its
    /// `Host`, or the request's authority), or the configured public URL.
    pub fn is_own_origin(
        &self,
        origin: &str,
        headers: &axum::http::HeaderMap,
        authority: Option<&str>,
    ) -> bool {
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or(authority);
        if host.is_some_and(|host| origin.eq_ignore_ascii_case(&format!("https://{host}"))) {
            return true;
        }
        self.public_url
            .as_deref()
            .is_some_and(|url| origin.eq_ignore_ascii_case(url.trim_end_matches('/')))
    }

    /// The base URL printed in links, for a server listening on `port`.
    pub fn public_base_url(&self, port: u16) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("https://localhost:{port}"),
        }
    }
}

/// An address or a network of them (`10.0.0.5`, `10.0.0.0/24`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    base: std::net::IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// True when `address` is in this network.
    pub fn contains(&self, address: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        // An IPv4 client may reach a dual-stack socket as ::ffff:a.b.c.d.
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        match (self.base, address) {
            (IpAddr::V4(base), IpAddr::V4(address)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(base) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(address)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(base) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for IpNetwork {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let base: std::net::IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or network"))?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix must be 0 to {max}"))?,
        };
        Ok(IpNetwork { base, prefix })
    }
}

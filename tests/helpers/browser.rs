//! Real headless browsers, driven over the W3C WebDriver protocol: Chromium by `chromedriver`,
//! Firefox ESR by `geckodriver`. Each [`Browser`] is its own browser with its own profile: a
//! separate device.
//!
//! Chromium and chromedriver come from Debian (`chromium`, `chromium-driver`), Firefox ESR from
//! Debian (`firefox-esr`) and geckodriver from crates.io (`cargo install geckodriver --locked`;
//! Debian has no package). When they are missing and we are root, they are installed on first
//! use, so `cargo test` works on a fresh machine (`.ci/run` installs them beforehand).

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::Duration,
};

use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const FIREFOX: &str = "/usr/bin/firefox-esr";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long a page may take to connect a call.
pub const CONNECT: Duration = Duration::from_secs(30);

/// Installs Chromium and chromedriver from Debian when they are missing.
pub fn ensure_chromium() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let present = || std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
        if present() {
            return;
        }
        assert!(
            is_root(),
            "the browser tests need Debian's chromium and chromium-driver: sudo apt-get install -y chromium chromium-driver"
        );
        apt_install(&["chromium", "chromium-driver"]);
        assert!(present(), "chromium and chromedriver are installed");
    });
}

/// Installs Debian packages (as root).
pub(crate) fn apt_install(packages: &[&str]) {
    eprintln!("installing {packages:?} from Debian for the browser tests…");
    let install: Vec<&str> = ["install", "-y", "--no-install-recommends"]
        .into_iter()
        .chain(packages.iter().copied())
        .collect();
    for args in [&["update"][..], &install[..]] {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .expect("apt-get runs");
        assert!(status.success(), "apt-get {args:?} failed");
    }
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"))
}

/// Where `cargo install` puts geckodriver.
fn geckodriver_path() -> std::path::PathBuf {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| std::path::PathBuf::from("/root/.cargo"));
    cargo_home.join("bin").join("geckodriver")
}

/// Installs Firefox ESR (Debian) and geckodriver (crates.io) when they are missing.
pub fn ensure_firefox() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        if !std::path::Path::new(FIREFOX).exists() {
            assert!(
                is_root(),
                "the Firefox tests need Debian's firefox-esr: sudo apt-get install -y firefox-esr"
            );
            apt_install(&["firefox-esr"]);
        }
        if !geckodriver_path().exists() {
            eprintln!("installing geckodriver from crates.io for the browser tests…");
            let status = Command::new("cargo")
                .args(["install", "geckodriver", "--locked"])
                .status()
                .expect("cargo runs");
            assert!(status.success(), "cargo install geckodriver failed");
        }
    });
}

/// Which browser a [`Browser`] runs, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Chromium with autoplay allowed without a gesture (the call tests).
    Chromium,
    /// Chromium with its default autoplay policy: sound only after a gesture on the page.
    ChromiumDefaultAutoplay,
    /// Firefox ESR with its default autoplay policy.
    Firefox,
}

/// One WebDriver process with one browser session. Both stop on drop.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

/// A port nothing listens on right now, on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Browsers start one at a time: two cores do not like several Chromiums booting at once.
static STARTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a Chromium session with fake camera
    /// and microphone.
    pub async fn start() -> Browser {
        Self::start_as(Engine::Chromium).await
    }

    /// Starts a browser of the given engine, headless, with a fake camera and microphone.
    pub async fn start_as(engine: Engine) -> Browser {
        Self::start_at(engine, None).await
    }

    /// Starts a browser inside a network namespace: its only network is the namespace's pair.
    pub async fn start_inside(engine: Engine, netns: &super::netns::Netns) -> Browser {
        Self::start_at(engine, Some(netns)).await
    }

    async fn start_at(engine: Engine, netns: Option<&super::netns::Netns>) -> Browser {
        let (port, host, client) = match netns {
            Some(n) => (
                n.driver_port,
                n.ns_addr.to_string(),
                n.host_addr.to_string(),
            ),
            None => (
                free_port(),
                "127.0.0.1".to_string(),
                "127.0.0.1".to_string(),
            ),
        };
        let program = if engine == Engine::Firefox {
            ensure_firefox();
            geckodriver_path().display().to_string()
        } else {
            ensure_chromium();
            CHROMEDRIVER.to_string()
        };
        let mut command = match netns {
            Some(n) => n.command(&program),
            None => Command::new(&program),
        };
        command.arg(format!("--port={port}"));
        if engine == Engine::Firefox {
            command.arg(format!("--host={host}"));
        } else {
            command.arg(format!("--allowed-ips={client}"));
        }
        let driver = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the WebDriver starts");
        let base = format!("http://{host}:{port}");
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut chromium_args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--use-fake-device-for-media-stream".into(),
            "--use-fake-ui-for-media-stream".into(),
            "--allow-loopback-in-peer-connection".into(),
            "--ignore-certificate-errors".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--disable-quic".into(),
            "--window-size=800,900".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if engine == Engine::Chromium {
            chromium_args.push("--autoplay-policy=no-user-gesture-required".into());
        }
        let capabilities = if engine == Engine::Firefox {
            json!({
                "capabilities": { "alwaysMatch": {
                    "browserName": "firefox",
                    "acceptInsecureCerts": true,
                    "moz:firefoxOptions": {
                        "binary": FIREFOX,
                        "args": ["-headless", "-width=800", "-height=900"],
                        // Fake devices and loopback ICE; no autoplay pref: Firefox's default.
                        "prefs": {
                            "media.navigator.streams.fake": true,
                            "media.navigator.permission.disabled": true,
                            "media.peerconnection.ice.loopback": true,
                            "media.peerconnection.ice.no_host": false,
                            "media.peerconnection.ice.obfuscate_host_addresses": false,
                            // No sound card here: without it Firefox's audio never starts.
                            "media.cubeb.force_mock_context": true,
                        }
                    }
                }}
            })
        } else {
            json!({
                "capabilities": { "alwaysMatch": {
                    "browserName": "chrome",
                    "acceptInsecureCerts": true,
                    "goog:chromeOptions": { "binary": CHROMIUM, "args": chromium_args }
                }}
            })
        };
        let session = {
            let _one_at_a_time = STARTING.lock().await;
            let response: Value = http
                .post(format!("{base}/session"))
                .json(&capabilities)
                .send()
                .await
                .expect("a WebDriver session")
                .json()
                .await
                .unwrap();
            response["value"]["sessionId"]
                .as_str()
                .unwrap_or_else(|| panic!("no session: {response}"))
                .to_string()
        };
        Browser {
            driver,
            base,
            session,
            http,
            _profile: profile,
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if !body.is_null() {
            request = request.json(&body);
        }
        let response: Value = request
            .send()
            .await
            .expect("WebDriver answers")
            .json()
            .await
            .expect("WebDriver JSON");
        if let Some(error) = response["value"].get("error") {
            panic!("WebDriver {path}: {error} {}", response["value"]["message"]);
        }
        response["value"].clone()
    }

    /// Opens a URL and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await;
    }

    /// The current address.
    pub async fn url(&self) -> String {
        self.command(reqwest::Method::GET, "/url", Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        found[ELEMENT].as_str().expect("an element").to_string()
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            json!({}),
        )
        .await;
    }

    /// Presses Enter on whatever has the keyboard focus (a keyboard user's activation).
    pub async fn press_enter(&self) {
        let enter = "\u{E007}";
        self.command(
            reqwest::Method::POST,
            "/actions",
            json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": [
                { "type": "keyDown", "value": enter },
                { "type": "keyUp", "value": enter },
            ]}]}),
        )
        .await;
    }

    /// Types into the element matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Runs `source` at the start of every page this browser opens from now on, before the
    /// page's own scripts (through the DevTools protocol).
    pub async fn before_every_page(&self, source: &str) {
        self.command(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            json!({
                "cmd": "Page.addScriptToEvaluateOnNewDocument",
                "params": { "source": source },
            }),
        )
        .await;
    }

    /// Sets the window's outer size (a phone: 360×740).
    pub async fn resize(&self, width: u32, height: u32) {
        self.command(
            reqwest::Method::POST,
            "/window/rect",
            json!({ "width": width, "height": height }),
        )
        .await;
    }

    /// Runs JavaScript and returns its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.execute("sync", script).await
    }

    /// Runs asynchronous JavaScript; the script calls `arguments[0]` with its result.
    pub async fn eval_async(&self, script: &str) -> Value {
        self.execute("async", script).await
    }

    async fn execute(&self, how: &str, script: &str) -> Value {
        let body = json!({ "script": script, "args": [] });
        self.command(reqwest::Method::POST, &format!("/execute/{how}"), body)
            .await
    }

    /// Polls `script` (an expression) until it is truthy; panics with `what` after `timeout`.
    pub async fn wait_for(&self, script: &str, timeout: Duration, what: &str) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let value = self.eval(&format!("return Boolean({script});")).await;
            if value == Value::Bool(true) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let state = self.call_state().await;
                let page = self
                    .eval("return location.href + '\\n' + (document.body ? document.body.innerText : '')")
                    .await;
                panic!("timed out waiting for {what} (call state {state:?}); page: {page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a PNG of the viewport (for looking at what people see).
    pub async fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine;
        let data = self
            .command(reqwest::Method::GET, "/screenshot", Value::Null)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .expect("a base64 PNG");
        std::fs::write(path, png).expect("writing the screenshot");
    }

    /// The page's `data-call-state`.
    pub async fn call_state(&self) -> String {
        self.eval("return document.documentElement.dataset.callState || ''")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// What each peer connection of the call page has received.
    pub async fn stats(&self) -> Vec<Value> {
        let value = self
            .eval_async(
                "const done = arguments[0]; window.visitas.stats().then(done, () => done([]));",
            )
            .await;
        value.as_array().cloned().unwrap_or_default()
    }

    /// The text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.textContent : null;",
            serde_json::to_string(css).unwrap()
        );
        self.eval(&script)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session closes Chromium (a plain blocking request: drop cannot await);
        // killing chromedriver is the backstop.
        use std::io::{Read, Write};
        let address = self.base.trim_start_matches("http://").to_string();
        if let Ok(mut stream) = std::net::TcpStream::connect(&address) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let mut answer = Vec::new();
                let _ = stream.read_to_end(&mut answer);
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

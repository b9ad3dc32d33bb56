//! A real coturn (Debian's `coturn`) for the tests: on 127.0.0.1, a free port, the REST API
//! credentials (`use-auth-secret`) with a test secret, loopback peers allowed (the browsers of
//! the tests are all on this machine; a hospital's coturn refuses them). Stopped on drop.

use std::{
    net::TcpStream,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::browser::{apt_install, free_port, is_root};

pub struct Coturn {
    child: Child,
    pub port: u16,
    pub secret: String,
    _log: tempfile::TempDir,
}

impl Coturn {
    /// Starts coturn, installing it from Debian first when it is missing (as root); `None`, with
    /// the reason printed, when it is missing and cannot be installed.
    pub fn start() -> Option<Coturn> {
        let present = || {
            Command::new("turnserver")
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        };
        if !present() {
            if !is_root() {
                eprintln!(
                    "SKIPPED: the TURN tests need Debian's coturn (apt-get install coturn); `.ci/run` installs it"
                );
                return None;
            }
            apt_install(&["coturn"]);
        }
        let port = free_port();
        // A relay port range of its own, away from other tests' coturns.
        let low = 40_000 + (std::process::id() % 200) * 100;
        let log = tempfile::tempdir().expect("a directory for coturn's log");
        let secret = format!("test-secret-{}", std::process::id());
        let child = Command::new("turnserver")
            .args(["-n", "--no-cli", "--no-tls", "--no-dtls", "--simple-log"])
            .args(["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1"])
            .arg(format!("--listening-port={port}"))
            .arg(format!("--min-port={low}"))
            .arg(format!("--max-port={}", low + 99))
            .args(["--use-auth-secret", "--static-auth-secret", &secret])
            .args(["--realm", "visitas.test", "--allow-loopback-peers"])
            .arg(format!(
                "--log-file={}",
                log.path().join("turn.log").display()
            ))
            .arg("--no-stdout-log")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("turnserver starts");
        let coturn = Coturn {
            child,
            port,
            secret,
            _log: log,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "coturn listens within 10 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(coturn)
    }

    /// The URL the call pages get.
    pub fn url(&self) -> String {
        format!("turn:127.0.0.1:{}?transport=udp", self.port)
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

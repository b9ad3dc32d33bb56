//! A real HAProxy (Debian's `haproxy`) in front of two nodes, on 127.0.0.1: TLS passed through
//! (`mode tcp`), `/healthz` checked over TLS every half second, WebSocket tunnels kept open. The
//! frontend sends every connection to node A while it is up, and to node B once A is down (what
//! a hospital's `balance roundrobin` does for the connections that were on a dead node). Stopped
//! on drop.

use std::{
    net::TcpStream,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::browser::{apt_install, free_port, is_root};

pub struct Haproxy {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    /// Starts HAProxy for the nodes listening on 127.0.0.1 at `a` and `b`, installing it from
    /// Debian first when it is missing (as root; `.ci/run` installs it).
    pub fn start(a: u16, b: u16) -> Haproxy {
        let present = || {
            Command::new("haproxy")
                .arg("-v")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        };
        if !present() {
            assert!(
                is_root(),
                "the test of several nodes needs Debian's haproxy (apt-get install haproxy); `.ci/run` installs it"
            );
            apt_install(&["haproxy"]);
        }
        let port = free_port();
        let dir = tempfile::tempdir().expect("a directory for haproxy");
        let config = format!(
            "global
    maxconn 1000

defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout tunnel 2h
    retries 2
    option redispatch

frontend visits
    bind 127.0.0.1:{port}
    default_backend nodes

backend nodes
    balance first
    option httpchk GET /healthz
    default-server check check-ssl verify none inter 500 fall 2 rise 2
    server a 127.0.0.1:{a}
    server b 127.0.0.1:{b}
"
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).expect("writing haproxy.cfg");
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy starts");
        let proxy = Haproxy {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "haproxy listens within 10 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        proxy
    }

    /// `https://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

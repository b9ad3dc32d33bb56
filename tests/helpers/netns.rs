//! A second host on this machine for network fault tests: a network namespace joined to this
//! one by a veth pair, and nftables rules on both ends of the pair that drop or rate-limit
//! everything crossing it (this kernel has no `tc netem`). A browser started inside reaches the
//! server only over the pair, so cutting the pair is cutting its network.
//!
//! Only addresses of the pair are used (10.231.K.1 on this side, 10.231.K.2 inside). Everything
//! is removed on drop, also when the test fails; namespaces left by a test process that was
//! killed are removed by the next one.

use std::{
    net::Ipv4Addr,
    process::{Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
};

use super::browser::{apt_install, free_port, is_root};

/// A network namespace with a veth pair to this one.
pub struct Netns {
    pub name: String,
    host_if: String,
    ns_if: String,
    /// This side's address of the pair: bind the server here.
    pub host_addr: Ipv4Addr,
    /// The namespace's address.
    pub ns_addr: Ipv4Addr,
    /// The WebDriver port inside, which cuts and limits leave alone (the test must keep talking
    /// to the browser).
    pub driver_port: u16,
    table: String,
}

fn run(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn must(command: &mut Command) {
    let shown = format!("{command:?}");
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{shown}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn ip(args: &[&str]) -> Command {
    let mut command = Command::new("ip");
    command.args(args);
    command
}

fn nft_script(inside: Option<&str>, script: &str) -> bool {
    use std::io::Write;
    let mut command = match inside {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "nft", "-f", "-"]);
            c
        }
        None => {
            let mut c = Command::new("nft");
            c.args(["-f", "-"]);
            c
        }
    };
    let Ok(mut child) = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(script.as_bytes());
    }
    let output = child.wait_with_output().expect("nft ends");
    if !output.status.success() {
        eprintln!("nft: {}", String::from_utf8_lossy(&output.stderr));
    }
    output.status.success()
}

/// Removes namespaces and tables of test processes that no longer run.
fn remove_leftovers() {
    let alive = |tag: &str| {
        tag.split('x')
            .next()
            .is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
    };
    if let Ok(out) = Command::new("ip").args(["netns", "list"]).output() {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let name = line.split_whitespace().next().unwrap_or_default();
            if let Some(tag) = name.strip_prefix("vt")
                && !alive(tag)
            {
                run(&mut ip(&["netns", "del", name]));
                run(&mut ip(&["link", "del", &format!("vh{tag}")]));
            }
        }
    }
    if let Ok(out) = Command::new("nft").args(["list", "tables"]).output() {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(tag) = line.strip_prefix("table netdev visitas_fault_")
                && !alive(tag)
            {
                run(Command::new("nft").args([
                    "delete",
                    "table",
                    "netdev",
                    &format!("visitas_fault_{tag}"),
                ]));
            }
        }
    }
}

impl Netns {
    /// A new namespace and pair; `None`, with the reason printed, when this process is not root.
    pub fn create() -> Option<Netns> {
        if !is_root() {
            eprintln!(
                "SKIPPED: network fault tests need root (network namespaces and nftables); `.ci/run` runs them as root"
            );
            return None;
        }
        if !run(Command::new("nft").arg("--version")) {
            apt_install(&["nftables", "iproute2"]);
        }
        remove_leftovers();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{pid}x{n}");
        let taken = Command::new("ip")
            .args(["-4", "addr"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default();
        let third = (0..250u32)
            .map(|i| (pid + n * 37 + i) % 250)
            .find(|k| !taken.contains(&format!("10.231.{k}.")))
            .expect("a free 10.231.K.0/30");
        let third = u8::try_from(third).expect("below 250");
        let netns = Netns {
            name: format!("vt{tag}"),
            host_if: format!("vh{tag}"),
            ns_if: format!("vn{tag}"),
            host_addr: Ipv4Addr::new(10, 231, third, 1),
            ns_addr: Ipv4Addr::new(10, 231, third, 2),
            driver_port: free_port(),
            table: format!("visitas_fault_{tag}"),
        };
        let (name, host_if, ns_if) = (&netns.name, &netns.host_if, &netns.ns_if);
        must(&mut ip(&["netns", "add", name]));
        must(&mut ip(&[
            "link", "add", host_if, "type", "veth", "peer", "name", ns_if,
        ]));
        must(&mut ip(&["link", "set", ns_if, "netns", name]));
        // No IPv6 on the pair: its link-local addresses would appear a second or two after the
        // link comes up, and Chromium aborts page loads on such a "network change".
        must(Command::new("sysctl").args([
            "-q",
            "-w",
            &format!("net.ipv6.conf.{host_if}.disable_ipv6=1"),
        ]));
        must(Command::new("ip").args([
            "netns",
            "exec",
            name,
            "sysctl",
            "-q",
            "-w",
            "net.ipv6.conf.all.disable_ipv6=1",
        ]));
        must(&mut ip(&[
            "addr",
            "add",
            &format!("{}/30", netns.host_addr),
            "dev",
            host_if,
        ]));
        must(&mut ip(&["link", "set", host_if, "up"]));
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", name.as_str(), "ip"];
            all.extend_from_slice(args);
            ip(&all)
        };
        must(&mut inside(&[
            "addr",
            "add",
            &format!("{}/30", netns.ns_addr),
            "dev",
            ns_if,
        ]));
        must(&mut inside(&["link", "set", ns_if, "up"]));
        must(&mut inside(&["link", "set", "lo", "up"]));
        // Let browsers already running see the new interface before a test loads pages.
        std::thread::sleep(std::time::Duration::from_millis(500));
        Some(netns)
    }

    /// A command run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// Drops everything crossing the pair, both ways (silently, as a dead Wi-Fi would).
    pub fn cut(&self) {
        self.apply("drop");
    }

    /// Lets at most `kbit_per_sec` cross the pair each way; the rest is dropped.
    pub fn limit(&self, kbit_per_sec: u32) {
        let bytes = kbit_per_sec * 1000 / 8;
        self.apply(&format!(
            "limit rate over {bytes} bytes/second burst 3000 bytes drop"
        ));
    }

    /// Lifts a cut or a limit.
    pub fn restore(&self) {
        run(Command::new("nft").args(["delete", "table", "netdev", &self.table]));
        run(self
            .command("nft")
            .args(["delete", "table", "netdev", &self.table]));
    }

    /// `verdict` for every packet entering either end of the pair, but the WebDriver's.
    fn apply(&self, verdict: &str) {
        self.restore();
        let rules = |device: &str, keep: &str| {
            format!(
                "table netdev {table} {{\n  chain ingress {{\n    type filter hook ingress device \"{device}\" priority 0; policy accept;\n    {keep} {port} accept\n    {verdict}\n  }}\n}}\n",
                table = self.table,
                port = self.driver_port,
            )
        };
        assert!(
            nft_script(None, &rules(&self.host_if, "tcp sport")),
            "nftables rules on this side"
        );
        assert!(
            nft_script(Some(&self.name), &rules(&self.ns_if, "tcp dport")),
            "nftables rules inside"
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.restore();
        run(&mut ip(&["netns", "del", &self.name]));
        run(&mut ip(&["link", "del", &self.host_if]));
    }
}

//! The real `visitas` binary as a separate process, for what cannot be tried inside the test
//! process: the umask, the open-files limit, SIGTERM.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// A running `visitas serve`, stopped (SIGKILL) when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    pub child: Child,
    pub port: u16,
    /// What the server printed on standard output before it was ready.
    pub stdout: Vec<String>,
}

/// Runs `visitas ARGS` through `sh -c "SETUP; exec visitas ..."`, so the test can set the umask or
/// the open-files limit first; the arguments are passed as positional parameters, unquoted by
/// nobody.
pub fn shell_command(setup: &str, args: &[&str]) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("{setup}\nexec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_visitas"))
        .args(args)
        .env_remove("VISITAS_DATA_DIR")
        .env_remove("VISITAS_BIND")
        .env_remove("VISITAS_DATABASE")
        .env("RUST_LOG", "warn");
    command
}

impl ServerProcess {
    /// Starts `visitas` on 127.0.0.1, a free port, with `data` as its data directory, after `setup`
    /// (shell commands), and waits until it listens.
    pub async fn start(setup: &str, data: &Path, extra: &[&str]) -> ServerProcess {
        Self::start_bound(setup, data, "127.0.0.1:0", extra).await
    }

    /// [`ServerProcess::start`] on the address `bind`.
    pub async fn start_bound(
        setup: &str,
        data: &Path,
        bind: &str,
        extra: &[&str],
    ) -> ServerProcess {
        let node = if extra.contains(&"--database") {
            Vec::new()
        } else {
            super::postgres::node_flags(data)
        };
        let data = data.to_str().expect("a UTF-8 path");
        let mut args = vec!["--bind", bind, "--data-dir", data];
        args.extend(node.iter().map(String::as_str));
        args.extend_from_slice(extra);
        let mut child = shell_command(setup, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .stdin(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("its standard output");
        let lines = tokio::task::spawn_blocking(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let done = line.starts_with("Visitas is listening on");
                lines.push(line);
                if done {
                    break;
                }
            }
            lines
        });
        let stdout = tokio::time::timeout(Duration::from_secs(60), lines)
            .await
            .expect("the server starts within a minute")
            .expect("reading its output");
        let port = stdout
            .last()
            .and_then(|line| line.split_whitespace().nth(4))
            .and_then(|addr| addr.rsplit(':').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no listening line in {stdout:?}"));
        ServerProcess {
            child,
            port,
            stdout,
        }
    }

    /// `https://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// A fresh client signed in to this server as `username` through the login form.
    pub async fn signed_in(&self, username: &str, password: &str) -> reqwest::Client {
        let (client, jar) = super::new_client();
        let login = client
            .get(self.url("/login"))
            .send()
            .await
            .expect("the login page");
        assert_eq!(login.status(), reqwest::StatusCode::OK);
        let url = self.url("/").parse().expect("a URL");
        let token = super::cookie_in(&jar, &url, "__Host-visitas-csrf").expect("a form token");
        let signed_in = client
            .post(self.url("/login"))
            .form(&[
                ("username", username),
                ("password", password),
                ("csrf", token.as_str()),
            ])
            .send()
            .await
            .expect("signed in");
        assert_eq!(signed_in.status(), reqwest::StatusCode::SEE_OTHER);
        client
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `visitas admin create --username USERNAME [EXTRA] --data-dir DATA` after `setup` (shell
/// commands), typing `password` on its standard input; what it printed and how it ended.
pub fn admin_create(
    setup: &str,
    data: &Path,
    username: &str,
    extra: &[&str],
    password: &str,
) -> std::process::Output {
    use std::io::Write;
    let node = if extra.contains(&"--database") {
        Vec::new()
    } else {
        super::postgres::node_flags(data)
    };
    let data = data.to_str().expect("a UTF-8 path");
    let mut args = vec!["admin", "create", "--username", username];
    args.extend(node.iter().map(String::as_str));
    args.extend_from_slice(extra);
    args.extend(["--data-dir", data]);
    let mut child = shell_command(setup, &args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stdin = child.stdin.take().expect("its standard input");
    writeln!(stdin, "{password}").expect("typing the password");
    drop(stdin);
    child.wait_with_output().expect("the command ends")
}

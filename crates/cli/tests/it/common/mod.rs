//! Running the `threddex` binary as a user does: in a working directory of its own, with
//! the default store there, never on the network (the simulated TDS runs on 127.0.0.1).

#![allow(dead_code)]

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

pub mod pg_cluster;

/// The binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_threddex");

/// A `threddex` command run in `dir`, with nothing from the caller's environment that would
/// change what it does (database, config, log filter), and the API on a free port when it
/// serves (`api.bind`, so the command line stays as the README writes it).
pub fn command(dir: &Path, args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env_remove("THREDDEX_DATABASE_URL")
        .env_remove("THREDDEX_CONFIG")
        .env_remove("THREDDEX_LOG")
        .env_remove("NO_COLOR")
        .env("THREDDEX__API__BIND", "127.0.0.1:0")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("THREDDEX__") && k != "THREDDEX__API__BIND" {
            c.env_remove(k);
        }
    }
    c
}

/// Run a command to its end (at most `limit`).
pub async fn run(dir: &Path, args: &[&str]) -> Output {
    let child = command(dir, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn threddex");
    tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("threddex {args:?} did not finish in 120 s"))
        .expect("run threddex")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A long-running command (`serve`, `demo --serve`), up once it logged its listening URL.
pub struct Service {
    child: tokio::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// stderr up to the listening line.
    pub head: Vec<String>,
    drain: tokio::task::JoinHandle<Vec<String>>,
}

impl Service {
    pub async fn start(dir: &Path, args: &[&str]) -> Service {
        Self::start_with_env(dir, args, &[]).await
    }

    /// [`Service::start`] with these environment variables set as well.
    pub async fn start_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Service {
        let mut cmd = command(dir, args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn threddex");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let mut head = Vec::new();
        let base = tokio::time::timeout(Duration::from_secs(120), async {
            while let Ok(Some(line)) = lines.next_line().await {
                head.push(line.clone());
                if let Some(rest) = line.split("listening on ").nth(1) {
                    return Some(rest.split_whitespace().next().unwrap_or("").to_owned());
                }
            }
            None
        })
        .await
        .unwrap_or_else(|_| panic!("threddex {args:?} did not listen within 120 s: {head:?}"))
        .unwrap_or_else(|| panic!("threddex {args:?} exited before listening: {head:?}"));
        // Keep draining stderr so the child never blocks on a full pipe.
        let drain = tokio::spawn(async move {
            let mut rest = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                rest.push(line);
            }
            rest
        });
        Service {
            child,
            base,
            head,
            drain,
        }
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// SIGKILL (`kill -9`): no shutdown of any kind; returns once the process is gone.
    pub async fn kill9(mut self) {
        self.child.start_kill().expect("kill -9");
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("gone within 30 s of SIGKILL")
            .expect("wait");
    }

    /// SIGTERM, then the exit status must be 0; returns all of stderr.
    pub async fn stop(mut self) -> Vec<String> {
        let pid = self.child.id().expect("running");
        let kill = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(kill.success());
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("stops within 30 s of SIGTERM")
            .expect("wait");
        let mut all = std::mem::take(&mut self.head);
        all.extend(self.drain.await.unwrap_or_default());
        assert!(status.success(), "exit {status:?}; stderr: {all:#?}");
        all
    }
}

/// A client that never uses a proxy (everything here is on loopback).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// GET `url`; the status and the body as JSON (a string when it is not JSON).
pub async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let resp = client()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let v = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, v)
}

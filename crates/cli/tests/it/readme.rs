//! The README's commands, run as a reader runs them: every `threddex …`, `cargo run … --`
//! and `curl …` line of its `sh` code blocks, in order, in one working directory, with the
//! binary cargo built for the tests. Nothing leaves the machine: the demo's simulated TDS
//! runs on 127.0.0.1, the API listens on a free loopback port (`THREDDEX__API__BIND`, so the
//! command lines stay as written), and the one line naming a real server
//! (`thredds.ucar.edu`) is pointed at a simulated TDS started by the test.

use super::common;

use std::path::Path;

use chrono::{TimeZone, Utc};
use common::{BIN, Service, get_json, run, stderr};
use threddex_sim::{NexradSpec, SimClock, SimConfig, SimServer, TreeSpec};

/// README lines not run, with the reason.
const SKIPPED: &[(&str, &str)] = &[(
    "cargo test --workspace --locked",
    "the test suite itself (this test is part of it)",
)];

/// The external servers the README names, and the path each is replaced by on the local
/// simulated TDS (its host and scheme are replaced).
const EXTERNAL_HOSTS: &[&str] = &["https://thredds.ucar.edu"];

/// Where the README's API examples point.
const README_API: &str = "http://127.0.0.1:8080";

/// One line of a code block.
#[derive(Clone, Debug)]
enum Step {
    /// `threddex ARGS` (or `cargo run … -- ARGS`); several joined by `&&`.
    Threddex(Vec<Vec<String>>),
    /// `curl 'URL'`.
    Curl(String),
}

/// The command lines of the README's `sh` blocks under the heading `section` (all of them
/// when None), in order.
fn readme_steps(section: Option<&str>) -> Vec<(String, Step)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .expect("read README.md");
    let mut steps = Vec::new();
    let mut in_section = section.is_none();
    let mut in_sh = false;
    let mut in_block = false;
    for line in readme.lines() {
        if !in_block && let Some(h) = line.strip_prefix("## ") {
            in_section = section.is_none_or(|s| h.trim() == s);
        }
        if let Some(lang) = line.strip_prefix("```") {
            in_block = !in_block;
            in_sh = in_block && lang.trim() == "sh";
            continue;
        }
        if !(in_sh && in_section) {
            continue;
        }
        let text = strip_comment(line).trim().to_string();
        if text.is_empty() {
            continue;
        }
        if SKIPPED.iter().any(|(l, _)| *l == text) {
            continue;
        }
        let step = if text.starts_with("curl ") {
            let words = shell_words(&text);
            let url = words
                .iter()
                .find(|w| w.starts_with("http"))
                .unwrap_or_else(|| panic!("no URL in {text:?}"))
                .clone();
            Step::Curl(url)
        } else {
            let cmds = text
                .split("&&")
                .map(|c| threddex_args(c.trim()).unwrap_or_else(|| panic!("README line {text:?} is neither a threddex, cargo run nor curl command: run it in this test or add it to SKIPPED with a reason")))
                .collect();
            Step::Threddex(cmds)
        };
        steps.push((text, step));
    }
    steps
}

/// A line without its trailing `# comment` (outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if i == 0 || line[..i].ends_with(' ') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Words as a POSIX shell splits them (quotes, no expansions).
fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut started = false;
    let mut quote = None;
    for c in s.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                started = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            (_, c) => {
                cur.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(cur);
    }
    words
}

/// The arguments of `threddex ARGS` or `cargo run [--release] -p threddex -- ARGS`.
fn threddex_args(cmd: &str) -> Option<Vec<String>> {
    let words = shell_words(cmd);
    match words.first().map(String::as_str) {
        Some("threddex") => Some(words[1..].to_vec()),
        Some("cargo") if words.get(1).map(String::as_str) == Some("run") => {
            let sep = words.iter().position(|w| w == "--")?;
            Some(words[sep + 1..].to_vec())
        }
        _ => None,
    }
}

/// External hosts replaced by the local simulated TDS.
fn map_hosts(arg: &str, sim: &SimServer) -> String {
    let mut out = arg.to_string();
    for host in EXTERNAL_HOSTS {
        out = out.replace(host, &sim.base_url());
    }
    assert!(
        !out.contains("://") || out.contains("://127.0.0.1"),
        "{arg:?} names a host this test does not map to the simulator"
    );
    out
}

fn sim_config() -> SimConfig {
    SimConfig {
        tree: TreeSpec::Nexrad(NexradSpec {
            products: 2,
            stations: 2,
            days: 2,
            files_per_day: 6,
        }),
        clock: SimClock::fixed(Utc.with_ymd_and_hms(2019, 8, 31, 23, 59, 0).unwrap()),
        ..SimConfig::default()
    }
}

/// Commands that keep running (they serve the API until stopped).
fn long_running(args: &[String]) -> bool {
    matches!(args.first().map(String::as_str), Some("serve"))
        || (args.first().map(String::as_str) == Some("demo")
            && args.iter().any(|a| a == "--serve" || a == "--keep-running"))
}

/// What a run of the steps saw.
#[derive(Default)]
struct Seen {
    /// Collections answered by each `/collections` example.
    collections: Vec<usize>,
    /// Every line of stderr of every command.
    stderr: String,
    /// Lines run.
    lines: usize,
}

/// Run `steps` in `dir` in order: each command must exit 0, each curl example must answer
/// 2xx with JSON. A serving command stays up for the lines that follow it, until the next
/// command line.
async fn run_steps(dir: &Path, steps: &[(String, Step)], sim: &SimServer) -> Seen {
    let mut seen = Seen::default();
    let mut service: Option<Service> = None;
    let mut collection_id: Option<String> = None;
    for (text, step) in steps {
        seen.lines += 1;
        match step {
            Step::Threddex(cmds) => {
                if let Some(s) = service.take() {
                    seen.stderr.push_str(&s.stop().await.join("\n"));
                }
                for args in cmds {
                    let args: Vec<String> = args.iter().map(|a| map_hosts(a, sim)).collect();
                    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                    if long_running(&args) {
                        let s = Service::start(dir, &refs).await;
                        seen.stderr.push_str(&s.head.join("\n"));
                        service = Some(s);
                    } else {
                        let out = run(dir, &refs).await;
                        seen.stderr.push_str(&stderr(&out));
                        assert!(
                            out.status.success(),
                            "README line {text:?}: `{BIN} {}` exited {:?}:\n{}",
                            refs.join(" "),
                            out.status.code(),
                            stderr(&out)
                        );
                    }
                }
            }
            Step::Curl(url) => {
                let s = service
                    .as_ref()
                    .unwrap_or_else(|| panic!("README line {text:?}: no service is running"));
                let mut url = url.replace(README_API, &s.base);
                if let Some(id) = &collection_id {
                    let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
                    url = url.replace("collection=ID", &format!("collection={id}"));
                }
                assert!(url.starts_with(&s.base), "{text:?} is not an API example");
                let (status, body) = get_json(&url).await;
                assert!(
                    (200..300).contains(&status) && body.is_object(),
                    "README line {text:?} ({url}): {status} {body}"
                );
                if let Some(cols) = body["collections"].as_array() {
                    seen.collections.push(cols.len());
                    if let Some(id) = cols.first().and_then(|c| c["id"].as_str()) {
                        collection_id = Some(id.to_string());
                    }
                }
            }
        }
    }
    if let Some(s) = service.take() {
        seen.stderr.push_str(&s.stop().await.join("\n"));
    }
    seen
}

/// The Quick start twice in one directory: `demo --serve` with its two examples, then
/// `demo && serve` — and all of it again. Every demo run starts its simulated server on a
/// new port; the second round must work like the first.
#[tokio::test(flavor = "multi_thread")]
async fn quick_start_runs_twice_in_one_directory() {
    let sim = SimServer::start(sim_config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let steps: Vec<(String, Step)> = readme_steps(Some("Quick start"))
        .into_iter()
        .filter(|(_, s)| match s {
            // The Quick start's harvest of a real server is run by the documentation test.
            Step::Threddex(cmds) => cmds
                .iter()
                .all(|a| a.first().map(String::as_str) != Some("harvest")),
            Step::Curl(_) => true,
        })
        .collect();
    let serving: Vec<&str> = steps.iter().map(|(t, _)| t.as_str()).collect();
    assert!(
        serving.iter().any(|t| t.contains("demo --serve"))
            && serving
                .iter()
                .any(|t| t.contains("demo &&") && t.ends_with("serve")),
        "the Quick start's commands changed: {serving:#?}"
    );
    for round in 1..=2 {
        let seen = run_steps(dir.path(), &steps, &sim).await;
        assert_eq!(seen.lines, steps.len());
        assert!(
            !seen.collections.is_empty() && seen.collections.iter().all(|n| *n > 0),
            "round {round}: the examples found no collections: {:?}",
            seen.collections
        );
        assert!(
            !seen.stderr.contains('\u{1b}'),
            "round {round}: colour codes in logs that go to a pipe:\n{}",
            seen.stderr
        );
        if round == 2 {
            assert!(
                seen.stderr
                    .contains("replaced the source \"demo\" of an earlier demo"),
                "{}",
                seen.stderr
            );
        }
    }
    // One `demo` source, for the last demo's server.
    let out = run(dir.path(), &["sources", "list", "--json"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let names: Vec<String> = common::stdout(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(names, vec!["demo".to_string()]);
    sim.shutdown().await;
}

/// Every command and API example of the README, in order, against the demo it starts
/// (external servers mapped to a simulated TDS, see [`EXTERNAL_HOSTS`]); any non-zero exit
/// or non-2xx answer fails.
#[tokio::test(flavor = "multi_thread")]
async fn every_readme_command_runs() {
    let sim = SimServer::start(sim_config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let steps = readme_steps(None);
    assert!(
        steps.iter().any(|(t, _)| t.contains("thredds.ucar.edu")),
        "the README's harvest of a real server is gone: update EXTERNAL_HOSTS"
    );
    let seen = run_steps(dir.path(), &steps, &sim).await;
    assert_eq!(seen.lines, steps.len());
    // The mapped harvest reached the simulated server.
    assert!(
        sim.counters().matching("/nexrad/level3/") > 0,
        "the harvest line did not reach the simulated server"
    );
    sim.shutdown().await;
}

#[test]
fn readme_lines_are_split_as_a_shell_does() {
    assert_eq!(
        shell_words("curl 'http://h/x?a=1&b=2'   # step 1"),
        vec!["curl", "http://h/x?a=1&b=2", "#", "step", "1"]
    );
    assert_eq!(
        strip_comment("curl 'http://h/#x' # step 1").trim(),
        "curl 'http://h/#x'"
    );
    assert_eq!(
        threddex_args("cargo run --release -p threddex -- demo --serve"),
        Some(vec!["demo".to_string(), "--serve".to_string()])
    );
    assert_eq!(threddex_args("ls -l"), None);
}

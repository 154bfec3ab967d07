//! Contracts that documents make about the code, checked against the code itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Each workspace crate's threddex dependencies (normal ones, not dev or build), short names
/// (`threddex-store-sqlite` → `store-sqlite`).
fn crate_graph() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let short = |n: &str| n.strip_prefix("threddex-").unwrap_or(n).to_string();
    let mut graph = BTreeMap::new();
    for p in meta["packages"].as_array().expect("packages") {
        let name = p["name"].as_str().expect("name");
        if !name.starts_with("threddex") || name == "threddex-e2e" {
            continue;
        }
        let deps: BTreeSet<String> = p["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null())
            .filter_map(|d| d["name"].as_str())
            .filter(|n| n.starts_with("threddex"))
            .map(short)
            .collect();
        graph.insert(name.to_string(), deps);
    }
    graph
}

/// The crate table of `docs/architecture.md`: `| \`crate\` | uses, … |` rows.
fn documented_graph() -> BTreeMap<String, BTreeSet<String>> {
    let doc =
        std::fs::read_to_string(root().join("docs/architecture.md")).expect("architecture.md");
    let start = doc
        .find("| crate | uses |")
        .expect("the dependency table in docs/architecture.md");
    let mut graph = BTreeMap::new();
    for line in doc[start..].lines().skip(2) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !line.starts_with('|') {
            break;
        }
        let name = cells[1].trim_matches('`').to_string();
        let uses: BTreeSet<String> = cells[2]
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty() && *u != "—")
            .map(str::to_string)
            .collect();
        graph.insert(name, uses);
    }
    graph
}

#[test]
fn architecture_doc_matches_the_crate_graph() {
    let actual = crate_graph();
    let documented = documented_graph();
    assert!(actual.len() >= 10, "{actual:?}");
    assert_eq!(
        documented, actual,
        "docs/architecture.md's dependency table differs from the Cargo.tomls"
    );
    // One-way layering: only the binary uses the API; pure crates use nothing.
    for (name, deps) in &actual {
        if name != "threddex" {
            assert!(!deps.contains("api"), "{name} must not use threddex-api");
            assert!(!deps.contains("threddex"), "{name} must not use the binary");
        }
        if matches!(
            name.as_str(),
            "threddex-store-sqlite" | "threddex-store-postgres"
        ) {
            for up in ["crawler", "api", "csw", "records", "sim"] {
                assert!(!deps.contains(up), "{name} must not use threddex-{up}");
            }
        }
    }
    for pure in ["threddex-catalog", "threddex-ids", "threddex-store"] {
        assert_eq!(actual.get(pure), Some(&BTreeSet::new()), "{pure} is a leaf");
    }
}

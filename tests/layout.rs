//! The architecture holds: the source's groups of modules (one folder each
//! under `src/`) depend on one another without a cycle. Prints the graph
//! (`cargo test --test layout -- --nocapture`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The groups, in the order of the layers: each may use the ones before it.
const GROUPS: &[&str] = &[
    "types",
    "agent",
    "orca",
    "tail",
    "hash",
    "subset",
    "runtime",
    "strategy",
    "pool",
    "discovery",
    "health_check",
    "tower",
    "grpc",
    "dns",
    "metrics",
    "config",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `crate::NAME` references in code (not comments) of one file.
fn references(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push(name);
            rest = after;
        }
    }
    found
}

/// The group → groups it uses, from every file under `src/`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let Some(group) = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .filter(|g| GROUPS.contains(g))
        else {
            continue; // lib.rs and internals.rs: the root, above every group
        };
        let text = fs::read_to_string(&file).unwrap();
        for name in references(&text) {
            assert!(
                GROUPS.contains(&name.as_str()),
                "{} uses `crate::{name}`: inside the crate, reach items through their group's \
                 path (crate::types::..., crate::strategy::...), not the root's re-exports",
                relative.display()
            );
            if name != group {
                edges.entry(group.to_owned()).or_default().insert(name);
            }
        }
        edges.entry(group.to_owned()).or_default();
    }
    edges
}

#[test]
fn the_groups_of_modules_depend_on_each_other_without_a_cycle() {
    let edges = graph();
    println!("module groups and the groups they use:");
    for (group, uses) in &edges {
        let uses: Vec<&str> = uses.iter().map(String::as_str).collect();
        println!("  {group:<9} -> {}", uses.join(", "));
    }
    // Each group may use only groups of earlier layers: that order is a
    // topological order, so no cycle can exist.
    let layer = |g: &str| GROUPS.iter().position(|x| *x == g).unwrap();
    let mut upward = Vec::new();
    for (group, uses) in &edges {
        for used in uses {
            if layer(used) >= layer(group) {
                upward.push(format!("{group} -> {used}"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "uses that reach up a layer (order: {}): {upward:?}",
        GROUPS.join(" < ")
    );
    assert_eq!(
        edges.len(),
        GROUPS.len(),
        "every group has a folder under src/"
    );
}

#[test]
fn a_reference_in_a_comment_is_not_a_dependency() {
    let text =
        "// see crate::pool\nuse crate::types::Context; let x = crate::hash::HashKey::random();";
    assert_eq!(references(text), ["types", "hash"]);
}

//! The layering `docs/architecture.md` describes, checked on the source: which top-level module
//! may use which, that the imports form no circle, and that SQL lives in `.sql` files.
//!
//! Reads `src/` as text (imports are `crate::<module>` paths; comments are skipped), so a new
//! dependency between layers fails here with the file that made it, rather than surfacing later
//! as a tangle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each top-level module may use, bottom layer first. The crate root (`lib.rs`) wires
/// everything and may use any module; `main.rs` uses the library, not `crate::`.
const ALLOWED: &[(&str, &[&str])] = &[
    // The pure core: records, state, commands, queries, Avro, compatibility.
    ("registry", &[]),
    // The logs; carries the registry's record format, knows nothing above it.
    ("store", &["registry"]),
    // One running registry: state folded from the store, the writer.
    ("node", &["registry", "store"]),
    // Users, credentials, roles (a second log through the store).
    ("auth", &["registry", "store"]),
    // Certificates and the client identity a TLS connection carries.
    ("tls", &[]),
    // HTTP: handlers, the auth middleware, errors mapped to Confluent's codes.
    ("api", &["node", "auth", "registry", "store", "tls"]),
    // The listener: connection limits, timeouts, TLS acceptor; serves the API's router.
    ("server", &["api", "tls"]),
    // Composes every layer's settings into one; nothing imports it but the top.
    ("config", &["store", "auth", "server", "tls"]),
    // The command line: `serve`, `user`, `check`, `migrate`.
    ("cli", &["config", "auth", "store", "node", "registry"]),
];

/// Modules that may use the crate root's own items (`crate::serve`, which wires every layer).
const ROOT_USERS: &[&str] = &["cli"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/store/kafka.rs` → `store`, `src/node.rs` →
/// `node`); `None` for the crate root and `main.rs`.
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.trim_end_matches(".rs").to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// Source lines that are code, not comments.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_start()))
        .filter(|(_, l)| !l.starts_with("//"))
}

/// Every `crate::<module>` a line names.
fn crate_paths(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let tail = &rest[at + "crate::".len()..];
        let name: String = tail
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.push(name);
        }
        rest = tail;
    }
    found
}

fn files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    files
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(m, uses)| (*m, uses.iter().copied().collect()))
        .collect();
    let mut wrong = Vec::new();
    for file in files() {
        let Some(module) = module_of(&file) else {
            continue;
        };
        let Some(may_use) = allowed.get(module.as_str()) else {
            wrong.push(format!(
                "{}: module `{module}` is not in the layer list of tests/architecture.rs",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in code_lines(&text) {
            for used in crate_paths(line) {
                let root_item = !allowed.contains_key(used.as_str());
                if root_item && ROOT_USERS.contains(&module.as_str()) {
                    continue;
                }
                if used != module && !may_use.contains(used.as_str()) {
                    wrong.push(format!(
                        "{}:{n}: `{module}` uses `crate::{used}`",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_layer_list_has_no_circle() {
    let graph: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    // Each module may use only modules listed before it: then no circle is possible.
    for (i, (module, uses)) in ALLOWED.iter().enumerate() {
        for used in *uses {
            let j = ALLOWED.iter().position(|(m, _)| m == used);
            assert!(
                j.is_some_and(|j| j < i),
                "`{module}` may use `{used}`, which is not a layer below it"
            );
            assert!(graph.contains_key(used));
        }
    }
}

#[test]
fn sql_lives_in_sql_files() {
    // Upper case, as every statement in this repository is written.
    const KEYWORDS: &[&str] = &[
        "SELECT ",
        "INSERT INTO",
        "UPDATE ",
        "DELETE FROM",
        "CREATE ",
        "DROP ",
        "ALTER TABLE",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "PRAGMA ",
    ];
    let mut wrong = Vec::new();
    for file in files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in code_lines(&text) {
            // SQL spelled in a string literal.
            for literal in line.split('"').skip(1).step_by(2) {
                if KEYWORDS.iter().any(|k| literal.trim_start().starts_with(k)) {
                    wrong.push(format!("{}:{n}: \"{literal}\"", file.display()));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "SQL outside .sql files:\n{}",
        wrong.join("\n")
    );
}

//! The container image (`Dockerfile`) as far as it can be checked without building it: the
//! `schemata` binary it copies needs no shared library beyond what its runtime stage provides,
//! the stage keeps its promises (non-root user owning the data volume, port 8081, SQLite store
//! in the volume, `serve` as the command so `SCHEMATA_*` apply), and its HEALTHCHECK command,
//! run as Docker runs it, passes against the real server and fails without one.
//!
//! The binary here is the test build; the image's is the release build of the same crate with
//! the same features, so both link the same libraries.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Libraries a binary may link, by soname prefix, and the Debian package that provides each.
/// `None`: provided by the kernel. Packages in [`BASE_PACKAGES`] are in `debian:bookworm-slim`
/// already; any other must be on the runtime stage's `apt-get install` line.
const LIBRARIES: &[(&str, Option<&str>)] = &[
    ("linux-vdso.so", None),
    ("linux-gate.so", None),
    ("ld-linux", Some("libc6")),
    ("libc.so", Some("libc6")),
    ("libm.so", Some("libc6")),
    ("libdl.so", Some("libc6")),
    ("librt.so", Some("libc6")),
    ("libpthread.so", Some("libc6")),
    ("libgcc_s.so", Some("libgcc-s1")),
    ("libssl.so.3", Some("libssl3")),
    ("libcrypto.so.3", Some("libssl3")),
    ("libz.so.1", Some("zlib1g")),
];

/// Packages every `debian:bookworm-slim` has: libc6, and libgcc-s1, which libc6 depends on.
const BASE_PACKAGES: &[&str] = &["libc6", "libgcc-s1"];

fn repo_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One Dockerfile instruction: its keyword (upper case) and the rest, continuations joined.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

/// The Dockerfile's instructions: comment lines dropped (also inside continuations, as Docker
/// does), lines ending in `\` joined with the next.
fn instructions(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (current.is_empty() && trimmed.is_empty()) {
            continue;
        }
        if let Some(head) = line.trim_end().strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let joined = std::mem::take(&mut current);
        let (keyword, args) = joined.trim().split_once(char::is_whitespace).unwrap();
        out.push(Instruction {
            keyword: keyword.to_ascii_uppercase(),
            args: args.trim().to_string(),
        });
    }
    assert!(current.is_empty(), "Dockerfile ends inside a continuation");
    out
}

/// The instructions of the last stage (what the image runs), after its `FROM`.
fn runtime_stage() -> Vec<Instruction> {
    let all = instructions(&repo_file("Dockerfile"));
    let from = all
        .iter()
        .rposition(|i| i.keyword == "FROM")
        .expect("Dockerfile has no FROM");
    all.into_iter().skip(from).collect()
}

fn the<'a>(stage: &'a [Instruction], keyword: &str) -> &'a str {
    let found: Vec<_> = stage.iter().filter(|i| i.keyword == keyword).collect();
    assert_eq!(
        found.len(),
        1,
        "the runtime stage needs exactly one {keyword}"
    );
    &found[0].args
}

/// A JSON-array (exec form) instruction argument.
fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("not exec form ({e}): {args}"))
}

/// What the runtime stage's `apt-get install` lines install.
fn installed_packages(stage: &[Instruction]) -> Vec<String> {
    let mut packages = Vec::new();
    for run in stage.iter().filter(|i| i.keyword == "RUN") {
        for command in run.args.split("&&") {
            let words: Vec<&str> = command.split_whitespace().collect();
            if let Some(at) = words.windows(2).position(|w| w == ["apt-get", "install"]) {
                packages.extend(
                    words[at + 2..]
                        .iter()
                        .filter(|w| !w.starts_with('-'))
                        .map(|w| w.split('=').next().unwrap().to_string()),
                );
            }
        }
    }
    packages
}

/// The runtime stage's `ENV` settings (`KEY=VALUE` form).
fn environment(stage: &[Instruction]) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for i in stage.iter().filter(|i| i.keyword == "ENV") {
        for pair in i.args.split_whitespace() {
            let (k, v) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("ENV in KEY=VALUE form: {}", i.args));
            env.insert(k.to_string(), v.to_string());
        }
    }
    env
}

#[cfg(target_os = "linux")]
#[test]
fn the_binary_needs_only_libraries_the_runtime_stage_provides() {
    let binary = env!("CARGO_BIN_EXE_schemata");
    let output = Command::new("ldd").arg(binary).output().expect("run ldd");
    assert!(output.status.success(), "ldd {binary} failed: {output:?}");
    let listing = String::from_utf8(output.stdout).unwrap();
    let installed = installed_packages(&runtime_stage());
    let mut needed = Vec::new();
    for line in listing.lines().map(str::trim).filter(|l| !l.is_empty()) {
        assert!(!line.contains("not found"), "unresolved library: {line}");
        // `libssl.so.3 => /lib/…/libssl.so.3 (0x…)`, or `/lib64/ld-linux-x86-64.so.2 (0x…)`.
        let path = line.split_whitespace().next().unwrap();
        let soname = path.rsplit('/').next().unwrap();
        let package = LIBRARIES
            .iter()
            .find(|(prefix, _)| soname.starts_with(prefix))
            .unwrap_or_else(|| {
                panic!(
                    "the binary links {soname}, which the runtime image may lack: install its \
                     package in the Dockerfile's runtime stage and list it in LIBRARIES"
                )
            })
            .1;
        needed.push(soname.to_string());
        if let Some(package) = package {
            assert!(
                BASE_PACKAGES.contains(&package) || installed.iter().any(|p| p == package),
                "{soname} needs {package}, which the runtime stage does not install \
                 (it installs {installed:?})"
            );
        }
    }
    // The listing is real: the binary is dynamically linked against libc and OpenSSL
    // (librdkafka's TLS and SCRAM).
    for expected in ["libc.so", "libssl.so", "libcrypto.so"] {
        assert!(
            needed.iter().any(|n| n.starts_with(expected)),
            "{expected} missing from {needed:?}"
        );
    }
}

#[test]
fn the_runtime_stage_runs_serve_as_a_non_root_user_on_8081_with_sqlite_in_the_volume() {
    let all = instructions(&repo_file("Dockerfile"));
    let froms: Vec<&str> = all
        .iter()
        .filter(|i| i.keyword == "FROM")
        .map(|i| i.args.as_str())
        .collect();
    // Built and run on the same Debian release, so the glibc and OpenSSL the binary was linked
    // against are the ones it finds.
    assert_eq!(
        froms.len(),
        2,
        "a build stage and a runtime stage: {froms:?}"
    );
    assert!(
        froms[0].starts_with("rust:") && froms[0].contains("-bookworm "),
        "build stage: {}",
        froms[0]
    );
    assert_eq!(froms[1], "debian:bookworm-slim");
    let build = all
        .iter()
        .find(|i| i.keyword == "RUN" && i.args.contains("cargo build"))
        .expect("the build stage runs cargo build");
    assert!(
        build.args.contains("--release") && build.args.contains("--locked"),
        "{}",
        build.args
    );

    let stage = runtime_stage();
    let user = the(&stage, "USER");
    let uid = user.split(':').next().unwrap();
    assert!(
        uid.parse::<u32>().is_ok_and(|uid| uid != 0),
        "USER must be a non-root numeric uid (so Kubernetes' runAsNonRoot can verify it): {user}"
    );
    assert!(
        stage
            .iter()
            .any(|i| i.keyword == "RUN" && i.args.contains(&format!("--uid {uid} "))),
        "the user created in the image has the uid USER names"
    );
    assert!(
        the(&stage, "EXPOSE")
            .split_whitespace()
            .any(|p| p == "8081"),
        "EXPOSE 8081"
    );
    assert!(the(&stage, "HEALTHCHECK").contains("CMD"));

    // The binary lands where the entrypoint finds it, and runs `serve`: without it, `schemata`
    // starts with built-in defaults and ignores the SCHEMATA_* environment.
    let copy = stage
        .iter()
        .find(|i| i.keyword == "COPY" && i.args.starts_with("--from="))
        .expect("COPY --from the build stage");
    assert!(
        copy.args.ends_with(" /usr/local/bin/schemata"),
        "{}",
        copy.args
    );
    assert_eq!(exec_form(the(&stage, "ENTRYPOINT")), ["schemata"]);
    assert_eq!(exec_form(the(&stage, "CMD")), ["serve"]);

    // No SCHEMATA_* in the image: it would override a mounted config file's settings.
    let env = environment(&stage);
    assert!(
        env.keys().all(|k| !k.starts_with("SCHEMATA_")),
        "the image sets {env:?}"
    );
    // The default store is ./schemata.db: the working directory is the volume.
    let volume = exec_form(the(&stage, "VOLUME"));
    assert_eq!(volume.len(), 1);
    assert_eq!(
        the(&stage, "WORKDIR"),
        volume[0],
        "the SQLite file lives in the volume"
    );
    assert!(
        stage.iter().any(|i| i.keyword == "RUN"
            && i.args.contains(&format!(
                "install -d -o schemata -g schemata -m 0750 {}",
                volume[0]
            ))),
        "the volume directory is created owned by the image's user"
    );

    let ignored = repo_file(".dockerignore");
    for excluded in [".git", "**/target"] {
        assert!(
            ignored.lines().any(|l| l.trim() == excluded),
            ".dockerignore excludes {excluded}"
        );
    }
}

/// Runs the HEALTHCHECK's exec-form command as Docker would (with the image's environment plus
/// `env`), killed after its `--timeout`; whether it passed.
fn health_check(env: &[(&str, String)]) -> bool {
    let stage = runtime_stage();
    let args = the(&stage, "HEALTHCHECK");
    let timeout = args
        .split_whitespace()
        .find_map(|a| a.strip_prefix("--timeout="))
        .and_then(|t| t.strip_suffix('s'))
        .and_then(|t| t.parse().ok())
        .map(Duration::from_secs)
        .expect("HEALTHCHECK --timeout=Ns");
    let command = exec_form(&args[args.find("CMD").unwrap() + 3..]);
    let mut child = Command::new(&command[0])
        .args(&command[1..])
        .envs(environment(&stage))
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run the health check command");
    match wait(&mut child, timeout) {
        Some(status) => status.success(),
        None => false,
    }
}

/// The child's exit status, or `None` (and the child killed) if it runs past `limit`.
fn wait(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the server when the test ends, passed or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_health_check_passes_against_the_server_and_fails_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let stage = runtime_stage();
    // The image's entrypoint and command and environment; only the address (loopback, a free
    // port) and the SQLite file (a temporary directory instead of the volume) differ.
    let mut argv = exec_form(the(&stage, "ENTRYPOINT"));
    argv.extend(exec_form(the(&stage, "CMD")));
    assert_eq!(argv[0], "schemata");
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_schemata"))
            .args(&argv[1..])
            .envs(environment(&stage))
            .env("SCHEMATA_LISTEN", &listen)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let listen_env = [("SCHEMATA_LISTEN", listen.clone())];
    let deadline = Instant::now() + Duration::from_secs(60);
    while !health_check(&listen_env) {
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!("the server exited ({status}) before the health check passed");
        }
        assert!(
            Instant::now() < deadline,
            "the health check never passed against {listen}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        dir.path().join("schemata.db").exists(),
        "the server kept its default store in its working directory"
    );

    drop(server);
    assert!(
        !health_check(&listen_env),
        "the health check passed with no server on {listen}"
    );

    // Something answers on the port, but not 200: unhealthy.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = listener.local_addr().unwrap().to_string();
    let answering = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut head = [0u8; 1024];
        let n = conn.read(&mut head).unwrap();
        conn.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
        String::from_utf8_lossy(&head[..n]).into_owned()
    });
    assert!(
        !health_check(&[("SCHEMATA_LISTEN", other)]),
        "the health check passed on a 503"
    );
    let request = answering.join().unwrap();
    assert!(
        request.starts_with("GET /health HTTP/1.1\r\n"),
        "{request:?}"
    );
}

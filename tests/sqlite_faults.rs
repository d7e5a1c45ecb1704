//! What the SQLite store does when the file is fought over or the disk fills up, proved over
//! real HTTP: refusals are Confluent errors (never a panic or a hang), reads keep working, and
//! nothing acknowledged is lost or corrupted afterwards.
//!
//! The "other process" is Python's `sqlite3` module (scripts/test needs python3 anyway): a
//! separate process with its own SQLite build, as an operator's `sqlite3` shell or backup tool
//! would be. Disk full is a real one: a 1 MiB tmpfs mounted by the test (CI runs as root); where
//! mounting is not permitted the test says so and skips. Kafka runs skip all of this: it is
//! about the SQLite file.
//!
//! `a_second_process_cannot_open_the_same_file` (tests/durability.rs) covers a second store
//! opened in the same process; here it is a second `schemata` process and foreign processes.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_error, record, TestServer};
use serde_json::{json, Value};

fn skip_on_kafka() -> bool {
    if common::on_kafka() {
        eprintln!("skipped: SQLite faults do not apply to the Kafka store");
    }
    common::on_kafka()
}

/// Runs `schemata serve` on `db` and waits (bounded) for it to exit; returns (exited with
/// success, stderr). A server that does not exit within the bound is killed and reported as
/// serving, which fails the callers' assertions.
fn run_second_binary(db: &Path) -> (bool, String) {
    let port = common::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_schemata"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--store", &format!("sqlite://{}", db.display())])
        .env_remove("SCHEMATA_CONFIG")
        .env("SCHEMATA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run schemata serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    match status {
        Some(s) => (s.success(), stderr),
        None => (true, format!("still serving after 30 s; stderr: {stderr}")),
    }
}

/// The refusal an operator must see when the file is taken: Locked's message, not a raw
/// SQLite error.
const IN_USE: &str = "in use by another Schemata process";

#[tokio::test]
async fn a_second_schemata_process_exits_with_a_clear_error() {
    if skip_on_kafka() {
        return;
    }
    let s = TestServer::start().await;
    let id = s.register("held", &record("Held", &["a"])).await;
    let db = TestServer::db_path(&s.dir);
    let (success, stderr) = tokio::task::spawn_blocking(move || run_second_binary(&db))
        .await
        .unwrap();
    assert!(!success, "a second process served the same file: {stderr}");
    assert!(stderr.contains(IN_USE), "unclear error: {stderr}");
    // The owner is untouched: it reads and writes as before.
    assert_eq!(s.get(&format!("/schemas/ids/{id}")).await.0, 200);
    s.register("held-2", &record("Held2", &["a"])).await;
    let dir = s.stop().await;
    let s = TestServer::start_in(dir).await;
    assert_eq!(s.get("/subjects").await.1, json!(["held", "held-2"]));
    s.stop().await;
}

/// Python: open `argv[1]` with a 200 ms busy timeout and try to read, to take the write lock,
/// and to insert; print what each attempt answered, as JSON.
const PROBE: &str = r#"
import json, sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=0.2, isolation_level=None)
out = {}
for name, sql in [("read", "SELECT count(*) FROM records"),
                  ("lock", "BEGIN IMMEDIATE"),
                  ("insert", "INSERT INTO records (log_offset, key, value) VALUES (999999, x'00', x'00')")]:
    try:
        out[name] = c.execute(sql).fetchall()
    except sqlite3.Error as e:
        out[name] = "error: " + str(e)
print(json.dumps(out))
"#;

/// Python: after the server is gone, the file's integrity and its record count.
const CHECK: &str = r#"
import json, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(json.dumps({"integrity": c.execute("PRAGMA integrity_check").fetchall()[0][0],
                  "records": c.execute("SELECT count(*) FROM records").fetchone()[0]}))
"#;

fn python(script: &str, db: &Path) -> Value {
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(db)
        .output()
        .expect("python3 (scripts/test needs it)");
    assert!(
        out.status.success(),
        "python3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python printed JSON")
}

/// What actually happens when another process goes for the file while the server runs: the
/// server holds it in exclusive locking mode, so the other process cannot even read ("database
/// is locked"), let alone write; the server's own reads and writes, made at the same time, are
/// unaffected; and the file is intact afterwards. (Hence: back the file up with the server
/// stopped, or copy it while no server holds it.)
#[tokio::test]
async fn other_processes_are_locked_out_while_the_server_runs() {
    if skip_on_kafka() {
        return;
    }
    let s = TestServer::start().await;
    s.put("/config", json!({"compatibility": "NONE"})).await;
    let db = TestServer::db_path(&s.dir);
    let probe = {
        let db = db.clone();
        tokio::task::spawn_blocking(move || {
            (0..5).map(|_| python(PROBE, &db)).collect::<Vec<Value>>()
        })
    };
    // Writes go on for as long as the other process keeps trying (bounded).
    let mut ids = Vec::new();
    while ids.len() < 10 || !probe.is_finished() && ids.len() < 1_000 {
        let name = format!("R{}", ids.len());
        ids.push(s.register("busy", &record(&name, &["a"])).await);
    }
    for attempt in probe.await.unwrap() {
        for what in ["read", "lock", "insert"] {
            assert_eq!(
                attempt[what],
                json!("error: database is locked"),
                "{what} by another process: {attempt}"
            );
        }
    }
    for (i, id) in ids.iter().enumerate() {
        let (status, body) = s.get(&format!("/subjects/busy/versions/{}", i + 1)).await;
        assert_eq!((status.as_u16(), &body["id"]), (200, &json!(id)));
    }
    let dir = s.stop().await;
    let check = python(CHECK, &TestServer::db_path(&dir));
    assert_eq!(check["integrity"], "ok", "{check}");
    let s = TestServer::start_in(dir).await;
    let versions: Vec<usize> = (1..=ids.len()).collect();
    assert_eq!(s.get("/subjects/busy/versions").await.1, json!(versions));
    s.stop().await;
}

/// Python: open `argv[1]`, begin `argv[2]` (a read or a write transaction), say "held", and
/// hold it until stdin closes.
const HOLD: &str = r#"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute(sys.argv[2])
c.execute("SELECT count(*) FROM records").fetchall()
print("held", flush=True)
sys.stdin.read()
c.execute("ROLLBACK")
"#;

struct Holder(Child);

impl Holder {
    fn start(db: &Path, begin: &str) -> Holder {
        let mut child = Command::new("python3")
            .args(["-c", HOLD])
            .arg(db)
            .arg(begin)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "held", "the holder did not take the file");
        Holder(child)
    }

    fn release(mut self) {
        drop(self.0.stdin.take());
        assert!(self.0.wait().unwrap().success(), "holder failed");
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A process that holds a transaction on the file when Schemata starts (a backup, a `sqlite3`
/// shell with a query open) keeps it out with the same clear error, read and write transactions
/// alike; once released, Schemata starts and everything is there.
#[tokio::test]
async fn a_process_holding_the_file_keeps_the_server_from_starting() {
    if skip_on_kafka() {
        return;
    }
    let s = TestServer::start().await;
    let id = s.register("kept", &record("Kept", &["a"])).await;
    let dir = s.stop().await;
    let db = TestServer::db_path(&dir);
    for begin in ["BEGIN", "BEGIN IMMEDIATE"] {
        let holder = Holder::start(&db, begin);
        let db2 = db.clone();
        let (success, stderr) = tokio::task::spawn_blocking(move || run_second_binary(&db2))
            .await
            .unwrap();
        assert!(!success, "started beside a {begin} holder: {stderr}");
        assert!(stderr.contains(IN_USE), "{begin}: unclear error: {stderr}");
        holder.release();
    }
    let s = TestServer::start_in(dir).await;
    let (status, body) = s.get(&format!("/schemas/ids/{id}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.get("/subjects").await.1, json!(["kept"]));
    s.stop().await;
}

/// A tmpfs mounted for one test and unmounted when dropped (lazily if still busy).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Tmpfs(dir.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let done = Command::new("umount").arg(&self.0).status();
        if !done.is_ok_and(|s| s.success()) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// A schema of its own per registration, padded so each one costs some space.
fn filler_schema(i: usize) -> Value {
    json!({"type": "record", "name": format!("Fill{i}"), "doc": "x".repeat(2000), "fields": [
        {"name": "a", "type": "string"},
    ]})
}

/// A store on a 1 MiB tmpfs that has just filled up: registrations (one subject and schema
/// each) until the store refused one, then one more refused. Fields drop in order: the mount goes
/// before the directory holding it.
struct FullDisk {
    server: Option<TestServer>,
    client: reqwest::Client,
    filler: PathBuf,
    /// (schema number, id) of every acknowledged registration.
    acknowledged: Vec<(usize, i64)>,
    /// The numbers of the refused registrations.
    refused: Vec<usize>,
    _tmpfs: Tmpfs,
    _outer: tempfile::TempDir,
}

impl FullDisk {
    /// Fills the disk; `None` (after saying why) where a tmpfs cannot be mounted.
    async fn fill() -> Option<FullDisk> {
        let outer = tempfile::tempdir().unwrap();
        let mnt = outer.path().join("small");
        std::fs::create_dir(&mnt).unwrap();
        let tmpfs = match Tmpfs::mount(&mnt, "1m") {
            Ok(m) => m,
            Err(why) => {
                eprintln!(
                    "skipped: cannot mount a 1 MiB tmpfs (needs root / CAP_SYS_ADMIN): {why}"
                );
                return None;
            }
        };
        let dir = tempfile::tempdir_in(&mnt).unwrap();
        // Space to give back later: the refusal must not be the end of the store.
        let filler = mnt.join("filler");
        std::fs::write(&filler, vec![0u8; 256 * 1024]).unwrap();
        let mut disk = FullDisk {
            server: Some(TestServer::start_in(dir).await),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            filler,
            acknowledged: Vec::new(),
            refused: Vec::new(),
            _tmpfs: tmpfs,
            _outer: outer,
        };
        // Bounded: the store must refuse long before this many.
        let mut refusal = None;
        for i in 0..2_000 {
            let (status, body) = disk.register(i).await;
            if status == 200 {
                disk.acknowledged.push((i, body["id"].as_i64().unwrap()));
            } else {
                disk.refused.push(i);
                refusal = Some((status, body));
                break;
            }
        }
        let refusal = refusal.expect("1 MiB never filled up");
        eprintln!(
            "disk full after {} registrations: {refusal:?}",
            disk.acknowledged.len()
        );
        assert_error(&refusal, 500, 50001);
        assert!(
            disk.acknowledged.len() >= 5,
            "filled up too soon to mean anything"
        );
        // Still full: refused again, promptly.
        let again = Instant::now();
        let next = disk.refused[0] + 1;
        assert_error(&disk.register(next).await, 500, 50001);
        assert!(again.elapsed() < Duration::from_secs(15), "slow refusal");
        disk.refused.push(next);
        Some(disk)
    }

    fn server(&self) -> &TestServer {
        self.server.as_ref().unwrap()
    }

    async fn register(&self, i: usize) -> (reqwest::StatusCode, Value) {
        let resp = self
            .client
            .post(format!("{}/subjects/fill-{i}/versions", self.server().url))
            .header("Content-Type", common::CT)
            .body(json!({"schema": filler_schema(i).to_string()}).to_string())
            .send()
            .await
            .expect("a registration on a full disk must answer, within 30 s");
        let status = resp.status();
        (status, resp.json::<Value>().await.unwrap())
    }

    /// Every acknowledged registration readable by id (its one schema) and by subject version;
    /// every refused one absent.
    async fn check(&self, stage: &str) {
        let s = self.server();
        for &(i, id) in &self.acknowledged {
            let (status, body) = s.get(&format!("/schemas/ids/{id}")).await;
            assert_eq!(status, 200, "{stage}: id {id}: {body}");
            let text: Value = serde_json::from_str(body["schema"].as_str().unwrap()).unwrap();
            assert_eq!(
                text,
                filler_schema(i),
                "{stage}: id {id} holds another schema"
            );
            let (status, body) = s.get(&format!("/subjects/fill-{i}/versions/1")).await;
            assert_eq!(
                (status.as_u16(), &body["id"]),
                (200, &json!(id)),
                "{stage}: fill-{i}"
            );
        }
        for i in &self.refused {
            let (status, body) = s.get(&format!("/subjects/fill-{i}/versions")).await;
            assert_eq!(status, 404, "{stage}: refused fill-{i} is there: {body}");
        }
        let mut ids: Vec<i64> = self.acknowledged.iter().map(|(_, id)| *id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(
            ids.len(),
            self.acknowledged.len(),
            "{stage}: an id given twice"
        );
        let (_, subjects) = s.get("/subjects").await;
        assert_eq!(
            subjects.as_array().map(Vec::len),
            Some(self.acknowledged.len()),
            "{stage}: {subjects}"
        );
    }

    fn free_space(&self) {
        std::fs::remove_file(&self.filler).unwrap();
    }

    /// Registers the refused schemas (and one more) now that they fit.
    async fn register_refused(&mut self) {
        let mut wanted = std::mem::take(&mut self.refused);
        wanted.push(wanted[wanted.len() - 1] + 1);
        for i in wanted {
            let (status, body) = self.register(i).await;
            assert_eq!(status, 200, "after freeing space, fill-{i}: {body}");
            self.acknowledged.push((i, body["id"].as_i64().unwrap()));
        }
    }

    async fn restart(&mut self) {
        let dir = self.server.take().unwrap().stop().await;
        self.server = Some(TestServer::start_in(dir).await);
    }
}

/// The disk fills up under the store. The write that does not fit answers 500 with
/// error_code 50001, and so does the next, promptly (no panic, no hang); reads keep working,
/// everything acknowledged is there and the refused writes left nothing; once space is freed,
/// the same server accepts writes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_with_50001_and_the_server_recovers() {
    if skip_on_kafka() {
        return;
    }
    let Some(mut disk) = FullDisk::fill().await else {
        return;
    };
    disk.check("while full").await;
    disk.free_space();
    disk.register_refused().await;
    disk.check("after freeing space").await;
    disk.server.take().unwrap().stop().await;
}

/// Stopped while the disk is full, restarted once there is space: everything acknowledged
/// before the refusal is replayed, the refused writes are not, and the store takes writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_a_full_disk_replays_what_was_acknowledged() {
    if skip_on_kafka() {
        return;
    }
    let Some(mut disk) = FullDisk::fill().await else {
        return;
    };
    let dir = disk.server.take().unwrap().stop().await;
    disk.free_space();
    disk.server = Some(TestServer::start_in(dir).await);
    disk.check("after a restart").await;
    disk.register_refused().await;
    disk.restart().await;
    disk.check("after a second restart").await;
    disk.server.take().unwrap().stop().await;
}

/// Writes the same server acknowledges after a full disk has been given space again must
/// survive a restart, like every acknowledged write.
///
/// This once failed: on SQLITE_FULL, SQLite ends the transaction itself; sqlx's ROLLBACK then
/// failed ("no transaction is active") and sqlx kept counting the transaction as open, so every
/// later append only released a savepoint inside a transaction that was never committed — read
/// back on the server's connection (and acknowledged), never in the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_acknowledged_after_a_full_disk_survive_a_restart() {
    if skip_on_kafka() {
        return;
    }
    let Some(mut disk) = FullDisk::fill().await else {
        return;
    };
    disk.free_space();
    disk.register_refused().await;
    disk.check("after freeing space").await;
    disk.restart().await;
    disk.check("after a restart").await;
    disk.server.take().unwrap().stop().await;
}

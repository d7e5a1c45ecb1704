//! Soak: many concurrent clients over real HTTP against one real server for a bounded time,
//! then the invariants a schema registry must never break, checked before and after restarts on
//! the same store.
//!
//! Why a model can be exact under concurrency: every subject has one *owner* client, the only
//! one that writes to it, so the owner knows precisely which versions exist, which are
//! soft-deleted, and which id and schema each holds. Ids are shared across subjects (a common
//! pool of schemas is registered by every owner), so id allocation under concurrent writers is
//! exercised; other clients only read, and a mode client flips the global mode to READONLY
//! (every write then answers 42205) and runs IMPORT cycles on a subject of its own.
//!
//! Invariants: an id never maps to two schemas (as acknowledged, and as `/schemas/ids/{id}`
//! answers during and after the run); per subject, version lists are strictly increasing and
//! each version holds the id and schema its registration acknowledged; no acknowledged and not
//! permanently deleted version, config or mode is missing, before or after a restart; a write
//! refused with 42205 left nothing behind; the registry ends READWRITE.
//!
//! `SCHEMATA_SOAK_SECS` sets the duration (default 20 s, which CI pays twice: SQLite and Kafka);
//! `scripts/soak` runs it longer. Half the time runs before a restart and half after it, so ids
//! allocated after a replay are checked against the ones before it.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::TestServer;
use reqwest::{Client, Method};
use serde_json::{json, Value};

/// Owner clients (each owns [`SUBJECTS_PER_OWNER`] subjects), reader clients, and one mode
/// client.
const OWNERS: usize = 6;
const SUBJECTS_PER_OWNER: usize = 3;
const READERS: usize = 2;
/// Schemas every owner may register, so the same text arrives from several clients at once.
const COMMON_POOL: u64 = 48;
/// A subject with more live versions than this is deleted, keeping the per-request work flat.
const MAX_LIVE_VERSIONS: usize = 25;
/// Bounds on each client's loop besides the deadline, so no loop can run away.
const MAX_OPS_PER_CLIENT: u64 = 2_000_000;
/// No single request may take longer: a hang fails the run instead of stalling it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Refused writes must stay refused: this subject is written only while the registry is
/// READONLY, so it must never exist.
const PROBE: &str = "soak-probe";
const IMPORT_SUBJECT: &str = "soak-import";

/// A schema per number. All share the record name and one required field and differ in one
/// optional field, so every pair is compatible under every level: a 409 is a bug, not noise.
fn schema(n: u64) -> Value {
    json!({"type": "record", "name": "Soak", "fields": [
        {"name": "id", "type": "string"},
        {"name": format!("f{n}"), "type": "string", "default": ""},
    ]})
}

/// Schemas the IMPORT cycles register under explicit ids: never registered elsewhere.
fn imported(n: u64) -> Value {
    json!({"type": "record", "name": "Imported", "fields": [
        {"name": format!("g{n}"), "type": "long"},
    ]})
}

/// xorshift64*: deterministic per client, no dependency.
struct Rng(u64);
impl Rng {
    /// A stream per client: the seed and the client's number, mixed (splitmix64) so that
    /// neighbouring clients differ and the state is never the all-zero one xorshift cannot leave.
    fn new(seed: u64, client: u64) -> Rng {
        let mut z = seed.wrapping_add(client.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len() as u64) as usize])
    }
}

/// What the run shares: request counts and outcomes, the acknowledged id → schema map, ids
/// that a permanent delete may have removed, and every broken invariant (collected rather than
/// panicking in a client, so the report shows them all).
#[derive(Default)]
struct Shared {
    requests: AtomicU64,
    outcomes: Mutex<BTreeMap<String, u64>>,
    ids: Mutex<HashMap<i64, Value>>,
    maybe_gone: Mutex<HashSet<i64>>,
    violations: Mutex<Vec<String>>,
    acknowledged_writes: AtomicU64,
}

impl Shared {
    fn violation(&self, what: String) {
        eprintln!("soak violation: {what}");
        self.violations.lock().unwrap().push(what);
    }

    /// Records an acknowledged (id, schema); an id acknowledged for two schemas is a violation.
    fn acknowledge_id(&self, id: i64, schema: &Value) {
        let mut ids = self.ids.lock().unwrap();
        match ids.get(&id) {
            Some(known) if known != schema => {
                let known = known.clone();
                drop(ids);
                self.violation(format!("id {id} acknowledged for {known} and for {schema}"));
            }
            Some(_) => {}
            None => {
                ids.insert(id, schema.clone());
            }
        }
    }
}

/// One HTTP client: counts every request and its outcome (`status/error_code`).
#[derive(Clone)]
struct Api {
    client: Client,
    url: String,
    shared: Arc<Shared>,
}

type Reply = (u16, Value);

impl Api {
    fn new(url: &str, shared: &Arc<Shared>) -> Api {
        Api {
            client: Client::builder().timeout(REQUEST_TIMEOUT).build().unwrap(),
            url: url.to_string(),
            shared: shared.clone(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.shared.requests.fetch_add(1, Ordering::Relaxed);
        let mut req = self.client.request(method, format!("{}{}", self.url, path));
        if let Some(b) = body {
            req = req.header("Content-Type", common::CT).body(b.to_string());
        }
        let reply = match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                (
                    status,
                    serde_json::from_str(&text).unwrap_or(Value::String(text)),
                )
            }
            // A transport failure or timeout: status 0, reported as such.
            Err(e) => (0, Value::String(e.to_string())),
        };
        let key = match reply.1.get("error_code") {
            Some(code) if reply.0 >= 400 => format!("{}/{code}", reply.0),
            _ => reply.0.to_string(),
        };
        *self.shared.outcomes.lock().unwrap().entry(key).or_default() += 1;
        reply
    }

    async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }
    async fn put(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(body)).await
    }
    async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }
    async fn register(&self, subject: &str, body: Value) -> Reply {
        self.call(
            Method::POST,
            &format!("/subjects/{subject}/versions"),
            Some(body),
        )
        .await
    }
}

fn is_refused(r: &Reply) -> bool {
    r.0 == 422 && r.1["error_code"] == 42205
}

/// The schema text in a response, parsed: texts are compared as JSON values, so the check does
/// not depend on how the registry spaces its canonical form.
fn schema_of(body: &Value) -> Value {
    body["schema"]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null)
}

#[derive(Clone, Debug)]
struct Version {
    id: i64,
    schema: Value,
    deleted: bool,
}

/// What one subject holds, as its only writer knows it.
#[derive(Clone, Debug, Default)]
struct SubjectModel {
    name: String,
    versions: BTreeMap<i64, Version>,
    config: Option<String>,
    mode: Option<String>,
}

impl SubjectModel {
    fn new(name: String) -> SubjectModel {
        SubjectModel {
            name,
            ..Default::default()
        }
    }
    fn live(&self) -> Vec<i64> {
        self.versions
            .iter()
            .filter(|(_, v)| !v.deleted)
            .map(|(k, _)| *k)
            .collect()
    }
    fn soft_deleted(&self) -> Vec<i64> {
        self.versions
            .iter()
            .filter(|(_, v)| v.deleted)
            .map(|(k, _)| *k)
            .collect()
    }

    /// Applies an acknowledged registration of `schema` with `id`: nothing new if a live
    /// version holds it already (it must hold the same id); otherwise a version one past the
    /// highest, and soft-deleted versions of the same schema are removed for good. Returns the
    /// version the registration must have created, if any.
    fn registered(&mut self, id: i64, schema: &Value, shared: &Shared) -> Option<i64> {
        if let Some((v, known)) = self
            .versions
            .iter()
            .find(|(_, v)| !v.deleted && v.schema == *schema)
        {
            if known.id != id {
                shared.violation(format!(
                    "{}: re-registering version {v} (id {}) answered id {id}",
                    self.name, known.id
                ));
            }
            return None;
        }
        let next = self.versions.keys().next_back().copied().unwrap_or(0) + 1;
        self.versions.retain(|_, v| !(v.deleted && v.id == id));
        self.versions.insert(
            next,
            Version {
                id,
                schema: schema.clone(),
                deleted: false,
            },
        );
        Some(next)
    }

    /// A permanent delete of `version`; the subject's own config and mode go with its last one.
    fn removed(&mut self, version: i64) {
        if self.versions.len() == 1 {
            self.config = None;
            self.mode = None;
        }
        self.versions.remove(&version);
    }
}

/// Checks a `versions` listing: integers, strictly increasing.
fn check_increasing(shared: &Shared, subject: &str, listing: &Value) {
    let Some(list) = listing.as_array() else {
        shared.violation(format!(
            "{subject}: versions listing is not an array: {listing}"
        ));
        return;
    };
    let numbers: Vec<i64> = list.iter().filter_map(Value::as_i64).collect();
    if numbers.len() != list.len() || numbers.windows(2).any(|w| w[0] >= w[1]) {
        shared.violation(format!(
            "{subject}: versions not strictly increasing: {listing}"
        ));
    }
}

/// A read by id during the run: the acknowledged schema, or a 404 only for an id a permanent
/// delete may have removed.
async fn check_id(api: &Api, id: i64) {
    let expected = api.shared.ids.lock().unwrap().get(&id).cloned();
    let Some(expected) = expected else { return };
    let r = api.get(&format!("/schemas/ids/{id}")).await;
    match r.0 {
        200 if schema_of(&r.1) == expected => {}
        404 if r.1["error_code"] == 40403
            && api.shared.maybe_gone.lock().unwrap().contains(&id) => {}
        _ => api.shared.violation(format!(
            "/schemas/ids/{id}: expected {expected}, got {} {}",
            r.0, r.1
        )),
    }
}

fn random_known_id(shared: &Shared, rng: &mut Rng) -> Option<i64> {
    let ids = shared.ids.lock().unwrap();
    if ids.is_empty() {
        return None;
    }
    // HashMap iteration order is arbitrary; skipping a random count picks a random entry.
    let skip = rng.below(ids.len() as u64) as usize;
    ids.keys().nth(skip).copied()
}

/// An owner: the only writer of its subjects.
struct Owner {
    api: Api,
    rng: Rng,
    subjects: Vec<SubjectModel>,
    next_fresh: u64,
    base: u64,
}

const LEVELS: [&str; 7] = [
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
];

impl Owner {
    async fn run(&mut self, deadline: Instant) {
        let mut ops = 0;
        while Instant::now() < deadline && ops < MAX_OPS_PER_CLIENT {
            ops += 1;
            let k = self.rng.below(self.subjects.len() as u64) as usize;
            match self.rng.below(100) {
                0..=34 => self.register(k).await,
                35..=54 => self.read_subject(k).await,
                55..=69 => {
                    if let Some(id) = random_known_id(&self.api.shared, &mut self.rng) {
                        check_id(&self.api, id).await;
                    }
                }
                70..=79 => self.soft_delete_version(k).await,
                80..=86 => self.permanent_delete_version(k).await,
                87..=89 => self.delete_subject(k).await,
                90..=94 => self.set_config(k).await,
                _ => self.mode_dance(k).await,
            }
            if self.subjects[k].live().len() > MAX_LIVE_VERSIONS {
                self.delete_subject(k).await;
            }
        }
    }

    fn choose_schema(&mut self, k: usize) -> Value {
        match self.rng.below(10) {
            0..=4 => {
                self.next_fresh += 1;
                schema(self.base + self.next_fresh)
            }
            5..=7 => schema(self.rng.below(COMMON_POOL)),
            _ => {
                let known: Vec<Value> = self.subjects[k]
                    .versions
                    .values()
                    .map(|v| v.schema.clone())
                    .collect();
                self.rng
                    .pick(&known)
                    .cloned()
                    .unwrap_or_else(|| schema(self.rng.below(COMMON_POOL)))
            }
        }
    }

    async fn register(&mut self, k: usize) {
        let text = self.choose_schema(k);
        let name = self.subjects[k].name.clone();
        let r = self
            .api
            .register(&name, json!({"schema": text.to_string()}))
            .await;
        let shared = self.api.shared.clone();
        match r.0 {
            200 => {
                let Some(id) = r.1["id"].as_i64() else {
                    return shared.violation(format!("{name}: register answered {}", r.1));
                };
                shared.acknowledged_writes.fetch_add(1, Ordering::Relaxed);
                shared.acknowledge_id(id, &text);
                if let Some(version) = self.subjects[k].registered(id, &text, &shared) {
                    // Read your write: the version the model expects holds this id and schema.
                    let got = self
                        .api
                        .get(&format!("/subjects/{name}/versions/{version}"))
                        .await;
                    if got.0 != 200 || got.1["id"] != id || schema_of(&got.1) != text {
                        shared.violation(format!(
                            "{name}: registration of id {id} expected as version {version}, \
                             read back {} {}",
                            got.0, got.1
                        ));
                        self.resync(k).await;
                    }
                }
            }
            _ if is_refused(&r) => {}
            _ => {
                shared.violation(format!("{name}: register answered {} {}", r.0, r.1));
                self.resync(k).await;
            }
        }
    }

    /// After an answer whose effect is unknown (already reported as a violation), take the
    /// server's view of the subject so the rest of the run still checks something.
    async fn resync(&mut self, k: usize) {
        let name = self.subjects[k].name.clone();
        let mut versions = BTreeMap::new();
        let listing = self
            .api
            .get(&format!("/subjects/{name}/versions?deleted=true"))
            .await;
        let live: BTreeSet<i64> = match self.api.get(&format!("/subjects/{name}/versions")).await {
            (200, Value::Array(a)) => a.iter().filter_map(Value::as_i64).collect(),
            _ => BTreeSet::new(),
        };
        if let (200, Value::Array(all)) = listing {
            for v in all.iter().filter_map(Value::as_i64) {
                let got = self
                    .api
                    .get(&format!("/subjects/{name}/versions/{v}?deleted=true"))
                    .await;
                if let Some(id) = got.1["id"].as_i64() {
                    self.api.shared.acknowledge_id(id, &schema_of(&got.1));
                    versions.insert(
                        v,
                        Version {
                            id,
                            schema: schema_of(&got.1),
                            deleted: !live.contains(&v),
                        },
                    );
                }
            }
        }
        self.subjects[k].versions = versions;
    }

    async fn read_subject(&mut self, k: usize) {
        let model = self.subjects[k].clone();
        let name = &model.name;
        let live = model.live();
        let shared = &self.api.shared;
        let r = self.api.get(&format!("/subjects/{name}/versions")).await;
        match r.0 {
            200 => {
                check_increasing(shared, name, &r.1);
                if r.1 != json!(live) {
                    shared.violation(format!("{name}: versions {} but model has {live:?}", r.1));
                }
            }
            404 if live.is_empty() => {}
            _ => shared.violation(format!(
                "{name}: versions answered {} {} with live {live:?}",
                r.0, r.1
            )),
        }
        let r = self
            .api
            .get(&format!("/subjects/{name}/versions/latest"))
            .await;
        match (r.0, live.last()) {
            (200, Some(v)) => {
                let expected = &model.versions[v];
                if r.1["version"] != *v
                    || r.1["id"] != expected.id
                    || schema_of(&r.1) != expected.schema
                {
                    shared.violation(format!(
                        "{name}: latest is {} but model has version {v} id {}",
                        r.1, expected.id
                    ));
                }
            }
            (404, None) => {}
            _ => shared.violation(format!(
                "{name}: latest answered {} {} with live {live:?}",
                r.0, r.1
            )),
        }
    }

    async fn soft_delete_version(&mut self, k: usize) {
        let live = self.subjects[k].live();
        let Some(&v) = self.rng.pick(&live) else {
            return;
        };
        let name = self.subjects[k].name.clone();
        let r = self
            .api
            .delete(&format!("/subjects/{name}/versions/{v}"))
            .await;
        match r.0 {
            200 if r.1 == json!(v) => {
                self.api
                    .shared
                    .acknowledged_writes
                    .fetch_add(1, Ordering::Relaxed);
                self.subjects[k].versions.get_mut(&v).unwrap().deleted = true;
            }
            _ if is_refused(&r) => {}
            _ => {
                let shared = &self.api.shared;
                shared.violation(format!("{name}: soft delete of {v}: {} {}", r.0, r.1));
                self.resync(k).await;
            }
        }
    }

    async fn permanent_delete_version(&mut self, k: usize) {
        let deleted = self.subjects[k].soft_deleted();
        let Some(&v) = self.rng.pick(&deleted) else {
            return;
        };
        let name = self.subjects[k].name.clone();
        let id = self.subjects[k].versions[&v].id;
        // Before the request: a reader may see the id gone as soon as the server applies it.
        self.api.shared.maybe_gone.lock().unwrap().insert(id);
        let r = self
            .api
            .delete(&format!("/subjects/{name}/versions/{v}?permanent=true"))
            .await;
        match r.0 {
            200 if r.1 == json!(v) => {
                self.api
                    .shared
                    .acknowledged_writes
                    .fetch_add(1, Ordering::Relaxed);
                self.subjects[k].removed(v);
            }
            _ if is_refused(&r) => {}
            _ => {
                let shared = &self.api.shared;
                shared.violation(format!("{name}: permanent delete of {v}: {} {}", r.0, r.1));
                self.resync(k).await;
            }
        }
    }

    /// Soft-deletes the whole subject, then (half the time) permanently.
    async fn delete_subject(&mut self, k: usize) {
        let live = self.subjects[k].live();
        if live.is_empty() {
            return;
        }
        let name = self.subjects[k].name.clone();
        let shared = self.api.shared.clone();
        let r = self.api.delete(&format!("/subjects/{name}")).await;
        match r.0 {
            200 if r.1 == json!(live) => {
                shared.acknowledged_writes.fetch_add(1, Ordering::Relaxed);
                for v in self.subjects[k].versions.values_mut() {
                    v.deleted = true;
                }
            }
            _ if is_refused(&r) => return,
            _ => {
                shared.violation(format!("{name}: delete answered {} {}", r.0, r.1));
                return self.resync(k).await;
            }
        }
        if self.rng.below(2) == 0 {
            return;
        }
        let all: Vec<i64> = self.subjects[k].versions.keys().copied().collect();
        shared
            .maybe_gone
            .lock()
            .unwrap()
            .extend(self.subjects[k].versions.values().map(|v| v.id));
        let r = self
            .api
            .delete(&format!("/subjects/{name}?permanent=true"))
            .await;
        match r.0 {
            200 if r.1 == json!(all) => {
                shared.acknowledged_writes.fetch_add(1, Ordering::Relaxed);
                let model = &mut self.subjects[k];
                model.versions.clear();
                model.config = None;
                model.mode = None;
            }
            _ if is_refused(&r) => {}
            _ => {
                shared.violation(format!("{name}: permanent delete: {} {}", r.0, r.1));
                self.resync(k).await;
            }
        }
    }

    async fn set_config(&mut self, k: usize) {
        let level = *self.rng.pick(&LEVELS).unwrap();
        let name = self.subjects[k].name.clone();
        let r = self
            .api
            .put(&format!("/config/{name}"), json!({"compatibility": level}))
            .await;
        match r.0 {
            200 if r.1["compatibility"] == level => {
                self.api
                    .shared
                    .acknowledged_writes
                    .fetch_add(1, Ordering::Relaxed);
                self.subjects[k].config = Some(level.to_string());
            }
            _ if is_refused(&r) => {}
            _ => self
                .api
                .shared
                .violation(format!("{name}: config {level}: {} {}", r.0, r.1)),
        }
    }

    /// READONLY on one subject: a registration there must be refused with 42205 and leave
    /// nothing behind; then the subject is writable again (its own READWRITE, or no mode).
    async fn mode_dance(&mut self, k: usize) {
        let name = self.subjects[k].name.clone();
        let shared = self.api.shared.clone();
        let r = self
            .api
            .put(&format!("/mode/{name}"), json!({"mode": "READONLY"}))
            .await;
        if r.0 != 200 || r.1["mode"] != "READONLY" {
            return shared.violation(format!("{name}: mode READONLY: {} {}", r.0, r.1));
        }
        self.subjects[k].mode = Some("READONLY".into());
        self.next_fresh += 1;
        let text = schema(self.base + self.next_fresh);
        let r = self
            .api
            .register(&name, json!({"schema": text.to_string()}))
            .await;
        if !is_refused(&r) {
            shared.violation(format!("{name}: register in READONLY: {} {}", r.0, r.1));
            if r.0 == 200 {
                if let Some(id) = r.1["id"].as_i64() {
                    shared.acknowledge_id(id, &text);
                    self.subjects[k].registered(id, &text, &shared);
                }
            }
        }
        let restored = if self.rng.below(2) == 0 {
            let r = self.api.delete(&format!("/mode/{name}")).await;
            (r.0 == 200 && r.1["mode"] == "READONLY").then_some(None)
        } else {
            let r = self
                .api
                .put(&format!("/mode/{name}"), json!({"mode": "READWRITE"}))
                .await;
            (r.0 == 200 && r.1["mode"] == "READWRITE").then(|| Some("READWRITE".to_string()))
        };
        match restored {
            Some(mode) => self.subjects[k].mode = mode,
            None => shared.violation(format!("{name}: could not leave READONLY")),
        }
    }
}

/// A reader: lists subjects and versions, reads latest versions and ids; checks shapes and the
/// acknowledged id map.
async fn reader(api: Api, mut rng: Rng, subjects: Vec<String>, deadline: Instant) {
    let mut ops = 0;
    while Instant::now() < deadline && ops < MAX_OPS_PER_CLIENT {
        ops += 1;
        let subject = rng.pick(&subjects).unwrap().clone();
        match rng.below(4) {
            0 => {
                let r = api.get("/subjects").await;
                if r.0 != 200 || !r.1.is_array() {
                    api.shared
                        .violation(format!("/subjects answered {} {}", r.0, r.1));
                }
            }
            1 => {
                let r = api.get(&format!("/subjects/{subject}/versions")).await;
                match r.0 {
                    200 => check_increasing(&api.shared, &subject, &r.1),
                    404 if r.1["error_code"] == 40401 => {}
                    _ => api
                        .shared
                        .violation(format!("{subject}: versions answered {} {}", r.0, r.1)),
                }
            }
            2 => {
                let r = api
                    .get(&format!("/subjects/{subject}/versions/latest"))
                    .await;
                match r.0 {
                    200 => {
                        if let Some(id) = r.1["id"].as_i64() {
                            // Whatever a read shows was acknowledged to its writer first, or is
                            // being: it must never contradict the id map.
                            let known = api.shared.ids.lock().unwrap().get(&id).cloned();
                            if known.is_some_and(|k| k != schema_of(&r.1)) {
                                api.shared.violation(format!(
                                    "{subject}: latest shows id {id} with another schema: {}",
                                    r.1
                                ));
                            }
                        }
                    }
                    404 => {}
                    _ => api
                        .shared
                        .violation(format!("{subject}: latest answered {} {}", r.0, r.1)),
                }
            }
            _ => {
                if let Some(id) = random_known_id(&api.shared, &mut rng) {
                    check_id(&api, id).await;
                }
            }
        }
    }
}

/// The mode client: global READONLY windows (a registration then answers 42205 and leaves
/// nothing), global config changes, and IMPORT cycles on a subject of its own. Always leaves
/// the registry READWRITE.
async fn mode_client(
    api: Api,
    mut rng: Rng,
    mut import: SubjectModel,
    deadline: Instant,
) -> SubjectModel {
    let shared = api.shared.clone();
    let mut ops = 0;
    let mut n = 0;
    while Instant::now() < deadline && ops < MAX_OPS_PER_CLIENT {
        ops += 1;
        match rng.below(3) {
            0 => {
                let r = api.put("/mode", json!({"mode": "READONLY"})).await;
                if r.0 != 200 {
                    shared.violation(format!("global READONLY: {} {}", r.0, r.1));
                }
                n += 1;
                let r = api
                    .register(PROBE, json!({"schema": schema(u64::MAX - n).to_string()}))
                    .await;
                if !is_refused(&r) {
                    shared.violation(format!("register in global READONLY: {} {}", r.0, r.1));
                }
                tokio::time::sleep(Duration::from_millis(rng.below(30))).await;
                let r = api.put("/mode", json!({"mode": "READWRITE"})).await;
                if r.0 != 200 || r.1["mode"] != "READWRITE" {
                    shared.violation(format!("global READWRITE: {} {}", r.0, r.1));
                }
            }
            1 => {
                let level = *rng.pick(&LEVELS).unwrap();
                let r = api.put("/config", json!({"compatibility": level})).await;
                if r.0 != 200 || r.1["compatibility"] != level {
                    shared.violation(format!("global config {level}: {} {}", r.0, r.1));
                }
            }
            _ => import_cycle(&api, &mut import, &mut n).await,
        }
        tokio::time::sleep(Duration::from_millis(rng.below(100))).await;
    }
    import
}

/// IMPORT on the import subject (it has no live versions, so the soft-deleted ones are removed
/// for good), one registration under an explicit id well above the current maximum, back to
/// READWRITE, then a soft delete so the next cycle may enter IMPORT again.
async fn import_cycle(api: &Api, model: &mut SubjectModel, n: &mut u64) {
    let shared = api.shared.clone();
    let name = &model.name;
    shared
        .maybe_gone
        .lock()
        .unwrap()
        .extend(model.versions.values().map(|v| v.id));
    let r = api
        .put(&format!("/mode/{name}"), json!({"mode": "IMPORT"}))
        .await;
    if r.0 != 200 {
        return shared.violation(format!("{name}: enter IMPORT: {} {}", r.0, r.1));
    }
    model.versions.clear();
    model.mode = Some("IMPORT".into());
    // Well above every id acknowledged so far, leaving room for the registrations in flight
    // (they allocate max + 1, max + 2, …): an explicit id that is taken would be refused.
    let max = shared
        .ids
        .lock()
        .unwrap()
        .keys()
        .max()
        .copied()
        .unwrap_or(0);
    let id = max + 1_000;
    *n += 1;
    let text = imported(*n);
    let r = api
        .register(
            name,
            json!({"schema": text.to_string(), "id": id, "version": 1}),
        )
        .await;
    match r.0 {
        200 if r.1["id"] == id => {
            shared.acknowledged_writes.fetch_add(1, Ordering::Relaxed);
            shared.acknowledge_id(id, &text);
            model.versions.insert(
                1,
                Version {
                    id,
                    schema: text,
                    deleted: false,
                },
            );
        }
        _ => shared.violation(format!("{name}: import of id {id}: {} {}", r.0, r.1)),
    }
    let r = api
        .put(&format!("/mode/{name}"), json!({"mode": "READWRITE"}))
        .await;
    if r.0 != 200 {
        return shared.violation(format!("{name}: leave IMPORT: {} {}", r.0, r.1));
    }
    model.mode = Some("READWRITE".into());
    if model.live().is_empty() {
        return;
    }
    let r = api.delete(&format!("/subjects/{name}")).await;
    match r.0 {
        200 => {
            for v in model.versions.values_mut() {
                v.deleted = true;
            }
        }
        _ => shared.violation(format!("{name}: delete: {} {}", r.0, r.1)),
    }
}

/// Everything the models say must be there, checked against a quiescent server. Returns what
/// was read (for comparing before and after a restart) and how many acknowledged items were
/// missing or different.
async fn verify(api: &Api, models: &[SubjectModel]) -> (Vec<(String, Reply)>, u64) {
    let shared = &api.shared;
    let mut seen = Vec::new();
    let mut lost = 0;
    let mut read = |path: String, reply: Reply| seen.push((path, reply));
    let mut text_ids: HashMap<String, i64> = HashMap::new();
    let mut ids_in_use: HashSet<i64> = HashSet::new();
    for m in models {
        let name = &m.name;
        let all: Vec<i64> = m.versions.keys().copied().collect();
        let path = format!("/subjects/{name}/versions?deleted=true");
        let r = api.get(&path).await;
        let ok = match r.0 {
            200 => r.1 == json!(all),
            404 => all.is_empty(),
            _ => false,
        };
        if !ok {
            lost += 1;
            shared.violation(format!("{path}: {} {} but model has {all:?}", r.0, r.1));
        }
        read(path, r);
        let live = m.live();
        let path = format!("/subjects/{name}/versions");
        let r = api.get(&path).await;
        if !(r.0 == 200 && r.1 == json!(live) || r.0 == 404 && live.is_empty()) {
            shared.violation(format!("{path}: {} {} but model has {live:?}", r.0, r.1));
        }
        read(path, r);
        for (v, expected) in &m.versions {
            let path = format!("/subjects/{name}/versions/{v}?deleted=true");
            let r = api.get(&path).await;
            if r.0 != 200 || r.1["id"] != expected.id || schema_of(&r.1) != expected.schema {
                lost += 1;
                shared.violation(format!(
                    "{path}: {} {} but model has id {} {}",
                    r.0, r.1, expected.id, expected.schema
                ));
            }
            read(path, r);
            ids_in_use.insert(expected.id);
            let text = expected.schema.to_string();
            if let Some(other) = text_ids.insert(text.clone(), expected.id) {
                if other != expected.id {
                    shared.violation(format!(
                        "{text} is held under ids {other} and {}",
                        expected.id
                    ));
                }
            }
        }
        let path = format!("/config/{name}");
        let r = api.get(&path).await;
        let ok = match &m.config {
            Some(level) => r.0 == 200 && r.1["compatibilityLevel"] == *level,
            None => r.0 == 404 && r.1["error_code"] == 40408,
        };
        if !ok {
            lost += 1;
            shared.violation(format!(
                "{path}: {} {} but model has {:?}",
                r.0, r.1, m.config
            ));
        }
        read(path, r);
        let path = format!("/mode/{name}");
        let r = api.get(&path).await;
        let ok = match &m.mode {
            Some(mode) => r.0 == 200 && r.1["mode"] == *mode,
            None => r.0 == 404 && r.1["error_code"] == 40409,
        };
        if !ok {
            lost += 1;
            shared.violation(format!(
                "{path}: {} {} but model has {:?}",
                r.0, r.1, m.mode
            ));
        }
        read(path, r);
    }
    let ids: BTreeMap<i64, Value> = shared
        .ids
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    for (id, expected) in ids {
        let path = format!("/schemas/ids/{id}");
        let r = api.get(&path).await;
        if ids_in_use.contains(&id) {
            if r.0 != 200 || schema_of(&r.1) != expected {
                lost += 1;
                shared.violation(format!(
                    "{path}: {} {} but acknowledged {expected}",
                    r.0, r.1
                ));
            }
        } else if !(r.0 == 404 && shared.maybe_gone.lock().unwrap().contains(&id)) {
            shared.violation(format!(
                "{path}: {} {}; every version holding it was permanently deleted",
                r.0, r.1
            ));
        }
        read(path, r);
    }
    let mode = api.get("/mode").await;
    if mode.1 != json!({"mode": "READWRITE"}) {
        shared.violation(format!("the run ended in mode {}", mode.1));
    }
    read("/mode".into(), mode);
    let path = format!("/subjects/{PROBE}/versions?deleted=true");
    let probe = api.get(&path).await;
    if probe.0 != 404 {
        shared.violation(format!("refused registrations left {PROBE}: {}", probe.1));
    }
    read(path, probe);
    read("/config".into(), api.get("/config").await);
    (seen, lost)
}

/// One phase: every client against `url` until `secs` have passed; returns the models.
async fn phase(
    url: &str,
    shared: &Arc<Shared>,
    owners: Vec<Owner>,
    import: SubjectModel,
    secs: f64,
    seed: u64,
) -> (Vec<Owner>, SubjectModel) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let names: Vec<String> = owners
        .iter()
        .flat_map(|o| o.subjects.iter().map(|s| s.name.clone()))
        .chain([IMPORT_SUBJECT.to_string(), PROBE.to_string()])
        .collect();
    let owner_tasks: Vec<_> = owners
        .into_iter()
        .map(|mut o| {
            o.api = Api::new(url, shared);
            tokio::spawn(async move {
                o.run(deadline).await;
                o
            })
        })
        .collect();
    let readers: Vec<_> = (0..READERS)
        .map(|i| {
            let rng = Rng::new(seed, 100 + i as u64);
            tokio::spawn(reader(Api::new(url, shared), rng, names.clone(), deadline))
        })
        .collect();
    let mode = tokio::spawn(mode_client(
        Api::new(url, shared),
        Rng::new(seed, 1_000),
        import,
        deadline,
    ));
    // Each request is bounded by REQUEST_TIMEOUT; this bounds the phase as a whole.
    let all = async {
        let mut owners = Vec::new();
        for t in owner_tasks {
            owners.push(t.await.expect("owner task"));
        }
        for t in readers {
            t.await.expect("reader task");
        }
        (owners, mode.await.expect("mode task"))
    };
    tokio::time::timeout(
        Duration::from_secs_f64(secs) + Duration::from_secs(120),
        all,
    )
    .await
    .expect("a soak phase overran its deadline by two minutes: something hangs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak() {
    let secs: f64 = std::env::var("SCHEMATA_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| *s > 0.0)
        .unwrap_or(20.0);
    let seed: u64 = std::env::var("SCHEMATA_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(11);
    let store = if common::on_kafka() {
        "Kafka"
    } else {
        "SQLite"
    };
    eprintln!("soak: {secs} s on {store}, seed {seed}");
    let started = Instant::now();
    let shared = Arc::new(Shared::default());
    let mut server = TestServer::start().await;
    let mut owners: Vec<Owner> = (0..OWNERS)
        .map(|i| Owner {
            api: Api::new(&server.url, &shared),
            rng: Rng::new(seed, i as u64),
            subjects: (0..SUBJECTS_PER_OWNER)
                .map(|j| SubjectModel::new(format!("soak-{i}-{j}")))
                .collect(),
            next_fresh: 0,
            base: 1_000 + i as u64 * 100_000_000,
        })
        .collect();
    let mut import = SubjectModel::new(IMPORT_SUBJECT.to_string());
    let mut lost = 0;
    for round in 0..2 {
        (owners, import) = phase(&server.url, &shared, owners, import, secs / 2.0, seed).await;
        let models: Vec<SubjectModel> = owners
            .iter()
            .flat_map(|o| o.subjects.iter().cloned())
            .chain([import.clone()])
            .collect();
        let api = Api::new(&server.url, &shared);
        let (before, missing) = verify(&api, &models).await;
        lost += missing;
        // Restart on the same store (the same SQLite file, or the same Kafka topic).
        let dir = server.stop().await;
        server = TestServer::start_in(dir).await;
        let api = Api::new(&server.url, &shared);
        let (after, missing) = verify(&api, &models).await;
        lost += missing;
        if before != after {
            let diff: Vec<_> = before
                .iter()
                .zip(&after)
                .filter(|(b, a)| b != a)
                .take(5)
                .collect();
            shared.violation(format!(
                "round {round}: reads differ after restart: {diff:?}"
            ));
        }
    }
    server.stop().await;

    let requests = shared.requests.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let outcomes = shared.outcomes.lock().unwrap().clone();
    let violations = shared.violations.lock().unwrap().clone();
    eprintln!(
        "soak report ({store}): {requests} requests in {elapsed:.1} s ({:.0}/s), \
         {} acknowledged writes, {} ids, outcomes {outcomes:?}, lost {lost}, violations {}",
        requests as f64 / elapsed,
        shared.acknowledged_writes.load(Ordering::Relaxed),
        shared.ids.lock().unwrap().len(),
        violations.len()
    );
    assert_eq!(lost, 0, "acknowledged writes lost");
    assert!(violations.is_empty(), "violations: {violations:#?}");
    // Anything other than success, not found (the readers' view of deleted subjects and ids)
    // and 42205 (READONLY) is a failure the violations above already name; this guards the
    // report itself.
    let unexpected: Vec<_> = outcomes
        .keys()
        .filter(|k| !(k.starts_with("200") || k.starts_with("404/") || *k == "422/42205"))
        .collect();
    assert!(unexpected.is_empty(), "unexpected outcomes: {unexpected:?}");
    // The run must have done something worth checking.
    assert!(
        shared.acknowledged_writes.load(Ordering::Relaxed) > 20,
        "too few writes"
    );
}

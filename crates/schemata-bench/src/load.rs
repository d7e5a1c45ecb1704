//! The load generator: `connections` tasks, each on its own keep-alive connection, send one
//! request at a time for a warm-up and then for the measured duration, timing every response.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::connection::{Connection, Response};
use crate::workload::{self, NewSchemas, Target, Workload};

/// Distinct error responses kept verbatim per task for the report (the rest are only counted).
const ERROR_SAMPLES: usize = 3;

#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub target: Target,
    pub workload: Workload,
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// The outcome of one measured run.
#[derive(Debug, Clone)]
pub struct Report {
    pub workload: Workload,
    pub connections: usize,
    /// Responses received during the measured period, errors included.
    pub requests: u64,
    /// Non-2xx responses and failed exchanges (connection refused, reset, malformed response).
    pub errors: u64,
    pub elapsed: Duration,
    /// Successful (2xx) responses per second.
    pub req_per_s: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    /// Mean body size of the successful responses.
    pub body_bytes: u64,
    /// A few of the errors, as `status: body` or the I/O error.
    pub error_samples: Vec<String>,
}

impl Report {
    /// The report as one JSON line, its fields in a fixed order (the error samples, which hold
    /// server text, last), so a shell script can pick numbers out of it.
    pub fn json_line(&self) -> String {
        format!(
            "{{\"workload\":\"{}\",\"connections\":{},\"requests\":{},\"errors\":{},\
             \"elapsed_s\":{:.3},\"req_per_s\":{:.1},\"p50_us\":{},\"p99_us\":{},\
             \"body_bytes\":{},\"error_samples\":{}}}",
            self.workload.name(),
            self.connections,
            self.requests,
            self.errors,
            self.elapsed.as_secs_f64(),
            self.req_per_s,
            self.p50_us,
            self.p99_us,
            self.body_bytes,
            serde_json::Value::from(self.error_samples.clone()),
        )
    }
}

/// Registers every subject's schema (idempotent: an existing one answers its id) and returns
/// the ids, subject by subject.
pub async fn setup(
    target: &Target,
    subjects: usize,
    connections: usize,
) -> Result<Vec<u64>, String> {
    let requests = (0..subjects)
        .map(|i| workload::register(target, i))
        .collect();
    ids_from(target, requests, connections, "register").await
}

/// The subjects' ids, by looking each schema up (`POST /subjects/{s}`).
pub async fn resolve_ids(
    target: &Target,
    subjects: usize,
    connections: usize,
) -> Result<Vec<u64>, String> {
    let requests = (0..subjects).map(|i| workload::lookup(target, i)).collect();
    ids_from(target, requests, connections, "lookup").await
}

/// Sends each request once over up to `connections` connections; each answer must be a 2xx
/// with an `id`.
async fn ids_from(
    target: &Target,
    requests: Vec<Vec<u8>>,
    connections: usize,
    what: &'static str,
) -> Result<Vec<u64>, String> {
    let requests = std::sync::Arc::new(requests);
    let tasks = connections.clamp(1, requests.len().max(1));
    let mut handles = Vec::with_capacity(tasks);
    for t in 0..tasks {
        let requests = requests.clone();
        let addr = target.addr;
        handles.push(tokio::spawn(async move {
            let mut conn = Connection::connect(addr)
                .await
                .map_err(|e| format!("{what}: connect to {addr}: {e}"))?;
            let mut ids = Vec::new();
            for i in (t..requests.len()).step_by(tasks) {
                if !conn.reusable() {
                    conn = Connection::connect(addr)
                        .await
                        .map_err(|e| format!("{what}: connect to {addr}: {e}"))?;
                }
                let response = conn
                    .send(&requests[i])
                    .await
                    .map_err(|e| format!("{what} {}: {e}", workload::subject(i)))?;
                let body = String::from_utf8_lossy(conn.body());
                let id = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["id"].as_u64());
                match id {
                    Some(id) if response.is_success() => ids.push((i, id)),
                    _ => {
                        return Err(format!(
                            "{what} {}: {} {body}",
                            workload::subject(i),
                            response.status
                        ))
                    }
                }
            }
            Ok::<_, String>(ids)
        }));
    }
    let mut ids = vec![0; requests.len()];
    for h in handles {
        for (i, id) in h.await.map_err(|e| e.to_string())?? {
            ids[i] = id;
        }
    }
    Ok(ids)
}

/// What one connection's task measured.
#[derive(Default)]
struct TaskStats {
    latencies_us: Vec<u32>,
    /// Non-2xx responses and failed exchanges.
    errors: u64,
    /// Exchanges without a response (these have no latency).
    failed_exchanges: u64,
    ok: u64,
    ok_body_bytes: u64,
    error_samples: Vec<String>,
    finished: Option<Instant>,
}

/// Runs `config.workload`. `ids` are the subjects' schema ids, one per subject (their values
/// matter to `get-by-id` only).
pub async fn run(config: &LoadConfig, ids: &[u64]) -> Report {
    assert!(!ids.is_empty(), "a workload needs at least one subject");
    let fixed = std::sync::Arc::new(workload::fixed_requests(
        &config.target,
        config.workload,
        ids,
    ));
    let run_id = format!(
        "{:x}{:x}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
        std::process::id()
    );
    let measure_from = Instant::now() + config.warmup;
    let until = measure_from + config.duration;
    let mut handles = Vec::with_capacity(config.connections);
    for task in 0..config.connections {
        let fixed = fixed.clone();
        let target = config.target.clone();
        let new = (config.workload == Workload::RegisterNew)
            .then(|| NewSchemas::new(&target, &run_id, task));
        handles.push(tokio::spawn(drive(
            target,
            fixed,
            new,
            task,
            measure_from,
            until,
        )));
    }
    let mut all = TaskStats::default();
    let mut finished = measure_from;
    for h in handles {
        let s = h.await.expect("a load task panicked");
        all.latencies_us.extend_from_slice(&s.latencies_us);
        all.errors += s.errors;
        all.failed_exchanges += s.failed_exchanges;
        all.ok += s.ok;
        all.ok_body_bytes += s.ok_body_bytes;
        for e in s.error_samples {
            if all.error_samples.len() < 10 && !all.error_samples.contains(&e) {
                all.error_samples.push(e);
            }
        }
        finished = finished.max(s.finished.unwrap_or(finished));
    }
    all.latencies_us.sort_unstable();
    let elapsed = finished.saturating_duration_since(measure_from);
    Report {
        workload: config.workload,
        connections: config.connections,
        requests: all.latencies_us.len() as u64 + all.failed_exchanges,
        errors: all.errors,
        elapsed,
        req_per_s: all.ok as f64 / elapsed.as_secs_f64().max(1e-9),
        p50_us: percentile(&all.latencies_us, 0.50),
        p99_us: percentile(&all.latencies_us, 0.99),
        body_bytes: all.ok_body_bytes.checked_div(all.ok).unwrap_or(0),
        error_samples: all.error_samples,
    }
}

/// Nearest-rank percentile of sorted latencies.
pub(crate) fn percentile(sorted: &[u32], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as u64
}

/// One connection's loop: requests back to back until `until`; only those sent from
/// `measure_from` on are counted. A failed exchange opens a new connection.
async fn drive(
    target: Target,
    fixed: std::sync::Arc<Vec<Vec<u8>>>,
    mut new: Option<NewSchemas>,
    task: usize,
    measure_from: Instant,
    until: Instant,
) -> TaskStats {
    let mut stats = TaskStats {
        latencies_us: Vec::with_capacity(1 << 14),
        ..TaskStats::default()
    };
    let mut conn: Option<Connection> = None;
    let mut scratch = Vec::with_capacity(1024);
    // xorshift64: each task walks the subjects in its own order without shared state.
    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (task as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    loop {
        let start = Instant::now();
        if start >= until {
            break;
        }
        let measured = start >= measure_from;
        let request: &[u8] = match &mut new {
            Some(new) => {
                new.next_into(&mut scratch);
                &scratch
            }
            None => {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                &fixed[(rng % fixed.len() as u64) as usize]
            }
        };
        let outcome = exchange(&mut conn, target.addr, request).await;
        if outcome.is_err() {
            // Do not spin on a refused connection.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if !measured {
            continue;
        }
        match outcome {
            Ok(response) => {
                let us = start.elapsed().as_micros().min(u32::MAX as u128) as u32;
                stats.latencies_us.push(us);
                if response.is_success() {
                    stats.ok += 1;
                    stats.ok_body_bytes += response.body_len as u64;
                } else {
                    stats.errors += 1;
                    if stats.error_samples.len() < ERROR_SAMPLES {
                        let body = conn.as_ref().map(|c| c.body()).unwrap_or_default();
                        let body = String::from_utf8_lossy(&body[..body.len().min(300)]);
                        let sample = format!("{}: {body}", response.status);
                        if !stats.error_samples.contains(&sample) {
                            stats.error_samples.push(sample);
                        }
                    }
                }
            }
            Err(e) => {
                stats.errors += 1;
                stats.failed_exchanges += 1;
                let sample = e.to_string();
                if stats.error_samples.len() < ERROR_SAMPLES
                    && !stats.error_samples.contains(&sample)
                {
                    stats.error_samples.push(sample);
                }
            }
        }
    }
    stats.finished = Some(Instant::now());
    stats
}

/// Sends `request` on `conn`, (re)connecting first when there is no usable connection.
async fn exchange(
    conn: &mut Option<Connection>,
    addr: std::net::SocketAddr,
    request: &[u8],
) -> std::io::Result<Response> {
    if !conn.as_ref().is_some_and(Connection::reusable) {
        *conn = Some(Connection::connect(addr).await?);
    }
    let c = conn.as_mut().expect("connected above");
    let result = c.send(request).await;
    if result.is_err() {
        *conn = None;
    }
    result
}

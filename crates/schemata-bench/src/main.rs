use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

use schemata_bench::consume;
use schemata_bench::load::{self, LoadConfig};
use schemata_bench::loopback;
use schemata_bench::produce::{self, ProduceConfig};
use schemata_bench::workload::{Target, Workload};

/// Measures a Confluent-compatible schema registry against the loopback ceiling of its machine
/// (docs/performance.md; scripts/bench runs everything).
#[derive(Parser)]
#[command(name = "schemata-bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves every GET and POST, on any path, with the same BODY_BYTES bytes: the ceiling a
    /// registry answering that much is measured against. Prints `listening on ADDR` first.
    Loopback {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        #[arg(long)]
        body_bytes: usize,
        /// Runtime worker threads (0: one per core, as the registry runs).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// Runs one workload and prints its result as one JSON line: req_per_s (2xx responses per
    /// second), p50_us, p99_us, errors (non-2xx and failed exchanges), body_bytes (mean body of
    /// the 2xx responses). Exits 1 if there was any error, 2 if it could not run.
    Load {
        /// `http://HOST:PORT[/BASE]`.
        #[arg(long)]
        url: String,
        /// get-by-id, latest, lookup, register-exist, compat or register-new; may be left out
        /// with --setup to only register the subjects.
        #[arg(long)]
        workload: Option<Workload>,
        /// Keep-alive connections, each with one request in flight.
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Measured time: `5s`, `500ms`, `1m` or seconds.
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        duration: Duration,
        /// Unmeasured time first, on the same connections (default: a fifth of --duration).
        #[arg(long, value_parser = parse_duration)]
        warmup: Option<Duration>,
        /// Subjects `bench-0-value` … each with one schema.
        #[arg(long, default_value_t = 1000)]
        subjects: usize,
        /// Register the subjects first (idempotent). Without it they must exist already.
        #[arg(long)]
        setup: bool,
        /// Runtime worker threads: few, since the generator shares the machine with the server.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Send `Authorization: Basic` with these credentials (`USER:PASSWORD`) on every
        /// request, setup included: a registry with authentication on. The user needs the write
        /// role for --setup, register-exist and register-new, read for the others.
        #[arg(long, value_name = "USER:PASSWORD")]
        basic: Option<String>,
    },
    /// The Kafka store's ceiling for register-new: produces records like the registry's
    /// (idempotent, acks=all, no linger) to TOPIC and prints one JSON line: in_flight,
    /// acknowledged, errors, per_s (acknowledgements per second), p50_us, p99_us. Exits 1 if
    /// any produce failed, 2 if it could not run.
    Produce {
        /// `HOST:PORT[,HOST:PORT]`.
        #[arg(long)]
        brokers: String,
        /// Created with one partition if missing; use a throwaway one, never `_schemas`.
        #[arg(long)]
        topic: String,
        /// Records awaiting acknowledgement at once (the registry's writer has one).
        #[arg(long, default_value_t = 1)]
        in_flight: usize,
        /// Bytes per record value (a registration's record is a few hundred).
        #[arg(long, default_value_t = 600)]
        value_bytes: usize,
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        duration: Duration,
    },
    /// The Kafka store's ceiling for start-up replay: reads partition 0 of TOPIC from its
    /// beginning to its end with a consumer set up like the registry's reader, and prints one
    /// JSON line: records, bytes, elapsed_ms, per_s. Exits 2 if it could not read it all.
    Consume {
        /// `HOST:PORT[,HOST:PORT]`.
        #[arg(long)]
        brokers: String,
        #[arg(long)]
        topic: String,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{s:?}: expected e.g. 5s, 500ms, 1m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("{s:?}: unit must be ms, s or m")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn runtime(threads: usize) -> tokio::runtime::Runtime {
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    if threads > 1 {
        builder.worker_threads(threads);
    }
    builder.enable_all().build().expect("tokio runtime")
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Loopback {
            listen,
            body_bytes,
            threads,
        } => runtime(threads).block_on(async {
            let listener = match tokio::net::TcpListener::bind(listen).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("schemata-bench loopback: bind {listen}: {e}");
                    return ExitCode::from(2);
                }
            };
            let addr = listener.local_addr().expect("bound address");
            println!("listening on {addr}");
            let _ = std::io::stdout().flush();
            if let Err(e) = loopback::serve(listener, body_bytes, Arc::new(AtomicU64::new(0))).await
            {
                eprintln!("schemata-bench loopback: {e}");
                return ExitCode::from(2);
            }
            ExitCode::SUCCESS
        }),
        Command::Load {
            url,
            workload,
            connections,
            duration,
            warmup,
            subjects,
            setup,
            threads,
            basic,
        } => runtime(threads).block_on(async {
            let cfg = LoadParams {
                url,
                basic,
                workload,
                connections: connections.max(1),
                duration,
                warmup: warmup.unwrap_or(duration / 5),
                subjects: subjects.max(1),
                setup,
            };
            match load_command(cfg).await {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("schemata-bench load: {e}");
                    ExitCode::from(2)
                }
            }
        }),
        Command::Produce {
            brokers,
            topic,
            in_flight,
            value_bytes,
            duration,
        } => runtime(1).block_on(async {
            let config = ProduceConfig {
                brokers,
                topic,
                in_flight,
                value_bytes,
                warmup: duration / 5,
                duration,
            };
            match produce::run(&config).await {
                Ok(report) => {
                    println!("{}", report.json_line());
                    if report.errors > 0 {
                        ExitCode::from(1)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => {
                    eprintln!("schemata-bench produce: {e}");
                    ExitCode::from(2)
                }
            }
        }),
        Command::Consume { brokers, topic } => match consume::run(&brokers, &topic) {
            Ok(report) => {
                println!("{}", report.json_line());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("schemata-bench consume: {e}");
                ExitCode::from(2)
            }
        },
    }
}

struct LoadParams {
    url: String,
    basic: Option<String>,
    workload: Option<Workload>,
    connections: usize,
    duration: Duration,
    warmup: Duration,
    subjects: usize,
    setup: bool,
}

async fn load_command(p: LoadParams) -> Result<ExitCode, String> {
    let mut target = Target::resolve(&p.url).await?;
    if let Some(credentials) = &p.basic {
        target = target.with_basic(credentials)?;
    }
    let mut ids = None;
    if p.setup {
        let started = Instant::now();
        ids = Some(load::setup(&target, p.subjects, p.connections).await?);
        eprintln!(
            "schemata-bench: registered {} subjects in {} ms",
            p.subjects,
            started.elapsed().as_millis()
        );
    }
    let Some(workload) = p.workload else {
        if p.setup {
            return Ok(ExitCode::SUCCESS);
        }
        return Err("--workload is required unless --setup is given".into());
    };
    let ids = match ids {
        Some(ids) => ids,
        // Only get-by-id names ids; the others address subjects.
        None if workload == Workload::GetById => {
            load::resolve_ids(&target, p.subjects, p.connections).await?
        }
        None => vec![0; p.subjects],
    };
    let config = LoadConfig {
        target,
        workload,
        connections: p.connections,
        warmup: p.warmup,
        duration: p.duration,
    };
    let report = load::run(&config, &ids).await;
    println!("{}", report.json_line());
    if report.errors > 0 {
        eprintln!(
            "\n!!! schemata-bench: {workload}: {} ERRORS in {} requests !!!",
            report.errors, report.requests
        );
        for e in &report.error_samples {
            eprintln!("!!!   {e}");
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

//! The `schemata` binary: logging, then the command line (`schemata::cli`). Everything else
//! lives in the library.

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc rather than the system allocator: start-up replay allocates millions of short-lived
/// values (see `mimalloc` in Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<std::process::ExitCode> {
    // Blocking work is bounded by its callers: schema parsing to four tasks per core, password
    // hashing to one per core, one writer deciding, one sync, the Kafka client's few calls
    // (each with a timeout). Tokio's default of up to 512 threads let bursts of short tasks
    // start dozens that exit again, each leaving its allocator pages behind, partly filled with
    // long-lived state: several MB of resident memory. Beyond the cap tasks queue, none waits
    // on another.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(5 * cores + 8)
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<std::process::ExitCode> {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("SCHEMATA_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        // stderr, as the README says: stdout is for what `schemata user list` prints.
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal, not escape codes in a log file or collector.
        .with_ansi(std::io::stderr().is_terminal());
    // `json`: one object per line (the event's fields at the top level, the request span's
    // id, route, status and latency under `span`) for log shippers; anything else is text.
    let format = std::env::var("SCHEMATA_LOG_FORMAT").unwrap_or_default();
    match format.as_str() {
        "json" => logs.json().flatten_event(true).init(),
        "" | "text" => logs.init(),
        other => {
            logs.init();
            tracing::warn!(
                format = other,
                "unknown SCHEMATA_LOG_FORMAT (json or text); logging text"
            );
        }
    }
    schemata::cli::Cli::parse().run().await
}

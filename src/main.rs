//! The `schemata` binary: logging, then the command line (`schemata::cli`). Everything else
//! lives in the library.

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc rather than the system allocator: start-up replay allocates millions of short-lived
/// values (see `mimalloc` in Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("SCHEMATA_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        // stderr, as the README says: stdout is for what `schemata user list` prints.
        .with_writer(std::io::stderr)
        .init();
    schemata::cli::Cli::parse().run().await
}

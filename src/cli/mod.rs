//! The `schemata` command line. `main.rs` only parses it and runs the command.
//!
//! - [`serve`]: run the registry (the default when no command is given).
//! - [`user`]: manage users in the store.
//! - [`check`]: compatibility of local schema files against a registry or earlier files, for CI.
//! - [`migrate`]: copy one registry into another, ids kept.
//! - [`client`]: the small HTTP client `check` and `migrate` use.

pub mod check;
pub mod client;
pub mod migrate;
pub mod serve;
pub mod user;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "schemata",
    version,
    about = "A Confluent-compatible schema registry for Apache Kafka (Avro)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once at start-up; boxing buys nothing
pub enum Command {
    /// Run the registry (the default when no command is given).
    Serve(serve::ServeArgs),
    /// Manage users in the store (`[auth]`); on SQLite, run while the server is stopped
    User(user::UserArgs),
    /// Check local .avsc files against a registry's subjects (or earlier versions), for CI
    Check(check::CheckArgs),
    /// Copy every subject, version (ids kept), config and mode into another registry
    Migrate(migrate::MigrateArgs),
}

impl Cli {
    /// Runs the command given, or serves when none is. The exit code is `check`'s verdict
    /// (0 compatible, 1 incompatible, 2 error); other commands fail with 1.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Some(Command::Serve(args)) => serve::run(args).await?,
            // `schemata` alone is `schemata serve`, reading SCHEMATA_* as that would.
            None => match Cli::parse_from(["schemata", "serve"]).command {
                Some(Command::Serve(args)) => serve::run(args).await?,
                _ => unreachable!("`serve` parses as the serve command"),
            },
            Some(Command::User(args)) => user::run(args).await?,
            Some(Command::Check(args)) => return Ok(ExitCode::from(check::run(args).await)),
            Some(Command::Migrate(args)) => migrate::run(args).await?,
        }
        Ok(ExitCode::SUCCESS)
    }
}

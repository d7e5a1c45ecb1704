//! The `schemata` command line: `serve` (the default) and `user`. `main.rs` only parses it and
//! runs the command.

pub mod serve;
pub mod user;

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
}

impl Cli {
    /// Runs the command given, or serves with the defaults when none is.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Some(Command::Serve(args)) => serve::run(args).await,
            None => serve::run(serve::ServeArgs::default()).await,
            Some(Command::User(args)) => user::run(args).await,
        }
    }
}

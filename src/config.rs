//! One typed configuration: TOML file < environment (`SCHEMATA_*`) < command-line flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// What `schemata serve` runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the HTTP API listens. Default `0.0.0.0:8081`, Confluent's port.
    pub listen: SocketAddr,
    /// The store URL: `sqlite://PATH` (default `sqlite://schemata.db`) or `memory://`.
    pub store: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([0, 0, 0, 0], 8081)),
            store: "sqlite://schemata.db".into(),
            max_body_bytes: 4 * 1024 * 1024,
        }
    }
}

/// The overrides one layer (file, or env + flags) may give; unset fields fall through.
#[derive(Debug, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// Address to listen on, e.g. 0.0.0.0:8081
    #[arg(long, env = "SCHEMATA_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Store URL: sqlite://PATH or memory://
    #[arg(long, env = "SCHEMATA_STORE")]
    pub store: Option<String>,
    /// Largest request body accepted, in bytes
    #[arg(long, env = "SCHEMATA_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
}

impl Config {
    /// Builds the config from an optional TOML file and the env/flag overrides.
    pub fn load(file: Option<&PathBuf>, cli: Overrides) -> anyhow::Result<Config> {
        let from_file: Overrides = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("cannot read config file {}: {e}", path.display())
                })?;
                toml::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))?
            }
            None => Overrides::default(),
        };
        let d = Config::default();
        let config = Config {
            listen: cli.listen.or(from_file.listen).unwrap_or(d.listen),
            store: cli.store.or(from_file.store).unwrap_or(d.store),
            max_body_bytes: cli
                .max_body_bytes
                .or(from_file.max_body_bytes)
                .unwrap_or(d.max_body_bytes),
        };
        if config.max_body_bytes < 1024 {
            anyhow::bail!("max_body_bytes must be at least 1024");
        }
        Ok(config)
    }
}

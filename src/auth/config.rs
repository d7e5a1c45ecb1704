//! The `[auth]` section of the configuration. Auth is off unless `enabled` is set; users live in
//! the store (SQLite tables, or a Kafka topic of their own: `auth::store`), managed with
//! `schemata user …` or the `/admin/users` API.

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Require credentials on every route but `/health`. Default off.
    pub enabled: bool,
    /// How long verified Basic credentials are remembered, so argon2 is paid once per client per
    /// this period rather than per request. Changing or removing a user forgets them at once.
    pub credential_cache_ttl: Duration,
    /// How long a SCRAM session id (`Authorization: SCRAM-SHA-256 sid=…`) stays valid.
    pub session_ttl: Duration,
    /// Failed logins allowed in a burst, per user name and per client address.
    pub max_failed_logins: u32,
    /// After the burst, one more attempt is allowed per this period.
    pub failed_login_refill: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: false,
            credential_cache_ttl: Duration::from_secs(60),
            session_ttl: Duration::from_secs(600),
            max_failed_logins: 10,
            failed_login_refill: Duration::from_secs(6),
        }
    }
}

/// The auth settings one configuration layer (file, or env + flags) may give.
#[derive(Debug, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct AuthOverrides {
    /// Require authentication (users: `schemata user add`)
    #[arg(
        long = "auth-enabled",
        env = "SCHEMATA_AUTH_ENABLED",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub enabled: Option<bool>,
    /// Seconds verified Basic credentials are cached (default 60)
    #[arg(
        long = "auth-credential-cache-ttl-secs",
        env = "SCHEMATA_AUTH_CREDENTIAL_CACHE_TTL_SECS"
    )]
    pub credential_cache_ttl_secs: Option<u64>,
    /// Seconds a SCRAM session id stays valid (default 600)
    #[arg(long = "auth-session-ttl-secs", env = "SCHEMATA_AUTH_SESSION_TTL_SECS")]
    pub session_ttl_secs: Option<u64>,
    /// Failed logins allowed in a burst per user and per address (default 10)
    #[arg(
        long = "auth-max-failed-logins",
        env = "SCHEMATA_AUTH_MAX_FAILED_LOGINS"
    )]
    pub max_failed_logins: Option<u32>,
    /// Seconds after which one more failed login is allowed (default 6)
    #[arg(
        long = "auth-failed-login-refill-secs",
        env = "SCHEMATA_AUTH_FAILED_LOGIN_REFILL_SECS"
    )]
    pub failed_login_refill_secs: Option<u64>,
}

impl AuthConfig {
    /// Layers `cli` over `file` over the defaults.
    pub fn load(file: AuthOverrides, cli: AuthOverrides) -> anyhow::Result<AuthConfig> {
        let d = AuthConfig::default();
        let secs = |s: Option<u64>, default: Duration| s.map_or(default, Duration::from_secs);
        let config = AuthConfig {
            enabled: cli.enabled.or(file.enabled).unwrap_or(d.enabled),
            credential_cache_ttl: secs(
                cli.credential_cache_ttl_secs
                    .or(file.credential_cache_ttl_secs),
                d.credential_cache_ttl,
            ),
            session_ttl: secs(
                cli.session_ttl_secs.or(file.session_ttl_secs),
                d.session_ttl,
            ),
            max_failed_logins: cli
                .max_failed_logins
                .or(file.max_failed_logins)
                .unwrap_or(d.max_failed_logins),
            failed_login_refill: secs(
                cli.failed_login_refill_secs
                    .or(file.failed_login_refill_secs),
                d.failed_login_refill,
            ),
        };
        if config.max_failed_logins == 0 || config.failed_login_refill.is_zero() {
            anyhow::bail!("auth max_failed_logins and failed_login_refill_secs must be positive");
        }
        if config.session_ttl.is_zero() {
            anyhow::bail!("auth session_ttl_secs must be positive");
        }
        Ok(config)
    }
}

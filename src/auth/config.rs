//! The `[auth]` section of the configuration. Auth is off unless `enabled` is set; users live in
//! the store (SQLite tables, or a Kafka topic of their own: `auth::store`), managed with
//! `schemata user …` or the `/admin/users` API.

use std::time::Duration;

use serde::Deserialize;

/// The longest any auth period may be configured: longer is a mistake, and bounding them keeps
/// deadline arithmetic from overflowing.
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Require credentials on every route but `/health`. Default off.
    pub enabled: bool,
    /// How long verified Basic credentials are remembered, so argon2 is paid once per client per
    /// this period rather than per request. Changing or removing a user forgets them at once.
    pub credential_cache_ttl: Duration,
    /// The longest a cached login lasts however often it is used (each use extends it by
    /// `credential_cache_ttl`); then the password is checked again.
    pub credential_cache_max: Duration,
    /// How long a SCRAM session id (`Authorization: SCRAM-SHA-256 sid=…`) stays valid.
    pub session_ttl: Duration,
    /// Failed logins allowed in a burst per user name and client address (per client and per
    /// name, a few times more: see `auth::Limiter`).
    pub max_failed_logins: u32,
    /// After the burst, one more attempt is allowed per this period.
    pub failed_login_refill: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: false,
            credential_cache_ttl: Duration::from_secs(60),
            credential_cache_max: Duration::from_secs(3600),
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
    /// Seconds a cached Basic login may be extended to by use (default 3600)
    #[arg(
        long = "auth-credential-cache-max-secs",
        env = "SCHEMATA_AUTH_CREDENTIAL_CACHE_MAX_SECS"
    )]
    pub credential_cache_max_secs: Option<u64>,
    /// Seconds a SCRAM session id stays valid (default 600)
    #[arg(long = "auth-session-ttl-secs", env = "SCHEMATA_AUTH_SESSION_TTL_SECS")]
    pub session_ttl_secs: Option<u64>,
    /// Failed logins allowed in a burst per user and address (default 10)
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
        let credential_cache_ttl = secs(
            cli.credential_cache_ttl_secs
                .or(file.credential_cache_ttl_secs),
            d.credential_cache_ttl,
        );
        let config = AuthConfig {
            enabled: cli.enabled.or(file.enabled).unwrap_or(d.enabled),
            credential_cache_ttl,
            // Unset, it is never below the TTL, so a config that only raises the TTL still loads.
            credential_cache_max: secs(
                cli.credential_cache_max_secs
                    .or(file.credential_cache_max_secs),
                d.credential_cache_max.max(credential_cache_ttl),
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
        // Deadlines are `Instant::now() + ttl`, which panics on overflow: refuse absurd values
        // here, with their name, rather than fail on the first login.
        for (name, value) in [
            ("credential_cache_ttl_secs", config.credential_cache_ttl),
            ("credential_cache_max_secs", config.credential_cache_max),
            ("session_ttl_secs", config.session_ttl),
            ("failed_login_refill_secs", config.failed_login_refill),
        ] {
            if value > MAX_TTL {
                anyhow::bail!(
                    "auth {name} must be at most {} (30 days)",
                    MAX_TTL.as_secs()
                );
            }
        }
        if config.credential_cache_max < config.credential_cache_ttl {
            anyhow::bail!(
                "auth credential_cache_max_secs must be at least credential_cache_ttl_secs"
            );
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file: &str) -> anyhow::Result<AuthConfig> {
        AuthConfig::load(toml::from_str(file).unwrap(), AuthOverrides::default())
    }

    #[test]
    fn absurd_periods_are_refused_at_load_with_their_name() {
        for key in [
            "session_ttl_secs",
            "credential_cache_ttl_secs",
            "credential_cache_max_secs",
            "failed_login_refill_secs",
        ] {
            let err = load(&format!("{key} = 9223372036854775807"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
        let err = load("credential_cache_ttl_secs = 600\ncredential_cache_max_secs = 60")
            .unwrap_err()
            .to_string();
        assert!(err.contains("credential_cache_max_secs"), "{err}");
        let ok = load("session_ttl_secs = 2592000\ncredential_cache_max_secs = 7200").unwrap();
        assert_eq!(ok.session_ttl, MAX_TTL);
        assert_eq!(ok.credential_cache_max, Duration::from_secs(7200));
    }
}

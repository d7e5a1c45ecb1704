//! Users, their role and the subjects they are granted. Secrets are kept only as an argon2id PHC
//! string (for Basic) and SCRAM-SHA-256 keys (for SCRAM) — never the password itself.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::password;
use super::scram::ScramCredentials;

/// What a user may do, in increasing power; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// GETs, lookups (`POST /subjects/{s}`) and compatibility checks.
    Read,
    /// Read, plus register, soft delete, and subject-level config and mode.
    Write,
    /// Everything: users, global config and mode, permanent deletes. Grants do not limit it.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s.to_ascii_lowercase().as_str() {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role '{other}' (expected admin, write or read)"
            )),
        }
    }
}

/// A stored user. `Debug` leaves the secrets out.
#[derive(Clone)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// Subject prefixes this user's role applies to; empty means every subject.
    pub grants: Vec<String>,
    pub password_phc: String,
    pub scram: ScramCredentials,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("grants", &self.grants)
            .finish_non_exhaustive()
    }
}

/// The longest password accepted: bounds the work a request can ask of argon2 and PBKDF2.
pub const MAX_PASSWORD_BYTES: usize = 1024;
pub const MIN_PASSWORD_CHARS: usize = 8;
const MAX_NAME_BYTES: usize = 128;

impl User {
    /// A user with fresh secrets for `password`; checks the name and password first.
    /// Slow on purpose (argon2 + PBKDF2): call it off the async runtime.
    pub fn new(
        name: &str,
        password: &str,
        role: Role,
        grants: Vec<String>,
    ) -> Result<User, String> {
        check_name(name)?;
        check_password(password)?;
        check_grants(&grants)?;
        Ok(User {
            name: name.to_string(),
            role,
            grants,
            password_phc: password::hash(password),
            scram: ScramCredentials::new(password),
        })
    }

    /// Replaces both secrets.
    pub fn set_password(&mut self, password: &str) -> Result<(), String> {
        (self.password_phc, self.scram) = secrets(password)?;
        Ok(())
    }

    /// The public view: no secrets.
    pub fn summary(&self) -> UserSummary {
        UserSummary {
            name: self.name.clone(),
            role: self.role,
            grants: self.grants.clone(),
        }
    }
}

/// Fresh secrets for `password` (argon2id PHC string, SCRAM credentials), once it is checked.
/// Slow on purpose: call it off the async runtime.
pub fn secrets(password: &str) -> Result<(String, ScramCredentials), String> {
    check_password(password)?;
    Ok((password::hash(password), ScramCredentials::new(password)))
}

/// A user as the admin API and the CLI show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    pub name: String,
    pub role: Role,
    pub grants: Vec<String>,
}

/// Who a request is from, once authenticated: what authorization needs, nothing secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    pub grants: Vec<String>,
}

impl Principal {
    /// Whether the grants cover `subject` (admins and grant-less users cover all).
    pub fn covers(&self, subject: &str) -> bool {
        self.covers_all() || self.grants.iter().any(|p| subject.starts_with(p.as_str()))
    }

    /// Whether every subject is covered: an admin, or a user without prefixes.
    pub fn covers_all(&self) -> bool {
        self.role == Role::Admin || self.grants.is_empty()
    }
}

impl From<&User> for Principal {
    fn from(u: &User) -> Principal {
        Principal {
            name: u.name.clone(),
            role: u.role,
            grants: u.grants.clone(),
        }
    }
}

/// Names travel in Basic's `user:password`, so no `:`; no control characters, bounded length.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(format!("user name must be 1 to {MAX_NAME_BYTES} bytes"));
    }
    if name.contains(':') || name.chars().any(char::is_control) {
        return Err("user name must not contain ':' or control characters".into());
    }
    Ok(())
}

pub fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "password must be at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "password must be at most {MAX_PASSWORD_BYTES} bytes"
        ));
    }
    Ok(())
}

pub fn check_grants(grants: &[String]) -> Result<(), String> {
    if grants.len() > 256 {
        return Err("at most 256 grants".into());
    }
    if grants
        .iter()
        .any(|g| g.is_empty() || g.len() > 1024 || g.chars().any(char::is_control))
    {
        return Err("grants must be non-empty subject prefixes of at most 1024 bytes".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_limit_subjects_except_for_admins() {
        let mut p = Principal {
            name: "u".into(),
            role: Role::Write,
            grants: vec!["team-a.".into()],
        };
        assert!(p.covers("team-a.orders-value"));
        assert!(!p.covers("team-b.orders-value"));
        p.role = Role::Admin;
        assert!(p.covers("team-b.orders-value"));
        p.role = Role::Read;
        p.grants.clear();
        assert!(p.covers("anything"));
    }

    #[test]
    fn roles_order_and_parse() {
        assert!(Role::Read < Role::Write && Role::Write < Role::Admin);
        assert_eq!("ADMIN".parse::<Role>(), Ok(Role::Admin));
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn names_and_passwords_are_checked() {
        assert!(check_name("a:b").is_err());
        assert!(check_name("").is_err());
        assert!(check_name("alice").is_ok());
        assert!(check_password("short").is_err());
        assert!(check_password(&"x".repeat(2000)).is_err());
    }
}

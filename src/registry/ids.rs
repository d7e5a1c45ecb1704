//! What the registry's things are called: a schema's global [`SchemaId`], a [`Subject`] name and
//! a subject's [`Version`] number, plus the [`VersionSelector`] a URL names a version with.
//!
//! Each is its own type so that an id cannot be passed where a version is meant. On the wire they
//! are the bare number or string Confluent uses (`#[serde(transparent)]`).

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::RegistryError;

/// A schema's global id: one per distinct schema, shared by every subject version using it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct SchemaId(pub i32);

/// A version number within a subject, 1 and up.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Version(pub i32);

impl SchemaId {
    pub fn get(self) -> i32 {
        self.0
    }
}

impl Version {
    pub fn get(self) -> i32 {
        self.0
    }
}

impl fmt::Display for SchemaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A subject name.
///
/// [`Subject::new`] applies the rules for a name a client creates (register, config, mode).
/// Names read back from the log are taken as written ([`Subject::unchecked`], and serde): replay
/// never refuses a record another registry wrote, and a subject that exists can be deleted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Subject(String);

impl Subject {
    /// Longest name accepted. Kafka topic names stop at 249 bytes; record-name strategies add a
    /// fully qualified name, so this leaves room for both while bounding what clients send.
    pub const MAX_BYTES: usize = 1024;

    /// A name Confluent would store: not empty, not over [`Subject::MAX_BYTES`], no control
    /// characters, not one of Confluent's reserved scope names.
    pub fn new(name: impl Into<String>) -> Result<Subject, RegistryError> {
        let name = name.into();
        let bad = name.is_empty()
            || name.len() > Self::MAX_BYTES
            || name.chars().any(char::is_control)
            || name == "__GLOBAL"
            || name == "__EMPTY";
        if bad {
            let shown: String = name.chars().take(64).collect();
            return Err(RegistryError::InvalidSubject(shown));
        }
        Ok(Subject(name))
    }

    /// A name taken as it is: read from the log, or naming a subject that already exists.
    pub fn unchecked(name: impl Into<String>) -> Subject {
        Subject(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Subject {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// Maps keyed by subject are looked up with a plain `&str` (a name from a URL, maybe unknown).
impl Borrow<str> for Subject {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Subject {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `latest`/`-1` or a positive version number, as it appears in a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSelector {
    Latest,
    Number(Version),
}

impl VersionSelector {
    /// As Confluent (Java `Integer.parseInt` after trimming): `01` and `+1` are version 1,
    /// `LATEST` is latest; the error shows the segment as sent.
    pub fn parse(s: &str) -> Result<Self, RegistryError> {
        // Java's `String.trim()`: ASCII control characters and space only.
        let t = s.trim_matches(|c: char| c <= ' ');
        if t.eq_ignore_ascii_case("latest") {
            return Ok(VersionSelector::Latest);
        }
        match t.parse::<i32>() {
            Ok(-1) => Ok(VersionSelector::Latest),
            Ok(n) if n >= 1 => Ok(VersionSelector::Number(Version(n))),
            _ => Err(RegistryError::InvalidVersion(s.to_string())),
        }
    }

    /// A reference's version: `-1` is the latest, anything else names a version (which may not
    /// exist).
    pub fn of_reference(version: i32) -> Self {
        match version {
            -1 => VersionSelector::Latest,
            v => VersionSelector::Number(Version(v)),
        }
    }

    /// Why nothing was found: Confluent prints the parsed number, so `latest` is -1.
    pub fn not_found(self) -> RegistryError {
        RegistryError::VersionNotFound(match self {
            VersionSelector::Latest => "-1".into(),
            VersionSelector::Number(n) => n.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_selectors_parse_like_confluent() {
        for (s, want) in [
            ("latest", VersionSelector::Latest),
            ("LATEST", VersionSelector::Latest),
            ("-1", VersionSelector::Latest),
            ("01", VersionSelector::Number(Version(1))),
            ("+2", VersionSelector::Number(Version(2))),
            (" 3", VersionSelector::Number(Version(3))),
        ] {
            assert_eq!(VersionSelector::parse(s), Ok(want), "{s}");
        }
        for s in ["0", "-2", "abc", "1.0", "2147483648", ""] {
            assert!(VersionSelector::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn subjects_are_checked_on_creation_only() {
        assert!(Subject::new("orders-value").is_ok());
        for bad in ["", "a\u{7}b", "__GLOBAL", "__EMPTY"] {
            assert!(
                matches!(Subject::new(bad), Err(RegistryError::InvalidSubject(_))),
                "{bad:?}"
            );
        }
        let long = "x".repeat(Subject::MAX_BYTES + 1);
        assert_eq!(
            Subject::new(long.clone()),
            Err(RegistryError::InvalidSubject("x".repeat(64)))
        );
        assert_eq!(Subject::unchecked(long.clone()).as_str(), long);
        assert_eq!(
            serde_json::to_string(&Subject::unchecked("s")).unwrap(),
            r#""s""#
        );
        assert_eq!(serde_json::to_string(&SchemaId(7)).unwrap(), "7");
        assert_eq!(serde_json::to_string(&Version(3)).unwrap(), "3");
    }
}

//! The `_schemas` record: the one representation every store speaks.
//!
//! Keys and values are Confluent's JSON, byte for byte where it matters. Compaction works on the
//! exact key bytes, so keys are written in Confluent's field order with no whitespace, and the
//! global CONFIG/MODE key is written in whichever form (`subject` absent, or `"subject":null` as
//! Karapace writes it) the log already holds. Reading is tolerant: unknown key types, unknown
//! fields and malformed records are reported as [`DecodeOutcome::Skipped`] instead of failing
//! replay.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::compat::CompatibilityLevel;
use super::ids::{SchemaId, Subject, Version};

/// A key/value pair as stored in the log; `value == None` is a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// A record reference from a schema to another subject's version. As a client sends it,
/// `version` may be `-1` (the latest) and `subject` any name; as stored, `version` is concrete.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: i32,
}

/// The value of a SCHEMA record. Unknown fields (`md5`, `metadata`, `ruleSet`, …) are kept so
/// a record we rewrite (soft delete) loses nothing another registry wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaValue {
    pub subject: Subject,
    pub version: Version,
    pub id: SchemaId,
    #[serde(
        rename = "schemaType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub schema_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    pub schema: String,
    #[serde(default)]
    pub deleted: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The value of a CONFIG record. Only `compatibilityLevel` and `normalize` are interpreted; the
/// rest is kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigValue {
    #[serde(
        rename = "compatibilityLevel",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub compatibility_level: Option<RecordedLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A CONFIG record's `compatibilityLevel`, parsed once as the record is read.
///
/// A name that is none of the seven (written by a newer or a foreign registry) is not a bad
/// record: it is kept as written, shown as written, and passed over when choosing the level in
/// force (the next scope's level applies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordedLevel {
    Known(CompatibilityLevel),
    Unknown(String),
}

impl RecordedLevel {
    /// The level, if it is one of the seven.
    pub fn known(&self) -> Option<CompatibilityLevel> {
        match self {
            RecordedLevel::Known(level) => Some(*level),
            RecordedLevel::Unknown(_) => None,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            RecordedLevel::Known(level) => level.as_str(),
            RecordedLevel::Unknown(name) => name,
        }
    }
}

impl From<CompatibilityLevel> for RecordedLevel {
    fn from(level: CompatibilityLevel) -> Self {
        RecordedLevel::Known(level)
    }
}

impl Serialize for RecordedLevel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RecordedLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(match name.parse() {
            Ok(level) => RecordedLevel::Known(level),
            Err(_) => RecordedLevel::Unknown(name),
        })
    }
}

/// The value of a MODE record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeValue {
    pub mode: String,
}

/// The value of a DELETE_SUBJECT record: every version up to `version` is soft-deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteSubjectValue {
    pub subject: Subject,
    pub version: Version,
}

/// The value of a CLEAR_SUBJECT record: a permanent subject delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearSubjectValue {
    pub subject: Subject,
}

/// A decoded `_schemas` record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Schema {
        subject: Subject,
        version: Version,
        value: Option<SchemaValue>,
    },
    /// `subject == None` is the global config.
    Config {
        subject: Option<Subject>,
        value: Option<ConfigValue>,
    },
    Mode {
        subject: Option<Subject>,
        value: Option<ModeValue>,
    },
    DeleteSubject {
        subject: Subject,
        value: Option<DeleteSubjectValue>,
    },
    ClearSubject {
        subject: Subject,
        value: Option<ClearSubjectValue>,
    },
    Noop,
}

/// How a raw record decoded.
#[derive(Debug)]
pub enum DecodeOutcome {
    Record(Record),
    /// Well-formed but not ours to interpret (CONTEXT, future key types).
    Ignored(String),
    /// Malformed: logged and counted by the caller, never fatal.
    Skipped(String),
}

/// How the global CONFIG/MODE key is spelled in the log this registry writes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GlobalKeyForm {
    /// `{"keytype":"CONFIG","magic":0}` — current Confluent.
    #[default]
    Omitted,
    /// `{"keytype":"CONFIG","subject":null,"magic":0}` — Karapace.
    Null,
}

impl SchemaValue {
    /// A live Avro schema without references: `schema` as `subject` version `version`, id `id`
    /// (plain numbers: this builds records for tests and benchmarks).
    pub fn new(subject: &str, version: i32, id: i32, schema: String) -> SchemaValue {
        SchemaValue {
            subject: Subject::unchecked(subject),
            version: Version(version),
            id: SchemaId(id),
            schema_type: None,
            references: vec![],
            schema,
            deleted: false,
            extra: Default::default(),
        }
    }
}

impl Record {
    /// The SCHEMA record that writes `value` (keyed by its own subject and version).
    pub fn schema(value: SchemaValue) -> Record {
        Record::Schema {
            subject: value.subject.clone(),
            version: value.version,
            value: Some(value),
        }
    }

    /// Encodes this record as Confluent writes it.
    pub fn encode(&self, form: GlobalKeyForm) -> RawRecord {
        RawRecord {
            key: self.encode_key(form).into_bytes(),
            value: self.encode_value(),
        }
    }

    fn encode_key(&self, form: GlobalKeyForm) -> String {
        fn subject_key(keytype: &str, subject: Option<&str>, form: GlobalKeyForm) -> String {
            match (subject, form) {
                (Some(s), _) => format!(
                    r#"{{"keytype":"{keytype}","subject":{},"magic":0}}"#,
                    json_string(s)
                ),
                (None, GlobalKeyForm::Omitted) => format!(r#"{{"keytype":"{keytype}","magic":0}}"#),
                (None, GlobalKeyForm::Null) => {
                    format!(r#"{{"keytype":"{keytype}","subject":null,"magic":0}}"#)
                }
            }
        }
        match self {
            Record::Schema {
                subject, version, ..
            } => format!(
                r#"{{"keytype":"SCHEMA","subject":{},"version":{version},"magic":1}}"#,
                json_string(subject)
            ),
            Record::Config { subject, .. } => subject_key("CONFIG", subject.as_deref(), form),
            Record::Mode { subject, .. } => subject_key("MODE", subject.as_deref(), form),
            Record::DeleteSubject { subject, .. } => {
                subject_key("DELETE_SUBJECT", Some(subject), form)
            }
            Record::ClearSubject { subject, .. } => {
                subject_key("CLEAR_SUBJECT", Some(subject), form)
            }
            Record::Noop => r#"{"keytype":"NOOP","magic":0}"#.to_string(),
        }
    }

    fn encode_value(&self) -> Option<Vec<u8>> {
        let json = match self {
            Record::Schema { value, .. } => value.as_ref().map(serde_json::to_vec),
            Record::Config { value, .. } => value.as_ref().map(serde_json::to_vec),
            Record::Mode { value, .. } => value.as_ref().map(serde_json::to_vec),
            Record::DeleteSubject { value, .. } => value.as_ref().map(serde_json::to_vec),
            Record::ClearSubject { value, .. } => value.as_ref().map(serde_json::to_vec),
            Record::Noop => None,
        };
        // Serializing these plain structs cannot fail: every map key is a string.
        json.map(|r| r.expect("record values serialize"))
    }

    /// Decodes a raw record, tolerating everything Confluent, Karapace or Redpanda may write.
    pub fn decode(raw: &RawRecord) -> DecodeOutcome {
        /// Only the fields we read; serde skips the rest (`magic`, Redpanda's `seq`/`node`, …)
        /// without building a map, which matters when replaying 100k records.
        #[derive(Deserialize)]
        struct Key<'a> {
            #[serde(borrow)]
            keytype: std::borrow::Cow<'a, str>,
            #[serde(default)]
            subject: Option<String>,
            #[serde(default)]
            version: Option<i64>,
        }
        let key: Key = match serde_json::from_slice(&raw.key) {
            Ok(k) => k,
            Err(e) => return DecodeOutcome::Skipped(format!("not a record key: {e}")),
        };
        let keytype = &*key.keytype;
        let subject = key.subject.map(Subject::unchecked);
        // An empty value is treated like null, as Karapace does.
        let value = raw.value.as_deref().filter(|v| !v.is_empty());
        fn parse<T: serde::de::DeserializeOwned>(v: Option<&[u8]>) -> Result<Option<T>, String> {
            v.map(|v| serde_json::from_slice(v).map_err(|e| format!("bad value: {e}")))
                .transpose()
        }
        let need_subject =
            |s: Option<Subject>| s.ok_or_else(|| format!("{keytype} key has no subject"));
        let record = match keytype {
            "SCHEMA" => {
                let Some(version) = key.version.and_then(|v| i32::try_from(v).ok()).map(Version)
                else {
                    return DecodeOutcome::Skipped("SCHEMA key has no valid version".into());
                };
                need_subject(subject).and_then(|subject| {
                    Ok(Record::Schema {
                        subject,
                        version,
                        value: parse(value)?,
                    })
                })
            }
            "CONFIG" => parse(value).map(|value| Record::Config { subject, value }),
            "MODE" => parse(value).map(|value| Record::Mode { subject, value }),
            "DELETE_SUBJECT" => need_subject(subject).and_then(|subject| {
                Ok(Record::DeleteSubject {
                    subject,
                    value: parse(value)?,
                })
            }),
            "CLEAR_SUBJECT" => need_subject(subject).and_then(|subject| {
                Ok(Record::ClearSubject {
                    subject,
                    value: parse(value)?,
                })
            }),
            "NOOP" => Ok(Record::Noop),
            other => return DecodeOutcome::Ignored(format!("keytype {other}")),
        };
        match record {
            Ok(r) => DecodeOutcome::Record(r),
            Err(e) => DecodeOutcome::Skipped(e),
        }
    }

    /// The global-key form this raw key uses, if it is a global CONFIG or MODE key.
    pub fn global_key_form(raw_key: &[u8]) -> Option<GlobalKeyForm> {
        let key: Map<String, Value> = serde_json::from_slice(raw_key).ok()?;
        match key.get("keytype").and_then(Value::as_str) {
            Some("CONFIG" | "MODE") => match key.get("subject") {
                None => Some(GlobalKeyForm::Omitted),
                Some(Value::Null) => Some(GlobalKeyForm::Null),
                Some(_) => None,
            },
            _ => None,
        }
    }
}

fn json_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_value(deleted: bool) -> SchemaValue {
        SchemaValue {
            subject: Subject::unchecked("orders-value"),
            version: Version(3),
            id: SchemaId(42),
            schema_type: None,
            references: vec![],
            schema: "\"string\"".into(),
            deleted,
            extra: Map::new(),
        }
    }

    #[test]
    fn keys_are_byte_identical_to_confluent() {
        let r = Record::Schema {
            subject: Subject::unchecked("orders-value"),
            version: Version(3),
            value: None,
        };
        assert_eq!(
            r.encode(GlobalKeyForm::Omitted).key,
            br#"{"keytype":"SCHEMA","subject":"orders-value","version":3,"magic":1}"#
        );
        let c = Record::Config {
            subject: None,
            value: None,
        };
        assert_eq!(
            c.encode(GlobalKeyForm::Omitted).key,
            br#"{"keytype":"CONFIG","magic":0}"#
        );
        assert_eq!(
            c.encode(GlobalKeyForm::Null).key,
            br#"{"keytype":"CONFIG","subject":null,"magic":0}"#
        );
        let d = Record::DeleteSubject {
            subject: Subject::unchecked("a\"b"),
            value: None,
        };
        assert_eq!(
            d.encode(GlobalKeyForm::Null).key,
            br#"{"keytype":"DELETE_SUBJECT","subject":"a\"b","magic":0}"#
        );
        assert_eq!(
            Record::Noop.encode(GlobalKeyForm::Omitted).key,
            br#"{"keytype":"NOOP","magic":0}"#
        );
    }

    #[test]
    fn schema_values_round_trip_and_keep_unknown_fields() {
        let raw = RawRecord {
            key: br#"{"keytype":"SCHEMA","subject":"orders-value","version":3,"magic":1,"seq":7,"node":1}"#.to_vec(),
            value: Some(br#"{"subject":"orders-value","version":3,"id":42,"md5":"abc","schema":"\"string\"","deleted":false}"#.to_vec()),
        };
        let DecodeOutcome::Record(rec) = Record::decode(&raw) else {
            panic!("decodes")
        };
        let Record::Schema { value: Some(v), .. } = &rec else {
            panic!("schema record")
        };
        assert_eq!(v.extra.get("md5"), Some(&Value::String("abc".into())));
        let mut expected = schema_value(false);
        expected.extra.insert("md5".into(), "abc".into());
        assert_eq!(v, &expected);
        let back = Record::decode(&rec.encode(GlobalKeyForm::Omitted));
        assert!(matches!(back, DecodeOutcome::Record(r) if r == rec));
    }

    #[test]
    fn config_levels_are_parsed_once_and_unknown_ones_kept_as_written() {
        let level = |json: &str| {
            serde_json::from_str::<ConfigValue>(json)
                .unwrap()
                .compatibility_level
        };
        assert_eq!(
            level(r#"{"compatibilityLevel":"FULL_TRANSITIVE"}"#),
            Some(RecordedLevel::Known(CompatibilityLevel::FullTransitive))
        );
        let unknown = ConfigValue {
            compatibility_level: level(r#"{"compatibilityLevel":"SOMEDAY"}"#),
            ..Default::default()
        };
        assert_eq!(unknown.compatibility_level.as_ref().unwrap().known(), None);
        assert_eq!(
            serde_json::to_string(&unknown).unwrap(),
            r#"{"compatibilityLevel":"SOMEDAY"}"#
        );
    }

    #[test]
    fn tolerant_decoding() {
        let raw = |k: &str, v: Option<&str>| RawRecord {
            key: k.as_bytes().to_vec(),
            value: v.map(|v| v.as_bytes().to_vec()),
        };
        assert!(matches!(
            Record::decode(&raw("not json", None)),
            DecodeOutcome::Skipped(_)
        ));
        assert!(matches!(
            Record::decode(&raw(
                r#"{"keytype":"CONTEXT","tenant":"t","context":"c","magic":0}"#,
                Some("{}")
            )),
            DecodeOutcome::Ignored(_)
        ));
        assert!(matches!(
            Record::decode(&raw(
                r#"{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}"#,
                Some("{oops")
            )),
            DecodeOutcome::Skipped(_)
        ));
        // Both spellings of the global config key mean the global config.
        for key in [
            r#"{"keytype":"CONFIG","magic":0}"#,
            r#"{"keytype":"CONFIG","subject":null,"magic":0}"#,
        ] {
            let DecodeOutcome::Record(Record::Config { subject, value }) =
                Record::decode(&raw(key, Some(r#"{"compatibilityLevel":"FULL"}"#)))
            else {
                panic!("config")
            };
            assert_eq!(subject, None);
            assert_eq!(
                value.unwrap().compatibility_level,
                Some(RecordedLevel::Known(CompatibilityLevel::Full))
            );
        }
        // Empty value is a tombstone.
        assert!(matches!(
            Record::decode(&raw(
                r#"{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}"#,
                Some("")
            )),
            DecodeOutcome::Record(Record::Schema { value: None, .. })
        ));
        let sv = schema_value(true);
        assert!(serde_json::to_string(&sv)
            .unwrap()
            .contains(r#""deleted":true"#));
    }
}

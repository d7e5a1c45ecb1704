//! `schemata check`: are these local `.avsc` files compatible with their subjects? For CI.
//!
//! Against a registry (`--url`), each subject's `POST /compatibility/subjects/{s}/versions
//! ?verbose=true` answers, under the level the registry holds for it; a subject it does not
//! know yet is new, so compatible. Without a registry (local mode), earlier versions come from
//! files (`--previous`, `--previous-dir`) and the registry's own checker runs in process, with
//! `--level`. Either way the verdicts are reported as text, JSON or GitHub Actions annotations.
//!
//! Exit codes: 0 every subject compatible (and, with `--register`, registered), 1 at least one
//! incompatible, 2 could not check (bad file, unreachable registry, refused credentials, …).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::client::{segment, ClientError, Connection, CredentialSource, RegistryClient};
use crate::registry::{avro, compat};

/// The registry's compatibility level type: the one name to change if it is renamed.
type Level = compat::CompatibilityLevel;

/// Exit code: every subject compatible.
pub const EXIT_COMPATIBLE: u8 = 0;
/// Exit code: at least one subject incompatible.
pub const EXIT_INCOMPATIBLE: u8 = 1;
/// Exit code: the check could not be made.
pub const EXIT_ERROR: u8 = 2;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 all compatible, 1 any incompatible, 2 error.\n\
    Without --url the check is local: earlier versions come from --previous/--previous-dir."
)]
pub struct CheckArgs {
    /// Registry base URL (e.g. https://registry:8081); without it the check is local
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Basic auth user; the password comes from --password-env or --password-stdin
    #[arg(long, requires = "url")]
    user: Option<String>,
    /// Name of the environment variable holding the Basic password
    #[arg(long, value_name = "VAR", requires = "user")]
    password_env: Option<String>,
    /// Read the Basic password from the first line of standard input
    #[arg(long, requires = "user", conflicts_with = "password_env")]
    password_stdin: bool,
    /// Take USER:PASSWORD from this environment variable
    /// [default: SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO]
    #[arg(
        long,
        value_name = "VAR",
        num_args = 0..=1,
        default_missing_value = super::client::DEFAULT_USER_INFO_ENV,
        conflicts_with = "user",
        requires = "url"
    )]
    basic_auth_env: Option<String>,
    /// Client certificate (PEM) for mutual TLS; needs --key
    #[arg(long, value_name = "PEM", requires_all = ["key", "url"])]
    cert: Option<PathBuf>,
    /// Private key (PEM) of --cert
    #[arg(long, value_name = "PEM", requires = "cert")]
    key: Option<PathBuf>,
    /// CA certificates (PEM) to trust for the registry's certificate
    #[arg(long, value_name = "PEM", requires = "url")]
    ca: Option<PathBuf>,
    /// A subject and its new schema file (repeatable)
    #[arg(long = "schema", value_name = "SUBJECT=FILE", value_parser = subject_and_file)]
    schemas: Vec<(String, PathBuf)>,
    /// A directory of new schemas: DIR/SUBJECT.avsc is checked against SUBJECT
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// After every subject passed, register the schemas and print their ids
    #[arg(long, requires = "url")]
    register: bool,
    /// How to report: text, json, or github (workflow commands for GitHub Actions)
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Local mode: a subject's earlier versions, oldest first (repeatable)
    #[arg(
        long = "previous",
        value_name = "SUBJECT=OLD1.avsc,OLD2.avsc",
        value_parser = subject_and_files,
        conflicts_with = "url"
    )]
    previous: Vec<(String, Vec<PathBuf>)>,
    /// Local mode: DIR/SUBJECT/ holds a subject's earlier versions, ordered by the number in
    /// their file names (1.avsc, 2.avsc, … or v1.avsc, …)
    #[arg(long, value_name = "DIR", conflicts_with = "url")]
    previous_dir: Option<PathBuf>,
    /// Local mode: the compatibility level to check with
    #[arg(long, value_parser = parse_level, default_value = "BACKWARD", conflicts_with = "url")]
    level: Level,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Github,
}

fn subject_and_file(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((subject, file)) if !subject.is_empty() && !file.is_empty() => {
            Ok((subject.to_string(), PathBuf::from(file)))
        }
        _ => Err("expected SUBJECT=FILE".into()),
    }
}

fn subject_and_files(s: &str) -> Result<(String, Vec<PathBuf>), String> {
    let (subject, files) = subject_and_file(s)?;
    let files = files.to_string_lossy();
    Ok((subject, files.split(',').map(PathBuf::from).collect()))
}

fn parse_level(s: &str) -> Result<Level, String> {
    s.parse::<Level>().map_err(|e| e.to_string())
}

/// Why the check could not be made (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Usage(String),
    #[error("{}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error(transparent)]
    Registry(#[from] ClientError),
    #[error("{subject}: {reason}")]
    Subject { subject: String, reason: String },
}

/// One subject to check: its name, the new schema's file and text.
struct Candidate {
    subject: String,
    file: PathBuf,
    text: String,
}

/// The verdict on one subject.
struct Verdict {
    subject: String,
    file: PathBuf,
    /// The new schema's text, as registered with `--register`.
    text: String,
    /// Empty: compatible.
    messages: Vec<String>,
    /// The subject has no versions yet.
    new: bool,
    /// Its id once registered.
    id: Option<i64>,
}

impl Verdict {
    fn compatible(&self) -> bool {
        self.messages.is_empty()
    }
}

/// Runs the check and reports; returns the exit code.
pub async fn run(args: CheckArgs) -> u8 {
    let format = args.format;
    match check(args).await {
        Ok(verdicts) => {
            report(&verdicts, format);
            if verdicts.iter().all(Verdict::compatible) {
                EXIT_COMPATIBLE
            } else {
                EXIT_INCOMPATIBLE
            }
        }
        Err(e) => {
            match format {
                Format::Github => println!(
                    "::error title=schemata check::{}",
                    escape_data(&e.to_string())
                ),
                Format::Json => println!("{}", json!({ "error": e.to_string() })),
                Format::Text => {}
            }
            eprintln!("schemata check: {e}");
            EXIT_ERROR
        }
    }
}

async fn check(args: CheckArgs) -> Result<Vec<Verdict>, CheckError> {
    let candidates = candidates(&args.schemas, args.dir.as_deref())?;
    let Some(url) = &args.url else {
        let previous = previous_versions(&args.previous, args.previous_dir.as_deref())?;
        if previous.is_empty() {
            return Err(CheckError::Usage(
                "give --url, or earlier versions with --previous or --previous-dir".into(),
            ));
        }
        return candidates
            .into_iter()
            .map(|c| {
                let old = previous.get(&c.subject).map(Vec::as_slice).unwrap_or(&[]);
                local_verdict(args.level, c, old)
            })
            .collect();
    };
    let credentials = CredentialSource {
        user: args.user.clone(),
        password_env: args.password_env.clone(),
        password_stdin: args.password_stdin,
        user_info_env: args.basic_auth_env.clone(),
    };
    let client = RegistryClient::new(&Connection {
        url: url.clone(),
        basic: credentials.resolve("registry")?,
        cert: args.cert.clone(),
        key: args.key.clone(),
        ca: args.ca.clone(),
    })?;
    let mut verdicts = Vec::new();
    for c in candidates {
        verdicts.push(remote_verdict(&client, c).await?);
    }
    if args.register && verdicts.iter().all(Verdict::compatible) {
        for v in &mut verdicts {
            let path = format!("/subjects/{}/versions", segment(&v.subject));
            let answer = client.post(&path, &json!({ "schema": v.text })).await?;
            v.id = Some(answer["id"].as_i64().ok_or_else(|| CheckError::Subject {
                subject: v.subject.clone(),
                reason: format!("registered, but the answer has no id: {answer}"),
            })?);
        }
    }
    Ok(verdicts)
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> CheckError {
    CheckError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Reads a schema file; it must at least be JSON (the registry judges the Avro).
fn read_schema(path: &Path) -> Result<String, CheckError> {
    let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
    serde_json::from_str::<Value>(&text).map_err(|e| file_error(path, format!("not JSON: {e}")))?;
    Ok(text)
}

/// The subjects to check, from `--schema` pairs and `--dir`, each subject once.
fn candidates(
    pairs: &[(String, PathBuf)],
    dir: Option<&Path>,
) -> Result<Vec<Candidate>, CheckError> {
    let mut all: Vec<(String, PathBuf)> = pairs.to_vec();
    if let Some(dir) = dir {
        let entries = std::fs::read_dir(dir).map_err(|e| file_error(dir, e))?;
        let mut found = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| file_error(dir, e))?.path();
            if path.extension().is_some_and(|e| e == "avsc") && path.is_file() {
                let stem = path.file_stem().unwrap_or_default().to_string_lossy();
                found.push((stem.into_owned(), path));
            }
        }
        found.sort();
        all.extend(found);
    }
    if all.is_empty() {
        return Err(CheckError::Usage(
            "nothing to check: give --schema SUBJECT=FILE or --dir DIR".into(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    all.into_iter()
        .map(|(subject, file)| {
            if !seen.insert(subject.clone()) {
                return Err(CheckError::Usage(format!("subject {subject} given twice")));
            }
            let text = read_schema(&file)?;
            Ok(Candidate {
                subject,
                file,
                text,
            })
        })
        .collect()
}

/// Earlier versions per subject, oldest first, as (file, text).
fn previous_versions(
    pairs: &[(String, Vec<PathBuf>)],
    dir: Option<&Path>,
) -> Result<BTreeMap<String, Vec<(PathBuf, String)>>, CheckError> {
    let mut out: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    if let Some(dir) = dir {
        for entry in std::fs::read_dir(dir).map_err(|e| file_error(dir, e))? {
            let path = entry.map_err(|e| file_error(dir, e))?.path();
            if !path.is_dir() {
                continue;
            }
            let subject = path.file_name().unwrap_or_default().to_string_lossy();
            let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
                .map_err(|e| file_error(&path, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "avsc") && p.is_file())
                .collect();
            files.sort_by_key(|p| (version_number(p), p.clone()));
            out.insert(subject.into_owned(), files);
        }
    }
    for (subject, files) in pairs {
        out.entry(subject.clone())
            .or_default()
            .extend(files.iter().cloned());
    }
    out.into_iter()
        .map(|(subject, files)| {
            let texts = files
                .into_iter()
                .map(|f| Ok((f.clone(), read_schema(&f)?)))
                .collect::<Result<Vec<_>, CheckError>>()?;
            Ok((subject, texts))
        })
        .collect()
}

/// The first number in a file name (`v12.avsc` → 12); names without one sort last.
fn version_number(path: &Path) -> u64 {
    let name = path.file_stem().unwrap_or_default().to_string_lossy();
    let digits: String = name
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or(u64::MAX)
}

/// Asks the registry; a subject it does not know is new, hence compatible.
async fn remote_verdict(client: &RegistryClient, c: Candidate) -> Result<Verdict, CheckError> {
    let path = format!(
        "/compatibility/subjects/{}/versions?verbose=true",
        segment(&c.subject)
    );
    let body = json!({ "schema": &c.text });
    let (messages, new) = match client.post(&path, &body).await {
        Ok(answer) => {
            let compatible =
                answer["is_compatible"]
                    .as_bool()
                    .ok_or_else(|| CheckError::Subject {
                        subject: c.subject.clone(),
                        reason: format!("the registry's answer has no is_compatible: {answer}"),
                    })?;
            let mut messages: Vec<String> = answer["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_string))
                .collect();
            if !compatible && messages.is_empty() {
                messages
                    .push("the registry found the schema incompatible (no reason given)".into());
            }
            if compatible {
                messages.clear();
            }
            // Registries answer "compatible" for a subject they do not know (older ones 40401).
            let versions = format!("/subjects/{}/versions", segment(&c.subject));
            let new = compatible && client.get_unless(&versions, &[40401]).await?.is_none();
            (messages, new)
        }
        Err(e) if e.code() == Some(40401) => (Vec::new(), true),
        Err(e) => return Err(e.into()),
    };
    Ok(Verdict {
        subject: c.subject,
        file: c.file,
        text: c.text,
        messages,
        new,
        id: None,
    })
}

/// The registry's checker, in process: what a registry at `level` holding `previous` (oldest
/// first) would answer for the candidate. A new schema that does not parse is a verdict, as
/// the registry's verbose answer; an earlier version that does not parse is a bad file.
fn local_verdict(
    level: Level,
    c: Candidate,
    previous: &[(PathBuf, String)],
) -> Result<Verdict, CheckError> {
    let mut verdict = Verdict {
        subject: c.subject,
        file: c.file,
        text: c.text,
        messages: Vec::new(),
        new: previous.is_empty(),
        id: None,
    };
    let new = match avro::parse_submitted(&verdict.text, &[]) {
        Ok(parsed) => parsed,
        Err(e) => {
            verdict.messages.push(e.to_string());
            return Ok(verdict);
        }
    };
    let old = previous
        .iter()
        .map(|(file, text)| avro::parse(text, &[]).map_err(|e| file_error(file, e)))
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<(i32, compat::AvroSchemaRef<'_>, &str)> = old
        .iter()
        .zip(1..)
        .map(|(p, version)| {
            let schema = compat::AvroSchemaRef {
                root: &p.schema,
                refs: &p.refs,
            };
            (version, schema, p.canonical.as_str())
        })
        .collect();
    let new_ref = compat::AvroSchemaRef {
        root: &new.schema,
        refs: &new.refs,
    };
    verdict.messages = compat::check(level, new_ref, &refs).map_err(|e| CheckError::Subject {
        subject: verdict.subject.clone(),
        reason: e.to_string(),
    })?;
    Ok(verdict)
}

fn report(verdicts: &[Verdict], format: Format) {
    match format {
        Format::Text => {
            for v in verdicts {
                let what = match (v.compatible(), v.new) {
                    (false, _) => "INCOMPATIBLE",
                    (true, true) => "new",
                    (true, false) => "compatible",
                };
                println!("{what:<13} {} ({})", v.subject, v.file.display());
                for m in &v.messages {
                    println!("    {m}");
                }
                if let Some(id) = v.id {
                    println!("registered    {} as id {id}", v.subject);
                }
            }
            let bad = verdicts.iter().filter(|v| !v.compatible()).count();
            println!(
                "{} subjects checked: {} compatible, {bad} incompatible",
                verdicts.len(),
                verdicts.len() - bad
            );
        }
        Format::Json => {
            let subjects: Vec<Value> = verdicts
                .iter()
                .map(|v| {
                    let mut out = json!({
                        "subject": v.subject,
                        "file": v.file.display().to_string(),
                        "compatible": v.compatible(),
                        "new": v.new,
                        "messages": v.messages,
                    });
                    if let Some(id) = v.id {
                        out["id"] = json!(id);
                    }
                    out
                })
                .collect();
            let all = verdicts.iter().all(Verdict::compatible);
            println!("{}", json!({ "compatible": all, "subjects": subjects }));
        }
        Format::Github => {
            for v in verdicts {
                let file = escape_property(&v.file.display().to_string());
                if v.compatible() {
                    let mut message = if v.new {
                        format!("{}: new subject", v.subject)
                    } else {
                        format!("{}: compatible", v.subject)
                    };
                    if let Some(id) = v.id {
                        message.push_str(&format!(", registered as id {id}"));
                    }
                    let title = escape_property(&format!("{} is compatible", v.subject));
                    println!(
                        "::notice file={file},title={title}::{}",
                        escape_data(&message)
                    );
                } else {
                    let title = escape_property(&format!("{} is incompatible", v.subject));
                    let message = v.messages.join("\n");
                    println!(
                        "::error file={file},title={title}::{}",
                        escape_data(&message)
                    );
                }
            }
        }
    }
}

/// A workflow command's message: `%`, CR and LF escaped, as the Actions runner expects.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: also `:` and `,`, which separate properties.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers_order_previous_files() {
        let mut files: Vec<PathBuf> = ["v10.avsc", "v2.avsc", "1.avsc", "latest.avsc"]
            .into_iter()
            .map(PathBuf::from)
            .collect();
        files.sort_by_key(|p| (version_number(p), p.clone()));
        let names: Vec<_> = files.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(names, ["1.avsc", "v2.avsc", "v10.avsc", "latest.avsc"]);
    }

    #[test]
    fn workflow_commands_are_escaped() {
        assert_eq!(escape_data("a%b\nc"), "a%25b%0Ac");
        assert_eq!(escape_property("x:y,z"), "x%3Ay%2Cz");
    }

    #[test]
    fn pairs_parse() {
        assert_eq!(
            subject_and_files("s=a.avsc,b.avsc").unwrap(),
            (
                "s".into(),
                vec![PathBuf::from("a.avsc"), PathBuf::from("b.avsc")]
            )
        );
        assert!(subject_and_file("=a").is_err());
        assert!(subject_and_file("s").is_err());
    }
}

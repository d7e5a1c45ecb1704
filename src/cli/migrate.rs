//! `schemata migrate`: copies a running Confluent-compatible registry into another one, ids
//! and version numbers kept, so that serialized messages (which carry schema ids) still resolve.
//!
//! What is copied: every subject's versions (soft-deleted ones too, when the source lists them
//! with `?deleted=true`; they are registered, then soft-deleted in the target), the global and
//! per-subject config, and the global and per-subject mode. Configs and modes are set after
//! the versions, so a subject's `normalize` or READONLY does not get in the way of the import.
//!
//! How: the target is put in IMPORT mode — Confluent refuses that on a registry with live
//! subjects unless `?force=true`, and without `force` it permanently removes the soft-deleted
//! versions there; so a target that has subjects (an earlier, interrupted run) is switched with
//! `force` — and each version is registered with its explicit `id` and `version`, referenced
//! versions before those referring to them, a subject's versions in order. At the end the
//! target takes the source's global mode (on a failure, its own earlier mode back).
//!
//! Resumable and idempotent: what the target already has (same subject, version, id, text,
//! references) is skipped; the same subject and version with another id or text is a conflict,
//! found before anything is written. Config or mode subjects without any version cannot be
//! listed through the API and are not copied.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use super::client::{segment, ClientError, Connection, CredentialSource, RegistryClient};

/// Confluent error codes the copy treats as "nothing there".
const SUBJECT_NOT_FOUND: i64 = 40401;
const VERSION_NOT_FOUND: i64 = 40402;
const SCHEMA_NOT_FOUND: i64 = 40403;
const SUBJECT_CONFIG_NOT_FOUND: i64 = 40408;
const SUBJECT_MODE_NOT_FOUND: i64 = 40409;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Passwords come from environment variables, never from flag values.\n\
    Running it again copies only what the target lacks; a conflicting version stops it \
    before anything is written."
)]
pub struct MigrateArgs {
    /// Source registry base URL
    #[arg(long, value_name = "URL")]
    from: String,
    /// Basic auth user for the source (password: --from-password-env)
    #[arg(long, value_name = "USER", requires = "from_password_env")]
    from_user: Option<String>,
    /// Environment variable holding the source's Basic password
    #[arg(long, value_name = "VAR", requires = "from_user")]
    from_password_env: Option<String>,
    /// Environment variable holding the source's USER:PASSWORD
    #[arg(long, value_name = "VAR", conflicts_with = "from_user")]
    from_basic_auth_env: Option<String>,
    /// Client certificate (PEM) for the source; needs --from-key
    #[arg(long, value_name = "PEM", requires = "from_key")]
    from_cert: Option<PathBuf>,
    /// Private key (PEM) of --from-cert
    #[arg(long, value_name = "PEM", requires = "from_cert")]
    from_key: Option<PathBuf>,
    /// CA certificates (PEM) to trust for the source
    #[arg(long, value_name = "PEM")]
    from_ca: Option<PathBuf>,
    /// Target registry base URL
    #[arg(long, value_name = "URL")]
    to: String,
    /// Basic auth user for the target (password: --to-password-env)
    #[arg(long, value_name = "USER", requires = "to_password_env")]
    to_user: Option<String>,
    /// Environment variable holding the target's Basic password
    #[arg(long, value_name = "VAR", requires = "to_user")]
    to_password_env: Option<String>,
    /// Environment variable holding the target's USER:PASSWORD
    #[arg(long, value_name = "VAR", conflicts_with = "to_user")]
    to_basic_auth_env: Option<String>,
    /// Client certificate (PEM) for the target; needs --to-key
    #[arg(long, value_name = "PEM", requires = "to_key")]
    to_cert: Option<PathBuf>,
    /// Private key (PEM) of --to-cert
    #[arg(long, value_name = "PEM", requires = "to_cert")]
    to_key: Option<PathBuf>,
    /// CA certificates (PEM) to trust for the target
    #[arg(long, value_name = "PEM")]
    to_ca: Option<PathBuf>,
}

impl MigrateArgs {
    fn clients(&self) -> Result<(RegistryClient, RegistryClient), ClientError> {
        let from = CredentialSource {
            user: self.from_user.clone(),
            password_env: self.from_password_env.clone(),
            password_stdin: false,
            user_info_env: self.from_basic_auth_env.clone(),
        };
        let to = CredentialSource {
            user: self.to_user.clone(),
            password_env: self.to_password_env.clone(),
            password_stdin: false,
            user_info_env: self.to_basic_auth_env.clone(),
        };
        let source = RegistryClient::new(&Connection {
            url: self.from.clone(),
            basic: from.resolve("source")?,
            cert: self.from_cert.clone(),
            key: self.from_key.clone(),
            ca: self.from_ca.clone(),
        })?;
        let target = RegistryClient::new(&Connection {
            url: self.to.clone(),
            basic: to.resolve("target")?,
            cert: self.to_cert.clone(),
            key: self.to_key.clone(),
            ca: self.to_ca.clone(),
        })?;
        Ok((source, target))
    }
}

/// One version as the source serves it.
#[derive(Debug, Clone)]
struct SourceVersion {
    subject: String,
    version: i64,
    id: i64,
    schema: String,
    schema_type: Option<String>,
    references: Vec<Value>,
    deleted: bool,
}

impl SourceVersion {
    fn from_json(subject: &str, v: &Value, deleted: bool) -> anyhow::Result<SourceVersion> {
        let field = |name: &str| {
            v.get(name)
                .ok_or_else(|| anyhow!("source version of {subject} lacks `{name}`: {v}"))
        };
        Ok(SourceVersion {
            subject: subject.to_string(),
            version: field("version")?.as_i64().context("version")?,
            id: field("id")?.as_i64().context("id")?,
            schema: field("schema")?.as_str().context("schema")?.to_string(),
            schema_type: schema_type(v),
            references: references(v),
            deleted,
        })
    }

    fn name(&self) -> String {
        format!("{} version {} (id {})", self.subject, self.version, self.id)
    }

    /// Whether the target's rendering of a version is this one.
    fn same_as(&self, target: &Value) -> bool {
        target["id"].as_i64() == Some(self.id)
            && target["schema"].as_str() == Some(self.schema.as_str())
            && schema_type(target) == self.schema_type
            && references(target) == self.references
    }
}

/// `schemaType`, with AVRO (the default, which registries leave out) as `None`.
fn schema_type(v: &Value) -> Option<String> {
    v.get("schemaType")
        .and_then(Value::as_str)
        .filter(|t| !t.eq_ignore_ascii_case("AVRO"))
        .map(str::to_string)
}

fn references(v: &Value) -> Vec<Value> {
    v.get("references")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Everything read from the source.
struct SourceRegistry {
    /// Every version, in the order they can be registered in.
    versions: Vec<SourceVersion>,
    subjects: Vec<String>,
    global_config: Value,
    global_mode: String,
    subject_configs: BTreeMap<String, Value>,
    subject_modes: BTreeMap<String, String>,
}

/// What the target needs for one source version.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Already there, deleted or not as in the source.
    Present,
    /// There, but the source has it soft-deleted.
    Delete,
    /// Not there yet.
    Register,
}

/// The counts the final line reports.
#[derive(Default)]
struct Tally {
    copied: usize,
    subjects: BTreeSet<String>,
    skipped: usize,
    settings: usize,
}

pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let (source, target) = args.clients()?;
    let from = read_source(&source).await?;
    let steps = plan(&target, &from.versions).await?;
    let prior_mode = mode_of(&target).await?;
    let pending = steps.iter().filter(|s| **s != Step::Present).count();
    let mut tally = Tally {
        skipped: steps.len() - pending,
        ..Tally::default()
    };
    if pending > 0 {
        enter_import(&target, &prior_mode).await?;
        let copied = copy_versions(&target, &from, &steps, &mut tally).await;
        if let Err(e) = copied {
            // Best effort: leave the target as it was found, not in IMPORT.
            if prior_mode != "IMPORT" {
                let _ = set_mode(&target, None, &prior_mode).await;
            }
            return Err(e);
        }
    }
    copy_settings(&target, &from, &mut tally).await?;
    eprintln!(
        "copied {} versions of {} subjects, skipped {} already present",
        tally.copied,
        tally.subjects.len(),
        tally.skipped
    );
    if tally.settings > 0 {
        eprintln!("updated {} configs and modes", tally.settings);
    }
    Ok(())
}

async fn read_source(source: &RegistryClient) -> anyhow::Result<SourceRegistry> {
    let subjects: Vec<String> = serde_json::from_value(
        source
            .get("/subjects?deleted=true")
            .await
            .context("listing the source's subjects")?,
    )
    .context("the source's subject list")?;
    let mut versions = Vec::new();
    let mut subject_configs = BTreeMap::new();
    let mut subject_modes = BTreeMap::new();
    for subject in &subjects {
        let s = segment(subject);
        let all = version_list(source, &format!("/subjects/{s}/versions?deleted=true")).await?;
        let live: HashSet<i64> = version_list(source, &format!("/subjects/{s}/versions"))
            .await?
            .into_iter()
            .collect();
        for v in all {
            let body = source
                .get(&format!("/subjects/{s}/versions/{v}?deleted=true"))
                .await
                .with_context(|| format!("reading {subject} version {v} from the source"))?;
            versions.push(SourceVersion::from_json(
                subject,
                &body,
                !live.contains(&v),
            )?);
        }
        if let Some(config) = source
            .get_unless(
                &format!("/config/{s}"),
                &[SUBJECT_CONFIG_NOT_FOUND, SUBJECT_NOT_FOUND],
            )
            .await?
        {
            subject_configs.insert(subject.clone(), config);
        }
        if let Some(mode) = source
            .get_unless(
                &format!("/mode/{s}"),
                &[SUBJECT_MODE_NOT_FOUND, SUBJECT_NOT_FOUND],
            )
            .await?
        {
            subject_modes.insert(subject.clone(), mode_name(&mode)?);
        }
    }
    Ok(SourceRegistry {
        versions: registration_order(versions)?,
        subjects,
        global_config: source.get("/config").await?,
        global_mode: mode_of(source).await?,
        subject_configs,
        subject_modes,
    })
}

/// A subject's version numbers; none if the subject is unknown (or only soft-deleted).
async fn version_list(client: &RegistryClient, path: &str) -> anyhow::Result<Vec<i64>> {
    match client.get_unless(path, &[SUBJECT_NOT_FOUND]).await? {
        None => Ok(Vec::new()),
        Some(v) => serde_json::from_value(v.clone()).with_context(|| format!("{path}: {v}")),
    }
}

fn mode_name(v: &Value) -> anyhow::Result<String> {
    v["mode"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("a mode answer without `mode`: {v}"))
}

async fn mode_of(client: &RegistryClient) -> anyhow::Result<String> {
    mode_name(&client.get("/mode").await?)
}

async fn set_mode(
    client: &RegistryClient,
    subject: Option<&str>,
    mode: &str,
) -> anyhow::Result<()> {
    // `force`: entering IMPORT with subjects present is what a resumed copy does.
    let path = match subject {
        None => "/mode?force=true".to_string(),
        Some(s) => format!("/mode/{}?force=true", segment(s)),
    };
    client.put(&path, &json!({ "mode": mode })).await?;
    Ok(())
}

/// Orders versions so that each comes after the versions it references and after the earlier
/// versions of its subject; otherwise subjects and versions keep their source order.
fn registration_order(versions: Vec<SourceVersion>) -> anyhow::Result<Vec<SourceVersion>> {
    let index: HashMap<(String, i64), usize> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| ((v.subject.clone(), v.version), i))
        .collect();
    let mut waiting_on = vec![0usize; versions.len()];
    let mut unblocks: Vec<Vec<usize>> = vec![Vec::new(); versions.len()];
    for (i, v) in versions.iter().enumerate() {
        let mut deps: BTreeSet<usize> = v
            .references
            .iter()
            .filter_map(|r| {
                let key = (r["subject"].as_str()?.to_string(), r["version"].as_i64()?);
                index.get(&key).copied()
            })
            .collect();
        if i > 0 && versions[i - 1].subject == v.subject {
            deps.insert(i - 1);
        }
        waiting_on[i] = deps.len();
        for d in deps {
            unblocks[d].push(i);
        }
    }
    let mut ready: BTreeSet<usize> = (0..versions.len())
        .filter(|i| waiting_on[*i] == 0)
        .collect();
    let mut order = Vec::with_capacity(versions.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &next in &unblocks[i] {
            waiting_on[next] -= 1;
            if waiting_on[next] == 0 {
                ready.insert(next);
            }
        }
    }
    if order.len() != versions.len() {
        bail!("the source's schema references form a cycle; cannot order the copy");
    }
    let mut slots: Vec<Option<SourceVersion>> = versions.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

/// What each source version needs in the target; a conflict stops everything before any write.
async fn plan(target: &RegistryClient, versions: &[SourceVersion]) -> anyhow::Result<Vec<Step>> {
    let mut listed: HashMap<String, (HashSet<i64>, HashSet<i64>)> = HashMap::new();
    let mut steps = Vec::with_capacity(versions.len());
    for v in versions {
        let s = segment(&v.subject);
        if !listed.contains_key(&v.subject) {
            let all = version_list(target, &format!("/subjects/{s}/versions?deleted=true")).await?;
            let live = version_list(target, &format!("/subjects/{s}/versions")).await?;
            listed.insert(
                v.subject.clone(),
                (all.into_iter().collect(), live.into_iter().collect()),
            );
        }
        let (all, live) = &listed[&v.subject];
        if !all.contains(&v.version) {
            // The id must be free, or name the same schema.
            if let Some(there) = target
                .get_unless(&format!("/schemas/ids/{}", v.id), &[SCHEMA_NOT_FOUND])
                .await?
            {
                if there["schema"].as_str() != Some(v.schema.as_str()) {
                    bail!(
                        "conflict: the target's id {} is another schema than the source's {}",
                        v.id,
                        v.name()
                    );
                }
            }
            steps.push(Step::Register);
            continue;
        }
        let there = target
            .get(&format!(
                "/subjects/{s}/versions/{}?deleted=true",
                v.version
            ))
            .await?;
        if !v.same_as(&there) {
            bail!(
                "conflict: the target's {} version {} is not the source's {}: target has id {} and {}",
                v.subject,
                v.version,
                v.name(),
                there["id"],
                there["schema"]
            );
        }
        let live_there = live.contains(&v.version);
        steps.push(match (v.deleted, live_there) {
            (true, true) => Step::Delete,
            (false, false) => bail!(
                "conflict: the target has soft-deleted {}, which the source has live; \
                 a soft-deleted version cannot be brought back",
                v.name()
            ),
            _ => Step::Present,
        });
    }
    Ok(steps)
}

/// Puts the target in IMPORT mode (see the module comment for `force`). Subject modes that
/// would override it are removed subject by subject during the copy; [`copy_settings`] sets
/// the source's afterwards.
async fn enter_import(target: &RegistryClient, prior: &str) -> anyhow::Result<()> {
    if prior != "IMPORT" {
        let subjects = target.get("/subjects?deleted=true").await?;
        let empty = subjects.as_array().is_some_and(Vec::is_empty);
        let path = if empty { "/mode" } else { "/mode?force=true" };
        target
            .put(path, &json!({ "mode": "IMPORT" }))
            .await
            .context("putting the target in IMPORT mode")?;
    }
    Ok(())
}

async fn copy_versions(
    target: &RegistryClient,
    from: &SourceRegistry,
    steps: &[Step],
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let pending = steps.iter().filter(|s| **s != Step::Present).count();
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(pending as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut cleared_modes = HashSet::new();
    for (v, step) in from.versions.iter().zip(steps) {
        if *step != Step::Register {
            continue;
        }
        bar.set_message(format!("{} v{}", v.subject, v.version));
        if cleared_modes.insert(v.subject.clone()) {
            clear_subject_mode(target, &v.subject).await?;
        }
        register(target, v).await?;
        tally.copied += 1;
        tally.subjects.insert(v.subject.clone());
        bar.inc(1);
    }
    // Referrers before the versions they reference: a live referrer blocks a delete.
    for (v, step) in from.versions.iter().zip(steps).rev() {
        if *step == Step::Present || !v.deleted {
            continue;
        }
        bar.set_message(format!("{} v{} (soft delete)", v.subject, v.version));
        if cleared_modes.insert(v.subject.clone()) {
            clear_subject_mode(target, &v.subject).await?;
        }
        let path = format!("/subjects/{}/versions/{}", segment(&v.subject), v.version);
        target
            .delete(&path)
            .await
            .with_context(|| format!("soft-deleting {} in the target", v.name()))?;
        if *step == Step::Delete {
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    Ok(())
}

/// Removes a target subject's own mode (READONLY would refuse the import, READWRITE would
/// override the global IMPORT); the source's is set afterwards.
async fn clear_subject_mode(target: &RegistryClient, subject: &str) -> anyhow::Result<()> {
    let path = format!("/mode/{}", segment(subject));
    let current = target
        .get_unless(&path, &[SUBJECT_MODE_NOT_FOUND, SUBJECT_NOT_FOUND])
        .await?;
    if current.is_some_and(|m| m["mode"] != "IMPORT") {
        target.delete(&path).await?;
    }
    Ok(())
}

/// Registers one version with its id and version, and checks the target kept both.
async fn register(target: &RegistryClient, v: &SourceVersion) -> anyhow::Result<()> {
    let mut body = json!({ "schema": v.schema, "id": v.id, "version": v.version });
    if let Some(t) = &v.schema_type {
        body["schemaType"] = json!(t);
    }
    if !v.references.is_empty() {
        body["references"] = json!(v.references);
    }
    let s = segment(&v.subject);
    let answer = target
        .post(&format!("/subjects/{s}/versions"), &body)
        .await
        .with_context(|| format!("registering {} in the target", v.name()))?;
    if answer["id"].as_i64() != Some(v.id) {
        bail!(
            "conflict: the target registered {} under id {}",
            v.name(),
            answer["id"]
        );
    }
    let stored = target
        .get_unless(
            &format!("/subjects/{s}/versions/{}?deleted=true", v.version),
            &[VERSION_NOT_FOUND],
        )
        .await?;
    match stored {
        Some(stored) if v.same_as(&stored) => Ok(()),
        // A registry that found the same schema live under another version answers with
        // that one's id and creates nothing.
        _ => bail!(
            "the target did not create {}: it keeps the same schema under another version",
            v.name()
        ),
    }
}

/// The source's configs and modes, written where the target's differ; the global mode last,
/// which also ends IMPORT.
async fn copy_settings(
    target: &RegistryClient,
    from: &SourceRegistry,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    if target.get("/config").await? != from.global_config {
        target
            .put("/config", &config_update(&from.global_config))
            .await?;
        tally.settings += 1;
    }
    for subject in &from.subjects {
        let path = format!("/config/{}", segment(subject));
        let there = target
            .get_unless(&path, &[SUBJECT_CONFIG_NOT_FOUND, SUBJECT_NOT_FOUND])
            .await?;
        let wanted = from.subject_configs.get(subject);
        if there.as_ref() != wanted {
            match wanted {
                Some(config) => target.put(&path, &config_update(config)).await?,
                None => target.delete(&path).await?,
            };
            tally.settings += 1;
        }
    }
    for subject in &from.subjects {
        let path = format!("/mode/{}", segment(subject));
        let there = target
            .get_unless(&path, &[SUBJECT_MODE_NOT_FOUND, SUBJECT_NOT_FOUND])
            .await?
            .map(|m| mode_name(&m))
            .transpose()?;
        let wanted = from.subject_modes.get(subject);
        if there.as_ref() != wanted {
            match wanted {
                Some(mode) => set_mode(target, Some(subject), mode).await?,
                None => {
                    target.delete(&path).await?;
                }
            }
            tally.settings += 1;
        }
    }
    if mode_of(target).await? != from.global_mode {
        set_mode(target, None, &from.global_mode).await?;
        tally.settings += 1;
    }
    Ok(())
}

/// A config as GET renders it, as PUT takes it: `compatibilityLevel` is `compatibility` there;
/// the other fields (`normalize`, and Confluent's newer ones) have the same names both ways.
fn config_update(config: &Value) -> Value {
    let mut out = config.clone();
    if let Some(o) = out.as_object_mut() {
        if let Some(level) = o.remove("compatibilityLevel") {
            o.insert("compatibility".into(), level);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(subject: &str, version: i64, refs: &[(&str, i64)]) -> SourceVersion {
        SourceVersion {
            subject: subject.into(),
            version,
            id: 0,
            schema: String::new(),
            schema_type: None,
            references: refs
                .iter()
                .map(|(s, v)| json!({"name": s, "subject": s, "version": v}))
                .collect(),
            deleted: false,
        }
    }

    #[test]
    fn referenced_versions_come_first_and_versions_stay_in_order() {
        let order = registration_order(vec![
            version("a", 1, &[]),
            version("a", 2, &[("z", 2)]),
            version("b", 1, &[("a", 1)]),
            version("z", 1, &[]),
            version("z", 2, &[]),
        ])
        .unwrap();
        let names: Vec<String> = order
            .iter()
            .map(|v| format!("{}{}", v.subject, v.version))
            .collect();
        assert_eq!(names, ["a1", "b1", "z1", "z2", "a2"]);
    }

    #[test]
    fn reference_cycles_are_refused() {
        let cycle = vec![version("a", 1, &[("b", 1)]), version("b", 1, &[("a", 1)])];
        assert!(registration_order(cycle).is_err());
    }

    #[test]
    fn config_updates_use_the_put_field_names() {
        let got = config_update(&json!({"compatibilityLevel": "FULL", "normalize": true}));
        assert_eq!(got, json!({"compatibility": "FULL", "normalize": true}));
    }
}

//! `schemata user …`: manage users in the store directly, by the rules `/admin/users` follows
//! (`auth::admin`).
//!
//! On Kafka (`kafka://…`, users in the `[kafka] users_topic`), these work while servers run:
//! they pick up a change within a second. A SQLite file is held exclusively by a running server,
//! so there they work while it is stopped (the first admin is created this way); while it runs,
//! use the `/admin/users` API.
//! Passwords come from a no-echo prompt or, for scripts, one line on standard input
//! (`--password-stdin`) — never from the command line, where `ps` and shell history see them.

use std::io::BufRead;
use std::path::PathBuf;

use crate::auth::store::UserStore;
use crate::auth::{Role, UserAdmin, UserError};
use crate::config::{Config, Overrides};

#[derive(Debug, clap::Args)]
pub struct UserArgs {
    /// Config file (TOML, or Confluent's .properties); its store names the database
    #[arg(long, env = "SCHEMATA_CONFIG")]
    config: Option<PathBuf>,
    /// Store URL (sqlite://PATH); overrides the config file
    #[arg(long, env = "SCHEMATA_STORE")]
    store: Option<String>,
    /// How to reach Kafka for a kafka:// store
    #[command(flatten)]
    kafka: crate::store::kafka::KafkaOverrides,
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Add a user
    Add {
        name: String,
        /// admin, write or read
        #[arg(long, default_value = "read")]
        role: Role,
        /// Limit the role to subjects starting with this prefix (repeatable; none = all)
        #[arg(long = "prefix")]
        prefixes: Vec<String>,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user
    Remove { name: String },
    /// List users with their roles and grants
    List,
    /// Set a user's password
    Passwd {
        name: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's role or subject prefixes (the prefixes given replace the old ones)
    Grant {
        name: String,
        /// admin, write or read
        #[arg(long)]
        role: Option<Role>,
        /// Subject prefix (repeatable)
        #[arg(long = "prefix")]
        prefixes: Vec<String>,
        /// Remove every prefix: the role applies to all subjects
        #[arg(long, conflicts_with = "prefixes")]
        all_subjects: bool,
    },
}

pub async fn run(args: UserArgs) -> anyhow::Result<()> {
    let overrides = Overrides {
        store: args.store,
        kafka: args.kafka,
        ..Overrides::default()
    };
    let config = Config::load(args.config.as_ref(), overrides)?;
    // On Kafka only the users topic is opened: `_schemas` is neither created nor written.
    if let Some(rest) = config.store.strip_prefix("kafka://") {
        let (brokers, topic) = crate::store::kafka::KafkaStore::parse_url(rest)
            .ok_or_else(|| crate::store::StoreError::BadUrl(config.store.clone()))?;
        if topic == config.kafka.users_topic {
            anyhow::bail!("the users topic cannot be the schemas topic '{topic}'");
        }
        let users = UserStore::open_kafka(&brokers, &config.kafka).await?;
        let result = execute(&UserAdmin::new(users.clone()), args.command).await;
        users.close().await;
        return result;
    }
    let store = crate::store::Store::open_with(&config.store, &config.kafka)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Locked(_) => anyhow::anyhow!(
                "{e}: stop the server first, or manage users through its /admin/users API"
            ),
            e => e.into(),
        })?;
    let result = match UserStore::open(&store).await {
        Ok(users) => execute(&UserAdmin::new(users), args.command).await,
        Err(e) => Err(anyhow::anyhow!("cannot load users: {e}")),
    };
    store.close().await;
    result
}

async fn execute(admin: &UserAdmin, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            role,
            prefixes,
            password_stdin,
        } => {
            // Checked before the prompt too, so nobody types a password for nothing.
            if admin.get(&name).is_ok() {
                return Err(refusal(UserError::Exists(name)));
            }
            let password = read_password(&name, password_stdin)?;
            admin
                .add(name.clone(), password, role, prefixes)
                .await
                .map_err(refusal)?;
            println!("added user '{name}' ({role})");
        }
        UserCommand::Remove { name } => {
            admin.remove(&name).await.map_err(refusal)?;
            println!("removed user '{name}'");
        }
        UserCommand::List => {
            for u in admin.list() {
                let grants = if u.grants.is_empty() {
                    "*".to_string()
                } else {
                    u.grants.join(",")
                };
                println!("{}\t{}\t{grants}", u.name, u.role);
            }
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            admin.get(&name).map_err(refusal)?;
            let password = read_password(&name, password_stdin)?;
            admin.set_password(&name, password).await.map_err(refusal)?;
            println!("password of '{name}' changed");
        }
        UserCommand::Grant {
            name,
            role,
            prefixes,
            all_subjects,
        } => {
            let grants = if all_subjects {
                Some(Vec::new())
            } else {
                Some(prefixes).filter(|p| !p.is_empty())
            };
            if role.is_none() && grants.is_none() {
                anyhow::bail!("give --role, --prefix or --all-subjects");
            }
            let summary = admin
                .set_access(&name, role, grants)
                .await
                .map_err(refusal)?;
            println!(
                "'{}' is now {} on {}",
                summary.name,
                summary.role,
                if summary.grants.is_empty() {
                    "all subjects".to_string()
                } else {
                    summary.grants.join(", ")
                }
            );
        }
    }
    Ok(())
}

/// A refusal in the command line's words (the API words them for HTTP clients).
fn refusal(e: UserError) -> anyhow::Error {
    match e {
        UserError::NotFound(name) => anyhow::anyhow!("no user '{name}'"),
        UserError::Exists(name) => anyhow::anyhow!("user '{name}' already exists"),
        UserError::LastAdmin(name) => anyhow::anyhow!(
            "'{name}' is the last admin and cannot be removed or demoted: add another admin first"
        ),
        other => other.into(),
    }
}

fn read_password(name: &str, from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let first = rpassword::prompt_password(format!("Password for '{name}': "))?;
    let again = rpassword::prompt_password("Again: ")?;
    if first != again {
        anyhow::bail!("the passwords differ");
    }
    Ok(first)
}

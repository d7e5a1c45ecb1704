//! `schemata user …`: manage users in the store directly.
//!
//! On Kafka (`kafka://…`, users in the `[kafka] users_topic`), these work while servers run:
//! they pick up a change within a second. A SQLite file is held exclusively by a running server,
//! so there they work while it is stopped (the first admin is created this way); while it runs,
//! use the `/admin/users` API.
//! Passwords come from a no-echo prompt or, for scripts, one line on standard input
//! (`--password-stdin`) — never from the command line, where `ps` and shell history see them.

use std::io::BufRead;
use std::path::PathBuf;

use super::store::UserStore;
use super::users::{Role, User};
use crate::config::{Config, Overrides};

#[derive(Debug, clap::Args)]
pub struct UserArgs {
    /// TOML config file; its `store` names the database
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
        let result = execute(&users, args.command).await;
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
    let result = match UserStore::open(&store, &config.kafka).await {
        Ok(users) => execute(&users, args.command).await,
        Err(e) => Err(anyhow::anyhow!("cannot load users: {e}")),
    };
    store.close().await;
    result
}

async fn execute(users: &UserStore, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            role,
            prefixes,
            password_stdin,
        } => {
            if users.get(&name).is_some() {
                anyhow::bail!("user '{name}' already exists");
            }
            let password = read_password(&name, password_stdin)?;
            let user = User::new(&name, &password, role, prefixes).map_err(anyhow::Error::msg)?;
            if !users.insert(&user).await? {
                anyhow::bail!("user '{name}' already exists");
            }
            println!("added user '{name}' ({role})");
        }
        UserCommand::Remove { name } => {
            if !users.delete(&name).await? {
                anyhow::bail!("no user '{name}'");
            }
            println!("removed user '{name}'");
        }
        UserCommand::List => {
            for u in users.list() {
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
            existing(users, &name)?;
            let password = read_password(&name, password_stdin)?;
            let (phc, scram) = super::users::secrets(&password).map_err(anyhow::Error::msg)?;
            users
                .modify(&name, |u| (u.password_phc, u.scram) = (phc, scram))
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user '{name}'"))?;
            println!("password of '{name}' changed");
        }
        UserCommand::Grant {
            name,
            role,
            prefixes,
            all_subjects,
        } => {
            if role.is_none() && prefixes.is_empty() && !all_subjects {
                anyhow::bail!("give --role, --prefix or --all-subjects");
            }
            super::users::check_grants(&prefixes).map_err(anyhow::Error::msg)?;
            let user = users
                .modify(&name, |u| {
                    if let Some(role) = role {
                        u.role = role;
                    }
                    if all_subjects {
                        u.grants.clear();
                    } else if !prefixes.is_empty() {
                        u.grants = prefixes;
                    }
                })
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user '{name}'"))?;
            let summary = user.summary();
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

fn existing(users: &UserStore, name: &str) -> anyhow::Result<User> {
    users
        .get(name)
        .ok_or_else(|| anyhow::anyhow!("no user '{name}'"))
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

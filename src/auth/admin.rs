//! Managing users: the one implementation of adding, removing, re-passwording and re-granting
//! them, with every rule, shared by `schemata user …` and the `/admin/users` API — so the two
//! cannot drift apart on what they allow.
//!
//! The rules: names, passwords and grants are checked (`users::check_*`); a change that would
//! leave no admin is refused, since nobody could manage users over HTTP then; hashing (argon2 and
//! PBKDF2, slow on purpose) runs on the blocking pool, never on the async workers.

use std::sync::Arc;

use super::store::UserStore;
use super::users::{check_grants, secrets, Role, User, UserSummary};
use crate::store::StoreError;

/// Why a user-management operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("User '{0}' not found")]
    NotFound(String),
    #[error("User '{0}' already exists")]
    Exists(String),
    /// A name, password or grant the rules refuse, or a change that names nothing to change.
    #[error("{0}")]
    Invalid(String),
    /// Removing or demoting this admin would leave none.
    #[error("The last admin cannot be removed or demoted")]
    LastAdmin(String),
    /// The blocking task that hashes the password did not finish (the runtime is shutting down).
    #[error("hashing failed")]
    Hashing,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The users of one store, with their changes serialized.
pub struct UserAdmin {
    users: Arc<UserStore>,
    /// One change at a time: each reads a user, changes it and writes it back, and the
    /// last-admin check must see the others' results.
    writes: tokio::sync::Mutex<()>,
}

impl UserAdmin {
    pub fn new(users: Arc<UserStore>) -> UserAdmin {
        UserAdmin {
            users,
            writes: tokio::sync::Mutex::new(()),
        }
    }

    /// Every user, by name, without secrets.
    pub fn list(&self) -> Vec<UserSummary> {
        self.users.list().iter().map(User::summary).collect()
    }

    pub fn get(&self, name: &str) -> Result<UserSummary, UserError> {
        Ok(self.existing(name)?.summary())
    }

    /// Adds a user with `password`; the name must be free.
    pub async fn add(
        &self,
        name: String,
        password: String,
        role: Role,
        grants: Vec<String>,
    ) -> Result<UserSummary, UserError> {
        let _writing = self.writes.lock().await;
        let user = hashing(move || User::new(&name, &password, role, grants)).await?;
        if !self.users.insert(&user).await? {
            return Err(UserError::Exists(user.name));
        }
        Ok(user.summary())
    }

    /// Removes a user, unless it is the last admin; returns what it was.
    pub async fn remove(&self, name: &str) -> Result<UserSummary, UserError> {
        let _writing = self.writes.lock().await;
        let user = self.existing(name)?;
        if user.role == Role::Admin {
            self.keep_an_admin(name)?;
        }
        if !self.users.delete(name).await? {
            return Err(UserError::NotFound(name.to_string()));
        }
        Ok(user.summary())
    }

    /// Replaces a user's secrets with ones for `password`.
    pub async fn set_password(
        &self,
        name: &str,
        password: String,
    ) -> Result<UserSummary, UserError> {
        let _writing = self.writes.lock().await;
        self.existing(name)?;
        let (phc, scram) = hashing(move || secrets(&password)).await?;
        let user = self
            .modify(name, |u| (u.password_phc, u.scram) = (phc, scram))
            .await?;
        Ok(user.summary())
    }

    /// Sets a user's role, grants (replacing the old ones; empty: every subject), or both.
    /// An admin demoted must not be the last one.
    pub async fn set_access(
        &self,
        name: &str,
        role: Option<Role>,
        grants: Option<Vec<String>>,
    ) -> Result<UserSummary, UserError> {
        let _writing = self.writes.lock().await;
        if role.is_none() && grants.is_none() {
            return Err(UserError::Invalid("Give a role, grants, or both".into()));
        }
        let user = self.existing(name)?;
        if role.is_some_and(|r| r != Role::Admin) && user.role == Role::Admin {
            self.keep_an_admin(name)?;
        }
        if let Some(grants) = &grants {
            check_grants(grants).map_err(UserError::Invalid)?;
        }
        let user = self
            .modify(name, |u| {
                if let Some(role) = role {
                    u.role = role;
                }
                if let Some(grants) = grants {
                    u.grants = grants;
                }
            })
            .await?;
        Ok(user.summary())
    }

    fn existing(&self, name: &str) -> Result<User, UserError> {
        self.users
            .get(name)
            .ok_or_else(|| UserError::NotFound(name.to_string()))
    }

    /// Changes the user `name` as stored now (see `UserStore::modify`).
    async fn modify(&self, name: &str, change: impl FnOnce(&mut User)) -> Result<User, UserError> {
        self.users
            .modify(name, change)
            .await?
            .ok_or_else(|| UserError::NotFound(name.to_string()))
    }

    /// Refuses a change to `changed` that would leave no other admin.
    fn keep_an_admin(&self, changed: &str) -> Result<(), UserError> {
        let others = self
            .users
            .list()
            .iter()
            .filter(|u| u.role == Role::Admin && u.name != changed)
            .count();
        if others == 0 {
            return Err(UserError::LastAdmin(changed.to_string()));
        }
        Ok(())
    }
}

/// Runs argon2 and PBKDF2 work — slow on purpose — on the blocking pool; what the checks refuse
/// is [`UserError::Invalid`].
async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, UserError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| UserError::Hashing)?
        .map_err(UserError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn admin() -> UserAdmin {
        let store = crate::store::Store::open_with("memory://", &Default::default())
            .await
            .unwrap();
        UserAdmin::new(UserStore::open(&store).await.unwrap())
    }

    const PASSWORD: &str = "a-long-password";

    #[tokio::test]
    async fn the_last_admin_is_neither_removed_nor_demoted() {
        let admin = admin().await;
        admin
            .add("root".into(), PASSWORD.into(), Role::Admin, vec![])
            .await
            .unwrap();
        assert!(matches!(
            admin.remove("root").await,
            Err(UserError::LastAdmin(n)) if n == "root"
        ));
        assert!(matches!(
            admin.set_access("root", Some(Role::Write), None).await,
            Err(UserError::LastAdmin(_))
        ));
        // Grants alone, or the same role, leave it an admin.
        let root = admin
            .set_access("root", Some(Role::Admin), Some(vec!["a.".into()]))
            .await
            .unwrap();
        assert_eq!(root.grants, ["a."]);
        // With a second admin, either may go.
        admin
            .add("ops".into(), PASSWORD.into(), Role::Admin, vec![])
            .await
            .unwrap();
        admin
            .set_access("root", Some(Role::Read), None)
            .await
            .unwrap();
        assert!(matches!(
            admin.remove("ops").await,
            Err(UserError::LastAdmin(_))
        ));
        admin.remove("root").await.unwrap();
        assert_eq!(admin.list().len(), 1);
    }

    #[tokio::test]
    async fn names_passwords_and_grants_are_checked() {
        let admin = admin().await;
        let add = |name: &str, password: &str, grants: Vec<String>| {
            admin.add(name.into(), password.into(), Role::Read, grants)
        };
        assert!(matches!(
            add("a:b", PASSWORD, vec![]).await,
            Err(UserError::Invalid(_))
        ));
        assert!(matches!(
            add("bob", "short", vec![]).await,
            Err(UserError::Invalid(_))
        ));
        assert!(matches!(
            add("bob", PASSWORD, vec![String::new()]).await,
            Err(UserError::Invalid(_))
        ));
        add("bob", PASSWORD, vec![]).await.unwrap();
        assert!(matches!(
            add("bob", PASSWORD, vec![]).await,
            Err(UserError::Exists(n)) if n == "bob"
        ));
        assert!(matches!(
            admin.set_password("bob", "short".into()).await,
            Err(UserError::Invalid(_))
        ));
        assert!(matches!(
            admin.set_password("nobody", PASSWORD.into()).await,
            Err(UserError::NotFound(_))
        ));
        assert!(matches!(
            admin.set_access("bob", None, None).await,
            Err(UserError::Invalid(_))
        ));
        assert!(matches!(
            admin.remove("nobody").await,
            Err(UserError::NotFound(_))
        ));
    }
}

//! Passwords for `Authorization: Basic`: argon2id, stored as PHC strings
//! (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) so the parameters travel with each hash and can
//! be raised later without invalidating existing users.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// OWASP's argon2id recommendation: 19 MiB, two passes, one lane. About 30–60 ms per hash on one
/// core in release builds — why verified credentials are cached (see [`super::Authenticator`]).
const MEMORY_KIB: u32 = 19_456;
const PASSES: u32 = 2;
const LANES: u32 = 1;

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).expect("valid argon2 params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` with a fresh random salt into a PHC string.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with valid params cannot fail")
        .to_string()
}

/// Whether a stored hash is one this server will verify: argon2id with parameters a login can
/// afford. Verification uses the parameters in the hash, so a record planted in a shared users
/// topic with `m=4000000` must not be able to make each login allocate gigabytes.
pub fn acceptable(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    parsed.algorithm.as_str() == "argon2id"
        && Params::try_from(&parsed)
            .is_ok_and(|p| p.m_cost() <= 256 * 1024 && p.t_cost() <= 16 && p.p_cost() <= 16)
}

/// Whether `password` matches `phc`. The parameters come from the PHC string; a malformed one
/// never matches. The comparison inside is constant-time.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_argon2id_and_verify() {
        let a = hash("correct horse");
        let b = hash("correct horse");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "salts differ");
        assert!(!a.contains("correct horse"));
        assert!(verify("correct horse", &a));
        assert!(!verify("correct horsf", &a));
        assert!(!verify("correct horse", "not a phc string"));
        assert!(acceptable(&a));
    }

    #[test]
    fn hashes_too_costly_to_verify_or_not_argon2id_are_refused() {
        let a = hash("correct horse");
        let greedy = a.replace("m=19456", "m=4000000");
        assert!(!acceptable(&greedy));
        assert!(!acceptable(&a.replace("$argon2id$", "$argon2i$")));
        assert!(!acceptable("not a phc string"));
    }
}

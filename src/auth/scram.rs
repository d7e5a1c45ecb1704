//! SCRAM-SHA-256, server side (RFC 5802 with RFC 7677's hash), as RFC 7804 carries it over HTTP.
//!
//! The server keeps only what RFC 5802 §3 says it needs — salt, iteration count, `StoredKey` and
//! `ServerKey` — so a leaked users table cannot be replayed as a login and still costs a PBKDF2
//! per guess. The server never runs PBKDF2 during a login: the client does.
//!
//! Not supported: channel binding (`p=` in the GS2 header is refused; `n` and `y` are accepted),
//! and SASLprep — passwords are used as their UTF-8 bytes, which is the same for ASCII passwords
//! (Kafka's SCRAM does the same).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// RFC 7677 asks for at least 4096. This is four times that (Kafka's upper bound): it costs a
/// client a few milliseconds once per exchange and an attacker holding the table that much more
/// per guess.
pub const DEFAULT_ITERATIONS: u32 = 16_384;
pub const MIN_ITERATIONS: u32 = 4_096;
/// The most a stored credential may ask of a client's PBKDF2 (a record from a shared users
/// topic is checked against it, so it cannot make clients hang).
pub const MAX_ITERATIONS: u32 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("malformed SCRAM message")]
    Malformed,
    #[error("channel binding is not supported")]
    ChannelBinding,
    #[error("authorization identity differs from the user")]
    Authzid,
    #[error("nonce or channel binding mismatch")]
    Mismatch,
    #[error("invalid proof")]
    InvalidProof,
}

/// What the server stores for a user (RFC 5802 §3): never the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredentials {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

impl std::fmt::Debug for ScramCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScramCredentials(***)")
    }
}

impl ScramCredentials {
    /// Credentials for `password` with a fresh 16-byte salt.
    pub fn new(password: &str) -> ScramCredentials {
        let mut salt = vec![0u8; 16];
        super::fill_random(&mut salt);
        ScramCredentials::derive(password, &salt, DEFAULT_ITERATIONS)
    }

    /// RFC 5802 §3: SaltedPassword = Hi(password, salt, i); ClientKey = HMAC(SaltedPassword,
    /// "Client Key"); StoredKey = H(ClientKey); ServerKey = HMAC(SaltedPassword, "Server Key").
    pub fn derive(password: &str, salt: &[u8], iterations: u32) -> ScramCredentials {
        let salted = salted_password(password, salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        ScramCredentials {
            salt: salt.to_vec(),
            iterations,
            stored_key: Sha256::digest(client_key).into(),
            server_key: hmac(&salted, b"Server Key"),
        }
    }
}

/// Hi(): PBKDF2-HMAC-SHA-256 with one output block.
pub fn salted_password(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut out);
    out
}

pub fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A parsed client-first-message.
#[derive(Debug, Clone)]
pub struct ClientFirst {
    pub username: String,
    gs2_header: String,
    bare: String,
    nonce: String,
}

impl ClientFirst {
    pub fn parse(message: &str) -> Result<ClientFirst, ScramError> {
        // gs2-header = cbind-flag "," [authzid] ","
        let mut parts = message.splitn(3, ',');
        let flag = parts.next().ok_or(ScramError::Malformed)?;
        let authzid = parts.next().ok_or(ScramError::Malformed)?;
        let bare = parts.next().ok_or(ScramError::Malformed)?;
        match flag {
            "n" | "y" => {}
            f if f.starts_with("p=") => return Err(ScramError::ChannelBinding),
            _ => return Err(ScramError::Malformed),
        }
        let mut attrs = bare.split(',');
        let username = attrs
            .next()
            .and_then(|a| a.strip_prefix("n="))
            .ok_or(ScramError::Malformed)
            .and_then(decode_saslname)?;
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .filter(|n| valid_nonce(n))
            .ok_or(ScramError::Malformed)?;
        // A mandatory extension (`m=…` before `n=`) already failed above, as RFC 5802 requires.
        if username.is_empty() {
            return Err(ScramError::Malformed);
        }
        if !authzid.is_empty() {
            let id = authzid
                .strip_prefix("a=")
                .ok_or(ScramError::Malformed)
                .and_then(decode_saslname)?;
            if id != username {
                return Err(ScramError::Authzid);
            }
        }
        Ok(ClientFirst {
            username,
            gs2_header: format!("{flag},{authzid},"),
            bare: bare.to_string(),
            nonce: nonce.to_string(),
        })
    }
}

/// One exchange between the server-first and client-final messages.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub username: String,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

impl Exchange {
    /// Answers `client` with the server-first-message for the user's salt and iterations.
    pub fn start(
        client: ClientFirst,
        server_nonce: &str,
        salt: &[u8],
        iterations: u32,
    ) -> (Exchange, String) {
        let nonce = format!("{}{server_nonce}", client.nonce);
        let server_first = format!("r={nonce},s={},i={iterations}", B64.encode(salt));
        let exchange = Exchange {
            username: client.username,
            gs2_header: client.gs2_header,
            client_first_bare: client.bare,
            server_first: server_first.clone(),
            nonce,
        };
        (exchange, server_first)
    }

    /// Checks the client-final-message's proof against `creds`; on success returns the
    /// server-final-message (`v=ServerSignature`) that proves the server knew them too.
    pub fn finish(
        &self,
        client_final: &str,
        creds: &ScramCredentials,
    ) -> Result<String, ScramError> {
        let (without_proof, proof) = client_final
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed)?;
        let mut attrs = without_proof.split(',');
        let binding = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .and_then(|c| B64.decode(c).ok())
            .ok_or(ScramError::Malformed)?;
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Malformed)?;
        let binding_ok = binding.ct_eq(self.gs2_header.as_bytes());
        let nonce_ok = nonce.as_bytes().ct_eq(self.nonce.as_bytes());
        if !bool::from(binding_ok & nonce_ok) {
            return Err(ScramError::Mismatch);
        }
        let proof: [u8; 32] = B64
            .decode(proof)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or(ScramError::Malformed)?;
        let auth_message = format!(
            "{},{},{without_proof}",
            self.client_first_bare, self.server_first
        );
        let client_signature = hmac(&creds.stored_key, auth_message.as_bytes());
        let mut client_key = proof;
        for (k, s) in client_key.iter_mut().zip(client_signature) {
            *k ^= s;
        }
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        if !bool::from(stored_key.ct_eq(&creds.stored_key)) {
            return Err(ScramError::InvalidProof);
        }
        let server_signature = hmac(&creds.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)))
    }
}

/// RFC 5802 saslname: `=2C` is `,` and `=3D` is `=`; any other `=` is malformed.
fn decode_saslname(s: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i + 1..i + 3) {
            Some("2C") => out.push(','),
            Some("3D") => out.push('='),
            _ => return Err(ScramError::Malformed),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The RFC's `printable`: ASCII 0x21–0x7E except `,`.
fn valid_nonce(n: &str) -> bool {
    !n.is_empty() && n.len() <= 256 && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3: user "user", password "pencil".
    #[test]
    fn rfc7677_test_vector() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let creds = ScramCredentials::derive("pencil", &salt, 4096);
        let client = ClientFirst::parse("n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        assert_eq!(client.username, "user");
        let (exchange, server_first) =
            Exchange::start(client, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", &salt, 4096);
        assert_eq!(
            server_first,
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let client_final = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                            p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(
            exchange.finish(client_final, &creds).unwrap(),
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        let wrong = ScramCredentials::derive("pencils", &salt, 4096);
        assert_eq!(
            exchange.finish(client_final, &wrong),
            Err(ScramError::InvalidProof)
        );
        let replayed_nonce = client_final.replace("r=rOpr", "r=xOpr");
        assert_eq!(
            exchange.finish(&replayed_nonce, &creds),
            Err(ScramError::Mismatch)
        );
    }

    #[test]
    fn client_first_parsing() {
        let c = ClientFirst::parse("n,a=a=2Cb,n=a=2Cb,r=abc").unwrap();
        assert_eq!(c.username, "a,b");
        assert_eq!(c.gs2_header, "n,a=a=2Cb,");
        assert_eq!(ClientFirst::parse("y,,n=x=3D,r=z").unwrap().username, "x=");
        for bad in [
            "",
            "n,,",
            "n,,n=u",
            "q,,n=u,r=x",
            "n,,n=u=,r=x",
            "n,,m=1,n=u,r=x",
        ] {
            assert!(ClientFirst::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            ClientFirst::parse("p=tls-unique,,n=u,r=x").unwrap_err(),
            ScramError::ChannelBinding
        );
        assert_eq!(
            ClientFirst::parse("n,a=v,n=u,r=x").unwrap_err(),
            ScramError::Authzid
        );
    }
}

//! A small client for a Confluent-compatible registry's REST API, for the command-line tools
//! (`schemata check`, `schemata migrate`) that talk to a running registry — ours or Confluent's.
//!
//! It speaks JSON over HTTP(S), with Basic credentials and, for registries that want them,
//! a client certificate and a private CA. Confluent's error bodies (`{"error_code", "message"}`)
//! become [`ClientError::Registry`], so callers can tell "subject not found" (40401) from a
//! failure. Passwords never come from a flag value (`ps` and shell history would show them):
//! only from an environment variable or standard input.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Confluent's media type; registries accept plain JSON too, but some proxies route on it.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// The environment variable Confluent's clients read `USER:PASSWORD` from by convention.
pub const DEFAULT_USER_INFO_ENV: &str = "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO";

/// Why a request to the registry (or setting up the client) failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Bad client configuration: unreadable certificate, missing password variable, …
    #[error("{0}")]
    Setup(String),
    /// No HTTP answer: connection refused, TLS handshake failed, timeout, …
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// 401/403: wrong or missing credentials, or a user without the rights.
    #[error("{method} {url}: not authorized (HTTP {status}): {message}")]
    Auth {
        method: Method,
        url: String,
        status: u16,
        message: String,
    },
    /// A Confluent error body.
    #[error("{method} {url}: {message} (HTTP {status}, error code {code})")]
    Registry {
        method: Method,
        url: String,
        status: u16,
        code: i64,
        message: String,
    },
    /// Any other non-success answer, or a success whose body is not JSON.
    #[error("{method} {url}: unexpected answer (HTTP {status}): {body}")]
    Unexpected {
        method: Method,
        url: String,
        status: u16,
        body: String,
    },
}

impl ClientError {
    /// The Confluent `error_code`, if the registry answered with one.
    pub fn code(&self) -> Option<i64> {
        match self {
            ClientError::Registry { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Where a registry is and how to authenticate to it.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// Base URL, e.g. `https://registry.example.com:8081` (a path prefix is kept).
    pub url: String,
    /// Basic credentials (user, password).
    pub basic: Option<(String, String)>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Extra CA certificates (PEM) to trust, for a registry with a private CA.
    pub ca: Option<PathBuf>,
}

/// Where a Basic password comes from: never a flag value.
#[derive(Debug, Clone, Default)]
pub struct CredentialSource {
    pub user: Option<String>,
    /// Name of an environment variable holding the password.
    pub password_env: Option<String>,
    /// Read the password from the first line of standard input.
    pub password_stdin: bool,
    /// Name of an environment variable holding `USER:PASSWORD`.
    pub user_info_env: Option<String>,
}

impl CredentialSource {
    /// The credentials this source names, read now; `what` names the registry in errors.
    pub fn resolve(&self, what: &str) -> Result<Option<(String, String)>, ClientError> {
        let env = |var: &str| {
            std::env::var(var).map_err(|_| {
                ClientError::Setup(format!(
                    "{what}: environment variable {var} is not set (or not UTF-8)"
                ))
            })
        };
        if let Some(var) = &self.user_info_env {
            let info = env(var)?;
            let (user, password) = info.split_once(':').ok_or_else(|| {
                ClientError::Setup(format!("{what}: {var} must hold USER:PASSWORD"))
            })?;
            return Ok(Some((user.to_string(), password.to_string())));
        }
        let Some(user) = &self.user else {
            return Ok(None);
        };
        let password = if let Some(var) = &self.password_env {
            env(var)?
        } else if self.password_stdin {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| ClientError::Setup(format!("{what}: cannot read stdin: {e}")))?;
            line.trim_end_matches(['\r', '\n']).to_string()
        } else {
            return Err(ClientError::Setup(format!(
                "{what}: --user needs a password source (an environment variable or stdin)"
            )));
        };
        Ok(Some((user.clone(), password)))
    }
}

/// One registry's HTTP client.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    base: String,
    http: reqwest::Client,
    basic: Option<(String, String)>,
}

/// Characters escaped in a path segment: everything but RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `s` as one URL path segment (subject names may hold `/`, `:`, spaces, …).
pub fn segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

fn read_pem(path: &Path, what: &str) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path)
        .map_err(|e| ClientError::Setup(format!("cannot read {what} {}: {e}", path.display())))
}

impl RegistryClient {
    pub fn new(conn: &Connection) -> Result<RegistryClient, ClientError> {
        let url = conn.url.trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ClientError::Setup(format!(
                "registry URL must start with http:// or https://: {url}"
            )));
        }
        // Credentials in the URL would show in `ps`, shell history and every error message.
        // Not echoed: the URL itself holds them.
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| ClientError::Setup(format!("bad registry URL: {e}")))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(ClientError::Setup(
                "the registry URL holds credentials: pass them with --user and --password-env \
                 (or --basic-auth-env) instead"
                    .into(),
            ));
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60));
        if let Some(ca) = &conn.ca {
            let pem = read_pem(ca, "CA certificates")?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                ClientError::Setup(format!("bad CA certificates in {}: {e}", ca.display()))
            })?;
            if certs.is_empty() {
                return Err(ClientError::Setup(format!(
                    "no certificate in {}",
                    ca.display()
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        match (&conn.cert, &conn.key) {
            (Some(cert), Some(key)) => {
                let mut pem = read_pem(cert, "client certificate")?;
                pem.push(b'\n');
                pem.extend(read_pem(key, "client key")?);
                let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                    ClientError::Setup(format!(
                        "bad client certificate or key ({}, {}): {e}",
                        cert.display(),
                        key.display()
                    ))
                })?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            _ => {
                return Err(ClientError::Setup(
                    "a client certificate needs both its certificate and its key".into(),
                ))
            }
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Setup(format!("cannot build the HTTP client: {e}")))?;
        Ok(RegistryClient {
            base: url.to_string(),
            http,
            basic: conn.basic.clone(),
        })
    }

    /// The base URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Sends a request to `path` (starting with `/`, segments already escaped with
    /// [`segment`]) and returns the JSON answer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .header("Accept", CONTENT_TYPE);
        if let Some((user, password)) = &self.basic {
            request = request.basic_auth(user, Some(password));
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", CONTENT_TYPE)
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|e| ClientError::Unreachable {
            url: url.clone(),
            reason: error_chain(&e),
        })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| ClientError::Unreachable {
                url: url.clone(),
                reason: error_chain(&e),
            })?;
        let json = serde_json::from_str::<Value>(&text);
        if status.is_success() {
            return json.map_err(|_| ClientError::Unexpected {
                method,
                url,
                status: status.as_u16(),
                body: excerpt(&text),
            });
        }
        let confluent = json.ok().and_then(|v| {
            let code = v.get("error_code")?.as_i64()?;
            let message = v.get("message").and_then(Value::as_str).unwrap_or("");
            Some((code, message.to_string()))
        });
        Err(match (status, confluent) {
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, found) => ClientError::Auth {
                method,
                url,
                status: status.as_u16(),
                message: found.map_or_else(|| excerpt(&text), |(_, m)| m),
            },
            (_, Some((code, message))) => ClientError::Registry {
                method,
                url,
                status: status.as_u16(),
                code,
                message,
            },
            (_, None) => ClientError::Unexpected {
                method,
                url,
                status: status.as_u16(),
                body: excerpt(&text),
            },
        })
    }

    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.call(Method::GET, path, None).await
    }

    /// [`Self::get`], with the Confluent not-found codes in `absent` answered as `None`.
    pub async fn get_unless(
        &self,
        path: &str,
        absent: &[i64],
    ) -> Result<Option<Value>, ClientError> {
        match self.get(path).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.code().is_some_and(|c| absent.contains(&c)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.call(Method::DELETE, path, None).await
    }
}

/// An error with its causes: reqwest's own message ("error sending request") hides the reason
/// (connection refused, certificate unknown, …) in its sources.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// The start of a body quoted in an error message.
fn excerpt(text: &str) -> String {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_escape_everything_but_unreserved_characters() {
        assert_eq!(segment("orders-value"), "orders-value");
        assert_eq!(segment("a/b c:d%"), "a%2Fb%20c%3Ad%25");
        assert_eq!(segment(":.ctx:s"), "%3A.ctx%3As");
    }

    #[test]
    fn user_info_splits_at_the_first_colon() {
        std::env::set_var("SCHEMATA_CLIENT_TEST_INFO", "ci:pa:ss");
        let source = CredentialSource {
            user_info_env: Some("SCHEMATA_CLIENT_TEST_INFO".into()),
            ..Default::default()
        };
        assert_eq!(
            source.resolve("registry").unwrap(),
            Some(("ci".into(), "pa:ss".into()))
        );
        let missing = CredentialSource {
            user: Some("ci".into()),
            password_env: Some("SCHEMATA_CLIENT_TEST_UNSET".into()),
            ..Default::default()
        };
        assert!(missing.resolve("registry").is_err());
        let no_source = CredentialSource {
            user: Some("ci".into()),
            ..Default::default()
        };
        assert!(no_source.resolve("registry").is_err());
    }
}

//! What each workload sends: the requests real Confluent clients make most, built as raw
//! HTTP/1.1 bytes before the clock starts.

use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// `GET /schemas/ids/{id}`: a deserializer meeting an id for the first time.
    GetById,
    /// `GET /subjects/{s}/versions/latest`: serializers with `use.latest.version`.
    Latest,
    /// `POST /subjects/{s}`: serializers with `auto.register.schemas=false` looking up their id.
    Lookup,
    /// `POST /subjects/{s}/versions` with the schema already there: auto-registering serializers.
    RegisterExisting,
    /// `POST /compatibility/subjects/{s}/versions/latest`: CI checks.
    Compat,
    /// `POST /subjects/{new}/versions` with a schema never seen before: writes.
    RegisterNew,
}

pub const ALL: [Workload; 6] = [
    Workload::GetById,
    Workload::Latest,
    Workload::Lookup,
    Workload::RegisterExisting,
    Workload::Compat,
    Workload::RegisterNew,
];

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::GetById => "get-by-id",
            Workload::Latest => "latest",
            Workload::Lookup => "lookup",
            Workload::RegisterExisting => "register-exist",
            Workload::Compat => "compat",
            Workload::RegisterNew => "register-new",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ALL.into_iter().find(|w| w.name() == s).ok_or_else(|| {
            let names: Vec<_> = ALL.iter().map(|w| w.name()).collect();
            format!("unknown workload {s:?} (one of {})", names.join(", "))
        })
    }
}

/// Where the requests go: `http://HOST:PORT[/BASE]`.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// The `Host` header.
    pub host: String,
    /// A path prefix without trailing slash ("" for none).
    pub base: String,
    /// Header lines every request carries besides the workload's own, each ending in CRLF:
    /// `Authorization: Basic …` with [`Target::with_basic`], else nothing.
    pub headers: String,
}

impl Target {
    pub async fn resolve(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
        let (authority, base) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let with_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let addr = tokio::net::lookup_host(&with_port)
            .await
            .map_err(|e| format!("{url}: {e}"))?
            .next()
            .ok_or_else(|| format!("{url}: no address"))?;
        Ok(Target {
            addr,
            host: authority.to_string(),
            base: base.to_string(),
            headers: String::new(),
        })
    }

    /// This target with `Authorization: Basic` for `credentials` (`USER:PASSWORD`, RFC 7617) on
    /// every request, encoded once here like the rest of the request bytes.
    pub fn with_basic(mut self, credentials: &str) -> Result<Target, String> {
        if !credentials.contains(':') {
            return Err("--basic takes USER:PASSWORD".into());
        }
        self.headers = format!("Authorization: Basic {}\r\n", B64.encode(credentials));
        Ok(self)
    }

    pub fn get(&self, path: &str) -> Vec<u8> {
        let mut req = Vec::new();
        self.write_get(&mut req, path);
        req
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Vec<u8> {
        let mut req = Vec::new();
        self.write_post(&mut req, path, body);
        req
    }

    pub fn write_get(&self, req: &mut Vec<u8>, path: &str) {
        // Writing to a Vec cannot fail.
        let _ = write!(
            req,
            "GET {}{path} HTTP/1.1\r\nHost: {}\r\nAccept: {CONTENT_TYPE}\r\n{}\r\n",
            self.base, self.host, self.headers
        );
    }

    pub fn write_post(&self, req: &mut Vec<u8>, path: &str, body: &[u8]) {
        let _ = write!(
            req,
            "POST {}{path} HTTP/1.1\r\nHost: {}\r\nAccept: {CONTENT_TYPE}\r\n\
             Content-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\n{}\r\n",
            self.base,
            self.host,
            body.len(),
            self.headers
        );
        req.extend_from_slice(body);
    }
}

/// The subject of the i-th pre-registered schema.
pub fn subject(i: usize) -> String {
    format!("bench-{i}-value")
}

/// An Avro record of the size and shape of a typical event value (a few scalars, an enum, an
/// array and an optional field), its named types suffixed so every suffix is a distinct schema.
pub fn schema(suffix: &str) -> String {
    serde_json::json!({
        "type": "record",
        "name": format!("Order{suffix}"),
        "namespace": "io.schemata.bench",
        "doc": "A benchmark event",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "customer", "type": "string"},
            {"name": "amount", "type": "double"},
            {"name": "currency", "type": {
                "type": "enum", "name": format!("Currency{suffix}"), "symbols": ["EUR", "USD", "GBP"]
            }},
            {"name": "lines", "type": {"type": "array", "items": "string"}, "default": []},
            {"name": "note", "type": ["null", "string"], "default": null}
        ]
    })
    .to_string()
}

/// The request body that registers, looks up or checks `schema`.
pub fn schema_body(schema: &str) -> Vec<u8> {
    serde_json::json!({ "schema": schema })
        .to_string()
        .into_bytes()
}

/// The i-th subject's registration request (also the `register-exist` request).
pub fn register(target: &Target, i: usize) -> Vec<u8> {
    target.post(
        &format!("/subjects/{}/versions", subject(i)),
        &schema_body(&schema(&i.to_string())),
    )
}

/// The i-th subject's lookup request (`POST /subjects/{s}`).
pub fn lookup(target: &Target, i: usize) -> Vec<u8> {
    target.post(
        &format!("/subjects/{}", subject(i)),
        &schema_body(&schema(&i.to_string())),
    )
}

/// One request per subject for a read-like workload; `ids[i]` is subject i's schema id.
/// `RegisterNew` has no fixed requests (see [`NewSchemas`]).
pub fn fixed_requests(target: &Target, workload: Workload, ids: &[u64]) -> Vec<Vec<u8>> {
    (0..ids.len())
        .map(|i| match workload {
            Workload::GetById => target.get(&format!("/schemas/ids/{}", ids[i])),
            Workload::Latest => target.get(&format!("/subjects/{}/versions/latest", subject(i))),
            Workload::Lookup => lookup(target, i),
            Workload::RegisterExisting => register(target, i),
            Workload::Compat => target.post(
                &format!("/compatibility/subjects/{}/versions/latest", subject(i)),
                &schema_body(&schema(&i.to_string())),
            ),
            Workload::RegisterNew => Vec::new(),
        })
        .collect()
}

/// Registration requests for schemas no registry has seen: each names a new subject and a
/// schema whose type names carry `{run}_{task}_{n}`, `run` being unique to this process.
/// Requests are written into a reused buffer from pre-escaped pieces.
pub struct NewSchemas {
    target: Target,
    /// The JSON body with the suffix cut out: `pieces[0] suffix pieces[1] suffix …`.
    pieces: Vec<String>,
    run: String,
    task: usize,
    n: u64,
    body: Vec<u8>,
    suffix: Vec<u8>,
}

impl NewSchemas {
    pub fn new(target: &Target, run: &str, task: usize) -> NewSchemas {
        const MARK: &str = "SUFFIXMARK";
        let template = String::from_utf8(schema_body(&schema(MARK))).expect("JSON is UTF-8");
        NewSchemas {
            target: target.clone(),
            pieces: template.split(MARK).map(str::to_string).collect(),
            run: run.to_string(),
            task,
            n: 0,
            body: Vec::with_capacity(template.len() + 64),
            suffix: Vec::with_capacity(64),
        }
    }

    /// Writes the next request into `req` (cleared first).
    pub fn next_into(&mut self, req: &mut Vec<u8>) {
        self.n += 1;
        self.suffix.clear();
        let _ = write!(self.suffix, "_{}_{}_{}", self.run, self.task, self.n);
        self.body.clear();
        for (k, piece) in self.pieces.iter().enumerate() {
            if k > 0 {
                self.body.extend_from_slice(&self.suffix);
            }
            self.body.extend_from_slice(piece.as_bytes());
        }
        req.clear();
        let _ = write!(
            req,
            "POST {}/subjects/bench-new{}/versions HTTP/1.1\r\nHost: {}\r\nAccept: {CONTENT_TYPE}\r\n\
             Content-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\n{}\r\n",
            self.target.base,
            // The suffix is ASCII letters, digits and underscores.
            std::str::from_utf8(&self.suffix).unwrap_or_default(),
            self.target.host,
            self.body.len(),
            self.target.headers
        );
        req.extend_from_slice(&self.body);
    }
}

//! Confluent's `schema-registry.properties`, read as one configuration layer (the file's place:
//! env and flags still override it), so a Confluent deployment's file starts Schemata.
//!
//! Confluent names are mapped onto Schemata's where one exists (see `docs/configuration.md`).
//! Anything else is ignored with a warning — unless ignoring it would quietly weaken security
//! or change what the registry accepts (authentication, client certificates, a stricter default
//! compatibility level, Java keystores): then start-up is refused with what to do instead.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};

use super::Overrides;
use crate::store::kafka::{KafkaOverrides, Secret};

/// What a properties file gives: the overrides, and the keys it ignored (each worth a warning).
#[derive(Debug)]
pub struct Translated {
    pub overrides: Overrides,
    pub ignored: Vec<String>,
}

/// Maps Confluent's properties onto Schemata's settings.
pub fn translate(mut props: BTreeMap<String, String>) -> anyhow::Result<Translated> {
    refuse_weakening(&props)?;
    let mut take = |key: &str| props.remove(key).map(|v| v.trim().to_string());
    let mut o = Overrides::default();

    let listeners = take("listeners").filter(|l| !l.is_empty());
    let port = take("port");
    take("host.name"); // the advertised name (leader election), not the bind address
    o.leader_eligibility = match take("leader.eligibility").as_deref() {
        None => None,
        Some(v) if v.eq_ignore_ascii_case("true") => Some(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Some(false),
        Some(v) => bail!("leader.eligibility '{v}' is not true or false"),
    };
    o.listen = match (listeners, port) {
        (Some(listeners), _) => Some(listener(&listeners)?),
        (None, Some(port)) => {
            let port: u16 = port
                .parse()
                .map_err(|_| anyhow!("port '{port}' is not a port number"))?;
            Some(SocketAddr::from(([0, 0, 0, 0], port)))
        }
        (None, None) => None,
    };

    let topic = take("kafkastore.topic").filter(|t| !t.is_empty());
    let zookeeper = take("kafkastore.connection.url");
    match take("kafkastore.bootstrap.servers").filter(|s| !s.is_empty()) {
        Some(servers) => o.store = Some(kafka_store_url(&servers, topic.as_deref())?),
        None if zookeeper.is_some() => bail!(
            "kafkastore.connection.url (ZooKeeper) is not supported: give \
             kafkastore.bootstrap.servers instead"
        ),
        None => {}
    }

    let mut kafka = KafkaOverrides {
        security_protocol: take("kafkastore.security.protocol"),
        sasl_mechanism: take("kafkastore.sasl.mechanism"),
        ..KafkaOverrides::default()
    };
    if let Some(jaas) = take("kafkastore.sasl.jaas.config") {
        let login = jaas_login(&jaas)?;
        if let Some(mechanism) = &kafka.sasl_mechanism {
            let scram = mechanism.to_ascii_uppercase().starts_with("SCRAM-");
            if scram != login.scram {
                bail!(
                    "kafkastore.sasl.jaas.config uses {} but kafkastore.sasl.mechanism is {mechanism}",
                    login.module
                );
            }
        }
        kafka.sasl_username = Some(login.username);
        kafka.sasl_password = Some(Secret::new(login.password));
    }
    kafka.ssl_ca_location = truststore(&mut take)?;
    kafka.timeout_ms = number(&mut take, "kafkastore.timeout.ms")?;
    kafka.init_timeout_ms = number(&mut take, "kafkastore.init.timeout.ms")?;
    kafka.replication_factor = number(&mut take, "kafkastore.topic.replication.factor")?;
    o.kafka = kafka;

    for key in ["schema.compatibility.level", "avro.compatibility.level"] {
        if let Some(level) = take(key) {
            if !level.eq_ignore_ascii_case("backward") {
                bail!(
                    "{key}={level}: Schemata's default level is BACKWARD and is not configured \
                     here; remove the line and set it once the registry runs, with \
                     PUT /config {{\"compatibility\": \"{}\"}}",
                    level.to_ascii_uppercase()
                );
            }
        }
    }

    Ok(Translated {
        overrides: o,
        ignored: props.into_keys().collect(),
    })
}

/// Refuses settings whose absence here would leave the registry less protected than the file
/// says, or holding secrets Schemata cannot read.
fn refuse_weakening(props: &BTreeMap<String, String>) -> anyhow::Result<()> {
    let value = |key: &str| props.get(key).map(|v| v.trim().to_ascii_lowercase());
    if let Some(method) = value("authentication.method").filter(|m| m != "none") {
        bail!(
            "authentication.method={method} is not supported: Schemata has its own users \
             (schemata user add, then SCHEMATA_AUTH_ENABLED=true); remove the line"
        );
    }
    if value("ssl.client.auth").is_some_and(|v| v == "true")
        || value("ssl.client.authentication").is_some_and(|v| v != "none")
    {
        bail!(
            "client certificate authentication from the properties file is not supported: \
             give PEM files with SCHEMATA_TLS_CLIENT_CA and SCHEMATA_TLS_CLIENT_CERT_REQUIRED \
             and remove ssl.client.auth/ssl.client.authentication"
        );
    }
    for key in [
        "resource.extension.class",
        "schema.registry.resource.extension.class",
        "confluent.schema.registry.authorizer.class",
        // Where Confluent's security plugins install their authentication filters.
        "rest.servlet.initializor.classes",
        "websocket.servlet.initializor.classes",
        "kafkastore.ssl.keystore.location",
    ] {
        if props.contains_key(key) {
            bail!("{key} is not supported (it configures security Schemata does not have)");
        }
    }
    Ok(())
}

/// The first `http://` listener. An `https://` one needs the server certificate from a Java
/// keystore, which Schemata cannot read: refused with the PEM alternative.
fn listener(listeners: &str) -> anyhow::Result<SocketAddr> {
    let first = listeners
        .split(',')
        .map(str::trim)
        .find(|l| {
            let l = l.to_ascii_lowercase();
            l.starts_with("http://") || l.starts_with("https://")
        })
        .ok_or_else(|| anyhow!("listeners '{listeners}' has no http:// listener"))?;
    let (scheme, address) = first.split_once("://").expect("checked above");
    if scheme.eq_ignore_ascii_case("https") {
        bail!(
            "listener {first}: HTTPS from a Java keystore (ssl.keystore.*) is not supported; \
             list an http:// listener here and give PEM files with SCHEMATA_TLS_CERT and \
             SCHEMATA_TLS_KEY (or --tls-cert/--tls-key)"
        );
    }
    let address = address.trim_end_matches('/');
    let address = match address.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"), // `http://:8081`: every interface
        None => address.to_string(),
    };
    address
        .parse()
        .ok()
        .or_else(|| address.to_socket_addrs().ok()?.next())
        .ok_or_else(|| anyhow!("listener {first}: '{address}' is not a host:port to listen on"))
}

/// `PLAINTEXT://a:9092,SASL_SSL://b:9093` and a topic → `kafka://a:9092,b:9093/topic`. The
/// scheme of each server is dropped: `kafkastore.security.protocol` says how to connect.
fn kafka_store_url(servers: &str, topic: Option<&str>) -> anyhow::Result<String> {
    let hosts: Vec<&str> = servers
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.split_once("://").map_or(s, |(_, host)| host))
        .map(|s| s.trim_end_matches('/'))
        .collect();
    let url = format!(
        "kafka://{}/{}",
        hosts.join(","),
        topic.unwrap_or(crate::store::kafka::DEFAULT_TOPIC)
    );
    if crate::store::kafka::KafkaStore::parse_url(&url["kafka://".len()..]).is_none() {
        bail!(
            "kafkastore.bootstrap.servers '{servers}' (topic {}) is not a list of host:port",
            topic.unwrap_or(crate::store::kafka::DEFAULT_TOPIC)
        );
    }
    Ok(url)
}

/// The Kafka client credentials a JAAS line gives.
struct JaasLogin {
    module: String,
    scram: bool,
    username: String,
    password: String,
}

const SCRAM_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";
const PLAIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";

/// Parses `<LoginModule> required username="…" password="…";`. Only the SCRAM and PLAIN
/// modules carry a user name and password; others (Kerberos, OAuth) are refused.
fn jaas_login(jaas: &str) -> anyhow::Result<JaasLogin> {
    let bad = |why: &str| {
        anyhow!("kafkastore.sasl.jaas.config: {why} (expected `{SCRAM_MODULE} required username=\"…\" password=\"…\";`)")
    };
    let mut rest = jaas.trim();
    let word = |rest: &mut &str| {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (w, r) = rest.split_at(end);
        *rest = r.trim_start();
        w.to_string()
    };
    let module = word(&mut rest);
    let scram = match module.as_str() {
        SCRAM_MODULE => true,
        PLAIN_MODULE => false,
        other => return Err(bad(&format!("login module {other} is not supported"))),
    };
    let flag = word(&mut rest);
    if flag != "required" {
        return Err(bad(&format!("control flag '{flag}' is not 'required'")));
    }
    let mut options = BTreeMap::new();
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix(';') {
            if !after.trim().is_empty() {
                return Err(bad("only one login module is supported"));
            }
            break;
        }
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| bad("missing the closing ';'"))?;
        let name = name.trim().to_string();
        let after = after.trim_start();
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let end = loop {
                    match chars.next() {
                        Some((i, '"')) => break i,
                        Some((_, '\\')) => value.extend(chars.next().map(|(_, c)| c)),
                        Some((_, c)) => value.push(c),
                        None => return Err(bad(&format!("unterminated quote in {name}"))),
                    }
                };
                (value, &quoted[end + 1..])
            }
            None => {
                let end = after
                    .find(|c: char| c.is_whitespace() || c == ';')
                    .unwrap_or(after.len());
                (after[..end].to_string(), &after[end..])
            }
        };
        options.insert(name, value);
        rest = after;
    }
    let username = options.remove("username");
    let password = options.remove("password");
    if let Some(other) = options.keys().next() {
        return Err(bad(&format!("option '{other}' is not supported")));
    }
    match (username, password) {
        (Some(username), Some(password)) => Ok(JaasLogin {
            module,
            scram,
            username,
            password,
        }),
        _ => Err(bad("username and password are both required")),
    }
}

/// `kafkastore.ssl.truststore.location` when it is PEM (`kafkastore.ssl.truststore.type=PEM`),
/// or librdkafka's `kafkastore.ssl.ca.location`. JKS and PKCS12 stores are refused.
fn truststore(take: &mut impl FnMut(&str) -> Option<String>) -> anyhow::Result<Option<PathBuf>> {
    let kind = take("kafkastore.ssl.truststore.type");
    take("kafkastore.ssl.truststore.password"); // a PEM file has none
    let ca = take("kafkastore.ssl.ca.location").map(PathBuf::from);
    match take("kafkastore.ssl.truststore.location") {
        Some(_) if ca.is_some() => {
            bail!("give kafkastore.ssl.truststore.location or kafkastore.ssl.ca.location, not both")
        }
        Some(location)
            if kind
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case("PEM")) =>
        {
            Ok(Some(PathBuf::from(location)))
        }
        Some(location) => bail!(
            "kafkastore.ssl.truststore.location {location}: only PEM trust stores are supported; \
             export the CA certificates (keytool -exportcert -rfc) to a PEM file and set \
             kafkastore.ssl.truststore.type=PEM"
        ),
        None => Ok(ca),
    }
}

fn number<T: std::str::FromStr>(
    take: &mut impl FnMut(&str) -> Option<String>,
    key: &str,
) -> anyhow::Result<Option<T>> {
    take(key)
        .map(|v| {
            v.parse()
                .ok()
                .with_context(|| format!("{key} '{v}' is not a number"))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaas_lines_give_credentials_or_a_clear_refusal() {
        let login = jaas_login(&format!(
            "{SCRAM_MODULE} required username=\"svc\" password=\"p\\\"w;d\";"
        ))
        .unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("svc", "p\"w;d")
        );
        assert!(login.scram);
        let plain = jaas_login(&format!("{PLAIN_MODULE} required username=u password=p;")).unwrap();
        assert!(!plain.scram);
        for (jaas, why) in [
            (
                "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true;",
                "not supported",
            ),
            (
                &format!("{SCRAM_MODULE} optional username=\"u\" password=\"p\";"),
                "control flag",
            ),
            (
                &format!("{SCRAM_MODULE} required username=\"u\";"),
                "both required",
            ),
            (
                &format!("{SCRAM_MODULE} required username=\"u\" password=\"p\""),
                "closing ';'",
            ),
            (
                &format!("{SCRAM_MODULE} required username=\"u\" password=\"p\" tokenauth=true;"),
                "tokenauth",
            ),
        ] {
            let err = jaas_login(jaas).err().expect(jaas).to_string();
            assert!(err.contains(why), "{jaas}: {err}");
        }
    }

    #[test]
    fn leader_eligibility_carries_over() {
        let t = |v: &str| {
            translate(BTreeMap::from([("leader.eligibility".into(), v.into())]))
                .map(|t| t.overrides.leader_eligibility)
        };
        assert_eq!(t("false").unwrap(), Some(false));
        assert_eq!(t("TRUE").unwrap(), Some(true));
        assert!(t("maybe").unwrap_err().to_string().contains("maybe"));
    }

    #[test]
    fn listeners_pick_the_first_http_one() {
        let l = |s: &str| {
            listener(s)
                .map(|a| a.to_string())
                .map_err(|e| e.to_string())
        };
        assert_eq!(l("http://0.0.0.0:8081").unwrap(), "0.0.0.0:8081");
        assert_eq!(l("http://:9000").unwrap(), "0.0.0.0:9000");
        assert_eq!(l("http://[::]:8081").unwrap(), "[::]:8081");
        assert_eq!(
            l("http://127.0.0.1:1,http://127.0.0.1:2").unwrap(),
            "127.0.0.1:1"
        );
        assert!(l("https://0.0.0.0:8443")
            .unwrap_err()
            .contains("SCHEMATA_TLS_CERT"));
        assert!(l("http://nowhere").is_err());
    }
}

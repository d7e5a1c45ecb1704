//! REST request bodies: arbitrary bytes sent to an in-process registry as the body of a request
//! that reads one. The first byte picks the endpoint, the second the content type and the third
//! the subject; the rest is the body. The answer must be 2xx/4xx with Confluent's error body,
//! never a 5xx or a panic. One registry serves the whole run, so state builds up.
#![no_main]

#[path = "../../tests/fuzz_props/mod.rs"]
mod props;

use std::sync::OnceLock;

const SUBJECTS: [&str; 4] = ["s", "orders-value", "a b/c", "__GLOBAL"];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    static API: OnceLock<props::Api> = OnceLock::new();
    let api = API.get_or_init(props::Api::new);
    let [endpoint, ct, subject, body @ ..] = data else {
        return;
    };
    let (method, path) = props::endpoint_path(
        usize::from(*endpoint),
        SUBJECTS[usize::from(*subject) % SUBJECTS.len()],
    );
    let ct = props::CONTENT_TYPES[usize::from(*ct) % props::CONTENT_TYPES.len()];
    api.check(method, &path, ct, body.to_vec());
});

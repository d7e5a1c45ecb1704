//! Schema parsing and canonical form: any text must parse or be refused without a panic, and an
//! accepted schema's canonical and normalized texts must parse back to themselves.
#![no_main]

#[path = "../../tests/fuzz_props/mod.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(parsed) = props::parse_and_canonical(text) {
            props::self_compatible(&parsed);
        }
    }
});

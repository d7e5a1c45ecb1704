//! Compatibility of arbitrary pairs: the input is two schema texts separated by a NUL byte. Each
//! accepted schema must be compatible with itself at every level; the pair is checked at every
//! level, both ways and transitively, and must not panic.
#![no_main]

#[path = "../../tests/fuzz_props/mod.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut halves = data.splitn(2, |&b| b == 0);
    let (Some(a), Some(b)) = (halves.next(), halves.next()) else {
        return;
    };
    let (Ok(a), Ok(b)) = (std::str::from_utf8(a), std::str::from_utf8(b)) else {
        return;
    };
    let parse = |t: &str| schemata::registry::avro::parse(t, &[]).ok();
    let (Some(a), Some(b)) = (parse(a), parse(b)) else {
        return;
    };
    props::self_compatible(&a);
    props::self_compatible(&b);
    props::compat_pair(&a, &b);
});

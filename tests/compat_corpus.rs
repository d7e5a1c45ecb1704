//! Our compatibility engine against Apache Avro's own checker: every case in
//! `tests/compat/corpus.json` (written by `scripts/compat-corpus.py` from the `avro` package's
//! `ReaderWriterCompatibilityChecker`, with Java's verdict where the Python port differs) must
//! get the same verdict from `schemata::registry::compat::reader_can_read`.

use apache_avro::Schema;
use schemata::registry::compat::{reader_can_read, AvroSchemaRef};
use serde_json::Value;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/compat/corpus.json");

#[test]
fn corpus_agrees_with_apache_avro() {
    let text = std::fs::read_to_string(CORPUS).expect("read the corpus");
    let cases: Vec<Value> = serde_json::from_str(&text).expect("parse the corpus");
    assert!(cases.len() >= 150, "corpus shrank to {} cases", cases.len());

    let mut disagreements = Vec::new();
    let (mut checked, mut excluded) = (0, 0);
    for case in &cases {
        let name = case["name"].as_str().expect("case name");
        let reader = Schema::parse(&case["reader"]);
        let writer = Schema::parse(&case["writer"]);

        if let Some(reason) = case.get("excluded") {
            excluded += 1;
            // An exclusion must stay a real parser disagreement, or it is hiding a case.
            let rust_rejects = case["rust_rejects"] == Value::Bool(true);
            let rust_parses = reader.is_ok() && writer.is_ok();
            if rust_rejects == rust_parses {
                disagreements.push(format!(
                    "{name}: excluded ({reason}) but apache_avro {} it",
                    if rust_parses { "parses" } else { "rejects" }
                ));
            }
            continue;
        }

        let (reader, writer) = match (reader, writer) {
            (Ok(reader), Ok(writer)) => (reader, writer),
            (reader, writer) => {
                disagreements.push(format!(
                    "{name}: apache_avro rejects a schema Python accepts: {:?} / {:?}",
                    reader.err(),
                    writer.err()
                ));
                continue;
            }
        };
        let expected = case["compatible"].as_bool().expect("verdict");
        let found = reader_can_read(AvroSchemaRef::new(&reader), AvroSchemaRef::new(&writer))
            .expect("a corpus case is far within the step budget");
        if found.is_empty() != expected {
            disagreements.push(format!(
                "{name}: Avro says compatible={expected}, we found {found:#?}"
            ));
        }
        checked += 1;
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} cases disagree:\n{}",
        disagreements.len(),
        cases.len(),
        disagreements.join("\n")
    );
    println!("{checked} cases agree, {excluded} excluded");
}

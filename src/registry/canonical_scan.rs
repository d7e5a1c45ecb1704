//! A proof, in one pass over the bytes, that a schema text is already in our canonical spelling
//! ([`avro::canonical_text`](super::avro::canonical_text)), so replay need not parse it into JSON
//! values, rebuild it and print it again just to find the text it started with.
//!
//! [`is_canonical`] answers `true` only for texts it can vouch for: compact JSON whose strings
//! need no escapes and whose numbers are small integers, with every attribute where and as the
//! canonical writer puts it. Anything else (whitespace, escapes, floats, a collapsible
//! `{"type":"int"}`, a namespace that repeats the enclosing one, …) answers `false`, and the
//! caller canonicalizes the slow way. A `true` means: canonicalizing `text` gives `text` back,
//! or fails (and a text that fails to canonicalize is indexed under itself too).

/// Nesting this deep is left to the full parser (serde_json refuses past 128 levels).
const MAX_DEPTH: usize = 100;
/// Objects in defaults and properties with more keys than this are left to the full parser
/// (keys are checked for duplicates pairwise).
const MAX_KEYS: usize = 32;

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// Whether `text` is certainly its own canonical text (see the module docs).
pub fn is_canonical(text: &str) -> bool {
    let mut scan = Scan {
        b: text.as_bytes(),
        at: 0,
        depth: 0,
    };
    scan.schema(None).is_some() && scan.at == scan.b.len()
}

/// A cursor over the text. Every method returns `None` for "cannot vouch for it".
struct Scan<'t> {
    b: &'t [u8],
    at: usize,
    depth: usize,
}

impl<'t> Scan<'t> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.at += 1)
    }

    fn deeper(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// A string serde_json prints back byte for byte: no escapes, no control characters.
    fn string(&mut self) -> Option<&'t str> {
        self.eat(b'"')?;
        let start = self.at;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
        // Quotes are ASCII, so the slice lies on character boundaries of a valid `&str`.
        let s = std::str::from_utf8(&self.b[start..self.at]).ok()?;
        self.at += 1;
        Some(s)
    }

    /// `"key":`
    fn key(&mut self) -> Option<&'t str> {
        let k = self.string()?;
        self.eat(b':')?;
        Some(k)
    }

    /// After a member: `Some(Some(key))` for `,"key":`, `Some(None)` for the closing `}`.
    fn next_key(&mut self) -> Option<Option<&'t str>> {
        match self.peek()? {
            b'}' => {
                self.at += 1;
                Some(None)
            }
            b',' => {
                self.at += 1;
                self.key().map(Some)
            }
            _ => None,
        }
    }

    /// An integer serde_json reads as an i64 and prints the same: no sign on zero, no leading
    /// zeros, no fraction or exponent, at most 18 digits.
    fn integer(&mut self) -> Option<()> {
        let negative = self.eat(b'-').is_some();
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        let digits = &self.b[start..self.at];
        let ok = match digits {
            [] => false,
            [b'0'] => !negative,
            [b'0', ..] => false,
            _ => digits.len() <= 18,
        };
        let fraction = matches!(self.peek(), Some(b'.' | b'e' | b'E'));
        (ok && !fraction).then_some(())
    }

    /// Any JSON value that prints back as itself (defaults, symbols, custom properties).
    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => {
                self.deeper()?;
                self.at += 1;
                let mut keys: Vec<&str> = Vec::new();
                if self.eat(b'}').is_none() {
                    loop {
                        let k = self.key()?;
                        if keys.len() >= MAX_KEYS || keys.contains(&k) {
                            return None;
                        }
                        keys.push(k);
                        self.value()?;
                        if self.eat(b',').is_none() {
                            self.eat(b'}')?;
                            break;
                        }
                    }
                }
                self.depth -= 1;
                Some(())
            }
            b'[' => {
                self.deeper()?;
                self.at += 1;
                if self.eat(b']').is_none() {
                    loop {
                        self.value()?;
                        if self.eat(b',').is_none() {
                            self.eat(b']')?;
                            break;
                        }
                    }
                }
                self.depth -= 1;
                Some(())
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.integer(),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.b.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// A schema inside `enclosing` (the namespace in force, never empty).
    fn schema(&mut self, enclosing: Option<&'t str>) -> Option<()> {
        self.deeper()?;
        match self.peek()? {
            b'"' => {
                let name = self.string()?;
                reference(name, enclosing)?;
            }
            b'[' => {
                self.at += 1;
                if self.eat(b']').is_none() {
                    loop {
                        self.schema(enclosing)?;
                        if self.eat(b',').is_none() {
                            self.eat(b']')?;
                            break;
                        }
                    }
                }
            }
            b'{' => {
                self.at += 1;
                self.object(enclosing)?;
            }
            _ => return None,
        }
        self.depth -= 1;
        Some(())
    }

    /// A schema object after its `{`: `type` first, then what its type calls for.
    fn object(&mut self, enclosing: Option<&'t str>) -> Option<()> {
        if self.key()? != "type" {
            return None;
        }
        let ty = self.string()?;
        match ty {
            "record" | "error" | "enum" | "fixed" => self.named(ty, enclosing),
            "array" | "map" => {
                let part = if ty == "array" { "items" } else { "values" };
                if self.next_key()?? != part {
                    return None;
                }
                self.schema(enclosing)?;
                let next = self.next_key()?;
                self.props(next, &["type", part])
            }
            _ => {
                reference(ty, enclosing)?;
                // `{"type":"int"}` alone is spelled `"int"`.
                let next = self.next_key()?;
                next?;
                self.props(next, &["type"])
            }
        }
    }

    /// A record, enum or fixed after its `type`.
    fn named(&mut self, ty: &str, enclosing: Option<&'t str>) -> Option<()> {
        let name = match self.next_key()?? {
            "name" => self.string()?,
            _ => return None,
        };
        if name.contains('.') {
            return None;
        }
        let mut next = self.next_key()?;
        let mut ns = enclosing;
        if next == Some("namespace") {
            let written = self.string()?;
            ns = if written.is_empty() {
                // Written only to leave an enclosing namespace.
                enclosing?;
                None
            } else if Some(written) == enclosing {
                return None;
            } else {
                Some(written)
            };
            next = self.next_key()?;
        }
        if next == Some("doc") {
            self.string()?;
            next = self.next_key()?;
        }
        let reserved: &[&str] = match ty {
            "enum" => {
                if next != Some("symbols") {
                    return None;
                }
                self.value()?;
                next = self.next_key()?;
                if next == Some("default") {
                    self.value()?;
                    next = self.next_key()?;
                }
                &[
                    "type",
                    "name",
                    "namespace",
                    "doc",
                    "symbols",
                    "default",
                    "aliases",
                ]
            }
            "fixed" => {
                if next != Some("size") {
                    return None;
                }
                self.integer()?;
                next = self.next_key()?;
                &["type", "name", "namespace", "doc", "size", "aliases"]
            }
            _ => {
                if next != Some("fields") {
                    return None;
                }
                self.eat(b'[')?;
                if self.eat(b']').is_none() {
                    loop {
                        self.field(ns)?;
                        if self.eat(b',').is_none() {
                            self.eat(b']')?;
                            break;
                        }
                    }
                }
                next = self.next_key()?;
                &["type", "name", "namespace", "doc", "fields", "aliases"]
            }
        };
        self.props_then_aliases(next, reserved, ns)
    }

    /// A record field, `{` included, inside `enclosing`.
    fn field(&mut self, enclosing: Option<&'t str>) -> Option<()> {
        self.eat(b'{')?;
        if self.key()? != "name" {
            return None;
        }
        self.value()?;
        if self.next_key()?? != "type" {
            return None;
        }
        self.schema(enclosing)?;
        let mut next = self.next_key()?;
        if next == Some("doc") {
            self.string()?;
            next = self.next_key()?;
        }
        if next == Some("default") {
            self.value()?;
            next = self.next_key()?;
        }
        if next == Some("order") {
            // `ascending` is the default and not written.
            if !matches!(self.string()?, "descending" | "ignore") {
                return None;
            }
            next = self.next_key()?;
        }
        if next == Some("aliases") {
            self.aliases(None)?;
            next = self.next_key()?;
        }
        self.props(
            next,
            &["name", "type", "doc", "default", "order", "aliases"],
        )
    }

    /// Custom properties (in any order, none of them `reserved`, no key twice) up to the `}`.
    fn props(&mut self, mut next: Option<&'t str>, reserved: &[&str]) -> Option<()> {
        let mut seen: Vec<&str> = Vec::new();
        while let Some(k) = next {
            if reserved.contains(&k) || seen.len() >= MAX_KEYS || seen.contains(&k) {
                return None;
            }
            seen.push(k);
            self.value()?;
            next = self.next_key()?;
        }
        Some(())
    }

    /// A named type's custom properties, then its aliases (written last), up to the `}`.
    fn props_then_aliases(
        &mut self,
        mut next: Option<&'t str>,
        reserved: &[&str],
        ns: Option<&str>,
    ) -> Option<()> {
        let mut seen: Vec<&str> = Vec::new();
        while let Some(k) = next {
            if k == "aliases" {
                self.aliases(ns)?;
                return self.next_key()?.is_none().then_some(());
            }
            if reserved.contains(&k) || seen.len() >= MAX_KEYS || seen.contains(&k) {
                return None;
            }
            seen.push(k);
            self.value()?;
            next = self.next_key()?;
        }
        Some(())
    }

    /// A non-empty list of alias strings, none of them spelled with the namespace `ns` that
    /// the canonical writer would strip.
    fn aliases(&mut self, ns: Option<&str>) -> Option<()> {
        self.eat(b'[')?;
        loop {
            let alias = self.string()?;
            if let (Some((alias_ns, _)), Some(ns)) = (alias.rsplit_once('.'), ns) {
                if alias_ns == ns {
                    return None;
                }
            }
            if self.eat(b',').is_none() {
                return self.eat(b']');
            }
        }
    }
}

/// A type named by string inside `enclosing`, spelled as the canonical writer spells it: a
/// primitive, a bare name (in the enclosing namespace), or a full name whose namespace is not
/// the enclosing one (`.Name` for the null namespace inside another).
fn reference(name: &str, enclosing: Option<&str>) -> Option<()> {
    if PRIMITIVES.contains(&name) {
        return Some(());
    }
    match name.rfind('.') {
        None => Some(()),
        Some(0) => enclosing.map(drop),
        Some(i) => (Some(&name[..i]) != enclosing).then_some(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::avro;

    /// What `is_canonical` promises: a vouched-for text canonicalizes to itself (or not at all).
    fn agrees(text: &str) -> bool {
        let fast = is_canonical(text);
        let slow = serde_json::from_str(text)
            .ok()
            .and_then(|j| avro::canonical_text(&j).ok());
        if fast {
            assert!(
                slow.as_deref().is_none_or(|c| c == text),
                "vouched for {text}, canonical is {slow:?}"
            );
        }
        fast
    }

    #[test]
    fn canonical_texts_are_recognised() {
        for text in [
            r#""long""#,
            r#"["null","string"]"#,
            r#"{"type":"long","logicalType":"timestamp-millis"}"#,
            r#"{"type":"record","name":"R","namespace":"com.acme","doc":"top","fields":[{"name":"a","type":"string","doc":"d","default":"x"},{"name":"b","type":{"type":"enum","name":"E","symbols":["X","Y"]}},{"name":"c","type":["null","E"]}],"aliases":["Old"]}"#,
            r#"{"type":"record","name":"R","namespace":"com.acme","fields":[{"name":"x","type":{"type":"fixed","name":"F","namespace":"other","size":4}},{"name":"y","type":"other.F"},{"name":"z","type":{"type":"record","name":"N","fields":[]}}]}"#,
            r#"{"type":"record","name":"R","namespace":"a","fields":[{"name":"n","type":{"type":"record","name":"N","namespace":"","fields":[{"name":"m","type":{"type":"map","values":{"type":"array","items":"long"}},"default":{"k":[1,-2,0]}}]}},{"name":"e","type":".N"}],"x":{"y":[true,false,null]}}"#,
            r#"{"type":"enum","name":"E","symbols":["A","B"],"default":"A","aliases":["F","x.G"]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":1,"order":"descending","aliases":["b"],"p":"q"}]}"#,
            r#"{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}"#,
            "{\"type\":\"record\",\"name\":\"Ünïcode\",\"fields\":[]}",
        ] {
            assert!(agrees(text), "{text}");
        }
    }

    #[test]
    fn other_spellings_are_left_to_the_full_parse() {
        for text in [
            r#" "long""#,
            r#"{"type":"long"}"#,
            r#"{"type": "long","logicalType":"date"}"#,
            r#"{"logicalType":"date","type":"int"}"#,
            r#"{"name":"R","type":"record","fields":[]}"#,
            r#"{"type":"record","name":"a.R","fields":[]}"#,
            r#"{"type":"record","name":"R","namespace":"a","fields":[{"name":"n","type":{"type":"record","name":"N","namespace":"a","fields":[]}}]}"#,
            r#"{"type":"record","name":"R","namespace":"","fields":[]}"#,
            r#"{"type":"record","name":"R","namespace":"a","fields":[{"name":"x","type":"a.X"}]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"x","type":".X"}]}"#,
            r#"{"type":"record","name":"R","namespace":"a","aliases":["a.Z"],"fields":[]}"#,
            r#"{"type":"record","name":"R","fields":[],"aliases":[]}"#,
            r#"{"type":"record","name":"R","doc":null,"fields":[]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","order":"ascending"}]}"#,
            r#"{"type":"record","name":"R","fields":[{"type":"int","name":"a"}]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":1.5}]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":-0}]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":01}]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string","default":"\u0041"}]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":{"k":1,"k":2}}]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","p":1,"p":2}]}"#,
            r#"{"type":"record","name":"R","fields":[],"fields":[]}"#,
            r#"{"type":"record","name":"R","x":1,"fields":[]}"#,
            r#"{"type":"record","name":"R","fields":[],"aliases":["A"],"x":1}"#,
            r#"{"type":{"type":"int"}}"#,
            r#"{"type":"array","items":"int"} "#,
            r#"{"type":"fixed","name":"F","size":4.0}"#,
        ] {
            assert!(!agrees(text), "{text}");
        }
    }

    #[test]
    fn deep_nesting_is_left_to_the_full_parse() {
        let mut s = String::from("\"int\"");
        for _ in 0..200 {
            s = format!(r#"{{"type":"array","items":{s}}}"#);
        }
        assert!(!agrees(&s));
    }
}

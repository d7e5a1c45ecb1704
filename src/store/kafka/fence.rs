//! Fencing a deposed writer out of `_schemas`, without transactions.
//!
//! With several nodes on one topic only the leader writes (`store::lease`), but a leader can be
//! paused (SIGSTOP, a VM freeze, a stalled network) after its last lease check and produce once
//! another node has taken over. Kafka would fence it with a transactional producer; Tansu
//! refuses transactions. So every record a leader produces says where it must land: a record
//! header `schemata.after` holding the log offset of the last record the writer had applied
//! when it decided the record (plus the record's index in its batch). The rule every Schemata
//! reader applies:
//!
//! > a record carrying `schemata.after = A` counts only if it sits at log offset `A + 1`;
//! > otherwise it is read as a NOOP.
//!
//! A record lands at `A + 1` only if nothing at all was appended after the record its writer
//! had last applied, so a counted record was decided on the whole log before it: no other
//! write can have given its id, subject version or config away in between. A deposed leader's
//! late record therefore counts only if nothing was written since its decision — then it is
//! simply the next write, and the new leader applies it before deciding anything (a new
//! leader first reads the log to its end, and any later decision of its own that missed the
//! record lands fenced). Once the new leader has appended anything, the late record lands
//! behind it and never counts, whatever the pause, clock or network delay. The rule needs
//! only the record's own offset and header, both kept by compaction, so every reader — live,
//! restarted or replaying a compacted topic — counts the same records.
//!
//! The writer learns the offsets its records landed at from the produce acknowledgements. If
//! they were fenced (another node's start-up NOOP, a foreign writer or a late record got in
//! between) it catches up and decides the command again on what it read (`node`). Because a
//! stale decision cannot count, the writer needs no NOOP round trip to learn the end of the log
//! before each write: it decides on what it has applied.
//!
//! The rule assumes offsets are dense, as on a partition without transactions (Confluent,
//! Karapace and Schemata never write them).
//!
//! Limits: Confluent and Karapace (and Schemata before the fence) ignore the header, so they
//! would apply a deposed leader's late record; the fence protects fence-aware readers only, and
//! every node of a cluster must run a version with it. A command of several records (a delete
//! with its config tombstone, say) is cut if another record lands inside its batch: the records
//! before it count, the rest do not, and the client is told the write may have landed
//! (50002). Compaction keeps the latest record
//! per key even when it is fenced, so a fenced record can in time hide an earlier counted one
//! with the same key from a reader replaying the compacted topic; the leader therefore
//! re-appends the current value of every key it sees fenced (`node`).

use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::Message;

/// How many fenced keys a reader remembers for the leader to restate: each is one late record
/// of a deposed leader, so more than a handful means something else writes the topic.
pub const MAX_REMEMBERED: usize = 10_000;

/// The header naming the log offset a record must directly follow.
const AFTER: &str = "schemata.after";

/// The header for a record that must land at log offset `after + 1`.
pub fn header(after: i64) -> OwnedHeaders {
    OwnedHeaders::new().insert(Header {
        key: AFTER,
        value: Some(after.to_string().as_bytes()),
    })
}

/// Whether the record `m`, read at log offset `offset`, counts: it has no fence header, or it
/// landed where its header says. A header that does not parse fences the record: only
/// Schemata writes it.
pub fn holds(m: &impl Message, offset: i64) -> bool {
    let Some(headers) = m.headers() else {
        return true;
    };
    let Some(after) = headers.iter().find(|h| h.key == AFTER) else {
        return true;
    };
    after
        .value
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.parse::<i64>().ok())
        .is_some_and(|after| after + 1 == offset)
}

/// Whether `key` is a NOOP record's key, as Schemata, Confluent and Karapace write it: a fenced
/// NOOP needs no restating.
pub fn is_noop(key: &[u8]) -> bool {
    key == br#"{"keytype":"NOOP","magic":0}"#
}

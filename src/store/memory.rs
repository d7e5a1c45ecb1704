//! An in-memory compacted log, for unit tests and `memory://` experiments. Not durable.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::Stored;
use crate::registry::record::RawRecord;

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    next: i64,
    by_offset: BTreeMap<i64, RawRecord>,
    by_key: HashMap<Vec<u8>, i64>,
}

impl MemoryStore {
    pub fn append(&self, records: &[RawRecord]) -> i64 {
        let mut log = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for r in records {
            log.next += 1;
            let offset = log.next;
            if let Some(old) = log.by_key.insert(r.key.clone(), offset) {
                log.by_offset.remove(&old);
            }
            log.by_offset.insert(offset, r.clone());
        }
        log.next
    }

    pub fn read_after(&self, offset: i64, limit: usize) -> Vec<Stored> {
        let log = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        log.by_offset
            .range(offset + 1..)
            .take(limit)
            .map(|(o, r)| Stored {
                offset: *o,
                record: r.clone(),
            })
            .collect()
    }
}

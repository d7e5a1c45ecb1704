//! Start-up replay: how long until a registry whose SQLite log holds N distinct schemas is
//! ready (read the log, decode every record, fold it into state). The server logs the same
//! figure at every start ("replayed N records in X ms").
//!
//! Before timing, it also prints what the replayed state of N schemas holds in memory: live
//! heap bytes per schema, beyond the schema's own text.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};
use schemata::registry::record::{GlobalKeyForm, Record, SchemaValue};
use schemata::store::Store;
use schemata::Node;

/// The allocator the `schemata` binary uses, so the figures are the server's, counting the
/// bytes live.
#[global_allocator]
static ALLOCATOR: Counting = Counting(mimalloc::MiMalloc);

struct Counting(mimalloc::MiMalloc);

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        self.0.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        self.0.dealloc(ptr, layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        self.0.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        self.0.realloc(ptr, layout, new_size)
    }
}

/// A realistic 6-field record, made distinct by its name and a default.
fn schema(i: usize) -> String {
    format!(
        r#"{{"type":"record","name":"Event{i}","namespace":"com.acme.events","fields":[{{"name":"id","type":"long"}},{{"name":"ts","type":{{"type":"long","logicalType":"timestamp-millis"}}}},{{"name":"kind","type":{{"type":"enum","name":"Kind","symbols":["A","B","C"]}}}},{{"name":"user","type":["null","string"],"default":null}},{{"name":"tags","type":{{"type":"array","items":"string"}},"default":[]}},{{"name":"n","type":"int","default":{i}}}]}}"#
    )
}

async fn fill(path: &str, n: usize) {
    let store = Store::open(path).await.unwrap();
    for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
        let records: Vec<_> = chunk
            .iter()
            .map(|&i| {
                let subject = format!("topic-{}-value", i / 10);
                let version = (i % 10) as i32 + 1;
                Record::schema(SchemaValue::new(&subject, version, i as i32 + 1, schema(i)))
                    .encode(GlobalKeyForm::Omitted)
            })
            .collect();
        store.append(&records, n as i32, None).await.unwrap();
    }
    store.close().await;
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    for n in [10_000, 100_000] {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        rt.block_on(fill(&url, n));
        rt.block_on(async {
            let before = LIVE.load(Ordering::Relaxed);
            let node = Node::open(Store::open(&url).await.unwrap()).await.unwrap();
            let held = LIVE.load(Ordering::Relaxed).saturating_sub(before);
            let text: usize = (0..n).map(|i| schema(i).len()).sum();
            println!(
                "replay/sqlite_{n}_schemas: state holds {} MiB, {} bytes per schema beyond its {} bytes of text",
                held >> 20,
                held.saturating_sub(text) / n,
                text / n,
            );
            node.close().await;
        });
        group.bench_function(format!("sqlite_{n}_schemas"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let node = Node::open(Store::open(&url).await.unwrap()).await.unwrap();
                    assert_eq!(node.read(|s| s.schema_count()), n);
                    node.close().await;
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! A running registry: the in-memory [`State`], the [`Store`] it is folded from, and the one
//! writer lock.
//!
//! Reads take the state's read lock for microseconds and never touch the store.
//!
//! A write must never hand out an id that the log already gives to something else, so it is
//! built around two rules:
//!
//! - **A write runs to completion on its own task.** Once records may be in the log, the node
//!   must apply them before it decides anything else. If the write ran inside the request's
//!   future, a client closing its connection (hyper then drops the handler) or any timeout
//!   would stop it between "appended" and "applied", and the next write would decide on a
//!   state that lacks those records. [`Node::write`] spawns the write; the request only waits
//!   for its answer.
//! - **Decide on the true end of the log.** Records written by anyone else — another node, a
//!   takeover tool, an earlier write that timed out — must be applied before a command runs.
//!   A lone writer's store is first read to its end ([`Store::sync_point`]). On a shared
//!   Kafka topic the node decides on what it has applied and fences its records to that
//!   offset (`store::kafka::fence`): if anything landed in between, no reader counts them, and
//!   the node catches up and decides the command again (a few times at most). That saves the
//!   NOOP round trip Confluent makes before every write.
//!
//! Then: run the pure command on the blocking pool (parsing and compatibility checks can be
//! expensive; no other task takes the state's write lock meanwhile, so readers are not held up)
//! → commit its records → apply them: as written when the store says every reader counts them
//! right behind what the state holds (a SQLite file's one writer; a fenced Kafka append),
//! otherwise by catching up until the state has applied the offset the commit returned
//! → release the writer → wait until the store has them on disk ([`Node::settled`]; on SQLite
//! one sync serves every write committed meanwhile). The response is built only after that, so
//! a client always reads its own writes; if the log stops delivering for the store's timeout,
//! the write fails with [`StoreError::Timeout`] instead of reporting success, and the next
//! write applies whatever did land first. Reads also answer only once what they saw is on disk
//! (`api::settle`), so a committed but not yet synced write is never revealed early.
//!
//! Reading the log (replay, catching up to an offset) is the store's [`Follower`]'s; the node
//! only says how a batch is applied to its state.
//!
//! On a log other processes append to (Kafka), the node also tails it every `TAIL_INTERVAL` (200 ms):
//! a schema registered through another node becomes readable here within about that long,
//! without waiting for this node's next write.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use crate::registry::command;
use crate::registry::error::RegistryError;
use crate::registry::record::{RawRecord, Record};
use crate::registry::state::{DecodedRecord, State};
use crate::store::follow::{self, Fold, Follower};
use crate::store::lease::{Candidate, Election};
use crate::store::{Store, StoreError, Stored};

/// How often a node on a shared log (Kafka) reads what other nodes appended.
const TAIL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);
/// How many records replay reads per round trip.
const BATCH: usize = 10_000;
/// From how many records a batch is prepared on a blocking thread (on every core): a write's
/// own one or two records are not worth the hop.
const PARALLEL_FROM: usize = 256;
/// Writes that may be queued behind the writer at once. A write keeps its request (up to the
/// body limit) until it completes, even after its client left, so without a cap a client
/// opening and dropping connections could queue writes without end. Further writes wait for a
/// place for up to the store's timeout, then fail as timed out (50002).
const MAX_QUEUED_WRITES: usize = 256;
/// How often a fenced write is decided and produced again before it fails: each attempt
/// needs another writer's record to slip in between.
const FENCED_ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// This node does not hold the lease to write the shared log.
    #[error("this node is not the leader")]
    NotLeader,
}

pub struct Node {
    state: RwLock<State>,
    store: Store,
    follower: Follower,
    writer: tokio::sync::Mutex<()>,
    queued: Arc<tokio::sync::Semaphore>,
    /// How long the start-up replay took (for `/metrics`).
    replayed_in: std::time::Duration,
    /// Who writes a shared log (Kafka); unset on a local store, where this node alone writes.
    election: std::sync::OnceLock<Arc<Election>>,
    /// The log is shared (Kafka): writes need the lease and are fenced.
    shared: bool,
    /// The election epoch in which this node, as leader, last read the log to its end; a new
    /// leader does that once before it decides anything (0: not yet).
    synced_epoch: std::sync::atomic::AtomicU64,
}

/// Where a write should go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// This node holds the lease (or is the only node).
    Local,
    /// Another node leads, at this URL.
    Leader(String),
    /// No live leader known yet (an election under way, or this node's lease is not yet valid).
    Unknown,
}

/// What a node knows of the writer of its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leadership {
    /// Whether this node holds the lease now.
    pub leading: bool,
    /// The leader's advertised URL, if a leader is known (None: this node alone, or unknown).
    pub leader_url: Option<String>,
    /// Whether a leader is known (always, for a single-node store).
    pub known: bool,
    /// The election epoch: one more on every change of leader (0 without an election).
    pub epoch: u64,
}

impl Node {
    /// Replays the whole log into a fresh state; the node is ready when this returns.
    pub async fn open(store: Store) -> Result<Arc<Node>, StoreError> {
        let follower = Follower::new(store.schemas().clone(), BATCH, "the log");
        let mut node = Node {
            state: RwLock::new(State::default()),
            store,
            follower,
            writer: tokio::sync::Mutex::new(()),
            queued: Arc::new(tokio::sync::Semaphore::new(MAX_QUEUED_WRITES)),
            replayed_in: std::time::Duration::ZERO,
            election: std::sync::OnceLock::new(),
            shared: false,
            synced_epoch: Default::default(),
        };
        node.shared = node.store.schemas().shared();
        let started = Instant::now();
        let watermark = node.store.id_watermark().await?;
        node.state
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .raise_max_id(watermark);
        let records = node.follower.replay(&StateFold(&node.state)).await?;
        let (schemas, skipped) = node.read(|s| (s.schema_count(), s.skipped));
        tracing::info!(
            records,
            schemas,
            skipped,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "replayed {records} records in {} ms",
            started.elapsed().as_millis()
        );
        node.replayed_in = started.elapsed();
        let node = Arc::new(node);
        if node.shared {
            follow::tail(&node, |n| &n.follower, TAIL_INTERVAL);
        }
        Ok(node)
    }

    /// Opens the node ([`Node::open`]) and, on a shared log, joins its election as `me`; the
    /// election's first round is over when this returns.
    pub async fn open_electing(store: Store, me: Candidate) -> Result<Arc<Node>, StoreError> {
        let leader_log = store.leader_log().await?;
        let node = Node::open(store).await?;
        if let Some(log) = leader_log {
            tracing::info!(node = %me.node, url = %me.url, eligible = me.eligible, "joining the leader election");
            node.elect_with(Election::start(log, me).await?);
        }
        Ok(node)
    }

    /// Takes part in `election` for the writer of a shared log (Kafka). Until then a node on a
    /// shared log writes nothing.
    pub fn elect_with(self: &Arc<Self>, election: Arc<Election>) {
        if self.election.set(election).is_ok() && self.shared {
            restate_fenced(Arc::downgrade(self));
        }
    }

    /// Whether other nodes may write this node's log (Kafka), so a write may belong to
    /// another node.
    pub fn shares_log(&self) -> bool {
        self.shared
    }

    /// Where a write arriving here should go now.
    pub fn route(&self) -> Route {
        let Some(e) = self.election.get() else {
            return if self.shared {
                Route::Unknown
            } else {
                Route::Local
            };
        };
        if e.holds_lease() {
            return Route::Local;
        }
        match e.leader_live() {
            Some(l) if l.node != e.node() => Route::Leader(l.url),
            _ => Route::Unknown,
        }
    }

    /// Why no leader can be known now: the leader log cannot be reached (None otherwise).
    pub fn election_trouble(&self) -> Option<StoreError> {
        let trouble = self.election.get()?.trouble()?;
        Some(StoreError::Unavailable(format!(
            "no leader: the leader log cannot be reached: {trouble}"
        )))
    }

    /// How long a write may wait for the store (and for a leader).
    pub fn timeout(&self) -> std::time::Duration {
        self.store.timeout()
    }

    /// Who writes this node's log, as far as this node knows.
    pub fn leadership(&self) -> Leadership {
        match self.election.get() {
            None => Leadership {
                leading: true,
                leader_url: None,
                known: true,
                epoch: 0,
            },
            Some(e) => {
                let leader = e.leader();
                Leadership {
                    leading: e.holds_lease(),
                    known: leader.is_some(),
                    epoch: leader.as_ref().map_or(0, |l| l.epoch),
                    leader_url: leader.map(|l| l.url),
                }
            }
        }
    }

    /// How long ago the state last held everything in the log (see [`Follower::staleness`]).
    pub fn staleness(&self) -> std::time::Duration {
        self.follower.staleness().unwrap_or_default()
    }

    /// How long the start-up replay took.
    pub fn replay_time(&self) -> std::time::Duration {
        self.replayed_in
    }

    /// Runs `f` against the current state. Keep `f` short: it holds the read lock.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        f(&state)
    }

    /// Runs a command and makes its records durable and applied before returning its result.
    ///
    /// The write runs on a task of its own: dropping the returned future (a client that went
    /// away) does not stop it half-way.
    pub async fn write<T, F>(self: &Arc<Self>, command: F) -> Result<T, NodeError>
    where
        T: Send + 'static,
        F: Fn(&State) -> Result<(T, Vec<Record>), RegistryError> + Send + Sync + 'static,
    {
        self.write_quick_if(|_| false, command).await
    }

    /// [`Node::write`] for a command that may be cheap to decide: where `quick` says so of the
    /// state it is decided on, it is decided on the writer's own task rather than the blocking
    /// pool (no thread hop). `quick` runs under the same read lock as the decision.
    pub async fn write_quick_if<T, F, Q>(
        self: &Arc<Self>,
        quick: Q,
        command: F,
    ) -> Result<T, NodeError>
    where
        T: Send + 'static,
        F: Fn(&State) -> Result<(T, Vec<Record>), RegistryError> + Send + Sync + 'static,
        Q: Fn(&State) -> bool + Send + Sync + 'static,
    {
        let place = tokio::time::timeout(
            self.store.timeout(),
            Arc::clone(&self.queued).acquire_owned(),
        )
        .await
        .map_err(|_| StoreError::Timeout(format!("{MAX_QUEUED_WRITES} writes are already queued")))?
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let node = Arc::clone(self);
        let queued_at = Instant::now();
        tokio::spawn(async move {
            let result = Arc::clone(&node)
                .write_to_completion(queued_at, quick, command)
                .await;
            // Acknowledged once durable. The writer is free again: writes queued behind this
            // one decide and commit meanwhile and share the next sync (group commit).
            let result = match result {
                Ok(answer) => node.settled().await.map(|()| answer),
                Err(e) => Err(e),
            };
            drop(place);
            result
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("write task failed: {e}")))?
    }

    async fn write_to_completion<T, F, Q>(
        self: Arc<Self>,
        queued_at: Instant,
        quick: Q,
        command: F,
    ) -> Result<T, NodeError>
    where
        T: Send + 'static,
        F: Fn(&State) -> Result<(T, Vec<Record>), RegistryError> + Send + Sync + 'static,
        Q: Fn(&State) -> bool,
    {
        let _writer = self.writer.lock().await;
        // A write that waited out the store's timeout behind others (a broker outage) is
        // answered as timed out rather than run long after its client gave up — and perhaps
        // after that client's retry or a later delete. Nothing is appended yet, so this is safe.
        let timeout = self.store.timeout();
        if queued_at.elapsed() > timeout {
            return Err(StoreError::Timeout(format!(
                "waited more than {} ms for earlier writes",
                timeout.as_millis()
            ))
            .into());
        }
        self.check_lease()?;
        // A fenced log (several nodes on Kafka) needs no NOOP round trip first: the records are
        // fenced to the offset this node has applied (`store::kafka::fence`), so a decision on
        // a stale state is rejected by the log itself, and the command is decided again on
        // what the node then reads. A lone writer's store is read to its end first.
        let fenced = self.shared;
        let epoch = self.leadership().epoch;
        let synced = self.synced_epoch.load(std::sync::atomic::Ordering::SeqCst);
        let mut end = if fenced && synced == epoch {
            self.applied()
        } else {
            // A lone writer's store, or a new leader's first write: read to the end first,
            // so no write acknowledged by an earlier leader is missing from the decision
            // (also for decisions that write nothing).
            let end = self.store.sync_point().await?;
            self.catch_up_to(end).await?;
            if fenced {
                self.synced_epoch
                    .store(epoch, std::sync::atomic::Ordering::SeqCst);
            }
            end
        };
        let command = Arc::new(command);
        for attempt in 1.. {
            // Deciding may parse or check compatibility, which can take long for a big schema:
            // on the blocking pool, so the async workers stay free, unless `quick` says it is
            // lookups only.
            let inline = self.read(|state| quick(state).then(|| decide(state, &*command)));
            let decided = match inline {
                Some(decided) => decided,
                None => {
                    let node = Arc::clone(&self);
                    let command = Arc::clone(&command);
                    tokio::task::spawn_blocking(move || node.read(|state| decide(state, &*command)))
                        .await
                        .map_err(|e| StoreError::Unavailable(format!("write worker failed: {e}")))?
                }
            };
            let (result, raw, max_id) = decided?;
            if raw.is_empty() {
                return Ok(result);
            }
            // Again right before producing: the lease may have run out while deciding.
            self.check_lease()?;
            let appended = self.store.commit(&raw, max_id, fenced.then_some(end)).await;
            let committed = match appended {
                Ok(committed) => committed,
                Err(StoreError::Fenced {
                    landed,
                    after,
                    partly: true,
                }) => {
                    // Some records counted, the rest did not: deciding the command again on
                    // that state could answer as if it had failed. Say it may have landed.
                    self.catch_up_to(landed).await?;
                    return Err(StoreError::Timeout(format!(
                        "the write was cut by another record after offset {after}: part of it applied"
                    ))
                    .into());
                }
                Err(StoreError::Fenced { landed, after, .. }) if attempt < FENCED_ATTEMPTS => {
                    tracing::info!(after, landed, attempt, "write fenced; deciding it again");
                    self.catch_up_to(landed).await?;
                    end = self.applied();
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let offset = committed.last;
            if let Some(offsets) = committed.own {
                // They landed right behind what the state holds: apply them as written.
                let own = offsets.into_iter().zip(raw);
                let batch = own
                    .map(|(offset, record)| Stored { offset, record })
                    .collect();
                if StateFold(&self.state).apply_own(batch) {
                    return Ok(result);
                }
            }
            // The records are in the log: failing to read them back means "may have
            // landed" (50002), never "not written" (50001).
            self.catch_up_to(offset).await.map_err(|e| match e {
                e @ StoreError::Timeout(_) => e,
                e => StoreError::Timeout(format!("written at {offset}, not read back: {e}")),
            })?;
            return Ok(result);
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// Returns once everything the state holds is durable (at once unless writes are being
    /// synced, see [`Store::commit`]). Every answer waits for it, reads included: a client
    /// must not learn of a write that a power cut could still take back.
    pub async fn settled(&self) -> Result<(), NodeError> {
        Ok(self.store.flush().await?)
    }

    /// Whether [`Node::settled`] would return at once: everything committed is durable.
    pub fn is_settled(&self) -> bool {
        self.store.is_flushed()
    }

    /// How many transactions the store committed and how many syncs made them durable (SQLite
    /// only).
    pub fn commit_counts(&self) -> Option<(u64, u64)> {
        self.store.commit_counts()
    }

    /// The offset of the last record the state applied.
    fn applied(&self) -> i64 {
        StateFold(&self.state).applied()
    }

    /// Refuses to write unless this node holds the lease (always, without an election).
    fn check_lease(&self) -> Result<(), NodeError> {
        match self.election.get() {
            Some(e) if !e.holds_lease() => Err(self
                .election_trouble()
                .map_or(NodeError::NotLeader, NodeError::Store)),
            None if self.shared => Err(NodeError::NotLeader),
            _ => Ok(()),
        }
    }

    /// Whether this node may answer a write that changes nothing from its state alone, without
    /// the writer: it writes the log, and (on a shared log) has read it to its end since it
    /// became the leader, so its state holds every write acknowledged before.
    pub fn decides_locally(&self) -> bool {
        self.route() == Route::Local
            && (!self.shared
                || self.synced_epoch.load(std::sync::atomic::Ordering::SeqCst)
                    == self.leadership().epoch)
    }

    /// Catches up until the state has applied `target` (see [`Follower::catch_up_to`]).
    async fn catch_up_to(&self, target: i64) -> Result<usize, StoreError> {
        self.follower
            .catch_up_to(&StateFold(&self.state), target)
            .await
    }

    /// Lets a write whose client already left finish (bounded by the store's timeout), then
    /// releases the store.
    pub async fn close(&self) {
        self.queued.close();
        let _last_write = tokio::time::timeout(self.store.timeout(), self.writer.lock()).await;
        if let Some(e) = self.election.get() {
            e.resign().await;
        }
        self.store.close().await;
    }
}

/// While this node leads, re-appends the current value of every key whose last record read was
/// fenced, so compaction cannot leave a fenced record as a key's only one
/// (`store::kafka::fence`). Stops with the node.
fn restate_fenced(node: std::sync::Weak<Node>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TAIL_INTERVAL);
        loop {
            tick.tick().await;
            let Some(node) = node.upgrade() else { return };
            if node.route() != Route::Local {
                continue;
            }
            let keys = node.store.take_fenced();
            if keys.is_empty() {
                continue;
            }
            let count = keys.len();
            let restated = keys.clone();
            match node
                .write(move |state| Ok(((), command::restate(state, &restated))))
                .await
            {
                Ok(()) => tracing::info!(count, "restated keys whose last record was fenced"),
                Err(error) => {
                    tracing::warn!(%error, count, "cannot restate fenced keys yet");
                    node.store.keep_fenced(keys);
                }
            }
        }
    });
}

/// The node as its tailer sees it: its state.
impl Fold for Node {
    fn applied(&self) -> i64 {
        StateFold(&self.state).applied()
    }

    async fn apply(&self, batch: Vec<Stored>) -> Result<(), StoreError> {
        StateFold(&self.state).apply(batch).await
    }
}

/// The state as the follower applies records to it.
struct StateFold<'a>(&'a RwLock<State>);

impl Fold for StateFold<'_> {
    fn applied(&self) -> i64 {
        self.0.read().unwrap_or_else(|p| p.into_inner()).offset
    }

    async fn apply(&self, mut batch: Vec<Stored>) -> Result<(), StoreError> {
        // What a writer applied as its own while this batch was read (`StateFold::apply_own`)
        // is dropped here, and the write lock not even taken if that was all of it: the
        // writer may be deciding under the read lock meanwhile.
        let applied = self.applied();
        batch.retain(|s| s.offset > applied);
        if batch.is_empty() {
            return Ok(());
        }
        // Decoding and canonicalising need no state: done on every core, off the async
        // threads and before the write lock, so readers are not held up by it.
        let (batch, prepared) = if batch.len() < PARALLEL_FROM {
            let prepared = batch.iter().map(|s| DecodedRecord::of(&s.record)).collect();
            (batch, prepared)
        } else {
            tokio::task::spawn_blocking(move || {
                let prepared = DecodedRecord::all(&batch, |s| &s.record);
                (batch, prepared)
            })
            .await
            .map_err(|e| StoreError::Unavailable(format!("replay worker failed: {e}")))?
        };
        let mut state = self.0.write().unwrap_or_else(|p| p.into_inner());
        for (stored, prepared) in batch.iter().zip(prepared) {
            // Also since the check above: skipped, and the rest follow them in log order.
            if stored.offset > state.offset {
                state.apply_decoded(stored.offset, &stored.record, prepared);
            }
        }
        Ok(())
    }
}

impl StateFold<'_> {
    /// Applies a writer's own records without reading them back, when they are what follows
    /// the state: records the writer knows every reader counts at these offsets (see
    /// [`crate::store::Committed::own`]). Whatever a concurrent catch-up applied already is
    /// skipped. False, having applied nothing, when the rest does not start right after the
    /// state's offset: the writer must read the log instead.
    ///
    /// Only the state's lock is taken, not the follower's: a tailer waiting on the broker
    /// inside a read must not hold up every write.
    fn apply_own(&self, batch: Vec<Stored>) -> bool {
        let prepared: Vec<_> = batch.iter().map(|s| DecodedRecord::of(&s.record)).collect();
        let mut state = self.0.write().unwrap_or_else(|p| p.into_inner());
        let applied = state.offset;
        let mut own = batch
            .iter()
            .zip(prepared)
            .skip_while(|(s, _)| s.offset <= applied)
            .peekable();
        match own.peek() {
            None => return true,
            Some((first, _)) if first.offset != applied + 1 => return false,
            Some(_) => {}
        }
        for (stored, prepared) in own {
            state.apply_decoded(stored.offset, &stored.record, prepared);
        }
        true
    }
}

/// Runs a command against `state` and encodes its records; also returns the highest schema id
/// the registry will have allocated once they are applied.
fn decide<T>(
    state: &State,
    command: &impl Fn(&State) -> Result<(T, Vec<Record>), RegistryError>,
) -> Result<(T, Vec<RawRecord>, i32), RegistryError> {
    let (result, records) = command(state)?;
    let form = state.global_key_form();
    let max_id = records
        .iter()
        .filter_map(|r| match r {
            Record::Schema { value: Some(v), .. } => Some(v.id.get()),
            _ => None,
        })
        .fold(state.max_id().get(), i32::max);
    let raw = records.iter().map(|r| r.encode(form)).collect();
    Ok((result, raw, max_id))
}

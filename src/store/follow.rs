//! Following a log: reading it to its end, catching up to an offset, and tailing it for what
//! other writers append — for anything that folds a log into a view: the schema node and the
//! users view (which tails its log on Kafka, where other nodes and the CLI write it too).
//!
//! A [`Fold`] says where it stands ([`Fold::applied`]) and applies a batch of records; the
//! [`Follower`] does the reading. One catch-up runs at a time per follower: a Kafka consumer has
//! one position, and two readers starting from the same offset would apply a batch twice.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::{Log, StoreError, Stored};

/// How long a tailer may fail before it logs errors instead of warnings.
const STALE_AFTER: Duration = Duration::from_secs(30);

/// Something folded from a log.
pub trait Fold: Sync {
    /// The offset of the last record applied (0: none).
    fn applied(&self) -> i64;

    /// Applies `batch` (records after [`Fold::applied`], in log order); afterwards `applied`
    /// is the last one's offset. May prepare big batches off the async threads.
    fn apply(&self, batch: Vec<Stored>) -> impl Future<Output = Result<(), StoreError>> + Send;
}

pub struct Follower {
    log: Log,
    /// Records read per round trip.
    batch: usize,
    /// Names the log in errors ("the users log").
    what: &'static str,
    reading: tokio::sync::Mutex<()>,
    /// When a read last came back empty: the fold had everything the log held then.
    caught_up_at: std::sync::Mutex<Option<Instant>>,
}

impl Follower {
    pub fn new(log: Log, batch: usize, what: &'static str) -> Follower {
        Follower {
            log,
            batch,
            what,
            reading: tokio::sync::Mutex::new(()),
            caught_up_at: std::sync::Mutex::new(None),
        }
    }

    pub fn log(&self) -> &Log {
        &self.log
    }

    /// How long ago the fold last had everything the log held (None: never yet): what a
    /// reader of the fold may miss of other writers' records is at most about this old.
    pub fn staleness(&self) -> Option<Duration> {
        self.caught_up_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|at| at.elapsed())
    }

    /// Applies whatever the log holds past `fold`, until a read comes back empty; returns how
    /// many records.
    pub async fn catch_up(&self, fold: &impl Fold) -> Result<usize, StoreError> {
        let mut count = 0;
        loop {
            match self.read_once(fold).await? {
                0 => return Ok(count),
                n => count += n,
            }
        }
    }

    /// Reads one batch past `fold` and applies it; returns how many records (0: the fold had
    /// everything the log held).
    async fn read_once(&self, fold: &impl Fold) -> Result<usize, StoreError> {
        let _reading = self.reading.lock().await;
        let batch = self.log.read_after(fold.applied(), self.batch).await?;
        if batch.is_empty() {
            *self.caught_up_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            return Ok(0);
        }
        let n = batch.len();
        fold.apply(batch).await?;
        Ok(n)
    }

    /// Catches up until `fold` has applied `target` (0 or less: until a read comes back empty);
    /// returns how many records. Reads only while the target is not reached: a writer catching
    /// up to its own record needs one read, not one more to see the end. A remote log may
    /// answer an empty read before it delivers what it holds, so keep reading while it makes
    /// progress, and fail once it has made none for the log's timeout.
    pub async fn catch_up_to(&self, fold: &impl Fold, target: i64) -> Result<usize, StoreError> {
        if target <= 0 {
            return self.catch_up(fold).await;
        }
        let stall = self.log.timeout();
        let mut count = 0;
        let mut progress_at = Instant::now();
        loop {
            let applied = fold.applied();
            if applied >= target {
                return Ok(count);
            }
            let n = self.read_once(fold).await?;
            count += n;
            if n > 0 {
                progress_at = Instant::now();
            } else if progress_at.elapsed() >= stall {
                return Err(StoreError::Timeout(format!(
                    "{} did not deliver offset {target} within {} ms (applied up to {applied})",
                    self.what,
                    stall.as_millis()
                )));
            } else {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }

    /// Start-up replay: catches up to the log's [`Log::replay_target`].
    pub async fn replay(&self, fold: &impl Fold) -> Result<usize, StoreError> {
        self.catch_up_to(fold, self.log.replay_target()).await
    }

    /// Brings `fold` to the end of the log as of now ([`Log::sync_point`]), so a writer
    /// decides on everything any writer appended before.
    pub async fn sync(&self, fold: &impl Fold) -> Result<usize, StoreError> {
        let end = self.log.sync_point().await?;
        self.catch_up_to(fold, end).await
    }

    /// Appends `records` and returns once `fold` has applied them: a writer reads its own
    /// writes.
    pub async fn append(
        &self,
        fold: &impl Fold,
        records: &[crate::registry::record::RawRecord],
    ) -> Result<i64, StoreError> {
        let offset = self.log.append(records).await?;
        self.catch_up_to(fold, offset).await?;
        Ok(offset)
    }
}

/// Catches `owner` up every `every` until it is dropped, for logs other processes write to.
/// While the log cannot be read, `owner` goes on with what it has and says so, louder once it
/// has been a while.
pub fn tail<T>(owner: &Arc<T>, follower: fn(&T) -> &Follower, every: Duration)
where
    T: Fold + Send + Sync + 'static,
{
    let owner: Weak<T> = Arc::downgrade(owner);
    tokio::spawn(async move {
        let mut read_at = Instant::now();
        loop {
            tokio::time::sleep(every).await;
            let Some(owner) = owner.upgrade() else {
                return;
            };
            let follower = follower(&owner);
            match follower.catch_up(&*owner).await {
                Ok(_) => read_at = Instant::now(),
                Err(e) if read_at.elapsed() > STALE_AFTER => tracing::error!(
                    error = %e,
                    stale_secs = read_at.elapsed().as_secs(),
                    "cannot read {}: changes made elsewhere are not applied here",
                    follower.what
                ),
                Err(e) => tracing::warn!(error = %e, "cannot read {}; retrying", follower.what),
            }
        }
    });
}

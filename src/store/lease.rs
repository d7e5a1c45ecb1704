//! Who may write a shared `_schemas` topic: a lease log.
//!
//! Several nodes may serve one Kafka topic, but only one may allocate ids. Tansu (and other
//! Kafka-protocol brokers) neither fail over consumer-group assignments nor accept
//! transactions, so leadership is agreed through a log of its own — the one-partition
//! `[kafka] leader_topic` — where every node reads the same records in the same order:
//!
//! - A **claim** `{node, url, epoch}` with `epoch` = the last epoch seen + 1 makes its node the
//!   leader of that epoch, if it is the first claim for that epoch in log order; later claims
//!   for it lose. Each claim has its own key (`claim/EPOCH/NODE`), so compaction never removes
//!   the claim that came first.
//! - The leader **renews** (`renew/EPOCH/NODE`) every lease/3. Every node times the lease from
//!   the moment *it* applied the last claim or renewal — no clock is shared, only clock rates
//!   are assumed roughly equal.
//! - A node claims only once the lease ran out by its own clock since it last saw the leader's
//!   claim or renewal (or when there never was a leader).
//! - The leader holds the lease until `sent + lease - margin`, where `sent` is when it *sent*
//!   the claim or renewal that it then read back as current. Any other node saw that record no
//!   earlier than `sent`, so it will not claim before `sent + lease`: the old lease ends
//!   `margin` before anyone may take over.
//!
//! The lease is for liveness, not for safety. Two nodes may both believe they lead — a leader
//! paused (SIGSTOP, a VM freeze) past its margin, or clocks that drift — and yet no id, version
//! or config is ever decided twice: every leader record is fenced to the log offset it was
//! decided on (`kafka::fence`), and a record that lands anywhere else is read as a NOOP by every
//! Schemata reader. The lease only keeps one node writing at a time, so writes are rarely
//! fenced; the timing assumptions above (no shared clock, rates roughly equal, `margin` of
//! slack) decide how quickly a dead leader is replaced, not whether the log stays consistent.
//!
//! A leader shutting down cleanly appends `resign/EPOCH/NODE` once its last write is applied:
//! the lease ends at once and the next node claims without waiting for it to run out.
//!
//! The writer re-checks the lease under its lock before deciding and again right before
//! producing (`node`). A paused process (SIGSTOP) that resumes after its lease finds it
//! expired (monotonic clocks run on during the pause) and forwards writes to the new leader;
//! a record it had already handed to the producer lands fenced.
//!
//! A node with `leader_eligibility = false` never claims; it follows.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::follow::{Fold, Follower};
use super::{Log, StoreError, Stored};
use crate::registry::record::RawRecord;

/// Records read per round trip of the lease log.
const BATCH: usize = 1_000;

/// A node's part in the election.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// This process's identity in the log: random, new on every start.
    pub node: String,
    /// Where other nodes reach this one (its advertised URL).
    pub url: String,
    /// Whether it may become the leader.
    pub eligible: bool,
    /// How long a claim or renewal holds.
    pub lease: Duration,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claim {
    node: String,
    url: String,
    epoch: u64,
}

/// The leader as this node last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    pub node: String,
    pub url: String,
    pub epoch: u64,
}

#[derive(Default)]
struct View {
    applied: i64,
    leader: Option<Leader>,
    /// When this node applied the leader's last claim or renewal.
    seen_at: Option<Instant>,
}

pub struct Election {
    me: Candidate,
    follower: Follower,
    view: Mutex<View>,
    /// Until when this node holds the lease (None: it does not).
    holds_until: Mutex<Option<Instant>>,
    /// Why the last round failed, while the leader log cannot be read or written.
    trouble: Mutex<Option<String>>,
    /// Set on shutdown: no more claims or renewals.
    resigned: std::sync::atomic::AtomicBool,
}

impl Election {
    /// Replays the lease log and starts campaigning (or only following) in the background.
    pub async fn start(log: Log, me: Candidate) -> Result<Arc<Election>, StoreError> {
        let election = Arc::new(Election {
            me,
            follower: Follower::new(log, BATCH, "the leader log"),
            view: Mutex::default(),
            holds_until: Mutex::new(None),
            resigned: Default::default(),
            trouble: Mutex::new(None),
        });
        election.follower.replay(&*election).await?;
        // A first round before serving: a lone node (or the first of a fresh topic) starts as
        // the leader instead of answering its first requests as a follower.
        if let Err(error) = election.round().await {
            tracing::warn!(%error, "cannot claim the lease yet; retrying");
        }
        let weak = Arc::downgrade(&election);
        tokio::spawn(campaign(weak, election.me.lease / 6));
        Ok(election)
    }

    /// Why the leader log could not be read or written in the last round, if it could not.
    pub fn trouble(&self) -> Option<String> {
        self.trouble
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether a leader is known whose lease has not run out by this node's clock.
    pub fn leader_live(&self) -> Option<Leader> {
        let v = self.view.lock().unwrap_or_else(|p| p.into_inner());
        let live = v.seen_at.is_some_and(|at| at.elapsed() <= self.me.lease);
        v.leader.clone().filter(|_| live)
    }

    /// The leader this node knows of, if any.
    pub fn leader(&self) -> Option<Leader> {
        self.view
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .leader
            .clone()
    }

    /// Whether this node holds the lease now (and may append to `_schemas`).
    pub fn holds_lease(&self) -> bool {
        let mine = self.leader().is_some_and(|l| l.node == self.me.node);
        mine && self
            .holds_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|until| Instant::now() < until)
    }

    pub fn node(&self) -> &str {
        &self.me.node
    }

    /// Margin kept between the end of this node's lease and the earliest takeover.
    fn margin(&self) -> Duration {
        self.me.lease / 3
    }

    /// Stops campaigning; a leader gives the lease up at once (a `resign` record), so the next
    /// node need not wait for it to run out.
    pub async fn resign(&self) {
        self.resigned
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let mine = self.leader().filter(|l| l.node == self.me.node);
        self.lose();
        if let Some(l) = mine {
            let record = self.record("resign", l.epoch);
            if let Err(error) = self.follower.log().append(&[record]).await {
                tracing::warn!(%error, "could not resign the lease; it runs out by itself");
            } else {
                tracing::info!(epoch = l.epoch, "resigned the lease");
            }
        }
    }

    fn record(&self, kind: &str, epoch: u64) -> RawRecord {
        RawRecord {
            key: format!("{kind}/{epoch}/{}", self.me.node).into_bytes(),
            value: Some(
                serde_json::to_vec(&Claim {
                    node: self.me.node.clone(),
                    url: self.me.url.clone(),
                    epoch,
                })
                .expect("a claim serializes"),
            ),
        }
    }

    /// One round: read the log; renew if leading, claim if the lease ran out.
    async fn round(&self) -> Result<(), StoreError> {
        if self.resigned.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        self.follower.catch_up(self).await?;
        let (leader, seen_at) = {
            let v = self.view.lock().unwrap_or_else(|p| p.into_inner());
            (v.leader.clone(), v.seen_at)
        };
        let mine = leader.as_ref().is_some_and(|l| l.node == self.me.node);
        let expired = seen_at.is_none_or(|at| at.elapsed() > self.me.lease);
        let mine = mine && seen_at.is_some();
        let (kind, epoch) = match &leader {
            Some(l) if mine => ("renew", l.epoch),
            _ if self.me.eligible && expired => {
                ("claim", leader.as_ref().map_or(0, |l| l.epoch) + 1)
            }
            _ => {
                self.lose();
                return Ok(());
            }
        };
        let record = self.record(kind, epoch);
        let sent = Instant::now();
        self.follower.append(self, &[record]).await?;
        let won = self
            .leader()
            .is_some_and(|l| l.node == self.me.node && l.epoch == epoch);
        if won {
            let until = sent + self.me.lease - self.margin();
            *self.holds_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(until);
        } else {
            self.lose();
        }
        Ok(())
    }

    fn lose(&self) {
        *self.holds_until.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Runs rounds every `every` while the election is alive.
async fn campaign(election: Weak<Election>, every: Duration) {
    loop {
        let Some(e) = election.upgrade() else { return };
        let outcome = e.round().await;
        if let Err(error) = &outcome {
            // A lease already won stays valid until it runs out (others time it from the same
            // renewal): one slow or failed round on a loaded machine must not stop writes.
            tracing::warn!(%error, "cannot read or write the leader log");
        }
        *e.trouble.lock().unwrap_or_else(|p| p.into_inner()) = outcome.err().map(|e| e.to_string());
        drop(e);
        tokio::time::sleep(every).await;
    }
}

impl Fold for Election {
    fn applied(&self) -> i64 {
        self.view.lock().unwrap_or_else(|p| p.into_inner()).applied
    }

    async fn apply(&self, batch: Vec<Stored>) -> Result<(), StoreError> {
        let mut view = self.view.lock().unwrap_or_else(|p| p.into_inner());
        for stored in batch {
            view.applied = view.applied.max(stored.offset);
            let key = String::from_utf8_lossy(&stored.record.key);
            let Some(claim) = stored
                .record
                .value
                .as_deref()
                .and_then(|v| serde_json::from_slice::<Claim>(v).ok())
            else {
                continue;
            };
            let current = view.leader.as_ref().map_or(0, |l| l.epoch);
            if key.starts_with("claim/") && claim.epoch == current + 1 {
                tracing::info!(
                    leader = %claim.node,
                    url = %claim.url,
                    epoch = claim.epoch,
                    me = claim.node == self.me.node,
                    "leader changed"
                );
                view.leader = Some(Leader {
                    node: claim.node,
                    url: claim.url,
                    epoch: claim.epoch,
                });
                view.seen_at = Some(Instant::now());
            } else if key.starts_with("renew/")
                && claim.epoch == current
                && view.leader.as_ref().is_some_and(|l| l.node == claim.node)
            {
                view.seen_at = Some(Instant::now());
            } else if key.starts_with("resign/")
                && claim.epoch == current
                && view.leader.as_ref().is_some_and(|l| l.node == claim.node)
            {
                // The lease is over: anyone may claim the next epoch now.
                view.seen_at = None;
            }
        }
        Ok(())
    }
}

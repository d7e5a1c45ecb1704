//! Group commit for the SQLite file: several writers share one fsync.
//!
//! With `synchronous = FULL` every commit syncs the write-ahead log, and a registration takes
//! as long as the disk takes to sync — about a thousand a second, however many clients wait.
//! Instead the connection runs `synchronous = NORMAL`: a commit writes the WAL without syncing
//! it (so the next writer can decide and commit at once; a crash of the process loses nothing,
//! the OS holds the pages), and [`GroupCommit::flush`] makes everything committed so far
//! durable with one `fdatasync` of the WAL file, which serves every commit made before it
//! started. The registry acknowledges a write, and answers any read, only after a flush that
//! covers it (`crate::node`), so nothing a client was told can be lost to a power cut.
//!
//! SQLite itself syncs the WAL before every checkpoint, and the database after it, at
//! `NORMAL` too; so a commit is durable once either that or a flush here has run.
//!
//! The WAL is opened by its path for every sync, so a WAL SQLite recreated (after the
//! connection was reopened) is the one synced; its directory is synced when it is new. SQLite
//! locks the database file and, in exclusive locking mode, keeps the WAL index in its own
//! memory: no lock is held on the WAL file that opening and closing it here could release.
//!
//! A failed sync is not retried: after a failed `fsync` the kernel may have dropped the dirty
//! pages, and a retry that succeeds proves nothing. Every later flush fails, so the registry
//! refuses to acknowledge anything until it is restarted and has read the file again.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::super::StoreError;

/// The group commit of one SQLite file; shared by its logs (one connection serves them all).
pub struct GroupCommit {
    /// How many transactions have committed (the WAL holds them, perhaps not yet on disk).
    committed: Arc<AtomicU64>,
    /// The `committed` count the last successful sync covered, or why syncing failed for good.
    synced: watch::Receiver<Result<u64, Arc<str>>>,
    /// The same count, read by every request's check without touching the channel's lock.
    synced_count: Arc<AtomicU64>,
    /// Wakes the syncer; capacity 1: a pending wake-up covers everyone waiting.
    wake: mpsc::Sender<()>,
    /// How many syncs have run (for `/metrics`: commits ÷ syncs is the group size).
    syncs: Arc<AtomicU64>,
}

impl GroupCommit {
    /// Starts the syncer of the WAL beside `database` (`<database>-wal`). It stops when the
    /// `GroupCommit` is dropped.
    pub fn start(database: &Path) -> GroupCommit {
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        let (report, synced) = watch::channel(Ok(0));
        let (wake, woken) = mpsc::channel(1);
        let group = GroupCommit {
            committed: Arc::default(),
            synced,
            synced_count: Arc::default(),
            wake,
            syncs: Arc::default(),
        };
        let syncer = Syncer {
            wal: PathBuf::from(wal),
            inode: None,
            committed: group.committed.clone(),
            synced: group.synced_count.clone(),
            syncs: group.syncs.clone(),
        };
        tokio::spawn(syncer.run(woken, report));
        group
    }

    /// Counts a transaction that committed, or may have (call right after its `COMMIT`).
    pub fn committed(&self) {
        self.committed.fetch_add(1, Ordering::SeqCst);
    }

    /// How many transactions have committed, and how many syncs of the WAL have run.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.committed.load(Ordering::Relaxed),
            self.syncs.load(Ordering::Relaxed),
        )
    }

    /// Whether every transaction committed so far is on disk ([`GroupCommit::flush`] would
    /// return at once).
    pub fn is_synced(&self) -> bool {
        self.synced_count.load(Ordering::SeqCst) >= self.committed.load(Ordering::SeqCst)
    }

    /// Returns once every transaction committed before this call is on disk: at once when a
    /// sync already covered them, else after the next sync, shared with every writer waiting.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let target = self.committed.load(Ordering::SeqCst);
        if self.synced_count.load(Ordering::SeqCst) >= target {
            return Ok(());
        }
        let mut synced = self.synced.clone();
        // Full: a wake-up is already pending, and the syncer reads `committed` after taking it.
        let _ = self.wake.try_send(());
        let outcome = synced
            .wait_for(|s| !matches!(s, Ok(n) if *n < target))
            .await
            .map_err(|_| StoreError::Unavailable("the database file is closed".into()))?;
        match &*outcome {
            Ok(_) => Ok(()),
            Err(why) => Err(StoreError::Timeout(format!(
                "committed, but syncing the database file failed ({why}); restart the registry"
            ))),
        }
    }
}

/// The task that syncs the WAL whenever a writer waits.
struct Syncer {
    wal: PathBuf,
    /// The WAL's inode when last synced: a new one means a new file, whose directory entry
    /// must be synced too.
    inode: Option<u64>,
    committed: Arc<AtomicU64>,
    synced: Arc<AtomicU64>,
    syncs: Arc<AtomicU64>,
}

impl Syncer {
    async fn run(
        mut self,
        mut woken: mpsc::Receiver<()>,
        report: watch::Sender<Result<u64, Arc<str>>>,
    ) {
        let mut synced = 0;
        while woken.recv().await.is_some() {
            // Every commit counted before this load is in the WAL the sync below reads.
            let target = self.committed.load(Ordering::SeqCst);
            if target <= synced {
                continue;
            }
            let (back, outcome) = match tokio::task::spawn_blocking(move || {
                let outcome = self.sync();
                (self, outcome)
            })
            .await
            {
                Ok(done) => done,
                Err(e) => {
                    drop(report.send_replace(Err(format!("sync task failed: {e}").into())));
                    return;
                }
            };
            self = back;
            match outcome {
                Ok(()) => {
                    synced = target;
                    self.synced.store(target, Ordering::SeqCst);
                    self.syncs.fetch_add(1, Ordering::Relaxed);
                    drop(report.send_replace(Ok(target)));
                }
                Err(e) => {
                    tracing::error!(wal = %self.wal.display(), error = %e,
                        "syncing the SQLite WAL failed; writes are refused until a restart");
                    drop(report.send_replace(Err(e.to_string().into())));
                    return;
                }
            }
        }
    }

    /// `fdatasync` of the WAL as it is now, and of its directory when the file is new.
    fn sync(&mut self) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let file = match std::fs::OpenOptions::new().write(true).open(&self.wal) {
            Ok(file) => file,
            // No WAL: SQLite checkpointed and removed it, syncing everything it held.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        file.sync_data()?;
        let inode = file.metadata()?.ino();
        if self.inode != Some(inode) {
            if let Some(dir) = self.wal.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)?.sync_all()?;
            } else {
                std::fs::File::open(".")?.sync_all()?;
            }
            self.inode = Some(inode);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file standing in for SQLite's WAL: the syncer only opens and syncs it.
    fn database_with_wal(dir: &tempfile::TempDir) -> PathBuf {
        let database = dir.path().join("registry.db");
        std::fs::write(dir.path().join("registry.db-wal"), b"frames").unwrap();
        database
    }

    #[tokio::test]
    async fn one_sync_serves_every_commit_made_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let group = Arc::new(GroupCommit::start(&database_with_wal(&dir)));
        for _ in 0..10 {
            group.committed();
        }
        let waiters: Vec<_> = (0..10)
            .map(|_| {
                let group = group.clone();
                tokio::spawn(async move { group.flush().await })
            })
            .collect();
        for w in waiters {
            w.await.unwrap().unwrap();
        }
        assert_eq!(group.counts(), (10, 1));
        // Nothing new committed: flushing again needs no sync.
        group.flush().await.unwrap();
        assert_eq!(group.counts(), (10, 1));
        // A later commit needs one of its own.
        group.committed();
        group.flush().await.unwrap();
        assert_eq!(group.counts(), (11, 2));
    }

    #[tokio::test]
    async fn a_failed_sync_fails_every_later_flush() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("registry.db");
        // A directory where the WAL should be: opening it for writing fails like a bad disk.
        std::fs::create_dir(dir.path().join("registry.db-wal")).unwrap();
        let group = GroupCommit::start(&database);
        group.committed();
        let first = group.flush().await.unwrap_err();
        assert!(matches!(first, StoreError::Timeout(_)), "{first}");
        assert!(first.to_string().contains("restart"), "{first}");
        group.committed();
        assert!(group.flush().await.is_err());
        assert_eq!(group.counts().1, 0);
    }

    #[tokio::test]
    async fn without_commits_flush_returns_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let group = GroupCommit::start(&dir.path().join("missing.db"));
        group.flush().await.unwrap();
        assert_eq!(group.counts(), (0, 0));
    }
}

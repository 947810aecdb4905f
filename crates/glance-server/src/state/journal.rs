//! The session journal, `sessions.json` (0600: it holds resume tokens) in the state
//! directory: one record per live session, so that a restarted server can restore its
//! sessions with their visitors detached and the resume window running (docs/PROTOCOL.md,
//! "Reconnect"; docs/DECISIONS.md, "Restart and crash").
//!
//! One background task owns the writing: every [`WRITE_EVERY`] it takes a snapshot of the
//! registry's sessions and rewrites the file (atomically) only when the snapshot differs from
//! what it last wrote. Starting 500 sessions in a burst therefore costs a few writes, not 500
//! fsyncs, and nothing on the session paths waits for the disk. [`Journal::flush`] writes
//! once more and stops the writer (graceful shutdown, before the sessions are ended).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::atomic::write_atomic;
use crate::relay::Registry;

/// File name inside the state directory.
pub const JOURNAL_FILE: &str = "sessions.json";
/// How often the writer looks for changes (and so the most it writes).
pub const WRITE_EVERY: Duration = Duration::from_millis(200);
/// The journal's format version.
const VERSION: u32 = 1;

/// What a restarted server needs of one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub group_id: u32,
    pub key: String,
    pub call_id: u64,
    pub ssnid: String,
    pub resume_token: String,
    pub persist: bool,
    pub max_guests: u32,
    pub paused: bool,
    pub width: u16,
    pub height: u16,
    pub display_name: String,
    pub visitor_client: String,
    /// The call id of the session this one started again (after a service lost it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_call_id: Option<u64>,
    /// The address the visitor started it from (its share of the group's limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_addr: Option<std::net::IpAddr>,
    /// `start_session.visitor_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_id: Option<String>,
    /// The visitor presented the group's visitor token (it may replace its lost session).
    #[serde(default)]
    pub token_verified: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct JournalFile {
    version: u32,
    sessions: Vec<SessionRecord>,
}

#[derive(Debug, Default)]
struct WriterState {
    /// What the file holds (as far as this process knows).
    written: Option<Vec<SessionRecord>>,
    /// No more writes: the final flush was made.
    stopped: bool,
    /// The last write failed (logged once until one succeeds again).
    failing: bool,
}

/// See the module documentation.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    state: Mutex<WriterState>,
}

impl Journal {
    /// The journal of `state_dir` (nothing is read or written yet).
    pub fn new(state_dir: &Path) -> Journal {
        Journal {
            path: state_dir.join(JOURNAL_FILE),
            state: Mutex::new(WriterState::default()),
        }
    }

    /// The journal `file` of `state_dir`: instances of a cluster that share a state dir
    /// each keep their own (`sessions.NAME.json`).
    pub fn named(state_dir: &Path, file: &str) -> Journal {
        Journal {
            path: state_dir.join(file),
            state: Mutex::new(WriterState::default()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The records of the journal file: none when it is missing; none (with a warning) when
    /// it cannot be read or parsed.
    pub fn load(&self) -> Vec<SessionRecord> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => {
                log::warn!(
                    "cannot read the session journal {}: {e}; no session is restored",
                    self.path.display()
                );
                return Vec::new();
            }
        };
        match serde_json::from_slice::<JournalFile>(&bytes) {
            Ok(f) if f.version == VERSION => f.sessions,
            Ok(f) => {
                log::warn!(
                    "the session journal {} has version {}, not {VERSION}; no session is restored",
                    self.path.display(),
                    f.version
                );
                Vec::new()
            }
            Err(e) => {
                log::warn!(
                    "the session journal {} is unreadable ({e}); no session is restored",
                    self.path.display()
                );
                Vec::new()
            }
        }
    }

    /// Writes `records` unless they are what the file already holds or the journal has been
    /// flushed for good. Returns whether it wrote.
    pub fn write(&self, records: Vec<SessionRecord>) -> std::io::Result<bool> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.write_locked(&mut st, records)
    }

    fn write_locked(
        &self,
        st: &mut WriterState,
        records: Vec<SessionRecord>,
    ) -> std::io::Result<bool> {
        if st.stopped || st.written.as_ref() == Some(&records) {
            return Ok(false);
        }
        let file = JournalFile {
            version: VERSION,
            sessions: records,
        };
        let bytes = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
        write_atomic(&self.path, &bytes, true)?;
        st.written = Some(file.sessions);
        Ok(true)
    }

    /// Takes a snapshot of `registry` and writes it if it changed (the snapshot is taken
    /// under the writer's lock, so writes never go back in time).
    fn sync(&self, registry: &Registry) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.stopped {
            return;
        }
        let records = registry.journal_records();
        match self.write_locked(&mut st, records) {
            Ok(_) if st.failing => {
                st.failing = false;
                log::info!(
                    "the session journal {} is written again",
                    self.path.display()
                );
            }
            Ok(_) => {}
            Err(e) if !st.failing => {
                st.failing = true;
                log::warn!(
                    "cannot write the session journal {}: {e} (retrying; a restart now would lose the sessions)",
                    self.path.display()
                );
            }
            Err(_) => {}
        }
    }

    /// Writes the current sessions once more and stops writing (graceful shutdown: call it
    /// before the sessions are ended, so that the next start restores them).
    pub fn flush(&self, registry: &Registry) {
        self.sync(registry);
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.stopped = true;
    }

    /// Starts the writer task (see the module documentation).
    pub fn spawn_writer(self: &Arc<Self>, registry: Arc<Registry>) -> JoinHandle<()> {
        let journal = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(WRITE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let (j, r) = (journal.clone(), registry.clone());
                // fsync blocks: keep it off the runtime's workers.
                if tokio::task::spawn_blocking(move || j.sync(&r))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str) -> SessionRecord {
        SessionRecord {
            group_id: 1,
            key: key.into(),
            call_id: 42,
            ssnid: "00ff".into(),
            resume_token: format!("token-{key}"),
            persist: true,
            max_guests: 3,
            paused: false,
            width: 640,
            height: 480,
            display_name: "Main".into(),
            visitor_client: "glance-visitor 0.1.0 (linux)".into(),
            previous_call_id: Some(41),
            visitor_addr: Some(std::net::IpAddr::from([127, 0, 0, 1])),
            visitor_id: Some("visitor-1".into()),
            token_verified: true,
        }
    }

    #[test]
    fn round_trip_and_no_rewrite_without_change() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path());
        assert!(j.load().is_empty());
        let recs = vec![record("123456"), record("abc")];
        assert!(j.write(recs.clone()).unwrap());
        assert!(!j.write(recs.clone()).unwrap(), "unchanged: no write");
        assert_eq!(Journal::new(dir.path()).load(), recs);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(j.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(j.write(Vec::new()).unwrap());
        assert!(Journal::new(dir.path()).load().is_empty());
    }

    #[test]
    fn a_corrupt_or_foreign_journal_restores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path());
        for junk in ["", "{", "[]", "{\"version\":9,\"sessions\":[]}"] {
            std::fs::write(j.path(), junk).unwrap();
            assert!(j.load().is_empty(), "{junk}");
        }
    }

    #[tokio::test]
    async fn records_restore_as_detached_sessions_that_end_when_the_window_passes() {
        let config = crate::config::Config::development();
        let reg = Arc::new(
            Registry::new(&config, "dev-token".into(), 1024)
                .with_resume_window(Duration::from_millis(300)),
        );
        let mut foreign = record("777");
        foreign.group_id = 9;
        let mut bad_key = record("ok");
        bad_key.key = "no spaces allowed".into();
        assert_eq!(reg.restore(vec![record("123456"), foreign, bad_key]), 1);
        let s = reg.find(1, "123456").unwrap();
        assert!(s.still_detached(s.link_epoch()));
        let by_token = reg.find_by_resume_token("token-123456").unwrap();
        assert_eq!(by_token.params().call_id, 42);
        assert_eq!(by_token.params().previous_call_id, Some(41));
        // What the writer would journal now is what was restored.
        assert_eq!(reg.journal_records(), vec![record("123456")]);
        // Nobody resumed within the window: the session ends and leaves the journal.
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(reg.find(1, "123456").is_none());
        assert!(reg.journal_records().is_empty());
    }

    #[tokio::test]
    async fn the_writer_follows_the_registry_and_stops_after_flush() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Arc::new(Registry::new(
            &crate::config::Config::development(),
            "dev-token".into(),
            1024,
        ));
        reg.restore(vec![record("1111")]);
        let j = Arc::new(Journal::new(dir.path()));
        let task = j.spawn_writer(reg.clone());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while Journal::new(dir.path()).load() != vec![record("1111")] {
            assert!(std::time::Instant::now() < deadline, "not written");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        j.flush(&reg);
        reg.shutdown();
        tokio::time::sleep(WRITE_EVERY * 3).await;
        task.abort();
        assert_eq!(Journal::new(dir.path()).load(), vec![record("1111")]);
    }
}

//! The history: every run, every attempt on every host, the artefacts a run put on
//! targets, attempt counters and leases, in one SQLite file (WAL, so several
//! pushinst processes can share it and a killed one loses at most its running hosts).
//! Nothing secret is ever written here: reasons and commands arrive redacted.

mod ledger;
mod query;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};

use crate::outcome::{Failure, NotStarted, Outcome, Step};

pub use ledger::{CHECK_RUN, CleanupLedger, RunLedger};
pub use query::{ArtefactRow, AttemptRow, Filter};

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot open the history database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the history database was written by a newer pushinst (schema {found}, this one knows {known})")]
    TooNew { found: usize, known: usize },
    #[error("history database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("cannot create {path}: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Another process holding the write lock longer than this is a stuck process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

pub struct History {
    conn: Mutex<Connection>,
    path: PathBuf,
}

/// What a run is, recorded before its first host starts.
pub struct NewRun<'a> {
    pub id: &'a str,
    pub command: &'a str,
    pub job: Option<&'a str>,
    pub packages: &'a [String],
    pub log_dir: Option<&'a Path>,
    /// Every host+package it will work on, with the package version.
    pub slots: &'a [(String, String, Option<String>)],
}

impl History {
    pub fn open(path: &Path) -> Result<History, HistoryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| HistoryError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let open_error = |source| HistoryError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_error)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        // Processes started side by side (cron, scripts) race to switch a new file to
        // WAL; SQLite tells the losers "locked" at once instead of waiting its
        // busy timeout, so they wait here.
        patiently(|| conn.pragma_update(None, "journal_mode", "WAL")).map_err(open_error)?;
        patiently(|| conn.pragma_update(None, "synchronous", "NORMAL")).map_err(open_error)?;
        schema::migrate(&mut conn)?;
        let history = History {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        };
        history.recover()?;
        Ok(history)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Close the books of runs whose process is gone (killed, crashed, rebooted):
    /// their running hosts become `interrupted`, their queued ones `not-started`.
    fn recover(&self) -> Result<(), HistoryError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let open: Vec<(String, u32)> = {
            let mut stmt = tx.prepare("SELECT id, pid FROM runs WHERE finished_at IS NULL")?;
            stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<_, _>>()?
        };
        let now = now_ms();
        for (run, pid) in open.into_iter().filter(|(_, pid)| !process_alive(*pid)) {
            let unfinished: Vec<(i64, String)> = {
                let mut stmt =
                    tx.prepare("SELECT id, phase FROM attempts WHERE run_id = ?1 AND result IS NULL")?;
                stmt.query_map(params![run], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect::<Result<_, _>>()?
            };
            for (id, phase) in unfinished {
                let outcome = match Step::parse(&phase) {
                    Some(step) => Outcome::Failed {
                        step: Some(step),
                        reason: Failure::ProcessEnded { pid },
                    },
                    None => Outcome::NotStarted {
                        reason: NotStarted::ProcessEnded { pid },
                    },
                };
                let columns = OutcomeColumns::of(&outcome);
                tx.execute(
                    "UPDATE attempts SET result = ?2, outcome = ?3, success = ?4, decisive = ?5, finished_at = ?6
                     WHERE id = ?1",
                    params![id, columns.status, columns.json, columns.success, columns.decisive, now],
                )?;
            }
            tx.execute(
                "UPDATE runs SET finished_at = ?2 WHERE id = ?1",
                params![run, now],
            )?;
            tx.execute("DELETE FROM leases WHERE run_id = ?1", params![run])?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn begin_run(&self, run: &NewRun<'_>) -> Result<(), HistoryError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = now_ms();
        tx.execute(
            "INSERT INTO runs (id, pid, command, job, packages, started_at, log_dir)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                run.id,
                std::process::id(),
                run.command,
                run.job,
                serde_json::to_string(run.packages).unwrap_or_default(),
                now,
                run.log_dir.map(|d| d.display().to_string()),
            ],
        )?;
        {
            let mut insert = tx.prepare(
                "INSERT OR IGNORE INTO attempts (run_id, host, package, version, queued_at, phase)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'queued')",
            )?;
            for (host, package, version) in run.slots {
                insert.execute(params![run.id, host, package, version, now])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn end_run(&self, id: &str) -> Result<(), HistoryError> {
        let conn = self.conn();
        conn.execute(
            "UPDATE runs SET finished_at = ?2 WHERE id = ?1",
            params![id, now_ms()],
        )?;
        conn.execute("DELETE FROM leases WHERE run_id = ?1", params![id])?;
        Ok(())
    }

    /// Failed installer runs on record for host+package since the last reset.
    pub fn failures(&self, host: &str, package: &str) -> Result<u32, HistoryError> {
        let count = self
            .conn()
            .query_row(
                "SELECT count FROM failures WHERE host = ?1 AND package = ?2",
                params![host, package],
                |row| row.get(0),
            )
            .optional()?;
        Ok(count.unwrap_or(0))
    }

    /// `pushinst reset`: the host may try again. Returns how many counters were not 0.
    pub fn reset(&self, host: &str, package: &str) -> Result<usize, HistoryError> {
        Ok(self.conn().execute(
            "DELETE FROM failures WHERE host = ?1 AND package = ?2 AND count > 0",
            params![host, package],
        )?)
    }

    /// The credential that got in on this host last time, tried first next time.
    pub fn last_credential(&self, host: &str) -> Result<Option<String>, HistoryError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT credential FROM attempts WHERE host = ?1 AND credential IS NOT NULL
                 ORDER BY id DESC LIMIT 1",
                params![host],
                |row| row.get(0),
            )
            .optional()?)
    }

    pub fn save_job(&self, name: &str, spec: &str) -> Result<(), HistoryError> {
        self.conn().execute(
            "INSERT INTO saved_jobs (name, created_at, spec) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET created_at = excluded.created_at, spec = excluded.spec",
            params![name, now_ms(), spec],
        )?;
        Ok(())
    }

    pub fn saved_job(&self, name: &str) -> Result<Option<String>, HistoryError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT spec FROM saved_jobs WHERE name = ?1",
                params![name],
                |row| row.get(0),
            )
            .optional()?)
    }

    pub fn saved_job_names(&self) -> Result<Vec<String>, HistoryError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT name FROM saved_jobs ORDER BY name")?;
        let names = stmt.query_map([], |row| row.get(0))?.collect::<Result<_, _>>()?;
        Ok(names)
    }

    /// These artefacts are gone from the host: strike them from the journal.
    pub fn forget(&self, host: &str, artefacts: &[crate::transport::Artefact]) -> Result<(), HistoryError> {
        let conn = self.conn();
        for a in artefacts {
            conn.execute(
                "DELETE FROM artefacts WHERE host = ?1 AND kind = ?2 AND path = ?3",
                params![host, a.kind.name(), a.path],
            )?;
        }
        Ok(())
    }
}

/// Retry `work` while SQLite answers busy or locked, up to [`BUSY_TIMEOUT`].
fn patiently<T>(mut work: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let started = std::time::Instant::now();
    loop {
        match work() {
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                ) && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// An outcome as the `attempts` table stores it.
pub(crate) struct OutcomeColumns {
    pub status: &'static str,
    pub json: String,
    pub success: bool,
    pub decisive: bool,
}

impl OutcomeColumns {
    pub fn of(outcome: &Outcome) -> Self {
        OutcomeColumns {
            status: outcome.status(),
            json: serde_json::to_string(outcome).unwrap_or_default(),
            success: outcome.is_success(),
            decisive: outcome.is_decisive(),
        }
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn from_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// A pid is taken to be our process while it exists and is not a zombie; the
/// database lives on this machine, so its runs are this machine's processes.
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests;

//! The runner's [`Ledger`], written to the history as the run goes.

use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::{OptionalExtension, params};

use super::{History, HistoryError, now_ms, process_alive};
use crate::report::HostLogs;
use crate::runner::{HostReport, Ledger, Outcome, RebootState, Step};
use crate::transport::Artefact;

pub struct RunLedger {
    history: Arc<History>,
    run_id: String,
    log_dir: Option<PathBuf>,
}

impl RunLedger {
    pub fn new(history: Arc<History>, run_id: &str, log_dir: Option<PathBuf>) -> Self {
        RunLedger {
            history,
            run_id: run_id.to_string(),
            log_dir,
        }
    }

    fn claim(&self, host: &str, package: &str) -> Result<Option<String>, HistoryError> {
        let mut conn = self.history.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let holder: Option<(String, u32)> = tx
            .query_row(
                "SELECT run_id, pid FROM leases WHERE host = ?1 AND package = ?2",
                params![host, package],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        if let Some((run, pid)) = holder
            && run != self.run_id
            && process_alive(pid)
        {
            return Ok(Some(format!("busy: another run holds it (run {run}, pid {pid})")));
        }
        tx.execute(
            "INSERT OR REPLACE INTO leases (host, package, run_id, pid) VALUES (?1, ?2, ?3, ?4)",
            params![host, package, self.run_id, std::process::id()],
        )?;
        tx.execute(
            "UPDATE attempts SET phase = 'connect', started_at = ?4
             WHERE run_id = ?1 AND host = ?2 AND package = ?3",
            params![self.run_id, host, package, now_ms()],
        )?;
        tx.commit()?;
        Ok(None)
    }

    fn record(
        &self,
        host: &str,
        package: &str,
        outcome: &Outcome,
        report: &HostReport,
    ) -> Result<(), HistoryError> {
        let mut conn = self.history.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = now_ms();
        let log_path = match (&self.log_dir, outcome) {
            (_, Outcome::NotStarted { .. } | Outcome::Skipped { .. }) | (None, _) => None,
            (Some(dir), _) => Some(HostLogs::path_for(dir, host).display().to_string()),
        };
        let phase = report.steps.last().map(|s| s.step.name());
        let changed = tx.execute(
            "UPDATE attempts SET result = ?4, reason = ?5, exit_code = ?6, credential = ?7,
                 finished_at = ?8, log_path = ?9, phase = COALESCE(?10, phase)
             WHERE run_id = ?1 AND host = ?2 AND package = ?3",
            params![
                self.run_id,
                host,
                package,
                outcome.status(),
                outcome.reason(),
                outcome.exit_code(),
                report.credential,
                now,
                log_path,
                phase,
            ],
        )?;
        if changed == 0 {
            tx.execute(
                "INSERT INTO attempts (run_id, host, package, queued_at, finished_at, phase, result, reason)
                 VALUES (?1, ?2, ?3, ?4, ?4, 'queued', ?5, ?6)",
                params![
                    self.run_id,
                    host,
                    package,
                    now,
                    outcome.status(),
                    outcome.reason()
                ],
            )?;
        }
        if let Outcome::Failed {
            installer_ran: true, ..
        } = outcome
        {
            tx.execute(
                "INSERT INTO failures (host, package, count) VALUES (?1, ?2, 1)
                 ON CONFLICT (host, package) DO UPDATE SET count = count + 1",
                params![host, package],
            )?;
        }
        tx.execute(
            "DELETE FROM leases WHERE host = ?1 AND package = ?2 AND run_id = ?3",
            params![host, package, self.run_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// One column of this run's attempt on host+package.
    fn set(&self, host: &str, package: &str, column: &'static str, value: &str) -> Result<(), HistoryError> {
        self.history.conn().execute(
            &format!("UPDATE attempts SET {column} = ?4 WHERE run_id = ?1 AND host = ?2 AND package = ?3"),
            params![self.run_id, host, package, value],
        )?;
        Ok(())
    }

    fn journal(&self, host: &str, credential: &str, artefacts: &[Artefact]) -> Result<(), HistoryError> {
        let mut conn = self.history.conn();
        let tx = conn.transaction()?;
        for a in artefacts {
            tx.execute(
                "INSERT OR REPLACE INTO artefacts (run_id, host, credential, kind, path, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![self.run_id, host, credential, a.kind.name(), a.path, now_ms()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn forget(&self, host: &str, artefacts: &[Artefact]) -> Result<(), HistoryError> {
        let conn = self.history.conn();
        for a in artefacts {
            conn.execute(
                "DELETE FROM artefacts WHERE host = ?1 AND kind = ?2 AND path = ?3",
                params![host, a.kind.name(), a.path],
            )?;
        }
        Ok(())
    }
}

/// The run goes on when the history cannot be written to; say so on stderr.
fn warn(what: &str, result: Result<(), HistoryError>) {
    if let Err(e) = result {
        tracing::warn!("could not record {what} in the history: {e}");
    }
}

impl Ledger for RunLedger {
    fn begin(&self, host: &str, package: &str) -> Result<(), String> {
        match self.claim(host, package) {
            Ok(None) => Ok(()),
            Ok(Some(busy)) => Err(busy),
            Err(e) => Err(format!("cannot record the attempt in the history: {e}")),
        }
    }

    fn phase(&self, host: &str, package: &str, step: Step) {
        warn("a step", self.set(host, package, "phase", step.name()));
    }

    fn will_create(&self, host: &str, credential: &str, artefacts: &[Artefact]) -> Result<(), String> {
        self.journal(host, credential, artefacts)
            .map_err(|e| e.to_string())
    }

    fn removed(&self, host: &str, artefacts: &[Artefact]) {
        warn("a removed artefact", self.forget(host, artefacts));
    }

    fn finish(&self, host: &str, package: &str, outcome: &Outcome, report: &HostReport) {
        warn("a result", self.record(host, package, outcome, report));
    }

    fn reboot(&self, host: &str, package: &str, state: &RebootState) {
        warn("a reboot", self.set(host, package, "reboot", &state.label()));
    }
}

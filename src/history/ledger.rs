//! The runner's [`Ledger`], written to the history as the run goes.

use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::{OptionalExtension, params};

use super::{History, HistoryError, OutcomeColumns, now_ms, process_alive};
use crate::outcome::Skip;
use crate::report::HostLogs;
use crate::runner::{HostReport, Ledger, Outcome, RebootState, Step};
use crate::transport::Artefact;

/// The command of a `pushinst check`'s run: it journals what it creates, as any run
/// does, but has no attempts, so it is never "the latest run" (`retry`).
pub const CHECK_RUN: &str = "check";

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

    fn claim(&self, host: &str, package: &str) -> Result<Option<Skip>, HistoryError> {
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
            return Ok(Some(Skip::Busy { run_id: run, pid }));
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
        let columns = OutcomeColumns::of(outcome);
        let changed = tx.execute(
            "UPDATE attempts SET result = ?4, outcome = ?5, success = ?6, decisive = ?7, exit_code = ?8,
                 credential = ?9, finished_at = ?10, log_path = ?11, phase = COALESCE(?12, phase)
             WHERE run_id = ?1 AND host = ?2 AND package = ?3",
            params![
                self.run_id,
                host,
                package,
                columns.status,
                columns.json,
                columns.success,
                columns.decisive,
                outcome.exit_code(),
                report.credential,
                now,
                log_path,
                phase,
            ],
        )?;
        if changed == 0 {
            tx.execute(
                "INSERT INTO attempts (run_id, host, package, queued_at, finished_at, phase, result, outcome,
                     success, decisive)
                 VALUES (?1, ?2, ?3, ?4, ?4, 'queued', ?5, ?6, ?7, ?8)",
                params![
                    self.run_id,
                    host,
                    package,
                    now,
                    columns.status,
                    columns.json,
                    columns.success,
                    columns.decisive,
                ],
            )?;
        }
        if outcome.counts_as_attempt() {
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
}

/// The run goes on when the history cannot be written to; say so on stderr.
fn warn(what: &str, result: Result<(), HistoryError>) {
    if let Err(e) = result {
        tracing::warn!("could not record {what} in the history: {e}");
    }
}

impl Ledger for RunLedger {
    fn begin(&self, host: &str, package: &str) -> Result<(), Skip> {
        match self.claim(host, package) {
            Ok(None) => Ok(()),
            Ok(Some(busy)) => Err(busy),
            Err(e) => Err(Skip::HistoryUnavailable {
                message: e.to_string(),
            }),
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
        warn("a removed artefact", self.history.forget(host, artefacts));
    }

    fn finish(&self, host: &str, package: &str, outcome: &Outcome, report: &HostReport) {
        warn("a result", self.record(host, package, outcome, report));
    }

    fn reboot(&self, host: &str, package: &str, state: &RebootState) {
        warn("a reboot", self.set(host, package, "reboot", &state.label()));
    }
}

/// `pushinst cleanup`'s ledger: no attempts to record, only journal entries to strike.
pub struct CleanupLedger {
    history: Arc<History>,
}

impl CleanupLedger {
    pub fn new(history: Arc<History>) -> Self {
        CleanupLedger { history }
    }
}

impl Ledger for CleanupLedger {
    fn begin(&self, _: &str, _: &str) -> Result<(), Skip> {
        Ok(())
    }

    fn phase(&self, _: &str, _: &str, _: Step) {}

    fn will_create(&self, _: &str, _: &str, _: &[Artefact]) -> Result<(), String> {
        Ok(())
    }

    fn removed(&self, host: &str, artefacts: &[Artefact]) {
        warn("a removed artefact", self.history.forget(host, artefacts));
    }

    fn finish(&self, _: &str, _: &str, _: &Outcome, _: &HostReport) {}

    fn reboot(&self, _: &str, _: &str, _: &RebootState) {}
}

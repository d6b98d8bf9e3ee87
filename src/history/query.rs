//! Reading the history back for `status`, `logs`, `retry`, `sync` and `cleanup`.

use std::time::SystemTime;

use rusqlite::{OptionalExtension, Row, params};

use super::{History, HistoryError, from_ms};
use crate::outcome::Outcome;

/// One host+package in one run.
#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub run_id: String,
    pub host: String,
    pub package: String,
    pub version: Option<String>,
    pub credential: Option<String>,
    pub started_at: Option<SystemTime>,
    pub finished_at: Option<SystemTime>,
    pub phase: String,
    /// The status word; `None` while the run is still working on it.
    pub result: Option<String>,
    /// The outcome as data, for rows written since outcomes were stored as data.
    pub outcome: Option<Outcome>,
    /// The reason in words, for rows written before that.
    pub legacy_reason: Option<String>,
    pub success: bool,
    pub decisive: bool,
    pub exit_code: Option<i32>,
    pub reboot: Option<String>,
    pub log_path: Option<String>,
}

impl AttemptRow {
    pub fn succeeded(&self) -> bool {
        self.success
    }

    /// Worth another try: the outcome says so; rows from before outcomes were
    /// data are retried unless they succeeded.
    pub fn retryable(&self) -> bool {
        match &self.outcome {
            Some(outcome) => outcome.is_retryable(),
            None => !self.success,
        }
    }

    pub fn status(&self) -> &str {
        self.result.as_deref().unwrap_or("running")
    }
}

#[derive(Debug, Clone)]
pub struct RunRow {
    pub id: String,
    pub command: String,
    pub job: Option<String>,
    pub packages: Vec<String>,
    pub started_at: SystemTime,
    pub finished_at: Option<SystemTime>,
}

#[derive(Debug, Clone)]
pub struct ArtefactRow {
    pub run_id: String,
    pub host: String,
    pub credential: String,
    pub kind: String,
    pub path: String,
}

/// Which attempts to read; empty lists mean all.
#[derive(Debug, Default)]
pub struct Filter {
    pub hosts: Vec<String>,
    pub packages: Vec<String>,
}

impl Filter {
    fn keeps(&self, row: &AttemptRow) -> bool {
        (self.hosts.is_empty() || self.hosts.contains(&row.host))
            && (self.packages.is_empty() || self.packages.contains(&row.package))
    }
}

const ATTEMPT_COLUMNS: &str = "run_id, host, package, version, credential, started_at, finished_at, \
     phase, result, reason, exit_code, reboot, log_path, outcome, success, decisive";

fn attempt(row: &Row<'_>) -> rusqlite::Result<AttemptRow> {
    Ok(AttemptRow {
        run_id: row.get(0)?,
        host: row.get(1)?,
        package: row.get(2)?,
        version: row.get(3)?,
        credential: row.get(4)?,
        started_at: row.get::<_, Option<i64>>(5)?.map(from_ms),
        finished_at: row.get::<_, Option<i64>>(6)?.map(from_ms),
        phase: row.get(7)?,
        result: row.get(8)?,
        legacy_reason: row.get(9)?,
        exit_code: row.get(10)?,
        reboot: row.get(11)?,
        log_path: row.get(12)?,
        // A row this version cannot read back (written by a later one) keeps its
        // status word and shows no reason rather than failing the whole query.
        outcome: row
            .get::<_, Option<String>>(13)?
            .and_then(|json| serde_json::from_str(&json).ok()),
        success: row.get(14)?,
        decisive: row.get(15)?,
    })
}

fn run(row: &Row<'_>) -> rusqlite::Result<RunRow> {
    let packages: String = row.get(3)?;
    Ok(RunRow {
        id: row.get(0)?,
        command: row.get(1)?,
        job: row.get(2)?,
        packages: serde_json::from_str(&packages).unwrap_or_default(),
        started_at: from_ms(row.get(4)?),
        finished_at: row.get::<_, Option<i64>>(5)?.map(from_ms),
    })
}

impl History {
    /// Every attempt that passes the filter, oldest first.
    pub fn attempts(&self, filter: &Filter) -> Result<Vec<AttemptRow>, HistoryError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {ATTEMPT_COLUMNS} FROM attempts ORDER BY id"))?;
        let rows = stmt
            .query_map([], attempt)?
            .filter(|r| r.as_ref().map_or(true, |row| filter.keeps(row)))
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    pub fn run_attempts(&self, run_id: &str) -> Result<Vec<AttemptRow>, HistoryError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE run_id = ?1 ORDER BY id"
        ))?;
        let rows = stmt
            .query_map(params![run_id], attempt)?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The given run, or the latest one.
    pub fn run(&self, id: Option<&str>) -> Result<Option<RunRow>, HistoryError> {
        let conn = self.conn();
        let sql = "SELECT id, command, job, packages, started_at, finished_at FROM runs";
        let row = match id {
            Some(id) => conn
                .query_row(&format!("{sql} WHERE id = ?1"), params![id], run)
                .optional()?,
            // A check is on record only for its journal: it is nobody's last run.
            None => conn
                .query_row(
                    &format!("{sql} WHERE command <> ?1 ORDER BY started_at DESC, rowid DESC LIMIT 1"),
                    params![super::CHECK_RUN],
                    run,
                )
                .optional()?,
        };
        Ok(row)
    }

    /// Per host and package, the newest attempt that says something about the host
    /// (a run that never got to it does not hide an earlier result); the newest
    /// attempt of all where none does.
    pub fn latest(&self, filter: &Filter) -> Result<Vec<AttemptRow>, HistoryError> {
        let mut latest: std::collections::BTreeMap<(String, String), AttemptRow> = Default::default();
        for row in self.attempts(filter)? {
            let key = (row.host.clone(), row.package.clone());
            let keep_old = latest.get(&key).is_some_and(|old| old.decisive && !row.decisive);
            if !keep_old {
                latest.insert(key, row);
            }
        }
        Ok(latest.into_values().collect())
    }

    /// Is there any success on record for this host and package?
    pub fn succeeded(&self, host: &str, package: &str) -> Result<bool, HistoryError> {
        let found: Option<i64> = self
            .conn()
            .query_row(
                "SELECT 1 FROM attempts WHERE host = ?1 AND package = ?2 AND success LIMIT 1",
                params![host, package],
                |row| row.get(0),
            )
            .optional()?;
        Ok(found.is_some())
    }

    /// Was the package taken off this host on purpose (`pushinst remove`), with no
    /// successful install since? Newest first: a removal says yes, a success says
    /// no, a failure (an install that did not work, a removal that did not) says
    /// nothing and the one before it decides.
    pub fn removed(&self, host: &str, package: &str) -> Result<bool, HistoryError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT outcome FROM attempts WHERE host = ?1 AND package = ?2 AND decisive AND success
             ORDER BY id DESC LIMIT 1",
        )?;
        let newest: Option<Option<String>> = stmt
            .query_row(params![host, package], |row| row.get(0))
            .optional()?;
        Ok(newest
            .flatten()
            .and_then(|json| serde_json::from_str::<Outcome>(&json).ok())
            .is_some_and(|o| o.is_removal()))
    }

    /// The journal: what finished runs put on targets and did not remove (a run
    /// still going owns its artefacts).
    pub fn leftovers(&self) -> Result<Vec<ArtefactRow>, HistoryError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT a.id, a.run_id, a.host, a.credential, a.kind, a.path FROM artefacts a
             JOIN runs r ON r.id = a.run_id WHERE r.finished_at IS NOT NULL ORDER BY a.id",
        )?;
        let rows = stmt
            .query_map([], |row| {
                Ok(ArtefactRow {
                    run_id: row.get(1)?,
                    host: row.get(2)?,
                    credential: row.get(3)?,
                    kind: row.get(4)?,
                    path: row.get(5)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}

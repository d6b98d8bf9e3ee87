//! The database layout, one migration per version. A database written by a newer
//! pushinst is refused rather than guessed at.

use rusqlite::Connection;

use super::HistoryError;

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: runs, attempts, attempt counters, the artefact journal, leases, saved jobs.
    r#"
    CREATE TABLE runs (
        id          TEXT PRIMARY KEY,
        pid         INTEGER NOT NULL,
        command     TEXT NOT NULL,
        job         TEXT,
        packages    TEXT NOT NULL,
        started_at  INTEGER NOT NULL,
        finished_at INTEGER,
        log_dir     TEXT
    );
    CREATE TABLE attempts (
        id          INTEGER PRIMARY KEY,
        run_id      TEXT NOT NULL REFERENCES runs(id),
        host        TEXT NOT NULL,
        package     TEXT NOT NULL,
        version     TEXT,
        credential  TEXT,
        queued_at   INTEGER NOT NULL,
        started_at  INTEGER,
        finished_at INTEGER,
        phase       TEXT NOT NULL,
        result      TEXT,
        reason      TEXT,
        exit_code   INTEGER,
        reboot      TEXT,
        log_path    TEXT,
        UNIQUE (run_id, host, package)
    );
    CREATE INDEX attempts_by_host ON attempts (host, package, id);
    CREATE TABLE failures (
        host    TEXT NOT NULL,
        package TEXT NOT NULL,
        count   INTEGER NOT NULL,
        PRIMARY KEY (host, package)
    );
    CREATE TABLE artefacts (
        id         INTEGER PRIMARY KEY,
        run_id     TEXT NOT NULL,
        host       TEXT NOT NULL,
        credential TEXT NOT NULL,
        kind       TEXT NOT NULL,
        path       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (host, kind, path)
    );
    CREATE TABLE leases (
        host    TEXT NOT NULL,
        package TEXT NOT NULL,
        run_id  TEXT NOT NULL,
        pid     INTEGER NOT NULL,
        PRIMARY KEY (host, package)
    );
    CREATE TABLE saved_jobs (
        name       TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL,
        spec       TEXT NOT NULL
    );
    "#,
    // 2: outcomes as data. `outcome` holds the typed outcome as JSON (its `kind` and
    // data); `reason` is no longer written, only read for rows from before. Whether
    // a row is a success, or says anything decisive about the host, is written from
    // the outcome type's own methods, so queries never list status words again.
    // Rows from before are classed here, by the statuses version 1 wrote.
    r#"
    ALTER TABLE attempts ADD COLUMN outcome TEXT;
    ALTER TABLE attempts ADD COLUMN success INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE attempts ADD COLUMN decisive INTEGER NOT NULL DEFAULT 0;
    UPDATE attempts SET
        success = (result IN ('ok', 'reboot-required', 'already-installed')),
        decisive = (result IS NOT NULL AND result NOT IN ('skipped', 'not-started'));
    CREATE INDEX attempts_decisive ON attempts (host, package, decisive, id);
    "#,
];

pub(super) fn migrate(conn: &mut Connection) -> Result<(), HistoryError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        return Err(HistoryError::TooNew {
            found: version,
            known: MIGRATIONS.len(),
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the lock.
        let now: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if now > index as i64 {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

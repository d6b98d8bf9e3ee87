//! `pushinst cleanup [--to TARGET…]`: remove from targets what interrupted or
//! crashed runs left there, as the artefact journal records it, and strike each
//! entry once it is gone.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;

use crate::cli::{CleanupArgs, Cli};
use crate::error::{AppError, EXIT_HOSTS_FAILED, EXIT_OK};
use crate::history::{ArtefactRow, History};
use crate::inventory::{self, Target};
use crate::launch::{self, Connectors, open_history, plan_options};
use crate::runner::Timeouts;
use crate::secrets::Redactor;
use crate::transport::{Artefact, ArtefactKind, Credential};

pub async fn cleanup(cli: &Cli, args: &CleanupArgs) -> Result<u8, AppError> {
    let inv = inventory::load(&cli.inventory)?;
    let history = Arc::new(open_history(cli, Some(&inv))?);
    let wanted: Option<Vec<String>> = if args.to.is_empty() {
        None
    } else {
        Some(
            inventory::resolve_targets(&inv, &args.to)?
                .iter()
                .map(Target::label)
                .collect(),
        )
    };
    let mut by_host: BTreeMap<String, Vec<ArtefactRow>> = BTreeMap::new();
    for row in history.leftovers()? {
        if wanted.as_ref().is_none_or(|w| w.contains(&row.host)) {
            by_host.entry(row.host.clone()).or_default().push(row);
        }
    }
    if by_host.is_empty() {
        if !cli.quiet {
            println!("nothing to clean up: the journal has no leftovers");
        }
        return Ok(EXIT_OK);
    }
    let mut targets = Vec::new();
    let mut failed = 0;
    for (host, rows) in by_host {
        match inventory::resolve_targets(&inv, std::slice::from_ref(&host)) {
            Ok(mut t) if t.len() == 1 => targets.push((t.remove(0), rows)),
            _ => {
                failed += 1;
                println!("{host}: cannot clean up: the host is no longer in the inventory");
            }
        }
    }
    let mut redactor = Redactor::default();
    let credentials = launch::resolve_for(&inv, targets.iter().map(|(t, _)| t), &mut redactor)?;
    let connectors = Connectors::new(&inv, &launch::new_run_id(), args.run.exec)?;
    let timeouts = plan_options(&inv, &args.run, None).timeouts;
    let concurrency = args
        .run
        .concurrency
        .map_or(inv.settings.concurrency, |c| c as usize);
    let results: Vec<(String, Result<Vec<String>, String>)> = futures::stream::iter(targets)
        .map(|(target, rows)| {
            let history = history.clone();
            // The credential that created the artefacts first: it owns them.
            let owner = rows.first().map(|r| r.credential.as_str());
            let creds = launch::credentials_first(&target, &credentials, owner);
            let (connector, endpoint) = connectors.endpoint(&target);
            let timeouts = timeouts.clone();
            async move {
                let result = clean_host(connector, endpoint, &creds, &rows, &history, &timeouts).await;
                (target.label(), result)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    for (host, result) in results {
        match result {
            Ok(removed) => {
                for what in removed {
                    println!("{host}: removed {what}");
                }
            }
            Err(why) => {
                failed += 1;
                println!("{host}: cannot clean up: {}", redactor.redact(&why));
            }
        }
    }
    Ok(if failed == 0 { EXIT_OK } else { EXIT_HOSTS_FAILED })
}

async fn clean_host(
    connector: Arc<dyn crate::transport::Connector>,
    endpoint: crate::transport::Endpoint,
    credentials: &[Credential],
    rows: &[ArtefactRow],
    history: &History,
    timeouts: &Timeouts,
) -> Result<Vec<String>, String> {
    let timed = |what: &'static str, limit| {
        move |_| format!("timeout during {what} ({})", humantime::format_duration(limit))
    };
    let mut conn = tokio::time::timeout(timeouts.connect, connector.connect(&endpoint))
        .await
        .map_err(timed("connect", timeouts.connect))?
        .map_err(|e| e.to_string())?;
    let result = async {
        tokio::time::timeout(timeouts.auth, conn.authenticate(credentials))
            .await
            .map_err(timed("authenticate", timeouts.auth))?
            .map_err(|e| e.to_string())?;
        let mut removed = Vec::new();
        for row in rows {
            let Some(kind) = ArtefactKind::parse(&row.kind) else {
                continue;
            };
            let artefact = [Artefact {
                kind,
                path: row.path.clone(),
            }];
            tokio::time::timeout(timeouts.cleanup, conn.remove(&artefact))
                .await
                .map_err(timed("cleanup", timeouts.cleanup))?
                .map_err(|e| e.to_string())?;
            history.artefact_removed(row.id).map_err(|e| e.to_string())?;
            removed.push(format!("{} {} (left by run {})", row.kind, row.path, row.run_id));
        }
        Ok(removed)
    }
    .await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), conn.close()).await;
    result
}

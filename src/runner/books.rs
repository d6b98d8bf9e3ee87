//! The runner's way to the [`Ledger`]: every call runs on tokio's blocking pool and
//! is awaited, so a slow disk under the history stalls only the host whose record
//! is being written, never the async worker threads that drive all the others.

use std::sync::Arc;

use super::events::{HostReport, Step};
use super::{Ledger, RebootState};
use crate::outcome::{Outcome, Skip};
use crate::transport::Artefact;

#[derive(Clone)]
pub struct Books {
    ledger: Arc<dyn Ledger>,
}

impl Books {
    pub fn new(ledger: Arc<dyn Ledger>) -> Self {
        Books { ledger }
    }

    async fn call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn Ledger) -> T + Send + 'static,
    ) -> Option<T> {
        let ledger = self.ledger.clone();
        // A panic in the ledger is a bug; the host goes on as if the call failed.
        tokio::task::spawn_blocking(move || work(ledger.as_ref()))
            .await
            .ok()
    }

    pub async fn begin(&self, host: &str, package: &str) -> Result<(), Skip> {
        let (host, package) = (host.to_string(), package.to_string());
        self.call(move |l| l.begin(&host, &package))
            .await
            .unwrap_or_else(|| {
                Err(Skip::HistoryUnavailable {
                    message: "the history writer failed".into(),
                })
            })
    }

    pub async fn phase(&self, host: &str, package: &str, step: Step) {
        let (host, package) = (host.to_string(), package.to_string());
        self.call(move |l| l.phase(&host, &package, step)).await;
    }

    pub async fn will_create(
        &self,
        host: &str,
        credential: &str,
        artefacts: &[Artefact],
    ) -> Result<(), String> {
        let (host, credential, artefacts) = (host.to_string(), credential.to_string(), artefacts.to_vec());
        self.call(move |l| l.will_create(&host, &credential, &artefacts))
            .await
            .unwrap_or_else(|| Err("the history writer failed".into()))
    }

    pub async fn removed(&self, host: &str, artefacts: &[Artefact]) {
        let (host, artefacts) = (host.to_string(), artefacts.to_vec());
        self.call(move |l| l.removed(&host, &artefacts)).await;
    }

    pub async fn finish(&self, outcome: &Outcome, report: &Arc<HostReport>) {
        let (outcome, report) = (outcome.clone(), report.clone());
        self.call(move |l| l.finish(&report.host, &report.package, &outcome, &report))
            .await;
    }

    pub async fn reboot(&self, host: &str, package: &str, state: RebootState) {
        let (host, package) = (host.to_string(), package.to_string());
        self.call(move |l| l.reboot(&host, &package, &state)).await;
    }
}

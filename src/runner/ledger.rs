//! Where the runner records what it does as it does it: the history implements
//! this. An artefact is on record *before* it exists on a target, and a result is
//! committed before the host's next item starts. Implementations may block (SQLite
//! on a slow disk): the runner calls them through [`super::books::Books`], off the
//! async worker threads.

use std::time::Duration;

use super::events::{HostReport, Step};
use crate::outcome::{Outcome, Skip};
use crate::transport::Artefact;

/// What became of a reboot the package's policy asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebootState {
    /// The installer asked for one and the policy does not reboot.
    Pending,
    /// The reboot command was accepted by the host.
    Requested { delay: Duration },
    /// The request failed; the transport's words, redacted.
    Failed(String),
}

impl RebootState {
    /// The history's machine form.
    pub fn label(&self) -> String {
        match self {
            RebootState::Pending => "pending".into(),
            RebootState::Requested { .. } => "requested".into(),
            RebootState::Failed(why) => format!("request failed: {why}"),
        }
    }
}

pub trait Ledger: Send + Sync {
    /// Take host+package for this run. `Err` is why not (another run holds it); the
    /// package is then skipped on this host.
    fn begin(&self, host: &str, package: &str) -> Result<(), Skip>;

    /// The furthest step reached, so a crash shows where it stopped.
    fn phase(&self, host: &str, package: &str, step: Step);

    /// Called before the transport creates these; an `Err` stops the host first.
    fn will_create(&self, host: &str, credential: &str, artefacts: &[Artefact]) -> Result<(), String>;

    /// These are gone from the target.
    fn removed(&self, host: &str, artefacts: &[Artefact]);

    /// The attempt's result; releases what `begin` took.
    fn finish(&self, host: &str, package: &str, outcome: &Outcome, report: &HostReport);

    fn reboot(&self, host: &str, package: &str, state: &RebootState);
}

/// For runs with no history (tests of the runner itself).
#[cfg(test)]
pub struct NoLedger;

#[cfg(test)]
impl Ledger for NoLedger {
    fn begin(&self, _: &str, _: &str) -> Result<(), Skip> {
        Ok(())
    }
    fn phase(&self, _: &str, _: &str, _: Step) {}
    fn will_create(&self, _: &str, _: &str, _: &[Artefact]) -> Result<(), String> {
        Ok(())
    }
    fn removed(&self, _: &str, _: &[Artefact]) {}
    fn finish(&self, _: &str, _: &str, _: &Outcome, _: &HostReport) {}
    fn reboot(&self, _: &str, _: &str, _: &RebootState) {}
}

//! Runs the plan on a bounded pool: `concurrency` hosts at once, the rest queued in
//! order, every step under a timeout, cancellation in two stages.

mod dispatch;
pub mod events;
mod flow;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

pub use dispatch::{Cancel, run};
pub use events::{Event, EventKind, EventSink, HostReport, Outcome, RunStats};

use crate::secrets::Redactor;
use crate::transport::{Connector, Credential, Endpoint, Install, Payload};

/// Per-step limits and the whole-host deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub auth: Duration,
    pub upload: Duration,
    pub exec: Duration,
    /// Cleanup gets its own time even after the host deadline: it must always run.
    pub cleanup: Duration,
    pub host: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            auth: Duration::from_secs(30),
            upload: Duration::from_secs(300),
            exec: Duration::from_secs(30 * 60),
            cleanup: Duration::from_secs(30),
            host: Duration::from_secs(60 * 60),
        }
    }
}

/// Which installer exit codes mean what.
#[derive(Debug, Clone)]
pub struct ExitCodes {
    pub success: Vec<i32>,
    pub reboot: Vec<i32>,
}

/// Everything one host needs, already resolved: the runner reads no inventory.
pub struct HostJob {
    pub label: String,
    pub endpoint: Endpoint,
    pub connector: Arc<dyn Connector>,
    pub credentials: Vec<Credential>,
    pub detect: Option<String>,
    pub payloads: Vec<Payload>,
    pub install: Install,
}

pub struct RunConfig {
    pub run_id: String,
    pub package: String,
    pub version: Option<String>,
    pub concurrency: usize,
    pub timeouts: Timeouts,
    pub codes: ExitCodes,
    pub force: bool,
    pub redactor: Redactor,
}

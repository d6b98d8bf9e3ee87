//! Everything people and scripts read: one event consumer per output (the runner
//! emits, these decide what is shown), the words for outcomes (`words`) and the
//! dry run's plan (`plan`). No other module turns data into sentences.

pub mod check;
mod host_log;
mod json;
mod junit;
mod lines;
pub mod logon;
pub mod plan;
mod progress;
mod summary;
#[cfg(test)]
mod tests;
pub mod words;

use std::io;

pub use host_log::HostLogs;
pub use json::JsonLines;
pub use junit::Junit;
pub use lines::Lines;
pub use progress::Progress;
pub use summary::Summary;

use crate::runner::Event;

pub trait Sink: Send {
    fn event(&mut self, event: &Event) -> io::Result<()>;
}

/// Feed every event to every sink until the runner is done. A sink that fails
/// (a closed pipe) is dropped; the run itself goes on. The summary comes back.
/// Writing to terminals, pipes and log files blocks: run this on its own thread
/// (`spawn_blocking`), never on the runtime's workers.
pub fn consume(
    mut events: tokio::sync::mpsc::Receiver<Event>,
    mut sinks: Vec<Box<dyn Sink>>,
    mut summary: Summary,
) -> Summary {
    while let Some(event) = events.blocking_recv() {
        sinks.retain_mut(|sink| sink.event(&event).is_ok());
        let _ = summary.event(&event);
    }
    summary
}

/// A closed pipe (`pushinst … | head`) must not turn into a panic; the exit code
/// still tells the truth.
pub fn write_out(out: &mut dyn io::Write, text: &str) {
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Names the package beside the host only when a run installs several.
#[derive(Debug, Default, Clone)]
pub(crate) struct PackageTag {
    several: bool,
}

impl PackageTag {
    pub fn new(packages: &[String]) -> Self {
        PackageTag {
            several: packages.len() > 1,
        }
    }

    pub fn tag(&self, package: &str) -> String {
        if self.several {
            format!(" [{package}]")
        } else {
            String::new()
        }
    }
}

pub(crate) fn clock(time: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

pub(crate) fn secs(d: std::time::Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

//! The end of a run: one line of totals, then every host that did not succeed with
//! its reason and exit code, then where the logs are.

use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;

use super::{PackageTag, Sink, secs};
use crate::runner::{Event, EventKind, Outcome};

#[derive(Default)]
pub struct Summary {
    problems: Vec<(String, Outcome)>,
    hosts: usize,
    packages: Vec<String>,
    reboots: Vec<(String, String)>,
    /// Hosts where what pushinst staged could not be removed, and why.
    leftovers: Vec<(String, Outcome)>,
    text: Option<String>,
    log_dir: Option<PathBuf>,
}

impl Summary {
    pub fn new(log_dir: Option<PathBuf>) -> Self {
        Summary {
            log_dir,
            ..Summary::default()
        }
    }

    /// The finished summary, once the run has ended.
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    fn render(&self, stats: &crate::runner::RunStats, elapsed: std::time::Duration) -> String {
        let mut out = String::new();
        let reboot = if stats.reboot_required > 0 {
            format!(" ({} need a reboot)", stats.reboot_required)
        } else {
            String::new()
        };
        let what = if self.packages.len() > 1 {
            format!("{} host(s) × {} packages", self.hosts, self.packages.len())
        } else {
            format!("{} host(s)", stats.total)
        };
        let _ = write!(
            out,
            "\n{what} in {}: {} ok{reboot}, {} already installed, {} failed, {} unreachable",
            secs(elapsed),
            stats.ok,
            stats.already_installed,
            stats.failed,
            stats.unreachable
        );
        if stats.removed > 0 {
            let _ = write!(out, ", {} removed", stats.removed);
        }
        if stats.not_installed > 0 {
            let _ = write!(out, ", {} not installed", stats.not_installed);
        }
        if stats.skipped > 0 {
            let _ = write!(out, ", {} skipped", stats.skipped);
        }
        if stats.not_started > 0 {
            let _ = write!(out, ", {} not started", stats.not_started);
        }
        out.push('\n');
        if !self.problems.is_empty() {
            let width = self
                .problems
                .iter()
                .map(|(h, _)| h.len())
                .max()
                .unwrap_or(4)
                .max(4);
            let _ = writeln!(
                out,
                "\n{:<width$}  {:<12} {:>5}  REASON",
                "HOST", "RESULT", "EXIT"
            );
            for (host, outcome) in &self.problems {
                let code = outcome
                    .exit_code()
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "-".into());
                let _ = writeln!(
                    out,
                    "{host:<width$}  {:<12} {code:>5}  {}",
                    outcome.status(),
                    super::words::reason(outcome)
                );
            }
        }
        if !self.leftovers.is_empty() {
            let _ = writeln!(
                out,
                "\nleft on the host (on record: `pushinst cleanup` removes it once the host lets it):"
            );
            for (host, failed) in &self.leftovers {
                let _ = writeln!(out, "{host}: {}", super::words::reason(failed));
            }
        }
        for (host, result) in &self.reboots {
            let _ = writeln!(out, "{host}: {result}");
        }
        if let Some(dir) = &self.log_dir {
            let _ = writeln!(out, "\nper-host logs: {}", dir.display());
        }
        out
    }
}

impl Sink for Summary {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        match &event.kind {
            EventKind::RunStarted { hosts, packages, .. } => {
                self.hosts = *hosts;
                self.packages = packages.clone();
            }
            EventKind::HostFinished {
                host,
                package,
                outcome,
                report,
                ..
            } => {
                let tag = PackageTag::new(&self.packages).tag(package);
                if !outcome.is_as_asked() {
                    self.problems.push((format!("{host}{tag}"), outcome.clone()));
                }
                if let Some(failed) = &report.cleanup_failed {
                    self.leftovers.push((format!("{host}{tag}"), failed.clone()));
                }
            }
            EventKind::RebootRequested { host, state } => {
                self.reboots.push((host.clone(), super::words::reboot(state)));
            }
            EventKind::RunFinished { stats } => self.text = Some(self.render(stats, event.elapsed)),
            _ => {}
        }
        Ok(())
    }
}

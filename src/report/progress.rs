//! A terminal's view: one overall bar and a line per running host with its step.

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{PackageTag, Sink, secs};
use crate::runner::{Event, EventKind, RunStats};

pub struct Progress {
    bars: MultiProgress,
    overall: Option<ProgressBar>,
    hosts: HashMap<String, ProgressBar>,
    packages: PackageTag,
}

impl Progress {
    pub fn new() -> Self {
        Progress {
            bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            overall: None,
            hosts: HashMap::new(),
            packages: PackageTag::default(),
        }
    }

    fn tally(&self, stats: &RunStats) {
        if let Some(bar) = &self.overall {
            bar.set_length(stats.total as u64);
            bar.set_position(stats.finished as u64);
            bar.set_message(format!(
                "ok {}  failed {}  unreachable {}  running {}  queued {}",
                stats.ok + stats.already_installed + stats.removed + stats.not_installed,
                stats.failed,
                stats.unreachable,
                stats.running,
                stats.queued()
            ));
        }
    }

    fn host_bar(&mut self, host: &str) -> &ProgressBar {
        let bars = &self.bars;
        self.hosts.entry(host.to_string()).or_insert_with(|| {
            let bar = bars.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("  {spinner} {msg} {elapsed:.dim}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        })
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Sink for Progress {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        match &event.kind {
            EventKind::RunStarted {
                hosts,
                packages,
                goal,
                ..
            } => {
                let bar = self.bars.add(ProgressBar::new(*hosts as u64));
                bar.set_style(
                    ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len}  {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                bar.set_prefix(super::words::run_subject(*goal, packages));
                self.overall = Some(bar);
                self.packages = PackageTag::new(packages);
            }
            EventKind::HostStarted { host } => {
                self.host_bar(host).set_message(format!("{host}: connecting"));
            }
            EventKind::StepStarted { host, step } => {
                let host = host.clone();
                self.host_bar(&host).set_message(format!("{host}: {step}"));
            }
            EventKind::WaveStarted {
                wave,
                waves,
                hosts,
                canary,
                after,
            } => {
                self.bars
                    .println(super::words::wave(*wave, *waves, *hosts, *canary, *after))?;
            }
            EventKind::CredentialRejected {
                host,
                credential,
                reason,
            } => {
                self.bars
                    .println(format!("  {host}: credential {credential} refused ({reason})"))?;
            }
            EventKind::HostFinished {
                host,
                package,
                outcome,
                report,
                stats,
            } => {
                if let Some(bar) = self.hosts.remove(host) {
                    bar.finish_and_clear();
                    self.bars.remove(&bar);
                }
                let mark = if outcome.is_as_asked() { "✔" } else { "✘" };
                self.bars.println(format!(
                    "{mark} {host}{}: {} — {} ({})",
                    self.packages.tag(package),
                    outcome.status(),
                    super::words::reason(outcome),
                    secs(report.duration)
                ))?;
                self.tally(stats);
            }
            EventKind::VariantChosen {
                host,
                package,
                variant,
                file,
            } => {
                let host = host.clone();
                self.host_bar(&host).set_message(format!(
                    "{host}: {}",
                    super::words::variant_chosen(package, *variant, file)
                ));
            }
            EventKind::RebootRequested { host, state } => {
                self.bars
                    .println(format!("  {host}: {}", super::words::reboot(state)))?;
            }
            EventKind::RunBeginCancel { .. } => {
                self.bars.println(
                    "interrupted: no new hosts will start; Ctrl-C again to abort the running ones",
                )?;
            }
            EventKind::RunFinished { .. } => {
                if let Some(bar) = self.overall.take() {
                    bar.finish_and_clear();
                }
                let _ = self.bars.clear();
            }
        }
        Ok(())
    }
}

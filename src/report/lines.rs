//! One plain line per host event: for cron mail, log files, anything not a terminal.

use std::io::{self, Write};

use super::words;
use super::{PackageTag, Sink, clock, secs};
use crate::runner::{Event, EventKind, Outcome};

pub struct Lines<W: Write + Send> {
    out: W,
    /// Also show each step as it starts (`-v`).
    steps: bool,
    packages: PackageTag,
}

impl<W: Write + Send> Lines<W> {
    pub fn new(out: W, steps: bool) -> Self {
        Lines {
            out,
            steps,
            packages: PackageTag::default(),
        }
    }
}

impl<W: Write + Send> Sink for Lines<W> {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        let at = clock(event.time);
        match &event.kind {
            EventKind::RunStarted {
                run_id,
                packages,
                hosts,
                concurrency,
                goal,
            } => {
                self.packages = PackageTag::new(packages);
                writeln!(
                    self.out,
                    "{at} run {run_id}: {}",
                    words::run_header(*goal, packages, *hosts, *concurrency)
                )?;
            }
            EventKind::WaveStarted {
                wave,
                waves,
                hosts,
                canary,
                after,
            } => writeln!(
                self.out,
                "{at} {}",
                super::words::wave(*wave, *waves, *hosts, *canary, *after)
            )?,
            EventKind::HostStarted { host } => writeln!(self.out, "{at} {host}: started")?,
            EventKind::StepStarted { host, step } if self.steps => writeln!(self.out, "{at} {host}: {step}")?,
            EventKind::StepStarted { .. } => {}
            EventKind::CredentialRejected {
                host,
                credential,
                reason,
            } => writeln!(
                self.out,
                "{at} {host}: credential {credential} refused ({reason}), trying the next"
            )?,
            EventKind::HostFinished {
                host,
                outcome: Outcome::Cleaned { removed },
                ..
            } if !removed.is_empty() => {
                for r in removed {
                    writeln!(
                        self.out,
                        "{at} {host}: removed {} {} (left by run {})",
                        r.what, r.path, r.run_id
                    )?;
                }
            }
            EventKind::HostFinished {
                host,
                package,
                outcome,
                report,
                ..
            } => {
                let code = outcome
                    .exit_code()
                    .map(|c| format!(", exit {c}"))
                    .unwrap_or_default();
                writeln!(
                    self.out,
                    "{at} {host}{}: {} — {}{code} ({})",
                    self.packages.tag(package),
                    outcome.status(),
                    words::reason(outcome),
                    secs(report.duration)
                )?;
                if let Some(failed) = &report.cleanup_failed {
                    writeln!(
                        self.out,
                        "{at} {host}{}: left on the host — {}",
                        self.packages.tag(package),
                        words::reason(failed)
                    )?;
                }
            }
            EventKind::VariantChosen {
                host,
                package,
                variant,
                file,
            } => writeln!(
                self.out,
                "{at} {host}: {}",
                words::variant_chosen(package, *variant, file)
            )?,
            EventKind::RunBeginCancel { reason } => writeln!(
                self.out,
                "{at} {}",
                match reason {
                    crate::runner::events::CancelReason::Interrupt =>
                        "interrupted: starting no new hosts; running hosts finish and clean up (Ctrl-C again to abort)",
                    crate::runner::events::CancelReason::Abort => "aborting running hosts now",
                }
            )?,
            EventKind::RebootRequested { host, state } => {
                writeln!(self.out, "{at} {host}: {}", words::reboot(state))?
            }
            EventKind::RunFinished { .. } => {}
        }
        self.out.flush()
    }
}

//! One diagnostic log file per host: steps with timings, the command, the exit code
//! and the end of the output. Secrets were removed before the runner emitted them.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use super::{Sink, clock};
use crate::runner::{Event, EventKind, HostReport, Outcome};

pub struct HostLogs {
    dir: PathBuf,
}

impl HostLogs {
    pub fn create(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(HostLogs {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path_for(dir: &Path, host: &str) -> PathBuf {
        let safe: String = host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        dir.join(format!("{safe}.log"))
    }
}

pub fn render(report: &HostReport, outcome: &Outcome) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "host:       {} ({})", report.host, report.address);
    let _ = writeln!(out, "package:    {}", report.package);
    if let Some(started) = report.started {
        let _ = writeln!(out, "started:    {}", clock(started));
    }
    let _ = writeln!(out, "duration:   {:.3}s", report.duration.as_secs_f64());
    for r in &report.rejected {
        let _ = writeln!(out, "refused:    credential {} ({})", r.credential, r.reason);
    }
    if let Some(credential) = &report.credential {
        let _ = writeln!(out, "credential: {credential}");
    }
    let _ = writeln!(
        out,
        "result:     {} — {}",
        outcome.status(),
        super::words::reason(outcome)
    );
    if let Some(code) = report.exit_code {
        let _ = writeln!(out, "exit code:  {code}");
    }
    if let Some((number, file)) = &report.variant {
        let _ = writeln!(out, "variant:    {number} ({file})");
    }
    if let Some(command) = &report.command {
        let _ = writeln!(out, "command:    {command}");
    }
    if let Some(failed) = &report.cleanup_failed {
        let _ = writeln!(out, "cleanup:    FAILED: {}", super::words::reason(failed));
    }
    let _ = writeln!(out, "\nsteps:");
    for step in &report.steps {
        let _ = writeln!(
            out,
            "  {:<13} {:>8.3}s  {}",
            step.step.name(),
            step.duration.as_secs_f64(),
            step.failed
                .as_ref()
                .map_or_else(|| "ok".to_string(), super::words::reason)
        );
    }
    let dropped = if report.output_dropped > 0 {
        format!(", first {} bytes dropped", report.output_dropped)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "\noutput ({} bytes{dropped}):\n{}",
        report.output.len(),
        report.output
    );
    out
}

impl Sink for HostLogs {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        if let EventKind::HostFinished { outcome, report, .. } = &event.kind {
            if matches!(outcome, Outcome::NotStarted { .. }) {
                return Ok(());
            }
            // One file per host; a host installing several packages gets one section each.
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(Self::path_for(&self.dir, &report.host))?;
            file.write_all(render(report, outcome).as_bytes())?;
        }
        Ok(())
    }
}

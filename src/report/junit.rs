//! `--junit FILE`: the run as a JUnit XML report for CI dashboards (Jenkins, GitLab,
//! GitHub test reporters). One testsuite per run, one testcase per host and package:
//! a failure carries the reason and exit code, a skip its reason, and the installer's
//! output tail goes in `system-out`. The shape follows the junit-10.xsd schema that
//! Jenkins' xUnit plugin and pytest use.
//!
//! The file is created when the run is set up (a path that cannot be written stops
//! the run before any host is touched) and filled in when the run finishes.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{Sink, words};
use crate::runner::{Event, EventKind, Outcome};

pub struct Junit {
    path: PathBuf,
    file: Option<File>,
    run_id: String,
    started: Option<SystemTime>,
    cases: Vec<Case>,
}

struct Case {
    host: String,
    package: String,
    duration: Duration,
    outcome: Outcome,
    output: String,
    cleanup_failed: Option<String>,
}

impl Junit {
    /// Creates (or truncates) `path` now, so a bad path is known before the run.
    pub fn create(path: &Path) -> io::Result<Self> {
        let file = File::create(path)?;
        Ok(Junit {
            path: path.to_path_buf(),
            file: Some(file),
            run_id: String::new(),
            started: None,
            cases: Vec::new(),
        })
    }

    /// A run with nothing to do still leaves a report (an empty suite), so a CI job
    /// that expects the file finds it.
    pub fn nothing_to_do(mut self, run_id: &str) -> io::Result<()> {
        self.run_id = run_id.to_string();
        self.finish(Duration::ZERO)
    }

    fn finish(&mut self, elapsed: Duration) -> io::Result<()> {
        let Some(mut file) = self.file.take() else {
            return Ok(());
        };
        let xml = self.render(elapsed);
        file.write_all(xml.as_bytes())
            .and_then(|()| file.sync_all())
            .inspect_err(|e| {
                super::write_out(
                    &mut io::stderr(),
                    &format!(
                        "pushinst: cannot write the JUnit report {}: {e}\n",
                        self.path.display()
                    ),
                );
            })
    }

    fn render(&self, elapsed: Duration) -> String {
        let count = |f: fn(&Outcome) -> bool| self.cases.iter().filter(|c| f(&c.outcome)).count();
        let skipped = count(is_skip);
        let failures = count(|o| !o.is_success() && !is_skip(o));
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            xml,
            "<testsuites name=\"pushinst\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{}\">",
            self.cases.len(),
            seconds(elapsed)
        );
        let timestamp = self
            .started
            .map(|t| format!(" timestamp=\"{}\"", super::clock(t)))
            .unwrap_or_default();
        let _ = writeln!(
            xml,
            "  <testsuite name=\"pushinst {}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{}\"{timestamp}>",
            escape(&self.run_id),
            self.cases.len(),
            seconds(elapsed)
        );
        for case in &self.cases {
            let _ = write!(
                xml,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\">",
                escape(&case.package),
                escape(&case.host),
                seconds(case.duration)
            );
            let reason = words::reason(&case.outcome);
            if is_skip(&case.outcome) {
                let _ = write!(xml, "\n      <skipped message=\"{}\"/>", escape(&reason));
            } else if !case.outcome.is_success() {
                let code = case
                    .outcome
                    .exit_code()
                    .map(|c| format!("\nexit code: {c}"))
                    .unwrap_or_default();
                let _ = write!(
                    xml,
                    "\n      <failure type=\"{}\" message=\"{}\">{}{code}</failure>",
                    case.outcome.kind(),
                    escape(&reason),
                    escape(&reason)
                );
            }
            if !case.output.is_empty() {
                let _ = write!(xml, "\n      <system-out>{}</system-out>", escape(&case.output));
            }
            if let Some(left) = &case.cleanup_failed {
                let _ = write!(
                    xml,
                    "\n      <system-err>left on the host: {}</system-err>",
                    escape(left)
                );
            }
            xml.push_str("\n    </testcase>\n");
        }
        xml.push_str("  </testsuite>\n</testsuites>\n");
        xml
    }
}

/// Not attempted at all: a CI dashboard shows these as skipped, not failed.
fn is_skip(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Skipped { .. } | Outcome::NotStarted { .. })
}

/// Seconds with millisecond precision, as the schema's SUREFIRE_TIME allows.
fn seconds(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// Text as XML 1.0 accepts it: markup escaped, and characters XML cannot carry at
/// all (most control characters, from an installer's colours or a binary dump)
/// replaced, so one bad byte never makes the whole report unreadable.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' => out.push(c),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || matches!(c, '\u{FFFE}' | '\u{FFFF}') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

impl Sink for Junit {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        match &event.kind {
            EventKind::RunStarted { run_id, .. } => {
                self.run_id = run_id.clone();
                self.started = Some(event.time);
            }
            EventKind::HostFinished {
                host,
                package,
                outcome,
                report,
                ..
            } => self.cases.push(Case {
                host: host.clone(),
                package: package.clone(),
                duration: report.duration,
                outcome: outcome.clone(),
                output: report.output.clone(),
                cleanup_failed: report.cleanup_failed.as_ref().map(words::reason),
            }),
            EventKind::RunFinished { .. } => self.finish(event.elapsed)?,
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_what_xml_cannot_carry_is_replaced() {
        assert_eq!(
            escape("a<b>&\"c\" 'd'\u{1b}[31m\r\n\u{0}"),
            "a&lt;b&gt;&amp;&quot;c&quot; &apos;d&apos;\u{FFFD}[31m&#13;\n\u{FFFD}"
        );
        assert_eq!(seconds(Duration::from_millis(1234)), "1.234");
    }
}

//! JSON Lines: one `{"type", "timestamp", "elapsed_ms", "data"}` object per event.
//! New types and fields may appear; readers should skip what they do not know.
//! A finished host's `data.outcome` carries the stable machine `kind`, the `status`
//! word, the `reason` in words, and `detail`: the outcome as data (see the README,
//! "JSON output").

use std::io::{self, Write};

use serde_json::{Value, json};

use super::{Sink, clock, words};
use crate::outcome::{FORMAT_VERSION, Outcome};
use crate::runner::{Event, EventKind};

pub struct JsonLines<W: Write + Send> {
    out: W,
}

impl<W: Write + Send> JsonLines<W> {
    pub fn new(out: W) -> Self {
        JsonLines { out }
    }
}

/// An outcome as scripts read it.
pub fn outcome(outcome: &Outcome) -> Value {
    json!({
        "kind": outcome.kind(),
        "status": outcome.status(),
        "reason": words::reason(outcome),
        "step": outcome.step(),
        "exit_code": outcome.exit_code(),
        "success": outcome.is_success(),
        "installer_ran": outcome.installer_ran(),
        "counts_as_attempt": outcome.counts_as_attempt(),
        "reboot_required": outcome.reboot_required(),
        "detail": outcome,
    })
}

pub fn encode(event: &Event) -> Value {
    let mut value = serde_json::to_value(&event.kind).unwrap_or(Value::Null);
    if let Some(data) = value
        .as_object_mut()
        .and_then(|obj| obj.get_mut("data"))
        .and_then(Value::as_object_mut)
    {
        match &event.kind {
            EventKind::RunStarted { .. } => {
                data.insert("format_version".into(), json!(FORMAT_VERSION));
            }
            EventKind::HostFinished {
                outcome: finished,
                report,
                ..
            } => {
                data.insert("outcome".into(), outcome(finished));
                data.insert("credential".into(), json!(report.credential));
                data.insert("variant".into(), json!(report.variant.as_ref().map(|(n, _)| n)));
                data.insert("duration_ms".into(), json!(report.duration.as_millis() as u64));
                data.insert(
                    "cleanup_failed".into(),
                    json!(report.cleanup_failed.as_ref().map(words::reason)),
                );
            }
            EventKind::RebootRequested { state, .. } => {
                data.insert("result".into(), json!(words::reboot(state)));
                data.insert(
                    "requested".into(),
                    json!(matches!(state, crate::runner::RebootState::Requested { .. })),
                );
            }
            _ => {}
        }
    }
    if let Some(obj) = value.as_object_mut() {
        obj.insert("timestamp".into(), json!(clock(event.time)));
        obj.insert("elapsed_ms".into(), json!(event.elapsed.as_millis() as u64));
    }
    value
}

impl<W: Write + Send> Sink for JsonLines<W> {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, &encode(event))?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

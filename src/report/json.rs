//! JSON Lines: one `{"type", "timestamp", "elapsed_ms", "data"}` object per event.
//! New types may appear; readers should skip types they do not know.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::{Sink, clock};
use crate::runner::{Event, EventKind};

pub struct JsonLines<W: Write + Send> {
    out: W,
}

impl<W: Write + Send> JsonLines<W> {
    pub fn new(out: W) -> Self {
        JsonLines { out }
    }
}

pub fn encode(event: &Event) -> Value {
    let mut value = serde_json::to_value(&event.kind).unwrap_or(Value::Null);
    if let (Some(obj), EventKind::HostFinished { report, .. }) = (value.as_object_mut(), &event.kind)
        && let Some(data) = obj.get_mut("data").and_then(Value::as_object_mut)
    {
        data.insert("credential".into(), json!(report.credential));
        data.insert("duration_ms".into(), json!(report.duration.as_millis() as u64));
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

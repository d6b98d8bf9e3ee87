//! Inventory problems with their location, rendered the way cargo reports a bad
//! `Cargo.toml`: `file:line:col`, the line with a caret, and a hint.

use std::ops::Range;
use std::path::PathBuf;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub span: Option<Range<usize>>,
    pub message: String,
    pub label: String,
    pub hint: Option<String>,
}

impl Problem {
    pub fn at(span: Range<usize>, message: impl Into<String>) -> Self {
        Problem {
            span: Some(span),
            message: message.into(),
            label: "here".to_string(),
            hint: None,
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("cannot read inventory {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} has {} problem(s); nothing was touched", path.display(), problems.len())]
    Invalid {
        path: PathBuf,
        text: String,
        problems: Vec<Problem>,
    },
}

impl InventoryError {
    /// The full report: every problem with its source line, then a closing line.
    pub fn render(&self, color: bool) -> String {
        match self {
            InventoryError::Read { path, source } => {
                let mut out = format!("error: cannot read inventory {}: {source}\n", path.display());
                if source.kind() == std::io::ErrorKind::NotFound {
                    out.push_str(
                        "  hint: pass one with `-i FILE`, set PUSHINST_INVENTORY, or create pushinst.toml here\n",
                    );
                }
                out
            }
            InventoryError::Invalid { path, text, problems } => {
                let theme = if color {
                    GraphicalTheme::unicode()
                } else {
                    GraphicalTheme::unicode_nocolor()
                };
                let handler = GraphicalReportHandler::new_themed(theme).with_context_lines(1);
                let mut out = String::new();
                for problem in problems {
                    let mut diag = MietteDiagnostic::new(problem.message.clone());
                    if let Some(span) = &problem.span {
                        diag = diag.with_label(LabeledSpan::at(span.clone(), problem.label.clone()));
                    }
                    if let Some(hint) = &problem.hint {
                        diag = diag.with_help(hint.clone());
                    }
                    let report = miette::Report::new(diag)
                        .with_source_code(NamedSource::new(path.display().to_string(), mask_secrets(text)));
                    let _ = handler.render_report(&mut out, report.as_ref());
                    out.push('\n');
                }
                out.push_str(&format!("error: {self}\n"));
                out
            }
        }
    }
}

/// Blank out inline secrets before showing source lines: an error report goes to
/// terminals, cron mail and CI logs. Byte lengths are kept, so spans stay valid.
fn mask_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let key = line.split('=').next().unwrap_or("").to_ascii_lowercase();
        let secret_key = line.contains('=') && (key.contains("pass") || key.contains("secret"));
        match (secret_key, line.find(['"', '\''])) {
            (true, Some(open)) => {
                let quote = line.as_bytes()[open] as char;
                let close = line[open + 1..]
                    .rfind(quote)
                    .map(|i| open + 1 + i)
                    .unwrap_or(line.len());
                out.push_str(&line[..=open]);
                out.push_str(&"*".repeat(close - open - 1));
                out.push_str(&line[close..]);
            }
            _ => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_secrets_are_masked_in_reports() {
        let text = "[credentials.x]\nuser = \"u\"\npassword = \"hunter2\"\nsudo_password = 'pässword'\n";
        let masked = mask_secrets(text);
        assert_eq!(masked.len(), text.len());
        assert!(
            !masked.contains("hunter2") && !masked.contains("pässword"),
            "{masked}"
        );
        assert!(masked.contains("password = \"*******\""), "{masked}");
        assert!(masked.contains("user = \"u\""));
    }
}

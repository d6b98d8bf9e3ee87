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
                        .with_source_code(NamedSource::new(path.display().to_string(), text.clone()));
                    let _ = handler.render_report(&mut out, report.as_ref());
                    out.push('\n');
                }
                out.push_str(&format!("error: {self}\n"));
                out
            }
        }
    }
}

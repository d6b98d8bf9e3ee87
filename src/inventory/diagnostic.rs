//! Inventory problems with their location, rendered the way cargo reports a bad
//! `Cargo.toml`: `file:line:col`, the line with a caret, and a hint.

use std::ops::Range;
use std::path::PathBuf;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};

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
    #[error("{} is empty: it names no hosts, packages or credentials", path.display())]
    Empty { path: PathBuf },
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
            InventoryError::Empty { .. } => format!(
                "error: {self}\n  hint: a minimal inventory needs a [packages.NAME] table with an installer \
                 (linux = {{ file = \"install.sh\" }}), a [groups.NAME] table with `hosts = [...]` and `os`, \
                 and a [credentials.NAME] table the group names in `credentials`; \
                 examples/inventory.toml shows every key\n"
            ),
            InventoryError::Invalid { path, text, problems } => {
                let theme = if color {
                    GraphicalTheme::unicode()
                } else {
                    GraphicalTheme::unicode_nocolor()
                };
                let handler = GraphicalReportHandler::new_themed(theme).with_context_lines(1);
                let mut out = String::new();
                let masked = mask_secrets(text);
                let name = path.display().to_string();
                for problem in problems {
                    let mut diag = MietteDiagnostic::new(problem.message.clone());
                    if let Some(hint) = &problem.hint {
                        diag = diag.with_help(hint.clone());
                    }
                    let source = match &problem.span {
                        Some(span) => {
                            let span = clamp(&masked, span);
                            let view = SourceView::new(&name, &masked, span.clone());
                            diag = diag.with_label(LabeledSpan::at(view.span.clone(), problem.label.clone()));
                            view
                        }
                        None => SourceView::new(&name, "", 0..0),
                    };
                    let report = miette::Report::new(diag).with_source_code(source);
                    let _ = handler.render_report(&mut out, report.as_ref());
                    out.push('\n');
                }
                out.push_str(&format!("error: {self}\n"));
                out
            }
        }
    }
}

/// Lines longer than this are shown clipped around the problem: a 100,000-character
/// line must not flood a terminal (or a cron mail).
const MAX_SHOWN: usize = 160;

/// A span that lies inside the text and on character boundaries.
fn clamp(text: &str, span: &Range<usize>) -> Range<usize> {
    let floor = |mut i: usize| {
        i = i.min(text.len());
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = floor(span.start);
    start..floor(span.end).max(start)
}

/// What miette is shown of an inventory: the text with every over-long line clipped
/// (around the problem on its own line), and the problem's true line and column, which
/// the clipped text would get wrong.
struct SourceView {
    name: String,
    text: String,
    span: Range<usize>,
    line: usize,
    column: usize,
}

impl SourceView {
    fn new(name: &str, text: &str, span: Range<usize>) -> Self {
        let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
        let line = text[..line_start].matches('\n').count();
        let column = text[line_start..span.start].chars().count();
        let mut view = SourceView {
            name: name.to_string(),
            text: String::new(),
            span: span.clone(),
            line,
            column,
        };
        if text.split('\n').all(|l| l.len() <= MAX_SHOWN) {
            view.text = text.to_string();
            return view;
        }
        let (mut new_start, mut new_end) = (None, None);
        let mut offset = 0;
        for piece in text.split_inclusive('\n') {
            let body = piece.strip_suffix('\n').unwrap_or(piece);
            let start = offset;
            offset += piece.len();
            let at_end = span.start == offset && offset == text.len() && !piece.ends_with('\n');
            let on_this_line = (start..offset).contains(&span.start) || at_end;
            // The part shown: all of a short line; of a long one, a window that starts a
            // little before the problem.
            let (from, to) = if body.len() <= MAX_SHOWN {
                (0, body.len())
            } else {
                let at = if on_this_line { span.start - start } else { 0 };
                let from = floor_boundary(body, at.saturating_sub(MAX_SHOWN / 4));
                (from, floor_boundary(body, (from + MAX_SHOWN).min(body.len())))
            };
            if from > 0 {
                view.text.push('…');
            }
            let base = view.text.len();
            let map = |o: usize| base + (o - start).clamp(from, to) - from;
            if on_this_line {
                new_start = Some(map(span.start));
            }
            if new_end.is_none() && span.end <= offset {
                new_end = Some(map(span.end.max(start)));
            }
            view.text.push_str(&body[from..to]);
            if to < body.len() {
                view.text.push_str(&format!("… ({} more bytes)", body.len() - to));
            }
            view.text.push_str(&piece[body.len()..]);
        }
        let start = new_start.unwrap_or(view.text.len());
        view.span = start..new_end.unwrap_or(view.text.len()).max(start);
        view
    }
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl SourceCode for SourceView {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let contents = self
            .text
            .read_span(span, context_lines_before, context_lines_after)?;
        // miette asks for the primary label alone to write `file:line:col`.
        let (line, column) =
            if span.offset() == self.span.start && context_lines_before == 0 && context_lines_after == 0 {
                (self.line, self.column)
            } else {
                (contents.line(), contents.column())
            };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            contents.data(),
            *contents.span(),
            line,
            column,
            contents.line_count(),
        )))
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

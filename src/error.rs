//! The edge's errors and the exit codes a script can branch on.

use std::process::ExitCode;

use crate::inventory::{InventoryError, TargetError, TargetFileError};
use crate::plan::PlanError;
use crate::secrets::SecretError;

/// Every target ok or already installed.
pub const EXIT_OK: u8 = 0;
/// At least one target failed or was unreachable.
pub const EXIT_HOSTS_FAILED: u8 = 1;
/// Bad input (inventory, arguments, secrets); nothing was touched.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Interrupted by Ctrl-C or SIGTERM.
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error(transparent)]
    Targets(#[from] TargetError),
    #[error(transparent)]
    TargetList(#[from] TargetFileError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("credential `{credential}`: {source}")]
    Secret {
        credential: String,
        #[source]
        source: SecretError,
    },
    #[error(transparent)]
    History(#[from] crate::history::HistoryError),
    /// A request that makes no sense (an unknown run, a bad --until).
    #[error("{message}")]
    Usage { message: String, hint: Option<String> },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl AppError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(EXIT_BAD_INPUT)
    }

    /// Headline, then a hint on its own line, the way ripgrep and cargo print errors.
    pub fn render(&self, color: bool) -> String {
        let hint = match self {
            AppError::Inventory(e) => return e.render(color),
            AppError::TargetList(e) => return e.render(color),
            AppError::Targets(e) => e.hint(),
            AppError::Plan(e) => e.hint(),
            AppError::Usage { hint, .. } => hint.clone(),
            AppError::Secret { .. } | AppError::Io { .. } | AppError::History(_) => None,
        };
        let mut out = format!("pushinst: error: {self}\n");
        if let Some(hint) = hint {
            out.push_str(&format!("  hint: {hint}\n"));
        }
        out
    }
}

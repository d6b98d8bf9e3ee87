//! `pushinst creds set|delete|list`: the keyring entries `{ keyring = "NAME" }` reads,
//! managed without remembering `secret-tool`'s arguments. Passwords are asked on the
//! terminal, twice, without echo, and never printed.

use crate::cli::CredsCommand;
use crate::error::{AppError, EXIT_OK};
use crate::report::write_out;
use crate::secrets;

pub fn creds(action: &CredsCommand) -> Result<u8, AppError> {
    let secret_error = |name: &str| {
        let credential = name.to_string();
        move |source| AppError::Secret { credential, source }
    };
    let mut out = std::io::stdout();
    match action {
        CredsCommand::Set { name } => {
            let secret = secrets::prompt_new(name).map_err(secret_error(name))?;
            secrets::keyring_store(name, &secret).map_err(secret_error(name))?;
            write_out(
                &mut out,
                &format!("stored; use it as password = {{ keyring = \"{name}\" }}\n"),
            );
        }
        CredsCommand::Delete { name } => {
            let removed = secrets::keyring_clear(name).map_err(secret_error(name))?;
            if !removed {
                return Err(AppError::Usage {
                    message: format!("no keyring entry `{name}`"),
                    hint: Some("`pushinst creds list` shows the names stored".into()),
                });
            }
            write_out(&mut out, &format!("removed keyring entry `{name}`\n"));
        }
        CredsCommand::List => {
            let names = secrets::keyring_names().map_err(secret_error("*"))?;
            write_out(
                &mut out,
                &names.iter().map(|n| format!("{n}\n")).collect::<String>(),
            );
        }
    }
    Ok(EXIT_OK)
}

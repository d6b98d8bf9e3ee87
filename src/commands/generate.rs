//! `pushinst generate`: completions and the man page, from the same clap definitions
//! as `--help`. The results are committed in completions/ and man/.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, GenerateArgs, Generated};
use crate::error::{AppError, EXIT_OK};

pub fn generate(args: &GenerateArgs) -> Result<u8, AppError> {
    let io = |what: String| move |source| AppError::Io { what, source };
    std::fs::create_dir_all(&args.out_dir)
        .map_err(io(format!("cannot create {}", args.out_dir.display())))?;
    let mut cmd = Cli::command();
    match args.what {
        Generated::Completions => {
            for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::PowerShell] {
                clap_complete::generate_to(shell, &mut cmd, "pushinst", &args.out_dir)
                    .map_err(io(format!("cannot write {shell} completions")))?;
            }
        }
        Generated::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut page)
                .map_err(io("cannot render the man page".to_string()))?;
            let path = args.out_dir.join("pushinst.1");
            std::fs::write(&path, page).map_err(io(format!("cannot write {}", path.display())))?;
        }
    }
    Ok(EXIT_OK)
}

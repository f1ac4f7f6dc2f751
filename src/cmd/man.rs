//! `docmill man`: the man page, generated from the same clap declaration as
//! `--help`, so the two never disagree.

use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::config::Cli;

/// Prints `docmill.1`, or writes a page per subcommand (`docmill-serve.1`,
/// ...) into `out_dir`.
pub fn main(out_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let command = Cli::command();
    match out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|err| anyhow::anyhow!("cannot create {}: {err}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .map_err(|err| anyhow::anyhow!("cannot write the man pages into {}: {err}", dir.display()))?;
        }
        None => clap_mangen::Man::new(command).render(&mut std::io::stdout().lock())?,
    }
    Ok(ExitCode::SUCCESS)
}

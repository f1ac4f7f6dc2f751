//! `docmill man`: the man page, generated from the same clap declaration as
//! `--help`, so the two never disagree; and the printing of generated text
//! (man page, completion scripts) to stdout.

use std::io::Write;
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
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command).render(&mut page)?;
            return print(&page);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes generated text to stdout; a reader that stops early (`| head`)
/// is not an error.
pub fn print(text: &[u8]) -> anyhow::Result<ExitCode> {
    match std::io::stdout().lock().write_all(text) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(err.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

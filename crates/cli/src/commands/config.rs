//! `threddex config example|show`.

use std::io::Write;
use std::process::ExitCode;

use crate::cli::ConfigCommand;
use crate::config::{EXAMPLE, Loaded};

pub fn run(cmd: ConfigCommand, loaded: &Loaded) -> anyhow::Result<ExitCode> {
    // One buffer, one write: a closed pipe is one error to hand back, not a panic.
    let mut out = Vec::new();
    match cmd {
        ConfigCommand::Example => out.extend_from_slice(EXAMPLE.as_bytes()),
        ConfigCommand::Show => {
            match &loaded.file {
                Some(f) => writeln!(out, "# file: {}", f.display())?,
                None => writeln!(out, "# file: none (defaults)")?,
            }
            if !loaded.env_vars.is_empty() {
                writeln!(out, "# environment: {}", loaded.env_vars.join(", "))?;
            }
            writeln!(
                out,
                "# secrets are shown as [redacted] and database passwords as *****\n"
            )?;
            out.extend_from_slice(loaded.config.to_toml()?.as_bytes());
        }
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out)?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

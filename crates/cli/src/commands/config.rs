//! `threddex config example|show`.

use std::process::ExitCode;

use crate::cli::ConfigCommand;
use crate::config::{EXAMPLE, Loaded};

pub fn run(cmd: ConfigCommand, loaded: &Loaded) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCommand::Example => print!("{EXAMPLE}"),
        ConfigCommand::Show => {
            match &loaded.file {
                Some(f) => println!("# file: {}", f.display()),
                None => println!("# file: none (defaults)"),
            }
            if !loaded.env_vars.is_empty() {
                println!("# environment: {}", loaded.env_vars.join(", "));
            }
            println!("# secrets are shown as [redacted] and database passwords as *****\n");
            print!("{}", loaded.config.to_toml()?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

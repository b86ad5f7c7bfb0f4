//! The `relance` command: parses the command line and hands over to the
//! library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = relance::cli::Cli::parse();
    match relance::cli::run(cli) {
        Ok(code) => std::process::ExitCode::from(code as u8),
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}

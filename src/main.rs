//! The `stripedns` binary: parses the command line and runs the subcommand,
//! printing any error as `stripedns: <error>` and exiting with its status
//! (1, or the distinct statuses of `push` refusals).

use std::process::ExitCode;

use clap::Parser;

use stripedns::cli::{Cli, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stripedns: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

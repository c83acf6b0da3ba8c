//! `foodtaster BUNDLE_DIR [--deadline-ms N]`: the sacrificial process that
//! tastes one bundle.
//!
//! It loads the bundle with every engine, serves it on a loopback port and
//! answers the tasting suite (see `stripedns::taster`), then prints the
//! verdict as one JSON line on stdout. Exit status 0 means `promote`, 1
//! `reject`, 2 a usage error. The pipeline runs it under a wall-clock
//! timeout, an address-space limit and a CPU limit, and reads a crash, a
//! hang or running out of memory from how it ended.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use stripedns::taster::{TasteConfig, taste_dir};

/// The usage line printed on a bad command line.
const USAGE: &str = "usage: foodtaster BUNDLE_DIR [--deadline-ms N]";

fn main() -> ExitCode {
    let mut dir: Option<PathBuf> = None;
    let mut config = TasteConfig::default();
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--deadline-ms" {
            let Some(ms) = args
                .next()
                .and_then(|v| v.into_string().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|&ms| ms > 0)
            else {
                eprintln!("foodtaster: --deadline-ms needs a positive number\n{USAGE}");
                return ExitCode::from(2);
            };
            config.deadline = Duration::from_millis(ms);
        } else if dir.is_none() {
            dir = Some(PathBuf::from(arg));
        } else {
            eprintln!(
                "foodtaster: unexpected argument {}\n{USAGE}",
                arg.to_string_lossy()
            );
            return ExitCode::from(2);
        }
    }
    let Some(dir) = dir else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let verdict = taste_dir(&dir, &config);
    println!("{}", verdict.to_json());
    for failure in &verdict.failures {
        eprintln!("foodtaster: {failure}");
    }
    if verdict.promote() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

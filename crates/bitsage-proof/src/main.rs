//! `bitsage-proof`: run, prove, verify and benchmark Obelysk programs from the command line.
//!
//! Exit codes: 0 success; 1 a proof was checked and rejected (or a command failed); 2 the input
//! could not be read or parsed.

mod bench;
mod bench_kernels;
mod cli;
mod commands;
mod network;
mod progress;

use std::process::ExitCode;

use clap::Parser;

/// A failure with the exit code it deserves.
#[derive(Debug)]
pub enum Failure {
    /// Exit 1: the command ran and the answer is "no" (or it failed for another reason).
    Rejected(anyhow::Error),
    /// Exit 2: unreadable or invalid input.
    BadInput(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Rejected(e)
    }
}

// Proving frees and reallocates hundreds of MiB per phase; see `bitsage_alloc`.
#[global_allocator]
static GLOBAL: bitsage_alloc::Allocator = bitsage_alloc::Allocator;

fn main() -> ExitCode {
    bitsage_alloc::keep_freed_memory();
    let cli = cli::Cli::parse();
    progress::init_tracing(cli.verbose);
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Rejected(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
        Err(Failure::BadInput(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

//! `sage-worker`: what a GPU operator runs.
//!
//! `setup` creates encrypted keys and `worker.toml`; `start` runs the proving daemon (and on the
//! local network a whole network in one process); the rest are operator commands. Files live in
//! `~/.bitsage` or `BITSAGE_HOME`. Exit codes: 0 success, 1 error, 2 `doctor` found a problem.

mod commands;
mod config;
mod daemon;
mod doctor;
mod gpu;
mod home;
mod keys;
mod node;
mod outbox;
mod pidfile;
mod prove;
mod setup;
mod start;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use bitsage_ledger::Amount;
use clap::{Parser, Subcommand};

use crate::home::Home;

// The daemon proves job after job; see `bitsage_alloc` for why freed memory is kept.
#[global_allocator]
static GLOBAL: bitsage_alloc::Allocator = bitsage_alloc::Allocator;

#[derive(Parser, Debug)]
#[command(
    name = "sage-worker",
    version,
    about = "The BitSage worker node: prove jobs, get paid",
    long_about = "The BitSage worker node: leases proving jobs from a coordinator, proves them, verifies its own proofs and submits them for payment.\n\nFiles live in ~/.bitsage (or BITSAGE_HOME). `sage-worker start --network local` runs a whole network on this machine."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Settle on Starknet: the contracts file written by `bitsage-starknet deploy` or `devnet`.
    /// `info`, `faucet`, `stake`, `unstake`, `withdraw` and `claim` then sign transactions with
    /// the worker's own key instead of asking the coordinator.
    #[arg(long, global = true, env = "BITSAGE_STARKNET_CONTRACTS")]
    contracts: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Detect GPUs, create encrypted keys, register, write worker.toml.
    Setup {
        /// local (this machine), sepolia or mainnet.
        #[arg(long, env = "BITSAGE_NETWORK", default_value = "local")]
        network: String,
        #[arg(long, env = "BITSAGE_COORDINATOR_URL")]
        coordinator_url: Option<String>,
        /// Use the key in STARKNET_PRIVATE_KEY instead of generating one.
        #[arg(long)]
        import: bool,
        /// Replace existing keys without asking.
        #[arg(long)]
        force: bool,
        /// Never prompt (passwords come from BITSAGE_KEYSTORE_PASSWORD).
        #[arg(long)]
        yes: bool,
    },
    /// Run the worker until Ctrl-C or SIGTERM (which finish the jobs in flight).
    Start {
        /// With `local` and no setup, sets up and starts an embedded coordinator.
        #[arg(long, env = "BITSAGE_NETWORK")]
        network: Option<String>,
        #[arg(long, env = "BITSAGE_COORDINATOR_URL")]
        coordinator_url: Option<String>,
        /// Where /metrics, /health and /gpu/status are served (default 127.0.0.1:9090).
        #[arg(long)]
        metrics_addr: Option<SocketAddr>,
        /// Also run a demo client that keeps submitting ml-inference jobs.
        #[arg(long)]
        demo: bool,
        /// Seconds between demo jobs.
        #[arg(long, default_value_t = 2)]
        demo_interval: u64,
        /// Run in the background (pid file and log under the worker's directory).
        #[arg(long)]
        detach: bool,
    },
    /// Stop the running worker and wait until its jobs are finished.
    Stop,
    /// Running or not, coordinator reachable, tier, leases in flight, proofs done.
    Status,
    /// Print the worker's log.
    Logs {
        /// Keep printing as the log grows.
        #[arg(short, long)]
        follow: bool,
        /// Lines to show first.
        #[arg(short = 'n', long, default_value_t = 50)]
        lines: usize,
    },
    /// Address, balance, stake, tier, earnings, recent jobs.
    Info {
        #[arg(long)]
        verbose: bool,
    },
    /// Write an encrypted backup of the keys and the config (stdout or --output).
    Export {
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Stake SAGE (tiers: 1000 Consumer, 2500 Workstation, 5000 DataCenter, 10000 Enterprise, 25000 Frontier).
    Stake {
        #[arg(long)]
        amount: Amount,
    },
    /// Start the cooldown on part of the stake.
    Unstake {
        #[arg(long)]
        amount: Amount,
    },
    /// Move unstaked SAGE whose cooldown has passed back to the balance.
    Withdraw,
    /// Move staking rewards to the balance.
    Claim,
    /// Take the faucet's grant (test networks).
    Faucet,
    /// Check config, keys, coordinator, clock, GPU and a tiny proof; say what to fix.
    Doctor,
    /// Measure this machine's proving throughput and keep it for registration.
    Bench {
        /// log2 of the VM steps to prove.
        #[arg(long, default_value_t = 16)]
        log_steps: u32,
    },
}

/// Log lines to stderr and to the log file, so `sage-worker logs` works in both modes.
#[derive(Clone)]
struct Tee(Option<Arc<Mutex<std::fs::File>>>);

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        if let Some(file) = &self.0 {
            let _ = file.lock().expect("log lock").write_all(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn init_logging(home: &Home, to_file: bool) {
    let file = to_file
        .then(|| {
            std::fs::create_dir_all(home.log().parent()?).ok()?;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(home.log())
                .ok()
        })
        .flatten()
        .map(|f| Arc::new(Mutex::new(f)));
    let tee = Tee(file);
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // The job's story at info; the prover's and stwo's phase timings only when they go wrong.
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(tracing::Level::INFO)
        .with_targets(obelysk_prover::PHASE_LOG_TARGETS.map(|t| (t, tracing::Level::WARN)));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || tee.clone()),
        )
        .with(filter)
        .init();
}

fn main() {
    bitsage_alloc::keep_freed_memory();
    match run() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run() -> anyhow::Result<i32> {
    let cli = Cli::parse();
    let home = Home::locate()?;
    init_logging(&home, matches!(cli.command, Command::Start { .. }));
    if let Command::Start { detach: true, .. } = &cli.command {
        return detach(&home);
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        match cli.command {
            Command::Setup {
                network,
                coordinator_url,
                import,
                force,
                yes,
            } => {
                let options = setup::SetupOptions {
                    network: config::parse_network(&network)?,
                    coordinator_url,
                    import,
                    force,
                    yes,
                    register: true,
                };
                let config = setup::setup(&home, &options).await?;
                println!(
                    "worker {} is set up; start it with `sage-worker start`",
                    config.worker_id
                );
            }
            Command::Start {
                network,
                coordinator_url,
                metrics_addr,
                demo,
                demo_interval,
                ..
            } => {
                let options = start::StartOptions {
                    network: network.as_deref().map(config::parse_network).transpose()?,
                    coordinator_url,
                    metrics_addr,
                    demo,
                    demo_interval_secs: demo_interval,
                    contracts: cli.contracts.clone(),
                };
                start::start(home, options).await?;
            }
            Command::Stop => commands::stop(&home)?,
            Command::Status => commands::status(&home).await?,
            Command::Logs { follow, lines } => commands::logs(&home, follow, lines)?,
            Command::Info { .. } if cli.contracts.is_some() => {
                let contracts = cli.contracts.as_deref().expect("checked");
                commands::on_chain(&home, contracts, commands::Move::Info).await?
            }
            Command::Info { verbose } => commands::info(&home, verbose).await?,
            Command::Export { output } => commands::export(&home, output)?,
            Command::Stake { amount } => {
                commands::move_funds(&home, cli.contracts, commands::Move::Stake(amount)).await?
            }
            Command::Unstake { amount } => {
                let action = commands::Move::Unstake(amount);
                commands::move_funds(&home, cli.contracts, action).await?
            }
            Command::Withdraw => {
                commands::move_funds(&home, cli.contracts, commands::Move::Withdraw).await?
            }
            Command::Claim => {
                commands::move_funds(&home, cli.contracts, commands::Move::Claim).await?
            }
            Command::Faucet => {
                commands::move_funds(&home, cli.contracts, commands::Move::Faucet).await?
            }
            Command::Doctor => {
                if !doctor::doctor(&home).await? {
                    return Ok(2);
                }
            }
            Command::Bench { log_steps } => {
                let r =
                    tokio::task::spawn_blocking(move || doctor::bench(&home, log_steps)).await??;
                println!(
                    "{} steps proved in {:.0} ms: {:.0} steps/s ({}); saved for registration",
                    r.steps, r.prove_ms, r.steps_per_sec, r.backend
                );
            }
        }
        Ok(0)
    })
}

/// Re-runs `start` without `--detach` in its own process group, then waits for its pid file.
fn detach(home: &Home) -> anyhow::Result<i32> {
    use std::os::unix::process::CommandExt;
    if let Some(pid) = pidfile::running(home) {
        anyhow::bail!("a worker already runs (pid {pid})");
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--detach")
        .collect();
    // The background process has no terminal to ask for the keystore password on.
    let mut command = std::process::Command::new(std::env::current_exe()?);
    if let Ok(config) = config::WorkerConfig::load(home) {
        if !keys::password_available(home, config.network) {
            use std::io::IsTerminal;
            if !std::io::stdin().is_terminal() {
                anyhow::bail!(
                    "--detach needs the keystore password without a prompt: set BITSAGE_KEYSTORE_PASSWORD"
                );
            }
            let password = rpassword::prompt_password("Keystore password: ")?;
            command.env("BITSAGE_KEYSTORE_PASSWORD", password);
        }
    }
    let child = command
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .context("starting the worker in the background")?;
    for _ in 0..600 {
        if pidfile::running(home) == Some(child.id()) {
            println!(
                "worker started in the background (pid {}); logs: {}",
                child.id(),
                home.log().display()
            );
            return Ok(0);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    anyhow::bail!("the worker did not start; see {}", home.log().display())
}

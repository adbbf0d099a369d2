//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "bitsage-proof",
    version,
    about = "Run, prove, verify and benchmark Obelysk VM programs"
)]
#[command(
    long_about = "Run, prove and verify Obelysk VM programs with Circle-STARK proofs (stwo).\n\n\
    Exit codes: 0 success, 1 proof rejected or command failed, 2 unreadable input."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log proving phases to stderr.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Prove a batch of ML inferences (dot product + ReLU) and verify the proof.
    Demo {
        /// Number of inferences in the batch.
        #[arg(long, default_value_t = 100)]
        batch_size: u32,
        #[command(flatten)]
        security: SecurityArgs,
        /// Where to prove: the GPU when a CUDA device answers (auto), or the one named.
        #[arg(long, value_enum, default_value_t = ProveBackend::Auto)]
        backend: ProveBackend,
    },
    /// Execute a program without proving: print its outputs and step count.
    Run {
        /// Program in Obelysk assembly (.oasm).
        program: PathBuf,
        #[command(flatten)]
        inputs: InputArgs,
        /// Stop with an error after this many steps.
        #[arg(long, default_value_t = obelysk_vm::DEFAULT_STEP_LIMIT)]
        max_steps: u64,
        /// Print a JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Execute and prove a program or workload; write the proof file.
    Generate(GenerateArgs),
    /// Verify a proof file. Exit 0 when valid, 1 when rejected, 2 when unreadable.
    Verify {
        /// Proof file (JSON, or binary written with --binary).
        #[arg(long)]
        proof: PathBuf,
        /// Also require the proof to be about this program.
        #[arg(long)]
        program: Option<PathBuf>,
        /// Also require this job id (64 hex digits).
        #[arg(long)]
        job_id: Option<String>,
        /// Refuse proofs below this many bits of security.
        #[arg(long, default_value_t = obelysk_prover::DEFAULT_MIN_SECURITY_BITS)]
        min_security_bits: u32,
        /// Print a JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Submit jobs to a coordinator (a local one by default), optionally wait and verify.
    Submit(crate::network::SubmitArgs),
    /// Show a job's state on the coordinator, or with --tx-hash a Starknet transaction's outcome.
    Status {
        /// The job id (0x + 64 hex digits).
        #[arg(required_unless_present = "tx_hash")]
        job_id: Option<String>,
        /// A Starknet transaction to look up instead (exit 1 if it reverted, with the reason).
        #[arg(long, conflicts_with = "job_id", requires = "rpc")]
        tx_hash: Option<String>,
        /// The Starknet node's JSON-RPC endpoint, for --tx-hash.
        #[arg(long, env = "STARKNET_RPC")]
        rpc: Option<String>,
        #[arg(
            long,
            env = "BITSAGE_COORDINATOR_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        coordinator_url: String,
        /// Print the JSON the coordinator returned.
        #[arg(long)]
        json: bool,
    },
    /// Measure proving against a plain stwo AIR of the same size, at several trace heights.
    Bench {
        /// Log2 of the VM step counts to measure, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "10,14,16,18,20")]
        log_steps: Vec<u32>,
        /// One JSON object per size on stdout, nothing else.
        #[arg(long)]
        json: bool,
        /// Skip the baseline proof (ratio is then omitted).
        #[arg(long)]
        no_baseline: bool,
        /// Prove each size this many times (alternating with the baseline) and report the
        /// fastest run of each, which filters out noise from other processes. Each time is
        /// another trace of the same size, as a worker's next job is.
        #[arg(long, default_value_t = 3)]
        repeat: u32,
        /// Where to prove. With `gpu` (or `emulator`) each size is also proven on the CPU, and
        /// the speedup over it is printed.
        #[arg(long, value_enum, default_value_t = ProveBackend::Cpu)]
        backend: ProveBackend,
        #[command(flatten)]
        security: SecurityArgs,
    },
    /// Time the CUDA kernels (LDE, Merkle tree, FRI fold) against stwo's CPU SIMD backend on
    /// this machine, stage by stage (`bench --backend gpu` times whole proofs).
    BenchKernels {
        /// Log2 of the column lengths to measure, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "20,22")]
        log_sizes: Vec<u32>,
        /// Columns per commitment (the CPU component commits 98).
        #[arg(long, default_value_t = 98)]
        columns: usize,
        #[arg(long, value_enum, default_value_t = KernelBackend::Gpu)]
        backend: KernelBackend,
        /// One JSON object per measurement on stdout, nothing else.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProveBackend {
    /// The GPU when a CUDA device answers, else the CPU (the reason is printed).
    Auto,
    /// stwo's SIMD backend on this machine's CPU.
    Cpu,
    /// Every CUDA device `CUDA_VISIBLE_DEVICES` leaves visible (one proof per device), for
    /// every size; fails if none answers.
    Gpu,
    /// The GPU kernels compiled for the host: checks the GPU path, says nothing about speed.
    Emulator,
}

impl ProveBackend {
    pub fn choice(self) -> obelysk_gpu::prove::BackendChoice {
        use obelysk_gpu::prove::BackendChoice;
        match self {
            Self::Auto => BackendChoice::Auto,
            Self::Cpu => BackendChoice::Cpu,
            Self::Gpu => BackendChoice::Gpu,
            Self::Emulator => BackendChoice::Emulator,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KernelBackend {
    /// A CUDA device (the first one `CUDA_VISIBLE_DEVICES` leaves visible).
    Gpu,
    /// The kernels compiled as host C++: checks the bench runs, says nothing about speed.
    Emulator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// A program given with --program.
    Custom,
    /// A batch of dot products with ReLU (--batch-size).
    MlInference,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Which workload to prove [default: custom; ml-inference when --batch-size is given
    /// without --program]
    #[arg(long, value_enum)]
    pub workload: Option<Workload>,
    /// Program in Obelysk assembly (.oasm); required for the custom workload.
    #[arg(long)]
    pub program: Option<PathBuf>,
    #[command(flatten)]
    pub inputs: InputArgs,
    /// Batch size of the ml-inference workload [default: 100]
    #[arg(long)]
    pub batch_size: Option<u32>,
    /// Bind the proof to this job (64 hex digits).
    #[arg(long)]
    pub job_id: Option<String>,
    #[command(flatten)]
    pub security: SecurityArgs,
    /// Where to prove: the GPU when a CUDA device answers (auto), or the one named.
    #[arg(long, value_enum, default_value_t = ProveBackend::Auto)]
    pub backend: ProveBackend,
    /// Maximum steps before execution is abandoned.
    #[arg(long, default_value_t = obelysk_vm::DEFAULT_STEP_LIMIT)]
    pub max_steps: u64,
    /// Where to write the proof.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Write the compact binary encoding instead of JSON.
    #[arg(long)]
    pub binary: bool,
}

#[derive(Debug, Args)]
pub struct InputArgs {
    /// Public inputs: comma or space separated integers (negative and 0x-hex allowed).
    #[arg(long, allow_hyphen_values = true)]
    pub input: Option<String>,
    /// Read public inputs from a file in the same format.
    #[arg(long, conflicts_with = "input")]
    pub input_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Args)]
pub struct SecurityArgs {
    /// Target security in bits: pow_bits + log_blowup * n_queries, and at most what the
    /// proof's QM31 challenges deliver at its size (97 at 2^20 steps; generate says if not).
    #[arg(long, default_value_t = obelysk_prover::DEFAULT_MIN_SECURITY_BITS)]
    pub security_bits: u32,
    /// Log2 of the FRI blowup factor.
    #[arg(long, default_value_t = 1)]
    pub log_blowup: u32,
    /// Proof-of-work bits.
    #[arg(long, default_value_t = 16)]
    pub pow_bits: u32,
}

impl SecurityArgs {
    pub fn prover_config(&self) -> obelysk_prover::ProverConfig {
        obelysk_prover::ProverConfig {
            security_bits: self.security_bits,
            log_blowup: self.log_blowup,
            pow_bits: self.pow_bits,
        }
    }
}

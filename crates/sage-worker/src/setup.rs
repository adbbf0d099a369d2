//! `sage-worker setup`: GPUs, keys, registration, `worker.toml`.

use std::io::IsTerminal;

use anyhow::Context;
use bitsage_ledger::Network;
use bitsage_protocol::{Capacity, CoordinatorClient, RegisterWorkerRequest};
use bitsage_wallet::{ElGamalKey, SigningKey};

use crate::config::{default_coordinator, GpuConfig, Settings, WalletConfig, WorkerConfig};
use crate::home::Home;
use crate::keys;

#[derive(Debug, Clone)]
pub struct SetupOptions {
    pub network: Network,
    pub coordinator_url: Option<String>,
    /// Import the signing key from `STARKNET_PRIVATE_KEY` instead of generating one.
    pub import: bool,
    pub force: bool,
    pub yes: bool,
    /// Register with the coordinator now (off when the coordinator is started by `start`).
    pub register: bool,
}

fn confirm(question: &str, yes: bool) -> bool {
    if yes || !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok() && answer.trim().eq_ignore_ascii_case("y")
}

pub async fn setup(home: &Home, options: &SetupOptions) -> anyhow::Result<WorkerConfig> {
    home.create_dirs()?;
    let network = options.network;
    let coordinator_url = options
        .coordinator_url
        .clone()
        .or_else(|| std::env::var("BITSAGE_COORDINATOR_URL").ok())
        .unwrap_or_else(|| default_coordinator(network).to_string());

    let detection = crate::gpu::detect();
    match &detection.none_because {
        None => eprintln!(
            "✓ GPUs: {}",
            detection
                .gpus
                .iter()
                .map(|g| g.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(reason) => eprintln!("• No GPU: {reason}. The CPU backend will be used."),
    }
    eprintln!(
        "• Prover backend: chosen by `start`: the GPU when a CUDA device answers, else the CPU \
         (BITSAGE_PROVER_BACKEND=auto|cpu|gpu)"
    );

    let password = keys::new_password(home, network, !options.yes)?;
    let starknet_path = home.starknet_keystore();
    let signing = if starknet_path.exists()
        && !options.force
        && !confirm(
            "A Starknet key exists. Replace it (its funds stay with the old key)?",
            options.yes,
        ) {
        eprintln!(
            "✓ Keeping the existing Starknet key ({})",
            starknet_path.display()
        );
        keys::signing_key(home, network)?
    } else {
        let key = if options.import {
            let hex = std::env::var("STARKNET_PRIVATE_KEY")
                .context("--import reads the key from STARKNET_PRIVATE_KEY")?;
            SigningKey::from_hex(&hex).context("STARKNET_PRIVATE_KEY")?
        } else {
            SigningKey::generate()
        };
        keys::check_new_password(&password, network)?;
        keys::save_keystore(
            &starknet_path,
            key.secret(),
            &password,
            key.public_key().to_string(),
        )?;
        eprintln!(
            "✓ Starknet key saved encrypted to {}",
            starknet_path.display()
        );
        key
    };
    let elgamal_path = home.elgamal_keystore();
    let elgamal = if elgamal_path.exists() && !options.force {
        keys::elgamal_key(home, network)?
    } else {
        let key = ElGamalKey::generate();
        keys::check_new_password(&password, network)?;
        keys::save_keystore(
            &elgamal_path,
            key.secret(),
            &password,
            key.public_key().to_string(),
        )?;
        eprintln!(
            "✓ ElGamal key saved encrypted to {}",
            elgamal_path.display()
        );
        key
    };

    let public = signing.public_key().to_string();
    let settings = match WorkerConfig::load(home) {
        Ok(old) => old.settings,
        Err(_) => Settings::default(),
    };
    let first = detection.gpus.first();
    let config = WorkerConfig {
        worker_id: format!("worker-{}", &public[public.len() - 8..]),
        network,
        coordinator_url,
        starknet_rpc: None,
        dashboard_url: None,
        wallet: WalletConfig {
            address: public,
            private_key_path: starknet_path.display().to_string(),
            elgamal_key_path: elgamal_path.display().to_string(),
            elgamal_public_key: Some(elgamal.public_key().to_string()),
        },
        gpu: GpuConfig {
            detected: !detection.gpus.is_empty(),
            count: detection.gpus.len() as u32,
            model: first.map(|g| g.name.clone()).unwrap_or_default(),
            memory_gb: first.map(|g| g.memory_mib / 1024).unwrap_or(0),
            compute_capability: detection.compute_capability.clone().unwrap_or_default(),
            tee_supported: false,
        },
        settings,
    };
    config.save(home)?;
    eprintln!("✓ Configuration written to {}", home.config().display());

    if options.register {
        let client = CoordinatorClient::new(&config.coordinator_url, Some(signing));
        match register(&client, &config, home).await {
            Ok(()) => eprintln!("✓ Registered with {}", config.coordinator_url),
            Err(e) => eprintln!("• Not registered yet ({e:#}); `sage-worker start` registers"),
        }
    }
    Ok(config)
}

/// What this worker can do: its configured concurrency and, once `sage-worker bench` has run,
/// its measured proving throughput.
pub fn capacity(config: &WorkerConfig, home: &Home) -> Capacity {
    let measured = std::fs::read_to_string(home.bench())
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["steps_per_sec"].as_f64());
    Capacity {
        max_concurrent_jobs: config.settings.max_concurrent_jobs,
        steps_per_sec: measured,
    }
}

/// Registers (or refreshes) this worker, reporting measured capacity when `bench` has run.
pub async fn register(
    client: &CoordinatorClient,
    config: &WorkerConfig,
    home: &Home,
) -> anyhow::Result<()> {
    let request = RegisterWorkerRequest {
        gpus: crate::gpu::detect().gpus,
        capacity: capacity(config, home),
    };
    client.register(&request).await?;
    Ok(())
}

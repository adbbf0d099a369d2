//! `sage-worker start`: the daemon, and on the local network the whole network in one process.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bitsage_coordinator::{Coordinator, CoordinatorConfig};
use bitsage_ledger::{Amount, Network, StakeTier};
use bitsage_protocol::*;
use bitsage_wallet::SigningKey;
use tokio::sync::watch;

use crate::config::WorkerConfig;
use crate::daemon::Daemon;
use crate::home::Home;
use crate::node::NodeMetrics;

#[derive(Debug, Clone)]
pub struct StartOptions {
    pub network: Option<Network>,
    pub coordinator_url: Option<String>,
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub demo: bool,
    /// Seconds between demo jobs.
    pub demo_interval_secs: u64,
    /// The deployment file, for a coordinator that settles on Starknet.
    pub contracts: Option<std::path::PathBuf>,
}

/// Starts the embedded coordinator on the local network when the URL is this machine's and
/// nothing answers there yet. It serves until `shutdown` flips; the returned task ends then.
async fn embedded_coordinator(
    config: &WorkerConfig,
    home: &Home,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    if config.network != Network::Local {
        return Ok(None);
    }
    if CoordinatorClient::new(&config.coordinator_url, None)
        .health()
        .await
        .is_ok()
    {
        tracing::info!(url = %config.coordinator_url, "using the coordinator already running");
        return Ok(None);
    }
    let addr = config
        .coordinator_url
        .strip_prefix("http://")
        .and_then(|a| a.trim_end_matches('/').parse::<std::net::SocketAddr>().ok())
        .filter(|a| a.ip().is_loopback())
        .with_context(|| {
            format!(
                "coordinator {} does not answer, and an embedded one needs a loopback http://IP:PORT URL",
                config.coordinator_url
            )
        })?;
    let coordinator_config = CoordinatorConfig {
        network: Network::Local,
        database: format!("sqlite://{}", home.local_database().display()),
        listen: addr,
        lease_ttl_secs: 60,
        ..CoordinatorConfig::default()
    };
    let coordinator = Coordinator::open(coordinator_config)
        .await
        .context("opening the embedded coordinator")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the embedded coordinator to {addr}"))?;
    let mut stop = shutdown;
    let task = tokio::spawn(async move {
        let signal = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = bitsage_coordinator::serve(coordinator, listener, signal).await {
            tracing::error!(error = %e, "embedded coordinator stopped");
        }
    });
    tracing::info!(%addr, database = %home.local_database().display(), "embedded coordinator started");
    Ok(Some(task))
}

/// Faucet and stake until the worker reaches the first tier (local network only).
async fn fund_locally(client: &CoordinatorClient, stake: u64) -> anyhow::Result<()> {
    let address = client.address()?;
    let account = client.account(address).await?;
    if account.tier.is_some() {
        return Ok(());
    }
    let want = Amount::sage(u128::from(stake.max(1_000)));
    let missing = want.checked_sub(account.stake).unwrap_or(Amount::ZERO);
    if account.balance < missing {
        client.faucet().await.context("claiming faucet tokens")?;
    }
    client.stake(missing).await.context("staking")?;
    let tier = StakeTier::for_stake(want)
        .map(|t| format!("{t:?}"))
        .unwrap_or_default();
    eprintln!("✓ Staked {missing} SAGE: {tier} tier");
    Ok(())
}

/// A client inside the process that keeps submitting `ml-inference` jobs.
async fn demo_client(url: String, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    let client = CoordinatorClient::new(&url, Some(SigningKey::generate()));
    if let Err(e) = client.faucet().await {
        tracing::error!(error = %e, "demo client has no funds");
        return;
    }
    let mut seed = 0u64;
    loop {
        seed += 1;
        let request = SubmitJobRequest {
            workload: WorkloadKind::MlInference,
            program: None,
            params: WorkloadParams {
                batch_size: Some(20),
                seed: Some(seed),
            },
            inputs: vec![],
            fee: Amount::sage(10),
            deadline_secs: Some(300),
            security_bits: None,
            max_steps: None,
            idempotency_key: None,
        };
        match client.submit_job(&request).await {
            Ok(job) => tracing::info!(
                job_id = job.job_id,
                "demo client submitted a job (fee 10 SAGE)"
            ),
            Err(e) if e.code() == Some("insufficient_funds") => {
                let _ = client.faucet().await;
            }
            Err(e) => tracing::warn!(error = %e, "demo submission failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {},
            _ = shutdown.changed() => return,
        }
    }
}

pub async fn start(home: Home, options: StartOptions) -> anyhow::Result<()> {
    let mut config = match WorkerConfig::load(&home) {
        Ok(config) => config,
        // Only where there is no configuration at all: a `worker.toml` that does not load is
        // the operator's to fix, not to be replaced by a local worker's.
        Err(_)
            if !home.config().exists()
                && options.network.unwrap_or(Network::Local) == Network::Local =>
        {
            eprintln!(
                "• No setup yet: creating a local worker in {}",
                home.root().display()
            );
            let setup = crate::setup::SetupOptions {
                network: Network::Local,
                coordinator_url: options.coordinator_url.clone(),
                import: false,
                force: false,
                yes: true,
                register: false,
            };
            crate::setup::setup(&home, &setup).await?
        }
        Err(e) => return Err(e),
    };
    if let Some(network) = options.network {
        config.network = network;
    }
    if let Some(url) = &options.coordinator_url {
        config.coordinator_url = url.clone();
    }
    if let Some(addr) = options.metrics_addr {
        config.settings.metrics_addr = addr;
    }
    if config.network == Network::Local {
        config.settings.heartbeat_interval_secs = config.settings.heartbeat_interval_secs.min(10);
    }
    let key = crate::keys::signing_key(&home, config.network)?;
    let _pid = crate::pidfile::PidFile::claim(&home)?;
    home.sweep_temporaries();

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!(
            "stopping: no new leases; finishing the jobs in flight (interrupt again to quit now)"
        );
        let _ = stop_tx.send(true);
        wait_for_signal().await;
        eprintln!(
            "second interrupt: quitting now; finished proofs stay in the outbox for the next start"
        );
        std::process::exit(130);
    });
    // The embedded coordinator outlives the daemon's drain: its last results need it.
    let (coordinator_stop, coordinator_rx) = watch::channel(false);
    let embedded = embedded_coordinator(&config, &home, coordinator_rx).await?;

    let client = CoordinatorClient::new(&config.coordinator_url, Some(key));
    crate::setup::register(&client, &config, &home)
        .await
        .with_context(|| format!("registering with {}", config.coordinator_url))?;
    let on_chain = client.health().await?.settlement == "starknet";
    match (&options.contracts, on_chain) {
        (Some(contracts), true) if config.network == Network::Local => {
            crate::commands::reach_first_tier_on_chain(
                &home,
                contracts,
                config.settings.local_stake,
            )
            .await
            .context("staking on Starknet")?;
        }
        (None, true) => anyhow::bail!(
            "the coordinator at {} settles on Starknet: start with --contracts FILE (its \
             deployment file), and stake there with `sage-worker --contracts FILE stake`",
            config.coordinator_url
        ),
        (_, true) => {}
        (_, false) if config.network == Network::Local => {
            fund_locally(&client, config.settings.local_stake).await?;
        }
        (_, false) => {}
    }
    let detection = crate::gpu::detect();
    let proving = Arc::new(crate::prove::select_backend()?);
    let backend = proving.describe();
    eprintln!("• Prover backend: {backend}");
    let metrics = Arc::new(NodeMetrics::default());
    metrics.set_gpus(detection.gpus.clone());
    let node = {
        let (metrics, backend, mut rx) = (metrics.clone(), backend.clone(), stop_rx.clone());
        let addr = config.settings.metrics_addr;
        let server = crate::node::serve(addr, metrics, backend, async move {
            let _ = rx.wait_for(|s| *s).await;
        });
        eprintln!("• Metrics on http://{addr}/metrics");
        tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::error!(error = %e, "metrics endpoint unavailable");
            }
        })
    };
    if options.demo {
        tokio::spawn(demo_client(
            config.coordinator_url.clone(),
            Duration::from_secs(options.demo_interval_secs.max(1)),
            stop_rx.clone(),
        ));
    }
    let daemon = Daemon::new(client, config, home.clone(), metrics, proving);
    let slots = daemon.slots().await?;
    daemon.run(slots, stop_rx).await?;
    let _ = coordinator_stop.send(true);
    if let Some(task) = embedded {
        let _ = task.await;
    }
    let _ = node.await;
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

//! A throwaway `starknet-devnet` (0.10.1, `cargo install --locked starknet-devnet@0.10.1`) on a
//! free loopback port with a fixed seed, and the devnet-only calls tests need: predeployed
//! accounts and moving the clock.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;
use starknet_rust::core::types::Felt;

use crate::{Error, Result};

/// The version the tests and `--network devnet` are written against.
pub const DEVNET_VERSION: &str = "0.10.1";

/// Seed for the predeployed accounts, so their addresses and keys are the same on every run.
pub const SEED: u32 = 20_261_125;

/// A running devnet, stopped on drop.
#[derive(Debug)]
pub struct Devnet {
    child: Child,
    pub url: String,
}

/// A predeployed, funded account.
#[derive(Clone, Debug, Deserialize)]
pub struct DevnetAccount {
    pub address: Felt,
    pub private_key: Felt,
}

impl Devnet {
    /// Starts a devnet, or says why it cannot (the binary is missing, or it did not come up).
    pub fn start() -> Result<Self> {
        let port = bitsage_testkit::free_port().map_err(Error::Devnet)?;
        let child = Command::new("starknet-devnet")
            .args(["--seed", &SEED.to_string(), "--accounts", "6"])
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                Error::Devnet(format!(
                    "cannot run starknet-devnet ({e}); install it with \
                     `cargo install --locked starknet-devnet@{DEVNET_VERSION}`"
                ))
            })?;
        let mut devnet = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        devnet.wait_alive()?;
        Ok(devnet)
    }

    /// The JSON-RPC endpoint.
    pub fn rpc(&self) -> String {
        format!("{}/rpc", self.url)
    }

    fn wait_alive(&mut self) -> Result<()> {
        let started = Instant::now();
        let probe = format!("{}/is_alive", self.url);
        while started.elapsed() < Duration::from_secs(60) {
            // Another process may have taken the port between our probe and the devnet's bind;
            // then ours exits and the one answering is not ours.
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::Devnet(format!("exited during startup ({status})")));
            }
            let alive =
                std::net::TcpStream::connect(self.url.trim_start_matches("http://")).is_ok();
            if alive && blocking_get(&probe).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(Error::Devnet(
            "did not answer on /is_alive within a minute".into(),
        ))
    }

    /// The predeployed accounts, funded in STRK for fees.
    pub async fn accounts(&self) -> Result<Vec<DevnetAccount>> {
        predeployed_accounts(&self.rpc()).await
    }

    /// Predeployed account `index` as a signing account.
    pub async fn account(&self, index: usize) -> Result<crate::chain::Chain> {
        let accounts = self.accounts().await?;
        let a = accounts
            .get(index)
            .ok_or_else(|| Error::Devnet(format!("no predeployed account #{index}")))?;
        crate::chain::Chain::connect(&self.rpc(), a.address, a.private_key).await
    }

    /// Mints `amount` fri (STRK's smallest unit) to `address`, for fees.
    pub async fn mint(&self, address: Felt, amount: u64) -> Result<()> {
        mint(&self.rpc(), address, amount).await
    }

    /// Moves the chain's clock forward and closes a block at the new time.
    pub async fn increase_time(&self, secs: u64) -> Result<()> {
        self.rpc_call("devnet_increaseTime", json!({ "time": secs }))
            .await?;
        Ok(())
    }

    async fn rpc_call(&self, method: &str, params: serde_json::Value) -> Result<serde_json::Value> {
        devnet_call(&self.rpc(), method, params).await
    }
}

/// A fresh devnet with the contracts compiled from `contracts` and deployed by its first
/// predeployed account, which is also treasury and coordinator unless `params` names others.
/// What `bitsage-starknet devnet` and `bitsage-coordinator serve --network devnet` run.
pub async fn start_deployed(
    contracts: &std::path::Path,
    params: &crate::deploy::DeployParams,
) -> Result<(Devnet, crate::deploy::Deployment)> {
    let toolchain = crate::toolchain::Toolchain::find()?;
    let build = tempfile::tempdir()?;
    let artifacts = toolchain.compile_all(contracts, build.path())?;
    let devnet = Devnet::start()?;
    let chain = devnet.account(0).await?;
    let params = crate::deploy::DeployParams {
        devnet: true,
        ..params.clone()
    };
    let deployment =
        crate::deploy::deploy_all(&chain, &devnet.rpc(), &artifacts, &params, Felt::ONE).await?;
    Ok((devnet, deployment))
}

/// [`start_deployed`] from this repository's `contracts/`, for a test: `None` after printing
/// why `test` is skipped (the toolchain or the devnet binary is missing), while contracts that do
/// not compile or deploy fail it.
pub async fn start_deployed_for_test(
    test: &str,
    params: &crate::deploy::DeployParams,
) -> Option<(Devnet, crate::deploy::Deployment)> {
    match start_deployed(&crate::toolchain::contracts_dir(), params).await {
        Ok(net) => Some(net),
        Err(e @ (Error::Toolchain(_) | Error::Devnet(_))) => {
            eprintln!("skipped {test}: {e}");
            None
        }
        Err(e) => panic!("{test}: {e}"),
    }
}

/// The predeployed accounts of any devnet, with their keys.
pub async fn predeployed_accounts(rpc: &str) -> Result<Vec<DevnetAccount>> {
    let result = devnet_call(rpc, "devnet_getPredeployedAccounts", json!({})).await?;
    serde_json::from_value(result).map_err(|e| Error::Devnet(format!("accounts: {e}")))
}

/// `devnet_mint` on any devnet's RPC endpoint.
pub async fn mint(rpc: &str, address: Felt, amount: u64) -> Result<()> {
    let params = json!({ "address": format!("{address:#x}"), "amount": amount, "unit": "FRI" });
    devnet_call(rpc, "devnet_mint", params).await?;
    Ok(())
}

async fn devnet_call(
    rpc: &str,
    method: &str,
    params: serde_json::Value,
) -> Result<serde_json::Value> {
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    let response: serde_json::Value = reqwest::Client::new()
        .post(rpc)
        .json(&body)
        .send()
        .await
        .map_err(|e| Error::Devnet(format!("{method}: {e}")))?
        .json()
        .await
        .map_err(|e| Error::Devnet(format!("{method}: {e}")))?;
    if let Some(error) = response.get("error") {
        return Err(Error::Devnet(format!("{method}: {error}")));
    }
    Ok(response["result"].clone())
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tiny HTTP GET over a blocking socket, so that waiting for the devnet needs no runtime.
fn blocking_get(url: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    if response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200") {
        Ok(response)
    } else {
        Err(std::io::Error::other("not ready"))
    }
}

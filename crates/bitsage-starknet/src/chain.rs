//! A signing account on a Starknet node: declare, deploy, invoke and call, each waiting for the
//! transaction to be accepted and turning reverts into the contract's own words.

use std::sync::Arc;
use std::time::Duration;

use starknet_rust::accounts::{Account, ConnectedAccount, ExecutionEncoding, SingleOwnerAccount};
use starknet_rust::contract::{ContractFactory, UdcSelector};
use starknet_rust::core::types::contract::{CompiledClass, SierraClass};
use starknet_rust::core::types::{
    BlockId, BlockTag, Call, ExecutionResult, Felt, FunctionCall, StarknetError,
};
use starknet_rust::core::utils::get_selector_from_name;
use starknet_rust::providers::jsonrpc::{HttpTransport, JsonRpcClient};
use starknet_rust::providers::{Provider, ProviderError, Url};
use starknet_rust::signers::{LocalWallet, SigningKey};

use crate::toolchain::Artifact;
use crate::{revert_reason, Error, Result};

type Node = JsonRpcClient<HttpTransport>;

/// An account that signs with a local key.
pub struct Chain {
    account: SingleOwnerAccount<Node, LocalWallet>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("address", &self.account.address())
            .finish_non_exhaustive()
    }
}

impl Chain {
    /// Connects `address` (an account contract) with its signing key to the node at `rpc`.
    pub async fn connect(rpc: &str, address: Felt, private_key: Felt) -> Result<Self> {
        let url = Url::parse(rpc).map_err(|e| Error::Node(format!("bad RPC URL {rpc}: {e}")))?;
        let node = JsonRpcClient::new(HttpTransport::new(url));
        let chain_id = node.chain_id().await.map_err(node_error)?;
        let signer = LocalWallet::from(SigningKey::from_secret_scalar(private_key));
        let mut account =
            SingleOwnerAccount::new(node, signer, address, chain_id, ExecutionEncoding::New);
        account.set_block_id(BlockId::Tag(BlockTag::PreConfirmed));
        Ok(Self { account })
    }

    pub fn address(&self) -> Felt {
        self.account.address()
    }

    /// The class of the contract at `address`.
    pub async fn class_hash_at(&self, address: Felt) -> Result<Felt> {
        self.account
            .provider()
            .get_class_hash_at(BlockId::Tag(BlockTag::PreConfirmed), address)
            .await
            .map_err(node_error)
    }

    /// Declares a compiled contract; a class the node already knows is not an error. Returns
    /// the class hash.
    pub async fn declare(&self, artifact: &Artifact) -> Result<Felt> {
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|e| Error::Artifact(format!("{}: {e}", path.display())))
        };
        let sierra: SierraClass = serde_json::from_slice(&read(&artifact.sierra)?)
            .map_err(|e| Error::Artifact(format!("{}: {e}", artifact.sierra.display())))?;
        let casm: CompiledClass = serde_json::from_slice(&read(&artifact.casm)?)
            .map_err(|e| Error::Artifact(format!("{}: {e}", artifact.casm.display())))?;
        let class = sierra
            .flatten()
            .map_err(|e| Error::Artifact(format!("{}: {e}", artifact.name)))?;
        let class_hash = class.class_hash();
        let compiled_hash = casm
            .class_hash()
            .map_err(|e| Error::Artifact(format!("{}: {e}", artifact.name)))?;
        // Nodes refuse a repeated declaration already when estimating its fee, with a generic
        // execution error, so ask first.
        let known = self
            .account
            .provider()
            .get_class(BlockId::Tag(BlockTag::PreConfirmed), class_hash)
            .await;
        if known.is_ok() {
            return Ok(class_hash);
        }
        match self
            .account
            .declare_v3(Arc::new(class), compiled_hash)
            .send()
            .await
        {
            Ok(sent) => {
                self.wait(sent.transaction_hash).await?;
                Ok(sent.class_hash)
            }
            Err(starknet_rust::accounts::AccountError::Provider(ProviderError::StarknetError(
                StarknetError::ClassAlreadyDeclared,
            ))) => Ok(class_hash),
            Err(e) => Err(chain_error(e)),
        }
    }

    /// Deploys an instance of a declared class through the universal deployer; returns its
    /// address.
    pub async fn deploy(&self, class_hash: Felt, calldata: Vec<Felt>, salt: Felt) -> Result<Felt> {
        let factory = ContractFactory::new_with_udc(class_hash, &self.account, UdcSelector::New);
        // `unique`: the address depends on the deployer too, so nobody can take it first.
        let deployment = factory.deploy_v3(calldata, salt, true);
        let address = deployment.deployed_address();
        let sent = deployment.send().await.map_err(chain_error)?;
        self.wait(sent.transaction_hash).await?;
        Ok(address)
    }

    /// Sends one call as an invoke transaction and waits for it; returns the transaction hash.
    pub async fn invoke(
        &self,
        contract: Felt,
        function: &str,
        calldata: Vec<Felt>,
    ) -> Result<Felt> {
        self.invoke_all(vec![(contract, function, calldata)]).await
    }

    /// Sends several calls as one transaction (all or nothing), e.g. `approve` then `stake`.
    pub async fn invoke_all(&self, calls: Vec<(Felt, &str, Vec<Felt>)>) -> Result<Felt> {
        let calls = calls
            .into_iter()
            .map(|(to, function, calldata)| {
                Ok(Call {
                    to,
                    selector: selector(function)?,
                    calldata,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let sent = self
            .account
            .execute_v3(calls)
            .send()
            .await
            .map_err(chain_error)?;
        self.wait(sent.transaction_hash).await?;
        Ok(sent.transaction_hash)
    }

    /// Calls a view function.
    pub async fn call(
        &self,
        contract: Felt,
        function: &str,
        calldata: Vec<Felt>,
    ) -> Result<Vec<Felt>> {
        let request = FunctionCall {
            contract_address: contract,
            entry_point_selector: selector(function)?,
            calldata,
        };
        self.account
            .provider()
            .call(request, BlockId::Tag(BlockTag::PreConfirmed))
            .await
            .map_err(provider_error)
    }

    /// Waits until the node has a receipt for `tx`; a reverted transaction is an error with the
    /// contract's reason.
    pub async fn wait(&self, tx: Felt) -> Result<()> {
        receipt_outcome(self.account.provider(), tx, Duration::from_secs(60)).await
    }
}

/// The outcome of a transaction: `Ok` once it succeeded, the revert reason if it did not, and
/// an error if the node has not seen it within `patience`.
pub async fn receipt_outcome(node: &impl Provider, tx: Felt, patience: Duration) -> Result<()> {
    let started = std::time::Instant::now();
    while started.elapsed() < patience {
        match node.get_transaction_receipt(tx).await {
            Ok(receipt) => {
                return match receipt.receipt.execution_result() {
                    ExecutionResult::Succeeded => Ok(()),
                    ExecutionResult::Reverted { reason } => {
                        Err(Error::Reverted(revert_reason(reason)))
                    }
                };
            }
            Err(ProviderError::StarknetError(StarknetError::TransactionHashNotFound)) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(node_error(e)),
        }
    }
    Err(Error::Node(format!(
        "transaction {tx:#x} is unknown to the node after {} s",
        patience.as_secs()
    )))
}

fn selector(function: &str) -> Result<Felt> {
    get_selector_from_name(function).map_err(|e| Error::Node(format!("{function}: {e}")))
}

fn node_error(e: ProviderError) -> Error {
    Error::Node(e.to_string())
}

/// Execution failures carry the contract's reason; everything else (the network, nonces, fees)
/// is the node's problem, not a revert.
fn provider_error(e: ProviderError) -> Error {
    match e {
        ProviderError::StarknetError(
            e @ (StarknetError::TransactionExecutionError(_) | StarknetError::ContractError(_)),
        ) => Error::Reverted(revert_reason(&format!("{e}"))),
        e => node_error(e),
    }
}

fn chain_error<S: std::fmt::Debug>(e: starknet_rust::accounts::AccountError<S>) -> Error {
    use starknet_rust::accounts::AccountError;
    match e {
        AccountError::Provider(e) => provider_error(e),
        other => Error::Node(format!("{other:?}")),
    }
}

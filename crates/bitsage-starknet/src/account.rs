//! Accounts for keys that have none yet: a worker's Stark key becomes an account contract of the
//! deployment's account class (OpenZeppelin on devnet), at an address fixed by the key.

use starknet_rust::accounts::{AccountFactory, OpenZeppelinAccountFactory};
use starknet_rust::core::types::{BlockId, BlockTag, Felt, StarknetError};
use starknet_rust::core::utils::get_contract_address;
use starknet_rust::providers::jsonrpc::{HttpTransport, JsonRpcClient};
use starknet_rust::providers::{Provider, ProviderError, Url};
use starknet_rust::signers::{LocalWallet, SigningKey};

use crate::chain::{receipt_outcome, Chain};
use crate::deploy::Deployment;
use crate::{Error, Result};

/// STRK minted for a new devnet account's fees (10^19 fri = 10 STRK).
const DEVNET_FEE_GRANT: u64 = 10_000_000_000_000_000_000;

/// The account for `private_key` on the deployment's chain, deploying it first if needed. A
/// missing account is deployed only on a devnet, with minted fee tokens; elsewhere the error
/// says which address to fund and deploy.
pub async fn open(deployment: &Deployment, private_key: Felt) -> Result<Chain> {
    let url = Url::parse(&deployment.rpc)
        .map_err(|e| Error::Node(format!("bad RPC URL {}: {e}", deployment.rpc)))?;
    let node = JsonRpcClient::new(HttpTransport::new(url));
    let chain_id = node
        .chain_id()
        .await
        .map_err(|e| Error::Node(e.to_string()))?;
    let signer = LocalWallet::from(SigningKey::from_secret_scalar(private_key));
    let public_key = SigningKey::from_secret_scalar(private_key)
        .verifying_key()
        .scalar();
    let factory =
        OpenZeppelinAccountFactory::new(deployment.account_class, chain_id, signer, &node)
            .await
            .map_err(|e| Error::Node(format!("{e:?}")))?;
    let deploy = factory.deploy_v3(public_key);
    let address = deploy.address();
    debug_assert_eq!(
        address,
        address_for_key(deployment.account_class, public_key)
    );
    let exists = match node
        .get_class_hash_at(BlockId::Tag(BlockTag::PreConfirmed), address)
        .await
    {
        Ok(_) => true,
        Err(ProviderError::StarknetError(StarknetError::ContractNotFound)) => false,
        Err(e) => return Err(Error::Node(e.to_string())),
    };
    if !exists {
        if !deployment.devnet {
            return Err(Error::Node(format!(
                "no account at {address:#x} for this key: fund it with STRK and deploy it \
                 (class {:#x}, salt = the public key)",
                deployment.account_class
            )));
        }
        crate::devnet::mint(&deployment.rpc, address, DEVNET_FEE_GRANT).await?;
        let sent = deploy
            .send()
            .await
            .map_err(|e| Error::Node(format!("deploying the account: {e}")))?;
        receipt_outcome(
            &node,
            sent.transaction_hash,
            std::time::Duration::from_secs(60),
        )
        .await?;
        tracing::info!(address = %format!("{address:#x}"), "opened an account");
    }
    Chain::connect(&deployment.rpc, address, private_key).await
}

/// The account address that [`open`] uses for `public_key`: an account of `account_class`
/// deployed by nobody (a deploy-account transaction) with the key as salt and as the
/// constructor's only argument. The coordinator pays workers there.
pub fn address_for_key(account_class: Felt, public_key: Felt) -> Felt {
    get_contract_address(public_key, account_class, &[public_key], Felt::ZERO)
}

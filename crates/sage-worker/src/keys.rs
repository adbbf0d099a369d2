//! The worker's keys at rest: Web3 Secret Storage keystores, and where their password comes from.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Context};
use bitsage_ledger::Network;
use bitsage_wallet::keystore::Keystore;
use bitsage_wallet::{ElGamalKey, Felt, SigningKey};

use crate::home::{restrict, write_atomic, Home};

/// Where a password comes from, in order: `BITSAGE_KEYSTORE_PASSWORD`; on the local network
/// the generated `keys/local.password`; a prompt when stdin is a terminal.
pub fn password(home: &Home, network: Network, purpose: &str) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("BITSAGE_KEYSTORE_PASSWORD") {
        return Ok(p);
    }
    if network == Network::Local {
        if let Ok(p) = std::fs::read_to_string(home.local_password()) {
            return Ok(p.trim().to_string());
        }
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(format!("Keystore password ({purpose}): "))
            .context("reading the password");
    }
    bail!("no keystore password: set BITSAGE_KEYSTORE_PASSWORD or run on a terminal")
}

/// A new password for new keystores: `BITSAGE_KEYSTORE_PASSWORD`, else a prompt when
/// `interactive` and on a terminal. On the local network without either, a random password is
/// generated and kept beside the keys (local keys hold only faucet money).
pub fn new_password(home: &Home, network: Network, interactive: bool) -> anyhow::Result<String> {
    let prompt = interactive && std::io::stdin().is_terminal();
    if std::env::var("BITSAGE_KEYSTORE_PASSWORD").is_err() && network == Network::Local && !prompt {
        if let Ok(p) = std::fs::read_to_string(home.local_password()) {
            return Ok(p.trim().to_string());
        }
        use rand::RngCore;
        let mut bytes = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let generated = hex::encode(bytes);
        write_atomic(&home.local_password(), generated.as_bytes())?;
        restrict(&home.local_password())?;
        return Ok(generated);
    }
    if std::env::var("BITSAGE_KEYSTORE_PASSWORD").is_err() && !prompt {
        bail!("no keystore password: set BITSAGE_KEYSTORE_PASSWORD (or run setup on a terminal without --yes)");
    }
    let chosen = if std::env::var("BITSAGE_KEYSTORE_PASSWORD").is_err() {
        let first = rpassword::prompt_password("New keystore password: ")?;
        let second = rpassword::prompt_password("Repeat the password: ")?;
        if first != second {
            bail!("the passwords differ");
        }
        first
    } else {
        password(home, network, "new keys")?
    };
    Ok(chosen)
}

/// The shortest password new keystores take off the local network. The keystore's scrypt
/// slows each guess; it cannot make a short password safe.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// A key that holds real stake must not sit behind an empty or trivially short password;
/// local keys hold only faucet money, so any password does there. Checked where a keystore is
/// written, so that keys kept from an older setup still open with theirs.
pub fn check_new_password(password: &str, network: Network) -> anyhow::Result<()> {
    if network != Network::Local && password.chars().count() < MIN_PASSWORD_CHARS {
        bail!(
            "the keystore password must have at least {MIN_PASSWORD_CHARS} characters on the {network} network"
        );
    }
    Ok(())
}

pub fn save_keystore(
    path: &Path,
    secret: Felt,
    password: &str,
    public: String,
) -> anyhow::Result<()> {
    let keystore = Keystore::encrypt(&secret.to_bytes_be(), password, Some(public));
    write_atomic(path, keystore.to_json().as_bytes())?;
    restrict(path)
}

fn read_secret(path: &Path, password: &str) -> anyhow::Result<Felt> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {} (run `sage-worker setup`)", path.display()))?;
    let keystore = Keystore::from_json(&text).with_context(|| format!("{}", path.display()))?;
    let secret = keystore
        .decrypt(password)
        .with_context(|| format!("decrypting {}", path.display()))?;
    let bytes: [u8; 32] = secret
        .try_into()
        .map_err(|_| anyhow::anyhow!("{} does not hold a 32-byte key", path.display()))?;
    Ok(Felt::from_bytes_be(&bytes))
}

/// Whether some password source works without a prompt.
pub fn password_available(home: &Home, network: Network) -> bool {
    std::env::var("BITSAGE_KEYSTORE_PASSWORD").is_ok()
        || std::env::var("STARKNET_PRIVATE_KEY").is_ok()
        || (network == Network::Local && home.local_password().exists())
}

/// The account this worker acts as: `STARKNET_PRIVATE_KEY`'s public key when set (it
/// overrides the keystore), else the address in `worker.toml`.
pub fn address(config: &crate::config::WorkerConfig) -> anyhow::Result<bitsage_ledger::Address> {
    let text = match std::env::var("STARKNET_PRIVATE_KEY") {
        Ok(hex) => SigningKey::from_hex(&hex)
            .context("STARKNET_PRIVATE_KEY")?
            .public_key()
            .to_string(),
        Err(_) => config.wallet.address.clone(),
    };
    text.parse()
        .with_context(|| format!("worker address `{text}`"))
}

/// The signing key: `STARKNET_PRIVATE_KEY` when set, else the keystore.
pub fn signing_key(home: &Home, network: Network) -> anyhow::Result<SigningKey> {
    if let Ok(hex) = std::env::var("STARKNET_PRIVATE_KEY") {
        return SigningKey::from_hex(&hex).context("STARKNET_PRIVATE_KEY");
    }
    let password = password(home, network, "starknet key")?;
    let secret = read_secret(&home.starknet_keystore(), &password)?;
    Ok(SigningKey::from_secret(secret)?)
}

pub fn elgamal_key(home: &Home, network: Network) -> anyhow::Result<ElGamalKey> {
    let password = password(home, network, "elgamal key")?;
    let secret = read_secret(&home.elgamal_keystore(), &password)?;
    Ok(ElGamalKey::from_secret(secret)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keys_off_the_local_network_need_a_real_password() {
        for network in [Network::Sepolia, Network::Mainnet] {
            assert!(check_new_password("", network).is_err());
            assert!(check_new_password("seven77", network).is_err());
            assert!(check_new_password("eight888", network).is_ok());
        }
        assert!(check_new_password("", Network::Local).is_ok());
    }
}

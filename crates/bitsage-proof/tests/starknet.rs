//! `bitsage-proof status --tx-hash` against a real devnet (skipped, with the reason, when
//! `starknet-devnet` is not installed).

use std::process::Command;

use bitsage_starknet::chain::Chain;
use bitsage_starknet::devnet::Devnet;
use bitsage_starknet::{u256_calldata, Felt};

/// The STRK fee token every devnet predeploys.
const STRK: &str = "0x04718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d";

#[tokio::test]
async fn status_reads_a_transaction_receipt() {
    let devnet = match Devnet::start() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("skipped status_reads_a_transaction_receipt: {e}");
            return;
        }
    };
    let accounts = devnet.accounts().await.unwrap();
    let chain = Chain::connect(&devnet.rpc(), accounts[0].address, accounts[0].private_key)
        .await
        .unwrap();
    let mut calldata = vec![accounts[1].address];
    calldata.extend(u256_calldata(1_000));
    let tx = chain
        .invoke(Felt::from_hex(STRK).unwrap(), "transfer", calldata)
        .await
        .unwrap();

    let status = |hash: String| {
        Command::new(env!("CARGO_BIN_EXE_bitsage-proof"))
            .args(["status", "--rpc", &devnet.rpc(), "--tx-hash", &hash])
            .output()
            .unwrap()
    };
    let out = status(format!("{tx:#x}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("succeeded"));
    let out = status("0x1234".into());
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown to the node"), "{stderr}");
    let out = status("not-hex".into());
    assert_eq!(out.status.code(), Some(2), "unreadable input");
}

//! A worker inside the test: leases, proves and submits until the task is dropped.

use base64::Engine;
use bitsage_protocol::*;
use obelysk_prover::{ObelyskProver, ProverConfig};
use obelysk_vm::{ObelyskVM, M31};

/// Proves every job `worker` (registered and staked) leases, forever.
pub async fn prove_leases(worker: CoordinatorClient) {
    loop {
        let Some(lease) = worker.lease(1).await.unwrap() else {
            continue;
        };
        let spec = lease.job.clone();
        let proof = tokio::task::spawn_blocking(move || {
            let mut vm = ObelyskVM::new();
            vm.load(&spec.program);
            vm.set_inputs(spec.inputs.iter().map(|v| M31::new(*v)).collect());
            let trace = vm.execute().unwrap();
            let id = obelysk_prover::proof::parse_hex32(&spec.job_id).unwrap();
            let proof = ObelyskProver::new(ProverConfig::default())
                .prove_for_job(&trace, Some(id))
                .unwrap();
            base64::engine::general_purpose::STANDARD.encode(proof.to_bytes())
        })
        .await
        .unwrap();
        let request = ResultRequest {
            lease_id: lease.lease_id,
            proof,
        };
        worker
            .submit_result(&lease.job.job_id, &request)
            .await
            .unwrap();
    }
}

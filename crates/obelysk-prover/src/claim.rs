//! What a proof asserts, and how it enters the Fiat–Shamir transcript.

use serde::{Deserialize, Serialize};
use stwo::core::channel::Channel;
use stwo::core::fields::m31::BaseField;

use crate::air::memory::REGISTER_LOG;
use crate::air::RANGE_BITS;

use obelysk_vm::{ExecutionTrace, Program, M31};

/// A 32-byte identifier binding a proof to one job of the network.
pub type JobId = [u8; 32];

/// The public statement: "this program, run on these inputs, halts after `steps` steps with
/// these outputs", optionally for one job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub program_hash: [u8; 32],
    pub inputs: Vec<M31>,
    pub outputs: Vec<M31>,
    pub steps: u64,
    pub job_id: Option<JobId>,
}

impl Claim {
    pub fn from_trace(trace: &ExecutionTrace, job_id: Option<JobId>) -> Self {
        Self {
            program_hash: trace.program().hash(),
            inputs: trace.inputs().to_vec(),
            outputs: trace.outputs().to_vec(),
            steps: trace.steps().len() as u64,
            job_id,
        }
    }

    /// Canonical bytes (for the proof commitment).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"OBELYSK-CLAIM-v1");
        out.extend_from_slice(&self.program_hash);
        for list in [&self.inputs, &self.outputs] {
            out.extend_from_slice(&(list.len() as u64).to_le_bytes());
            for v in list.iter() {
                out.extend_from_slice(&v.value().to_le_bytes());
            }
        }
        out.extend_from_slice(&self.steps.to_le_bytes());
        match &self.job_id {
            Some(id) => {
                out.push(1);
                out.extend_from_slice(id);
            }
            None => out.push(0),
        }
        out
    }

    /// Mixes the whole claim into the channel. Called before the first commitment, so every
    /// challenge depends on it.
    pub fn mix_into(&self, channel: &mut impl Channel) {
        let bytes = self.encode();
        let words: Vec<u32> = bytes
            .chunks(4)
            .map(|c| {
                let mut w = [0u8; 4];
                w[..c.len()].copy_from_slice(c);
                u32::from_le_bytes(w)
            })
            .collect();
        channel.mix_u64(bytes.len() as u64);
        channel.mix_u32s(&words);
    }

    pub fn inputs_field(&self) -> Vec<BaseField> {
        self.inputs
            .iter()
            .map(|v| BaseField::from_u32_unchecked(v.value()))
            .collect()
    }

    pub fn outputs_field(&self) -> Vec<BaseField> {
        self.outputs
            .iter()
            .map(|v| BaseField::from_u32_unchecked(v.value()))
            .collect()
    }

    /// Checks that this claim is about `program`.
    pub fn is_for_program(&self, program: &Program) -> bool {
        self.program_hash == program.hash()
    }
}

/// Log sizes of the components whose height depends on the execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shape {
    pub cpu_log: u32,
    pub program_log: u32,
    pub data_log: u32,
}

impl Shape {
    /// The shape of the proof of `trace`.
    pub fn of(trace: &obelysk_vm::ExecutionTrace) -> Self {
        use crate::air::witness::log_size_for;
        Self {
            cpu_log: log_size_for(trace.steps().len()),
            program_log: log_size_for(trace.program().instructions().len()),
            data_log: log_size_for(trace.data_words() as usize),
        }
    }

    pub fn mix_into(&self, channel: &mut impl Channel) {
        channel.mix_u32s(&[self.cpu_log, self.program_log, self.data_log]);
    }

    /// The tallest component's log size (fixed-size tables included).
    pub fn max_log_size(&self) -> u32 {
        let fixed = RANGE_BITS.into_iter().max().unwrap_or(0).max(REGISTER_LOG);
        fixed
            .max(self.cpu_log)
            .max(self.program_log)
            .max(self.data_log)
    }
}

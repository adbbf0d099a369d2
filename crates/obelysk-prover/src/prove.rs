//! The prover: execution trace in, [`StarkProof`] out.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use stwo::core::channel::{Blake2sChannel, Channel};
use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SecureField;
use stwo::core::poly::circle::{CanonicCoset, CircleDomain};
use stwo::core::utils::MaybeOwned;
use stwo::core::vcs::blake2_hash::Blake2sHash;
use stwo::core::vcs_lifted::blake2_merkle::Blake2sMerkleChannel;
use stwo::prover::backend::simd::column::BaseColumn;
use stwo::prover::backend::simd::SimdBackend;
use stwo::prover::backend::BackendForChannel;
use stwo::prover::mempool::BaseColumnPool;
use stwo::prover::pcs::CommitmentTreeProver;
use stwo::prover::poly::circle::{CircleEvaluation, PolyOps};
use stwo::prover::poly::twiddles::TwiddleTree;
use stwo::prover::poly::BitReversedOrder;
use stwo::prover::{prove, CommitmentSchemeProver, ComponentProver};
use stwo_constraint_framework::preprocessed_columns::PreProcessedColumnId;
use tracing::info;

use crate::air::preprocessed::Evaluation;
use crate::air::witness::{self, interaction_trace, LookupCounts, Replay, StepRecord, Witness};
use crate::air::{cpu, preprocessed, Relations};
use crate::claim::{Claim, JobId, Shape};
use crate::components::{Components, Evals, N_COMPONENTS};
use crate::config::ProofConfig;
use crate::error::{Error, Result};
use crate::proof::StarkProof;
use crate::soundness;
use obelysk_vm::{ExecutionTrace, Program};

/// Commits the preprocessed trace for `program` and `shape` on its own and returns its root;
/// the verifier uses this to derive the commitment instead of trusting the proof's.
pub(crate) fn preprocessed_root(
    columns: Vec<Evaluation>,
    config: &ProofConfig,
) -> Result<Blake2sHash> {
    let pcs = config.pcs_config()?;
    let max_log = columns
        .iter()
        .map(|c| c.domain.log_size())
        .max()
        .unwrap_or(0);
    let twiddles = SimdBackend::precompute_twiddles(
        CanonicCoset::new(max_log + 1 + config.log_blowup)
            .circle_domain()
            .half_coset,
    );
    let mut scheme =
        CommitmentSchemeProver::<SimdBackend, Blake2sMerkleChannel>::new(pcs, &twiddles);
    let mut builder = scheme.tree_builder();
    builder.extend_evals(columns);
    builder.commit(&mut Blake2sChannel::default());
    Ok(scheme.roots()[0])
}

/// A stwo backend the Obelysk prover runs on: stwo's SIMD backend here, the GPU backend in
/// `obelysk-gpu`. The replay of the execution and the tables' columns stay on the host and move
/// over with [`ProverBackend::evaluation`]; the backend fills the CPU component's columns,
/// counts the steps' lookups and builds the CPU component's LogUp columns
/// ([`ProverBackend::cpu_columns`], [`ProverBackend::cpu_interaction`]).
pub trait ProverBackend:
    BackendForChannel<Blake2sMerkleChannel> + PolyOps<Twiddles: Send + Sync> + Send + Sync + 'static
{
    /// The components' provers on this backend, in component order.
    fn provers(components: &Components) -> Vec<&dyn ComponentProver<Self>>;

    /// Which instance of the backend the calling thread proves on (a GPU backend with several
    /// devices keeps each device's preprocessed tree apart).
    fn instance() -> u64 {
        0
    }

    /// A column computed on the host, as this backend holds it, from a borrowed column (the
    /// witness's main columns). The SIMD backend needs its own copy; a device uploads it.
    fn evaluation_of(
        domain: CircleDomain,
        values: &BaseColumn,
    ) -> CircleEvaluation<Self, BaseField, BitReversedOrder> {
        Self::evaluation(CircleEvaluation::new(domain, values.clone()))
    }

    /// A column computed on the host, as this backend holds it.
    fn evaluation(evaluation: Evaluation) -> CircleEvaluation<Self, BaseField, BitReversedOrder> {
        CircleEvaluation::new(
            evaluation.domain,
            evaluation.values.into_cpu_vec().into_iter().collect(),
        )
    }

    /// Called before stwo's `prove` with the number of FRI queries the proof will draw: a
    /// backend that fetches decommitted values from elsewhere can then predict which rows the
    /// decommitment reads. Nothing by default.
    fn expect_queries(_n_queries: usize) {}

    /// What the backend keeps of the CPU component's main columns for
    /// [`ProverBackend::cpu_interaction`], after the commitment has taken them.
    type CpuColumns: Send;

    /// The CPU component's main columns (2^shape.cpu_log rows) filled from the steps' records,
    /// as this backend holds them, what it keeps of them, and the tables' lookups counted from
    /// the records. Equal to [`crate::air::witness::cpu_columns`] and
    /// [`crate::air::witness::count_lookups`], which do both on the host.
    fn cpu_columns(
        program: &Program,
        shape: &Shape,
        records: &[StepRecord],
    ) -> (
        Vec<CircleEvaluation<Self, BaseField, BitReversedOrder>>,
        Self::CpuColumns,
        LookupCounts,
    );

    /// The CPU component's LogUp interaction columns and claimed sum, equal to what
    /// [`interaction_trace`] builds on the host.
    fn cpu_interaction(
        kept: Self::CpuColumns,
        log_size: u32,
        relations: &Relations,
    ) -> (
        Vec<CircleEvaluation<Self, BaseField, BitReversedOrder>>,
        SecureField,
    );
}

impl ProverBackend for SimdBackend {
    fn provers(components: &Components) -> Vec<&dyn ComponentProver<Self>> {
        components.provers()
    }

    fn evaluation(evaluation: Evaluation) -> Evaluation {
        evaluation
    }

    /// The host's columns, kept for the interaction trace; the commitment takes a copy.
    type CpuColumns = Vec<BaseColumn>;

    fn cpu_columns(
        program: &Program,
        shape: &Shape,
        records: &[StepRecord],
    ) -> (Vec<Evaluation>, Vec<BaseColumn>, LookupCounts) {
        let columns = witness::cpu_columns(program, shape.cpu_log, records);
        let domain = CanonicCoset::new(shape.cpu_log).circle_domain();
        let evaluations = columns
            .iter()
            .map(|c| CircleEvaluation::new(domain, c.clone()))
            .collect();
        let counts = witness::count_lookups(program, shape.program_log, records);
        (evaluations, columns, counts)
    }

    fn cpu_interaction(
        kept: Vec<BaseColumn>,
        log_size: u32,
        relations: &Relations,
    ) -> (Vec<Evaluation>, SecureField) {
        let columns: Vec<&BaseColumn> = kept.iter().collect();
        interaction_trace(log_size, &columns, relations, cpu::lookups)
    }
}

/// A program's preprocessed tree as the prover needs it: the twiddles for the proof's domains,
/// the committed tree (extended columns and Merkle layers) and the columns with their ids for
/// the LogUp generator. All of it depends on public data only, so it is kept between proofs:
/// a worker proves many jobs of the same workload, and rebuilding the tree (a `seq` column as
/// tall as the CPU table included) was 5% of a 2^18-step proof.
struct Prepared<B: ProverBackend> {
    twiddles: TwiddleTree<B>,
    tree: CommitmentTreeProver<B, Blake2sMerkleChannel>,
    ids: Vec<PreProcessedColumnId>,
    columns: Vec<(String, BaseColumn)>,
}

/// Programs whose preprocessed trees a process keeps (each at most a few tens of MiB).
const PREPARED_CACHE: usize = 4;

fn prepared<B: ProverBackend>(
    program: &Program,
    program_hash: [u8; 32],
    shape: &Shape,
    config: &ProofConfig,
) -> Arc<Prepared<B>> {
    type Key = (TypeId, u64, [u8; 32], Shape, ProofConfig);
    type Entry = Arc<dyn Any + Send + Sync>;
    static CACHE: OnceLock<Mutex<HashMap<Key, Entry>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (
        TypeId::of::<B>(),
        B::instance(),
        program_hash,
        *shape,
        *config,
    );
    if let Some(hit) = cache.lock().expect("cache lock").get(&key) {
        return hit
            .clone()
            .downcast()
            .expect("entries are keyed by their backend");
    }
    let pcs = config
        .pcs_config()
        .expect("the caller checked the configuration");
    let twiddles = B::precompute_twiddles(
        CanonicCoset::new(shape.max_log_size() + 1 + config.log_blowup)
            .circle_domain()
            .half_coset,
    );
    let pre = preprocessed::columns(program, shape);
    let ids = preprocessed::ids(&pre);
    let columns = ids
        .iter()
        .map(|p| p.id.clone())
        .zip(pre.iter().map(|(_, e)| e.values.clone()))
        .collect();
    // What `TreeBuilder::extend_evals` and `commit` do, with coefficients stored as the rest
    // of the proof stores them.
    let polys = B::interpolate_columns(
        pre.into_iter().map(|(_, e)| B::evaluation(e)).collect(),
        &twiddles,
    );
    let tree = CommitmentTreeProver::new(
        polys,
        pcs.fri_config.log_blowup_factor,
        &twiddles,
        true,
        pcs.lifting_log_size,
        &BaseColumnPool::new(),
    );
    let prepared = Arc::new(Prepared {
        twiddles,
        tree,
        ids,
        columns,
    });
    let mut cache = cache.lock().expect("cache lock");
    // Each backend instance (one per GPU) starts over on its own entries only.
    let mine = |k: &Key| (k.0, k.1) == (key.0, key.1);
    if cache.keys().filter(|k| mine(k)).count() >= PREPARED_CACHE {
        cache.retain(|k, _| !mine(k));
    }
    cache.insert(key, prepared.clone());
    prepared
}

/// Proves one execution on stwo's SIMD backend. Timing of each phase goes to `tracing` at info
/// level.
pub fn prove_trace(
    trace: &ExecutionTrace,
    config: &ProofConfig,
    job_id: Option<JobId>,
) -> Result<StarkProof> {
    prove_trace_on::<SimdBackend>(trace, config, job_id)
}

/// Proves one execution on backend `B`; the proof is the same on every backend, byte for byte.
pub fn prove_trace_on<B: ProverBackend>(
    trace: &ExecutionTrace,
    config: &ProofConfig,
    job_id: Option<JobId>,
) -> Result<StarkProof> {
    let start = Instant::now();
    let claim = Claim::from_trace(trace, job_id);
    // A proof must deliver what was asked of it, and its challenges bound that by its size.
    // Callers that know the request check it ([`soundness::check_request`]); here only the
    // parameters are known, which queries in steps of `log_blowup` bits may round up by up to
    // `log_blowup − 1` bits: the least request that gives them is held to the bound.
    let least_request = config
        .security_bits
        .saturating_sub(config.log_blowup.saturating_sub(1));
    soundness::check_request(least_request, trace)?;
    let (replay, records) = Replay::of(trace);
    let shape = replay.shape;
    info!(elapsed = ?start.elapsed(), ?shape, "trace replayed");
    let (mut main, cpu_columns, counts) = B::cpu_columns(trace.program(), &shape, &records);
    drop(records);
    let witness = replay.counted(counts);
    info!(elapsed = ?start.elapsed(), "trace generated");

    let pcs = config.pcs_config()?;
    let prepared = prepared::<B>(trace.program(), claim.program_hash, &shape, config);
    let channel = &mut Blake2sChannel::default();
    pcs.mix_into(channel);
    claim.mix_into(channel);
    shape.mix_into(channel);
    let mut scheme =
        CommitmentSchemeProver::<B, Blake2sMerkleChannel>::new(pcs, &prepared.twiddles);
    scheme.set_store_polynomials_coefficients();

    // Tree 0: preprocessed columns, derived from the program alone.
    scheme.commit_tree(MaybeOwned::Borrowed(&prepared.tree), channel);
    let pre_ids = prepared.ids.clone();

    // Tree 1: main trace.
    main.extend(
        witness
            .table_columns()
            .into_iter()
            .map(|(domain, values)| B::evaluation_of(domain, values)),
    );
    let mut builder = scheme.tree_builder();
    builder.extend_evals(main);
    builder.commit(channel);
    info!(elapsed = ?start.elapsed(), "main trace committed");

    // Tree 2: LogUp interaction trace: the CPU component's on the backend, the tables' (small)
    // on the host at the same time, on a thread of their own: the backend's call stays on this
    // thread, which a GPU backend's device is bound to.
    let relations = Relations::draw(channel);
    let evals = Evals::new(&shape, &relations);
    let ((mut interaction, cpu_sum), tables) = std::thread::scope(|scope| {
        let tables = scope.spawn(|| table_interaction_traces(&witness, &prepared.columns, &evals));
        let cpu = B::cpu_interaction(cpu_columns, shape.cpu_log, &relations);
        let tables = tables
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (cpu, tables)
    });
    let claimed_sums: [SecureField; N_COMPONENTS] = std::iter::once(cpu_sum)
        .chain(tables.iter().map(|(_, sum)| *sum))
        .collect::<Vec<_>>()
        .try_into()
        .expect("one claimed sum per component");
    interaction.extend(
        tables
            .into_iter()
            .flat_map(|(columns, _)| columns)
            .map(B::evaluation),
    );
    channel.mix_felts(&claimed_sums);
    let mut builder = scheme.tree_builder();
    builder.extend_evals(interaction);
    builder.commit(channel);
    info!(elapsed = ?start.elapsed(), "interaction trace committed");

    let components = evals.into_components(&claimed_sums, &pre_ids);
    B::expect_queries(config.n_queries as usize);
    let stark = prove::<B, Blake2sMerkleChannel>(&B::provers(&components), channel, scheme)
        .map_err(|e| Error::Proving(e.to_string()))?;
    info!(elapsed = ?start.elapsed(), "proof done");
    Ok(StarkProof {
        program: trace.program().clone(),
        claim,
        config: *config,
        shape,
        claimed_sums: claimed_sums.to_vec(),
        stark,
    })
}

/// The CPU component's interaction columns and claimed sum, built on the host.
pub fn cpu_interaction_on_host(
    witness: &Witness,
    relations: &Relations,
) -> (Vec<Evaluation>, SecureField) {
    let cpu_cols: Vec<&BaseColumn> = witness.cpu.iter().collect();
    interaction_trace(witness.shape.cpu_log, &cpu_cols, relations, cpu::lookups)
}

/// Interaction columns and claimed sum of every component, in component order, all built on the
/// host. `preprocessed` pairs each preprocessed column with its id.
pub fn interaction_traces(
    witness: &Witness,
    preprocessed: &[(String, BaseColumn)],
    evals: &Evals,
) -> (Vec<Vec<Evaluation>>, [SecureField; N_COMPONENTS]) {
    let mut out = vec![cpu_interaction_on_host(witness, &evals.cpu.relations)];
    out.extend(table_interaction_traces(witness, preprocessed, evals));
    let sums: Vec<SecureField> = out.iter().map(|(_, s)| *s).collect();
    let sums = sums.try_into().expect("one sum per component");
    (out.into_iter().map(|(c, _)| c).collect(), sums)
}

/// Interaction columns and claimed sum of every component but the CPU's (the tables), in
/// component order.
fn table_interaction_traces(
    witness: &Witness,
    preprocessed: &[(String, BaseColumn)],
    evals: &Evals,
) -> Vec<(Vec<Evaluation>, SecureField)> {
    let relations = &evals.cpu.relations;
    let pre = |id: &str| -> &BaseColumn {
        &preprocessed
            .iter()
            .find(|(p, _)| p == id)
            .expect("preprocessed column exists")
            .1
    };
    let seq = |log: u32| pre(&preprocessed::seq_id(log).id);
    let shape = witness.shape;
    let mut out = Vec::with_capacity(N_COMPONENTS - 1);
    let mut program_cols = vec![seq(shape.program_log)];
    program_cols.extend((0..4).map(|k| pre(&preprocessed::program_field_id(k).id)));
    program_cols.push(&witness.program_multiplicity);
    out.push(interaction_trace(
        shape.program_log,
        &program_cols,
        relations,
        |row| evals.program.lookups(row),
    ));
    for (eval, mult) in evals.ranges.iter().zip(&witness.range_multiplicity) {
        let cols = [seq(eval.bits), mult];
        out.push(interaction_trace(eval.bits, &cols, relations, |row| {
            eval.lookups(row)
        }));
    }
    for (eval, main) in [
        (&evals.registers, &witness.registers),
        (&evals.data, &witness.data),
    ] {
        let cols = [seq(eval.log_size), &main[0], &main[1]];
        out.push(interaction_trace(eval.log_size, &cols, relations, |row| {
            eval.lookups(row)
        }));
    }
    out
}

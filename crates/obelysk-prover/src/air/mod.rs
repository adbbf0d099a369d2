//! The Obelysk AIR: six stwo components tied together by LogUp relations.
//!
//! | component | rows | what it proves |
//! | --- | --- | --- |
//! | [`cpu`] | one per executed step | the step follows the ISA; it consumes its state and yields the next |
//! | [`tables::ProgramTableEval`] | one per instruction | executed instructions are the committed program |
//! | [`tables::RangeTableEval`] ×2 | 2^12, 2^5 | limbs are in range |
//! | [`memory::MemoryBoundaryEval`] ×2 | 16 registers, 2^k data words | memory starts at zero and every access chain ends |
//!
//! The verifier adds the public terms: the initial and final state, every input and every
//! output (see [`public_logup_sum`]). The sum of every component's claimed sum and the public
//! terms is zero exactly when all relations balance.

pub mod cpu;
pub mod memory;
pub mod packed;
pub mod preprocessed;
pub mod quotients;
pub mod tables;
pub mod witness;

use std::ops::{Add, Mul, Neg, Sub};

use num_traits::{One, Zero};
use stwo::core::channel::Channel;
use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SecureField;
use stwo::core::fields::FieldExpOps;
use stwo_constraint_framework::{EvalAtRow, RelationEFTraitBound, INTERACTION_TRACE_IDX};

use packed::{Base, Ext};

/// `pc` yielded by `halt`: no program row has it, so nothing can follow a halt.
pub const HALT_PC: u32 = 1 << 30;
/// Opcode value of unused program-table rows: no step can match it.
pub const INVALID_OPCODE: u32 = (1 << 31) - 2;
/// Memory address spaces (first element of a memory tuple).
pub const REGISTER_SPACE: u32 = 0;
pub const DATA_SPACE: u32 = 1;
/// Range tables: 12-bit limbs for timestamp gaps (two per access) and for `lt`'s gap, whose top
/// 5 bits have their own small table. Small tables keep short executions cheap: no table is
/// taller than 2^12 rows.
pub const RANGE_BITS: [u32; 2] = [LIMB_BITS, 5];
/// Width of a range-checked limb.
pub const LIMB_BITS: u32 = 12;

/// Which relation a lookup goes to. Each has its own challenges, so sums of different relations
/// cannot cancel. A range table's relation is its bit width: `(value)` alone, with no tag to
/// combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rel {
    State,
    Memory,
    Program,
    Range12,
    Range5,
    Input,
    Output,
}

impl Rel {
    /// Every relation, in declaration order (`rel as usize` indexes this).
    pub const ALL: [Rel; 7] = [
        Rel::State,
        Rel::Memory,
        Rel::Program,
        Rel::Range12,
        Rel::Range5,
        Rel::Input,
        Rel::Output,
    ];

    /// The range relation of a table in [`RANGE_BITS`].
    pub fn range(bits: u32) -> Self {
        match bits {
            12 => Rel::Range12,
            5 => Rel::Range5,
            _ => panic!("no {bits}-bit range table"),
        }
    }
}

/// One relation's challenges: `combine(v) = v₀ + α·v₁ + α²·v₂ + … − z`.
#[derive(Clone, Debug, PartialEq)]
pub struct Challenges {
    z: SecureField,
    alpha_powers: [SecureField; MAX_TUPLE],
}

impl Challenges {
    fn draw(channel: &mut impl Channel) -> Self {
        let [z, alpha] = channel.draw_secure_felts(2).try_into().expect("two felts");
        let mut power = SecureField::one();
        let alpha_powers = std::array::from_fn(|_| {
            let current = power;
            power *= alpha;
            current
        });
        Self { z, alpha_powers }
    }

    /// The first value enters with coefficient one, so it costs an addition, not a product;
    /// a one-value tuple (the range relations) costs nothing but the subtraction of `z`.
    fn combine<F: Clone, EF: RelationEFTraitBound<F>>(&self, values: &[F]) -> EF {
        let (first, rest) = values.split_first().expect("a tuple has a value");
        rest.iter()
            .zip(&self.alpha_powers[1..])
            .fold(EF::from(first.clone()) - EF::from(self.z), |acc, (v, a)| {
                acc + EF::from(*a) * v.clone()
            })
    }
}

/// All lookup challenges, drawn together after the main trace is committed.
#[derive(Clone, Debug)]
pub struct Relations {
    state: Challenges,
    memory: Challenges,
    program: Challenges,
    range12: Challenges,
    range5: Challenges,
    input: Challenges,
    output: Challenges,
}

impl Relations {
    pub fn draw(channel: &mut impl Channel) -> Self {
        Self {
            state: Challenges::draw(channel),
            memory: Challenges::draw(channel),
            program: Challenges::draw(channel),
            range12: Challenges::draw(channel),
            range5: Challenges::draw(channel),
            input: Challenges::draw(channel),
            output: Challenges::draw(channel),
        }
    }

    pub fn combine<F: Clone, EF: RelationEFTraitBound<F>>(&self, rel: Rel, values: &[F]) -> EF {
        self.challenges(rel).combine(values)
    }

    /// `z` and the powers of `alpha` of one relation, for provers that combine tuples in code of
    /// their own (the GPU kernels).
    pub fn z_and_alpha_powers(&self, rel: Rel) -> (SecureField, [SecureField; MAX_TUPLE]) {
        let c = self.challenges(rel);
        (c.z, c.alpha_powers)
    }

    fn challenges(&self, rel: Rel) -> &Challenges {
        match rel {
            Rel::State => &self.state,
            Rel::Memory => &self.memory,
            Rel::Program => &self.program,
            Rel::Range12 => &self.range12,
            Rel::Range5 => &self.range5,
            Rel::Input => &self.input,
            Rel::Output => &self.output,
        }
    }
}

/// [`Relations`] as broadcast vectors, for the provers' loops in [`packed`] arithmetic.
#[derive(Clone, Debug)]
pub struct PackedRelations([(Ext, [Ext; MAX_TUPLE]); Rel::ALL.len()]);

impl PackedRelations {
    pub fn new(relations: &Relations) -> Self {
        Self(Rel::ALL.map(|rel| {
            let challenges = relations.challenges(rel);
            (
                Ext::splat(challenges.z),
                challenges.alpha_powers.map(Ext::splat),
            )
        }))
    }

    /// [`Relations::combine`] of sixteen rows at once.
    #[inline(always)]
    pub fn combine(&self, rel: Rel, values: &[Base]) -> Ext {
        let (z, alphas) = &self.0[rel as usize];
        let (first, rest) = values.split_first().expect("a tuple has a value");
        rest.iter()
            .zip(&alphas[1..])
            .fold(Ext::from_base(*first) - *z, |acc, (v, a)| {
                acc + a.mul_base(*v)
            })
    }
}

/// One LogUp term of a row: `multiplicity / combine(values)`. Positive multiplicities consume,
/// negative ones yield. Components describe their lookups once, generically over the field type,
/// so that constraint evaluation and interaction-trace generation cannot drift apart.
#[derive(Clone, Debug)]
pub struct Lookup<F> {
    pub rel: Rel,
    pub multiplicity: F,
    /// Inline storage: constraint evaluation builds these for every row, so no heap allocation.
    values: [F; MAX_TUPLE],
    len: usize,
}

/// Longest relation tuple (the program's `(pc, opcode, a, b, c)`).
pub const MAX_TUPLE: usize = 5;

impl<F: AirField> Lookup<F> {
    pub fn new<const N: usize>(rel: Rel, multiplicity: F, values: [F; N]) -> Self {
        const { assert!(N <= MAX_TUPLE) };
        let mut items = values.into_iter();
        let values = std::array::from_fn(|_| items.next().unwrap_or_else(|| konst(0)));
        Self {
            rel,
            multiplicity,
            values,
            len: N,
        }
    }

    pub fn values(&self) -> &[F] {
        &self.values[..self.len]
    }

    pub fn from_slice(rel: Rel, multiplicity: F, values: &[F]) -> Self {
        assert!(
            values.len() <= MAX_TUPLE,
            "a tuple of {} values",
            values.len()
        );
        let values_array =
            std::array::from_fn(|i| values.get(i).cloned().unwrap_or_else(|| konst(0)));
        Self {
            rel,
            multiplicity,
            values: values_array,
            len: values.len(),
        }
    }
}

/// Where a component hands its LogUp terms, in order: a vector of [`Lookup`]s for the witness
/// generator and tests, or [`LogupConstraints`] straight into the evaluator.
pub trait LookupSink<F> {
    fn lookup(&mut self, rel: Rel, multiplicity: F, values: &[F]);
}

impl<F: AirField> LookupSink<F> for Vec<Lookup<F>> {
    fn lookup(&mut self, rel: Rel, multiplicity: F, values: &[F]) {
        self.push(Lookup::from_slice(rel, multiplicity, values));
    }
}

/// [`add_lookups`] as a [`LookupSink`]: pairs the terms as they arrive, so the evaluator never
/// holds a row's terms at once (for the CPU component they were 19 KiB of packed values per
/// evaluation, copied around). Needs the number of terms up front to know the last one.
pub struct LogupConstraints<'a, E: EvalAtRow> {
    eval: &'a mut E,
    relations: &'a Relations,
    shift: SecureField,
    remaining: usize,
    pending: Option<(E::F, E::EF)>,
    earlier: E::EF,
}

impl<E: EvalAtRow> std::fmt::Debug for LogupConstraints<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogupConstraints")
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl<'a, E: EvalAtRow> LogupConstraints<'a, E> {
    pub fn new(
        eval: &'a mut E,
        relations: &'a Relations,
        n_lookups: usize,
        cumsum_shift: SecureField,
    ) -> Self {
        Self {
            eval,
            relations,
            shift: cumsum_shift,
            remaining: n_lookups,
            pending: None,
            earlier: E::EF::zero(),
        }
    }

    /// The same constraint as [`add_lookups`] for one paired fraction.
    fn fraction(&mut self, num: E::EF, den: E::EF) {
        if self.remaining > 0 {
            let [value] = self
                .eval
                .next_extension_interaction_mask(INTERACTION_TRACE_IDX, [0]);
            self.eval.add_constraint(value.clone() * den - num);
            self.earlier += value;
        } else {
            let [prev, cur] = self
                .eval
                .next_extension_interaction_mask(INTERACTION_TRACE_IDX, [-1, 0]);
            let earlier = std::mem::replace(&mut self.earlier, E::EF::zero());
            self.eval
                .add_constraint((cur - prev - earlier + self.shift) * den - num);
        }
    }

    /// Checks that exactly the announced number of terms arrived.
    pub fn finish(self) {
        assert!(
            self.remaining == 0 && self.pending.is_none(),
            "a component announced more LogUp terms than it produced"
        );
    }
}

impl<E: EvalAtRow> LookupSink<E::F> for LogupConstraints<'_, E> {
    fn lookup(&mut self, rel: Rel, multiplicity: E::F, values: &[E::F]) {
        let den: E::EF = self.relations.combine(rel, values);
        self.remaining = self
            .remaining
            .checked_sub(1)
            .expect("a component produced more LogUp terms than it announced");
        match self.pending.take() {
            None if self.remaining > 0 => self.pending = Some((multiplicity, den)),
            None => self.fraction(E::EF::from(multiplicity), den),
            // As in `paired_fractions`: n0/d0 + n1/d1 = (n0·d1 + n1·d0) / (d0·d1).
            Some((n0, d0)) => self.fraction(den.clone() * n0 + d0.clone() * multiplicity, d0 * den),
        }
    }
}

/// The arithmetic that constraint code needs; implemented by every evaluator's base type and by
/// stwo's packed M31.
pub trait AirField:
    Clone
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Mul<BaseField, Output = Self>
    + Neg<Output = Self>
    + From<BaseField>
{
}

impl<T> AirField for T where
    T: Clone
        + Add<Output = T>
        + Sub<Output = T>
        + Mul<Output = T>
        + Mul<BaseField, Output = T>
        + Neg<Output = T>
        + From<BaseField>
{
}

pub fn m31(v: u32) -> BaseField {
    BaseField::from_u32_unchecked(v)
}

pub fn konst<F: From<BaseField>>(v: u32) -> F {
    F::from(m31(v))
}

/// A row's LogUp terms as one fraction per interaction column. Terms are added in pairs,
/// `n0/d0 + n1/d1 = (n0·d1 + n1·d0) / (d0·d1)`, which keeps every constraint at degree three;
/// the multiplicities stay in the base field, so the cross terms are base × extension products.
/// Constraint evaluation and interaction-trace generation both go through this function.
pub fn paired_fractions<'a, F, EF>(
    relations: &'a Relations,
    lookups: Vec<Lookup<F>>,
) -> impl Iterator<Item = (EF, EF)> + 'a
where
    F: AirField + 'a,
    EF: RelationEFTraitBound<F> + Mul<EF, Output = EF> + 'a,
{
    let mut terms = lookups.into_iter().map(move |l| {
        let denominator: EF = relations.combine(l.rel, l.values());
        (l.multiplicity, denominator)
    });
    std::iter::from_fn(move || {
        let (n0, d0) = terms.next()?;
        Some(match terms.next() {
            Some((n1, d1)) => (d1.clone() * n0 + d0.clone() * n1, d0 * d1),
            None => (EF::from(n0), d0),
        })
    })
}

/// `claimed_sum / 2^log_size`: subtracted from every row of the running sum so that it wraps
/// around to zero, which lets one constraint hold on every row (first row included).
pub fn cumsum_shift(claimed_sum: SecureField, log_size: u32) -> SecureField {
    claimed_sum / m31(1 << log_size)
}

/// Constrains the row's LogUp columns. Every column but the last holds one paired fraction
/// (`value · den = num`); the last is a running sum over rows of the whole row's fractions
/// minus [`cumsum_shift`]: `(cur − prev − Σ earlier + shift) · den = num`.
///
/// This replaces stwo's `write_logup_frac`/`finalize_logup_in_pairs`, which computes the same
/// kind of sum but copies every fraction twice through a per-row hash map and multiplies the
/// numerators as extension elements; the generator in `witness.rs` fills the columns to match.
pub fn add_lookups<E: EvalAtRow>(
    eval: &mut E,
    relations: &Relations,
    lookups: Vec<Lookup<E::F>>,
    cumsum_shift: SecureField,
) {
    let mut fractions = paired_fractions::<E::F, E::EF>(relations, lookups).peekable();
    let mut earlier = E::EF::zero();
    while let Some((num, den)) = fractions.next() {
        if fractions.peek().is_some() {
            let [value] = eval.next_extension_interaction_mask(INTERACTION_TRACE_IDX, [0]);
            eval.add_constraint(value.clone() * den - num);
            earlier += value;
        } else {
            let [prev, cur] = eval.next_extension_interaction_mask(INTERACTION_TRACE_IDX, [-1, 0]);
            let earlier = std::mem::replace(&mut earlier, E::EF::zero());
            eval.add_constraint((cur - prev - earlier + cumsum_shift) * den - num);
        }
    }
}

/// Public inputs and outputs of one proven execution, in field form.
#[derive(Clone, Debug)]
pub struct PublicIo<'a> {
    pub inputs: &'a [BaseField],
    pub outputs: &'a [BaseField],
    pub steps: u32,
}

/// The verifier's own LogUp terms: it yields the initial state and every input, and consumes
/// the final state and every output.
pub fn public_logup_sum(relations: &Relations, io: &PublicIo<'_>) -> SecureField {
    let initial = [m31(0), m31(1), m31(0), m31(0)];
    let last = [
        m31(HALT_PC),
        m31(io.steps + 1),
        m31(io.inputs.len() as u32),
        m31(io.outputs.len() as u32),
    ];
    let frac = |rel: Rel, values: &[BaseField]| -> SecureField {
        let d: SecureField = relations.combine(rel, values);
        d.inverse()
    };
    let mut sum = frac(Rel::State, &last) - frac(Rel::State, &initial);
    for (i, v) in io.outputs.iter().enumerate() {
        sum += frac(Rel::Output, &[m31(i as u32), *v]);
    }
    for (i, v) in io.inputs.iter().enumerate() {
        sum -= frac(Rel::Input, &[m31(i as u32), *v]);
    }
    sum
}

/// `1 - x` without needing `One` on every field type.
pub fn one_minus<F: AirField>(x: F) -> F {
    F::from(BaseField::one()) - x
}

/// Sum of a slice of field values.
pub fn sum<F: AirField>(values: impl IntoIterator<Item = F>) -> F {
    values
        .into_iter()
        .fold(F::from(BaseField::zero()), |acc, v| acc + v)
}

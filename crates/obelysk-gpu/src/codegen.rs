//! CUDA source for the CPU component's constraint quotients, generated from the AIR itself.
//!
//! The constraint code of `obelysk_prover::air::cpu` is generic over the field type, so running it
//! on [`Expr`], a symbolic value, records every constraint and every LogUp term as an expression
//! DAG; [`cpu_constraints_kernel`] prints that DAG as one CUDA kernel, with common
//! subexpressions computed once. The LogUp part follows `LogupConstraints` (paired fractions, a
//! running sum in the last interaction column), with the relations' challenges as kernel
//! arguments, so one compiled kernel serves every proof.
//!
//! The generated file is committed (`kernels/cpu_constraints.cu`) so that the emulator can
//! compile it at build time; a test fails when it differs from what the AIR generates now.

use std::collections::HashMap;
use std::fmt::Write;
use std::ops::{Add, Mul, Neg, Sub};
use std::rc::Rc;

use obelysk_prover::air::cpu::{self, col};
use obelysk_prover::air::{LookupSink, Rel, MAX_TUPLE};
use stwo::core::fields::m31::BaseField;

/// A base-field value of one row, as an expression over the row's trace cells.
#[derive(Clone, Debug)]
pub struct Expr(Rc<Node>);

#[derive(Debug)]
enum Node {
    Cell(usize),
    Const(u32),
    Add(Expr, Expr),
    Sub(Expr, Expr),
    Mul(Expr, Expr),
    Neg(Expr),
}

impl Expr {
    fn cell(i: usize) -> Self {
        Self(Rc::new(Node::Cell(i)))
    }
}

impl Add for Expr {
    type Output = Expr;
    fn add(self, rhs: Expr) -> Expr {
        Expr(Rc::new(Node::Add(self, rhs)))
    }
}

impl Sub for Expr {
    type Output = Expr;
    fn sub(self, rhs: Expr) -> Expr {
        Expr(Rc::new(Node::Sub(self, rhs)))
    }
}

impl Mul for Expr {
    type Output = Expr;
    fn mul(self, rhs: Expr) -> Expr {
        Expr(Rc::new(Node::Mul(self, rhs)))
    }
}

impl Mul<BaseField> for Expr {
    type Output = Expr;
    fn mul(self, rhs: BaseField) -> Expr {
        self * Expr::from(rhs)
    }
}

impl Neg for Expr {
    type Output = Expr;
    fn neg(self) -> Expr {
        Expr(Rc::new(Node::Neg(self)))
    }
}

impl From<BaseField> for Expr {
    fn from(value: BaseField) -> Expr {
        Expr(Rc::new(Node::Const(value.0)))
    }
}

/// The LogUp terms of a row, as `lookups_into` hands them.
#[derive(Default)]
struct Lookups(Vec<(Rel, Expr, Vec<Expr>)>);

impl LookupSink<Expr> for Lookups {
    fn lookup(&mut self, rel: Rel, multiplicity: Expr, values: &[Expr]) {
        self.0.push((rel, multiplicity, values.to_vec()));
    }
}

/// Prints expressions as `u32` statements, each distinct subexpression once.
#[derive(Default)]
struct Printer {
    code: String,
    names: HashMap<String, String>,
}

impl Printer {
    /// The name (or literal) holding `e`'s value, printing what it needs first.
    fn value(&mut self, e: &Expr) -> String {
        let rhs = match &*e.0 {
            Node::Cell(i) => return format!("c{i}"),
            Node::Const(v) => return format!("{v}u"),
            Node::Add(a, b) => format!("m31_add({}, {})", self.value(a), self.value(b)),
            Node::Sub(a, b) => format!("m31_sub({}, {})", self.value(a), self.value(b)),
            Node::Mul(a, b) => format!("m31_mul({}, {})", self.value(a), self.value(b)),
            Node::Neg(a) => format!("m31_neg({})", self.value(a)),
        };
        if let Some(name) = self.names.get(&rhs) {
            return name.clone();
        }
        let name = format!("t{}", self.names.len());
        writeln!(self.code, "        u32 {name} = {rhs};").expect("writing to a string");
        self.names.insert(rhs, name.clone());
        name
    }
}

/// The kernel's source: `cpu_constraint_quotients`, one grid-stride loop over the rows of the
/// evaluation domain.
pub fn cpu_constraints_kernel() -> String {
    let row: Vec<Expr> = (0..col::COUNT).map(Expr::cell).collect();
    let mut constraints = Vec::new();
    cpu::constraints_with(&row, |c| constraints.push(c));
    let mut lookups = Lookups::default();
    cpu::lookups_into(&row, &mut lookups);
    assert_eq!(
        lookups.0.len(),
        cpu::N_LOOKUPS,
        "the CPU component's LogUp terms"
    );

    let mut p = Printer::default();
    let mut body = String::new();
    let w = &mut body;
    let mut coeff = 0usize;
    for c in &constraints {
        let v = p.value(c);
        writeln!(
            w,
            "        acc = qm31_add(acc, qm31_mul_m31(coeff({coeff}), {v}));"
        )
        .unwrap();
        coeff += 1;
    }
    // The LogUp terms, paired as `LogupConstraints` pairs them.
    let mut denominators = Vec::new();
    for (k, (rel, multiplicity, values)) in lookups.0.iter().enumerate() {
        let r = *rel as usize;
        let first = p.value(&values[0]);
        writeln!(
            w,
            "        qm31 d{k} = qm31_sub(qm31_from_m31({first}), z({r}));"
        )
        .unwrap();
        for (i, v) in values.iter().enumerate().skip(1) {
            let v = p.value(v);
            writeln!(
                w,
                "        d{k} = qm31_add(d{k}, qm31_mul_m31(alpha({r}, {i}), {v}));"
            )
            .unwrap();
        }
        denominators.push((p.value(multiplicity), format!("d{k}")));
    }
    let n_fractions = denominators.len().div_ceil(2);
    for (f, pair) in denominators.chunks(2).enumerate() {
        let (num, den) = match pair {
            [(n0, d0), (n1, d1)] => (
                format!("qm31_add(qm31_mul_m31({d1}, {n0}), qm31_mul_m31({d0}, {n1}))"),
                format!("qm31_mul({d0}, {d1})"),
            ),
            [(n0, d0)] => (format!("qm31_from_m31({n0})"), d0.clone()),
            _ => unreachable!("chunks of two"),
        };
        writeln!(w, "        qm31 num{f} = {num};").unwrap();
        writeln!(w, "        qm31 den{f} = {den};").unwrap();
        if f + 1 < n_fractions {
            writeln!(w, "        qm31 v{f} = interaction_at({f}, row);").unwrap();
            writeln!(w, "        earlier = qm31_add(earlier, v{f});").unwrap();
            writeln!(
                w,
                "        acc = qm31_add(acc, qm31_mul(coeff({coeff}), qm31_sub(qm31_mul(v{f}, den{f}), num{f})));"
            )
            .unwrap();
        } else {
            writeln!(w, "        qm31 cur = interaction_at({f}, row);").unwrap();
            writeln!(
                w,
                "        qm31 prev = interaction_at({f}, prev_row(row, trace_log, eval_log));"
            )
            .unwrap();
            writeln!(
                w,
                "        qm31 sum = qm31_add(qm31_sub(qm31_sub(cur, prev), earlier), shift);"
            )
            .unwrap();
            writeln!(
                w,
                "        acc = qm31_add(acc, qm31_mul(coeff({coeff}), qm31_sub(qm31_mul(sum, den{f}), num{f})));"
            )
            .unwrap();
        }
        coeff += 1;
    }

    let loads: String = (0..col::COUNT)
        .map(|i| format!("        u32 c{i} = trace[(u64){i} * n + row];\n"))
        .collect();
    format!(
        r#"// GENERATED by `obelysk_gpu::codegen::cpu_constraints_kernel` from the AIR in
// crates/obelysk-prover/src/air/cpu.rs; do not edit. `UPDATE_KERNELS=1 cargo test -p obelysk-gpu
// --test codegen` writes it again.
//
// The CPU component's constraint quotients on its evaluation domain (2^eval_log rows, in
// bit-reversed order): per row, Σ_k coeff_k · constraint_k over its {n_base} base constraints and
// {n_fractions} LogUp fraction constraints, divided by the trace domain's vanishing polynomial
// (`denom_inv[row >> trace_log]`) and added to `accum`, a secure column.
//
// `trace`: the {n_cols} main columns, `interaction`: the {n_inter} interaction columns, each of
// 2^eval_log values one after another. `coeffs`: {n_coeffs} QM31 values. `challenges`: for each
// relation z and the {max_tuple} powers of alpha (24 words), then the LogUp shift (4 words).
#include "m31.cuh"

// Row `r` of the secure column held by columns first .. first + 3 of `cols` (n values each).
__device__ __forceinline__ qm31 qm31_load4(const u32* cols, u32 n, u32 first, u32 r) {{
    u64 m = n;
    return {{cols[first * m + r], cols[(first + 1) * m + r], cols[(first + 2) * m + r],
            cols[(first + 3) * m + r]}};
}}

// `offset_bit_reversed_circle_domain_index(row, trace_log, eval_log, -1)`.
__device__ __forceinline__ u32 prev_row(u32 row, u32 trace_log, u32 eval_log) {{
    u32 p = __brev(row) >> (32 - eval_log);
    u32 half = 1u << (eval_log - 1);
    u32 step = 1u << (eval_log - trace_log - 1);
    if (p < half) {{
        p = (p + half - step) & (half - 1);
    }} else {{
        p = ((p - half + step) & (half - 1)) + half;
    }}
    return __brev(p) >> (32 - eval_log);
}}

extern "C" __global__ void cpu_constraint_quotients(const u32* trace, const u32* interaction,
                                                    u32 trace_log, u32 eval_log,
                                                    const u32* coeffs, const u32* challenges,
                                                    const u32* denom_inv, u32* accum) {{
    u32 n = 1u << eval_log;
#define coeff(k) (qm31{{coeffs[4 * (k)], coeffs[4 * (k) + 1], coeffs[4 * (k) + 2], coeffs[4 * (k) + 3]}})
#define z(r) (qm31{{challenges[24 * (r)], challenges[24 * (r) + 1], challenges[24 * (r) + 2], challenges[24 * (r) + 3]}})
#define alpha(r, i) (qm31{{challenges[24 * (r) + 4 * (i) + 4], challenges[24 * (r) + 4 * (i) + 5], challenges[24 * (r) + 4 * (i) + 6], challenges[24 * (r) + 4 * (i) + 7]}})
#define interaction_at(f, r) qm31_load4(interaction, n, 4 * (f), (r))
    qm31 shift = {{challenges[{shift}], challenges[{shift} + 1], challenges[{shift} + 2], challenges[{shift} + 3]}};
    for (u32 row = grid_start(); row < n; row += grid_stride()) {{
{loads}        qm31 acc = {{0, 0, 0, 0}};
        qm31 earlier = {{0, 0, 0, 0}};
{statements}{body}        qm31 q = qm31_mul_m31(acc, denom_inv[row >> trace_log]);
        qm31_store(accum, n, row, qm31_add(qm31_load(accum, n, row), q));
    }}
#undef coeff
#undef z
#undef alpha
#undef interaction_at
}}
"#,
        n_base = constraints.len(),
        n_fractions = n_fractions,
        n_cols = col::COUNT,
        n_inter = 4 * n_fractions,
        n_coeffs = coeff,
        max_tuple = MAX_TUPLE,
        shift = 24 * Rel::ALL.len(),
        loads = loads,
        statements = p.code,
        body = body,
    )
}

/// Constraints of the kernel: what `FrameworkComponent::n_constraints` counts for the CPU
/// component.
pub fn cpu_constraint_count() -> usize {
    let row: Vec<Expr> = (0..col::COUNT).map(Expr::cell).collect();
    let mut n = 0;
    cpu::constraints_with(&row, |_| n += 1);
    n + cpu::N_LOOKUPS.div_ceil(2)
}

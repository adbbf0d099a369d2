//! CUDA source for every component's constraint quotients, generated from the AIR itself.
//!
//! The constraint code of `obelysk_prover::air` is generic over the field type, so running it on
//! [`Expr`], a symbolic value, records every constraint and every LogUp term as an expression
//! DAG; [`cpu_constraints_kernel`] and [`table_constraints_kernel`] print those DAGs as CUDA
//! kernels, with common subexpressions computed once. The LogUp part follows
//! `LogupConstraints` (paired fractions, a running sum in the last interaction column), with the
//! relations' challenges as kernel arguments, so one compiled kernel serves every proof.
//!
//! The generated files are committed (`kernels/cpu_constraints.cu`,
//! `kernels/table_constraints.cu`) so that the emulator can compile them at build time; a test
//! fails when they differ from what the AIR generates now.

use std::collections::HashMap;
use std::fmt::Write;
use std::ops::{Add, Mul, Neg, Sub};
use std::rc::Rc;

use obelysk_prover::air::cpu::{self, col};
use obelysk_prover::air::memory::MemoryBoundaryEval;
use obelysk_prover::air::tables::{ProgramTableEval, RangeTableEval};
use obelysk_prover::air::{
    Lookup, LookupSink, Rel, Relations, DATA_SPACE, MAX_TUPLE, RANGE_BITS, REGISTER_SPACE,
};
use stwo::core::channel::Blake2sChannel;
use stwo::core::fields::m31::BaseField;
use stwo::core::fields::qm31::SecureField;

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

/// Prints expressions as `u32` statements, each distinct subexpression once: nodes already
/// printed are found by address before their children are visited (shared nodes would otherwise
/// be walked once per use), and structurally equal ones by their printed form.
#[derive(Default)]
struct Printer {
    code: String,
    names: HashMap<String, String>,
    printed: HashMap<*const Node, String>,
    /// Cells read, so that only those are loaded.
    cells: std::collections::BTreeSet<usize>,
}

impl Printer {
    /// The name (or literal) holding `e`'s value, printing what it needs first.
    fn value(&mut self, e: &Expr) -> String {
        let address = Rc::as_ptr(&e.0);
        if let Some(name) = self.printed.get(&address) {
            return name.clone();
        }
        let name = self.print(e);
        self.printed.insert(address, name.clone());
        name
    }

    fn print(&mut self, e: &Expr) -> String {
        let rhs = match &*e.0 {
            Node::Cell(i) => {
                self.cells.insert(*i);
                return format!("c{i}");
            }
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

/// One component's row: its cells (preprocessed first, then main, in the order its `evaluate`
/// reads them), its base constraints and its LogUp terms.
struct Component {
    function: &'static str,
    n_cells: usize,
    constraints: Vec<Expr>,
    lookups: Vec<(Rel, Expr, Vec<Expr>)>,
}

impl Component {
    fn n_fractions(&self) -> usize {
        self.lookups.len().div_ceil(2)
    }

    fn n_constraints(&self) -> usize {
        self.constraints.len() + self.n_fractions()
    }
}

fn cells(n: usize) -> Vec<Expr> {
    (0..n).map(Expr::cell).collect()
}

fn from_lookups(lookups: Vec<Lookup<Expr>>) -> Vec<(Rel, Expr, Vec<Expr>)> {
    lookups
        .into_iter()
        .map(|l| (l.rel, l.multiplicity.clone(), l.values().to_vec()))
        .collect()
}

fn cpu_component() -> Component {
    let row = cells(col::COUNT);
    let mut constraints = Vec::new();
    cpu::constraints_with(&row, |c| constraints.push(c));
    let mut lookups = Lookups::default();
    cpu::lookups_into(&row, &mut lookups);
    assert_eq!(
        lookups.0.len(),
        cpu::N_LOOKUPS,
        "the CPU component's LogUp terms"
    );
    Component {
        function: "cpu_constraint_quotients",
        n_cells: col::COUNT,
        constraints,
        lookups: lookups.0,
    }
}

/// The table components: no base constraints, only LogUp terms. Their `lookups` functions take
/// the relations only to hold them, so any will do here.
fn table_components() -> Vec<Component> {
    let relations = Relations::draw(&mut Blake2sChannel::default());
    let zero = SecureField::from_m31_array([BaseField::from(0); 4]);
    let program = ProgramTableEval {
        log_size: 1,
        relations: relations.clone(),
        claimed_sum: zero,
    };
    let range = |bits| RangeTableEval {
        bits,
        relations: relations.clone(),
        claimed_sum: zero,
    };
    let memory = |space| MemoryBoundaryEval {
        space,
        log_size: 1,
        relations: relations.clone(),
        claimed_sum: zero,
    };
    let table = |function, n_cells, lookups| Component {
        function,
        n_cells,
        constraints: Vec::new(),
        lookups: from_lookups(lookups),
    };
    let [range12, range5] = RANGE_BITS.map(range);
    vec![
        table("program_table_quotients", 6, program.lookups(&cells(6))),
        table("range12_table_quotients", 2, range12.lookups(&cells(2))),
        table("range5_table_quotients", 2, range5.lookups(&cells(2))),
        table(
            "register_memory_quotients",
            3,
            memory(REGISTER_SPACE).lookups(&cells(3)),
        ),
        table(
            "data_memory_quotients",
            3,
            memory(DATA_SPACE).lookups(&cells(3)),
        ),
    ]
}

/// Writes the row's LogUp fractions as `num{f}` and `den{f}` (QM31 statements), paired as
/// `LogupConstraints` and `add_lookups` pair them: `n0/d0 + n1/d1 = (n0·d1 + n1·d0) / (d0·d1)`,
/// with `d = Σ_i alpha^i · value_i − z` for each term.
fn fraction_lines(p: &mut Printer, c: &Component, w: &mut String) {
    let mut terms = Vec::new();
    for (k, (rel, multiplicity, values)) in c.lookups.iter().enumerate() {
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
        terms.push((p.value(multiplicity), format!("d{k}")));
    }
    for (f, pair) in terms.chunks(2).enumerate() {
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
    }
}

/// One `__global__` function: a grid-stride loop over the rows of the evaluation domain that
/// adds `Σ_k coeff_k · constraint_k / vanishing` to `accum`.
fn kernel_function(c: &Component) -> String {
    let mut p = Printer::default();
    let mut body = String::new();
    let w = &mut body;
    let mut coeff = 0usize;
    for constraint in &c.constraints {
        let v = p.value(constraint);
        writeln!(
            w,
            "        acc = qm31_add(acc, qm31_mul_m31(coeff({coeff}), {v}));"
        )
        .unwrap();
        coeff += 1;
    }
    fraction_lines(&mut p, c, w);
    let n_fractions = c.n_fractions();
    for f in 0..n_fractions {
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
    format!(
        r#"
// {function}: cells per row {n_cells}, base constraints {n_base}, LogUp fraction constraints
// {n_fractions} ({n_inter} interaction columns), coefficients {n_coeffs}.
extern "C" __global__ void {function}(
    const u32* trace, const u32* interaction, u32 trace_log, u32 eval_log, const u32* coeffs,
    const u32* challenges, const u32* denom_inv, u32* accum) {{
    u32 n = 1u << eval_log;
    qm31 shift = {{challenges[{shift}], challenges[{shift} + 1], challenges[{shift} + 2], challenges[{shift} + 3]}};
    for (u32 row = grid_start(); row < n; row += grid_stride()) {{
{loads}        qm31 acc = {{0, 0, 0, 0}};
        qm31 earlier = {{0, 0, 0, 0}};
{statements}{body}        qm31 q = qm31_mul_m31(acc, denom_inv[row >> trace_log]);
        qm31_store(accum, n, row, qm31_add(qm31_load(accum, n, row), q));
    }}
}}
"#,
        function = c.function,
        n_cells = c.n_cells,
        n_base = c.constraints.len(),
        n_fractions = n_fractions,
        n_inter = 4 * n_fractions,
        n_coeffs = coeff,
        shift = SHIFT_WORD,
        loads = loads(0..c.n_cells),
        statements = p.code,
        body = body,
    )
}

/// One `__global__` function that writes a component's LogUp interaction columns on its trace
/// domain, as `obelysk_prover::air::witness::interaction_trace` does on the host: per row, every
/// paired fraction but the last in its own four columns, and in the last four the row's whole
/// sum (which [`crate::ops::interaction_columns`] then turns into the running sum).
fn interaction_function(c: &Component, function: &str) -> String {
    let mut p = Printer::default();
    let mut body = String::new();
    let w = &mut body;
    fraction_lines(&mut p, c, w);
    let n_fractions = c.n_fractions();
    for f in 0..n_fractions {
        writeln!(w, "        qm31 v{f} = qm31_mul(num{f}, qm31_inv(den{f}));").unwrap();
        writeln!(w, "        sum = qm31_add(sum, v{f});").unwrap();
        if f + 1 < n_fractions {
            writeln!(w, "        qm31_store4(out, n, {}, row, v{f});", 4 * f).unwrap();
        } else {
            writeln!(w, "        qm31_store4(out, n, {}, row, sum);", 4 * f).unwrap();
        }
    }
    format!(
        r#"
// {function}: cells per row {n_cells}, LogUp fractions {n_fractions} ({n_inter} interaction
// columns).
extern "C" __global__ void {function}(const u32* trace, u32 log_n, const u32* challenges, u32* out) {{
    u32 n = 1u << log_n;
    for (u32 row = grid_start(); row < n; row += grid_stride()) {{
{loads}        qm31 sum = {{0, 0, 0, 0}};
{statements}{body}    }}
}}
"#,
        n_cells = c.n_cells,
        n_inter = 4 * n_fractions,
        loads = loads(p.cells.iter().copied()),
        statements = p.code,
    )
}

/// The statements that read a row's cells, `c0`, `c1`, … from columns of `n` values one after
/// another in `trace`.
fn loads(cells: impl IntoIterator<Item = usize>) -> String {
    cells
        .into_iter()
        .map(|i| format!("        u32 c{i} = trace[(u64){i} * n + row];\n"))
        .collect()
}

/// The challenges table as the kernels index it.
const CHALLENGE_MACROS: &str = r#"#define z(r) (qm31{challenges[24 * (r)], challenges[24 * (r) + 1], challenges[24 * (r) + 2], challenges[24 * (r) + 3]})
#define alpha(r, i) (qm31{challenges[24 * (r) + 4 * (i) + 4], challenges[24 * (r) + 4 * (i) + 5], challenges[24 * (r) + 4 * (i) + 6], challenges[24 * (r) + 4 * (i) + 7]})
"#;

/// `kernels/interaction.cu`: the CPU component's LogUp columns, `cpu_interaction_columns` (the
/// tables are small enough that the host builds theirs).
pub fn interaction_kernel() -> String {
    format!(
        r#"// GENERATED by `obelysk_gpu::codegen` from the AIR in crates/obelysk-prover/src/air/; do not
// edit. `UPDATE_KERNELS=1 cargo test -p obelysk-gpu --test codegen` writes it again.
//
// The CPU component's LogUp interaction columns on its trace domain (2^log_n rows, bit-reversed
// order). `trace`: the component's main columns, each of 2^log_n values, one after another.
// `challenges`: as the constraint kernels read them. `out`: four columns per paired fraction;
// the last four hold each row's sum of all its fractions, before the running sum.
#include "m31.cuh"

{CHALLENGE_MACROS}{function}
#undef z
#undef alpha
"#,
        function = interaction_function(&cpu_component(), INTERACTION_FUNCTION),
    )
}

/// The entry point of [`interaction_kernel`].
pub const INTERACTION_FUNCTION: &str = "cpu_interaction_columns";

/// Interaction columns [`INTERACTION_FUNCTION`] writes, and the cells it reads per row.
pub fn interaction_shape() -> (usize, usize) {
    let kernel = constraint_kernels()[0];
    (kernel.n_interaction_columns, kernel.n_cells)
}

/// Where the LogUp shift starts in the challenges table: after 24 words per relation.
const SHIFT_WORD: usize = 24 * Rel::ALL.len();

/// The file's header and the helpers every generated function uses.
fn file(what: &str, functions: &[Component]) -> String {
    let mut out = format!(
        r#"// GENERATED by `obelysk_gpu::codegen` from the AIR in crates/obelysk-prover/src/air/; do not
// edit. `UPDATE_KERNELS=1 cargo test -p obelysk-gpu --test codegen` writes it again.
//
// {what}: constraint quotients on a component's evaluation domain (2^eval_log rows, bit-reversed
// order). Per row, Σ_k coeff_k · constraint_k over the component's base constraints and LogUp
// fraction constraints (paired as `LogupConstraints` pairs them), divided by the trace domain's
// vanishing polynomial (`denom_inv[row >> trace_log]`) and added to `accum`, a secure column.
//
// `trace`: the component's cells, preprocessed then main, each a column of 2^eval_log values one
// after another; `interaction`: its LogUp columns, the same way. `coeffs`: one QM31 per
// constraint. `challenges`: for each relation z and the {max_tuple} powers of alpha (24 words),
// then the LogUp shift (4 words).
#include "m31.cuh"

#define coeff(k) (qm31{{coeffs[4 * (k)], coeffs[4 * (k) + 1], coeffs[4 * (k) + 2], coeffs[4 * (k) + 3]}})
{CHALLENGE_MACROS}#define interaction_at(f, r) qm31_load4(interaction, n, 4 * (f), (r))
"#,
        max_tuple = MAX_TUPLE,
    );
    for c in functions {
        out.push_str(&kernel_function(c));
    }
    out.push_str("\n#undef coeff\n#undef z\n#undef alpha\n#undef interaction_at\n");
    out
}

/// `kernels/cpu_constraints.cu`: the CPU component's kernel, `cpu_constraint_quotients`.
pub fn cpu_constraints_kernel() -> String {
    file("The CPU component", &[cpu_component()])
}

/// `kernels/table_constraints.cu`: the program, range and memory tables' kernels.
pub fn table_constraints_kernel() -> String {
    file(
        "The table components (program, 12- and 5-bit ranges, register and data memory)",
        &table_components(),
    )
}

/// A generated constraint kernel: its entry point, and the shape of what it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConstraintKernel {
    pub function: &'static str,
    /// Cells per row: preprocessed then main columns.
    pub n_cells: usize,
    pub n_interaction_columns: usize,
    pub n_constraints: usize,
}

/// Every generated constraint kernel, the CPU component's first (computed once per process).
pub fn constraint_kernels() -> &'static [ConstraintKernel] {
    static KERNELS: std::sync::OnceLock<Vec<ConstraintKernel>> = std::sync::OnceLock::new();
    KERNELS.get_or_init(|| {
        std::iter::once(cpu_component())
            .chain(table_components())
            .map(|c| ConstraintKernel {
                function: c.function,
                n_cells: c.n_cells,
                n_interaction_columns: 4 * c.n_fractions(),
                n_constraints: c.n_constraints(),
            })
            .collect()
    })
}

/// The kernel with entry point `function`.
pub fn constraint_kernel(function: &str) -> Option<ConstraintKernel> {
    constraint_kernels()
        .iter()
        .find(|k| k.function == function)
        .copied()
}

/// Words of the challenges table the kernels read.
pub const CHALLENGE_WORDS: usize = SHIFT_WORD + 4;

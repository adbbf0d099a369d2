//! The reference interpreter. It is deliberately plain: the prover's trace generator replays its
//! record, and tests compare the two.

use serde::{Deserialize, Serialize};

use crate::field::M31;
use crate::isa::{
    Instruction, OpCode, Program, ProgramError, LT_BITS, MAX_DATA_WORDS, MAX_STEPS, NUM_REGISTERS,
};

/// Steps allowed when the caller sets no limit.
pub const DEFAULT_STEP_LIMIT: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VmError {
    #[error("no program loaded: call load_program first")]
    NoProgram,
    #[error(transparent)]
    Program(#[from] ProgramError),
    #[error("step limit of {limit} reached without halting (raise it with --max-steps, at most {MAX_STEPS})")]
    StepLimit { limit: u64 },
    #[error("pc {pc}: inverse of zero (register r{register})")]
    InverseOfZero { pc: u32, register: u32 },
    #[error("pc {pc}: lt operands {lhs} and {rhs} are too far apart (their difference must stay within 2^{LT_BITS})")]
    CompareOutOfRange { pc: u32, lhs: i64, rhs: i64 },
    #[error("pc {pc}: data address {address} is outside memory (0..{MAX_DATA_WORDS})")]
    AddressOutOfRange { pc: u32, address: u32 },
    #[error("pc {pc}: `in` needs input #{index} but only {available} inputs were given")]
    InputExhausted {
        pc: u32,
        index: usize,
        available: usize,
    },
    #[error("program halted after reading {read} of {given} inputs: a proof binds every input, so each must be read")]
    UnreadInputs { read: usize, given: usize },
}

pub type Result<T, E = VmError> = std::result::Result<T, E>;

/// What one executed instruction did. Values the instruction did not use are zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub pc: u32,
    /// Value of register `b` when it is read.
    pub b_value: M31,
    /// Value of register `c` when it is read.
    pub c_value: M31,
    /// Value written to register `a`.
    pub result: M31,
    /// Data address touched by `load`/`store`.
    pub mem_addr: u32,
    /// Data word before the access.
    pub mem_before: M31,
}

/// The machine state after the last step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmState {
    pub pc: u32,
    pub registers: [M31; NUM_REGISTERS],
    pub steps: u64,
    pub outputs: Vec<M31>,
}

/// A finished execution: the program, its public inputs and outputs, and every step.
#[derive(Clone, Debug)]
pub struct ExecutionTrace {
    program: Program,
    inputs: Vec<M31>,
    steps: Vec<Step>,
    final_state: VmState,
    data_words: u32,
}

impl ExecutionTrace {
    pub fn program(&self) -> &Program {
        &self.program
    }
    pub fn inputs(&self) -> &[M31] {
        &self.inputs
    }
    pub fn outputs(&self) -> &[M31] {
        &self.final_state.outputs
    }
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }
    pub fn final_state(&self) -> &VmState {
        &self.final_state
    }
    /// One past the highest data address touched (0 when memory was not used).
    pub fn data_words(&self) -> u32 {
        self.data_words
    }
}

/// The Obelysk virtual machine.
#[derive(Debug, Clone)]
pub struct ObelyskVM {
    program: Vec<Instruction>,
    inputs: Vec<M31>,
    step_limit: u64,
}

impl Default for ObelyskVM {
    fn default() -> Self {
        Self::new()
    }
}

impl ObelyskVM {
    pub fn new() -> Self {
        Self {
            program: Vec::new(),
            inputs: Vec::new(),
            step_limit: DEFAULT_STEP_LIMIT,
        }
    }

    /// Loads a program. A program that does not end in `halt` gets one appended, so that running
    /// off the end stops the machine; validation happens in [`ObelyskVM::execute`].
    pub fn load_program(&mut self, mut program: Vec<Instruction>) {
        if program.last().map(|i| i.opcode) != Some(OpCode::Halt) {
            program.push(Instruction::new(OpCode::Halt, 0, 0, 0));
        }
        self.program = program;
    }

    /// Loads an already validated program as is.
    pub fn load(&mut self, program: &Program) {
        self.program = program.instructions().to_vec();
    }

    /// Public inputs, read in order by `in`.
    pub fn set_inputs(&mut self, inputs: Vec<M31>) {
        self.inputs = inputs;
    }

    /// Caps the number of executed steps (clamped to [`MAX_STEPS`]).
    pub fn set_step_limit(&mut self, limit: u64) {
        self.step_limit = limit.min(MAX_STEPS);
    }

    pub fn execute(&self) -> Result<ExecutionTrace> {
        if self.program.is_empty() {
            return Err(VmError::NoProgram);
        }
        let program = Program::new(self.program.clone())?;
        run(program, self.inputs.clone(), self.step_limit)
    }
}

fn run(program: Program, inputs: Vec<M31>, step_limit: u64) -> Result<ExecutionTrace> {
    let code = program.instructions();
    let mut regs = [M31::ZERO; NUM_REGISTERS];
    let mut memory: Vec<M31> = Vec::new();
    let mut outputs = Vec::new();
    let mut steps = Vec::new();
    let mut next_input = 0usize;
    let mut pc: u32 = 0;
    let mut data_words = 0u32;

    loop {
        if steps.len() as u64 >= step_limit {
            return Err(VmError::StepLimit { limit: step_limit });
        }
        // Validation guarantees every reachable pc is inside the program.
        let ins = code[pc as usize];
        let mut step = Step {
            pc,
            ..Step::default()
        };
        if ins.opcode.reads_b() {
            step.b_value = regs[ins.b as usize];
        }
        if ins.opcode.reads_c() {
            step.c_value = regs[ins.c as usize];
        }
        let (vb, vc) = (step.b_value, step.c_value);
        let mut next_pc = pc + 1;
        let mut write = None;
        match ins.opcode {
            OpCode::Halt => {}
            OpCode::LoadImm => write = Some(M31::new(ins.b)),
            OpCode::Add => write = Some(vb + vc),
            OpCode::Sub => write = Some(vb - vc),
            OpCode::Mul => write = Some(vb * vc),
            OpCode::AddImm => write = Some(vb + M31::new(ins.c)),
            OpCode::MulImm => write = Some(vb * M31::new(ins.c)),
            OpCode::Inv => {
                let inv = vb.inverse().ok_or(VmError::InverseOfZero {
                    pc,
                    register: ins.b,
                })?;
                write = Some(inv);
            }
            OpCode::Lt => write = Some(compare(pc, vb, vc)?),
            OpCode::Load | OpCode::Store => {
                let offset = if ins.opcode == OpCode::Load {
                    ins.c
                } else {
                    ins.a
                };
                let address = (vb + M31::new(offset)).value();
                if address >= MAX_DATA_WORDS {
                    return Err(VmError::AddressOutOfRange { pc, address });
                }
                if address as usize >= memory.len() {
                    memory.resize(address as usize + 1, M31::ZERO);
                }
                data_words = data_words.max(address + 1);
                step.mem_addr = address;
                step.mem_before = memory[address as usize];
                if ins.opcode == OpCode::Load {
                    write = Some(step.mem_before);
                } else {
                    memory[address as usize] = vc;
                }
            }
            OpCode::Jmp => next_pc = ins.c,
            OpCode::Jz if vb == M31::ZERO => next_pc = ins.c,
            OpCode::Jnz if vb != M31::ZERO => next_pc = ins.c,
            OpCode::Jz | OpCode::Jnz => {}
            OpCode::In => {
                let value = *inputs.get(next_input).ok_or(VmError::InputExhausted {
                    pc,
                    index: next_input,
                    available: inputs.len(),
                })?;
                next_input += 1;
                write = Some(value);
            }
            OpCode::Out => outputs.push(vb),
        }
        if let Some(value) = write {
            step.result = value;
            regs[ins.a as usize] = value;
        }
        steps.push(step);
        if ins.opcode == OpCode::Halt {
            break;
        }
        pc = next_pc;
    }
    if next_input != inputs.len() {
        return Err(VmError::UnreadInputs {
            read: next_input,
            given: inputs.len(),
        });
    }
    let final_state = VmState {
        pc,
        registers: regs,
        steps: steps.len() as u64,
        outputs,
    };
    Ok(ExecutionTrace {
        program,
        inputs,
        steps,
        final_state,
        data_words,
    })
}

/// `signed(lhs) < signed(rhs)`, defined when `rhs - lhs` lies in `(-2^LT_BITS, 2^LT_BITS]`.
fn compare(pc: u32, lhs: M31, rhs: M31) -> Result<M31> {
    let diff = (rhs - lhs).value();
    let bound = 1u32 << LT_BITS;
    if (1..=bound).contains(&diff) {
        Ok(M31::ONE)
    } else if (lhs - rhs).value() < bound {
        Ok(M31::ZERO)
    } else {
        Err(VmError::CompareOutOfRange {
            pc,
            lhs: lhs.signed(),
            rhs: rhs.signed(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ins(op: OpCode, a: u32, b: u32, c: u32) -> Instruction {
        Instruction::new(op, a, b, c)
    }

    #[test]
    fn readme_example_computes_eleven() {
        let mut vm = ObelyskVM::new();
        vm.load_program(vec![
            ins(OpCode::LoadImm, 0, 2, 0),
            ins(OpCode::LoadImm, 1, 3, 0),
            ins(OpCode::Mul, 2, 0, 1),
            ins(OpCode::LoadImm, 3, 5, 0),
            ins(OpCode::Add, 4, 2, 3),
        ]);
        let trace = vm.execute().unwrap();
        assert_eq!(trace.final_state().registers[4], M31::new(11));
        assert_eq!(
            trace.steps().len(),
            6,
            "five instructions and the appended halt"
        );
    }

    #[test]
    fn loop_sums_inputs_and_stores() {
        // r1 = n; r2 = acc; loop: in r3; acc += r3; mem[r1 + 0] = acc; r1 -= 1; jnz r1 loop
        let mut vm = ObelyskVM::new();
        vm.load_program(vec![
            ins(OpCode::LoadImm, 1, 3, 0),
            ins(OpCode::In, 3, 0, 0),
            ins(OpCode::Add, 2, 2, 3),
            ins(OpCode::Store, 0, 1, 2),
            ins(OpCode::AddImm, 1, 1, M31::from_i64(-1).value()),
            ins(OpCode::Jnz, 0, 1, 1),
            ins(OpCode::Load, 5, 1, 3),
            ins(OpCode::Out, 0, 2, 0),
            ins(OpCode::Out, 0, 5, 0),
        ]);
        vm.set_inputs(vec![M31::new(4), M31::new(5), M31::new(6)]);
        let trace = vm.execute().unwrap();
        assert_eq!(trace.outputs(), &[M31::new(15), M31::new(4)]);
        assert_eq!(trace.data_words(), 4);
    }

    #[test]
    fn lt_is_signed_and_bounded() {
        let m = M31::from_i64;
        assert_eq!(compare(0, m(-5), m(3)), Ok(M31::ONE));
        assert_eq!(compare(0, m(3), m(-5)), Ok(M31::ZERO));
        assert_eq!(compare(0, m(7), m(7)), Ok(M31::ZERO));
        let far = 1i64 << 29;
        assert_eq!(compare(0, m(0), m(far)), Ok(M31::ONE));
        assert!(compare(0, m(0), m(far + 1)).is_err());
        assert_eq!(compare(0, m(far - 1), m(0)), Ok(M31::ZERO));
        assert!(compare(0, m(far), m(0)).is_err());
    }

    #[test]
    fn errors_are_reported() {
        let mut vm = ObelyskVM::new();
        vm.load_program(vec![ins(OpCode::Jmp, 0, 0, 0)]);
        vm.set_step_limit(10);
        assert_eq!(vm.execute().unwrap_err(), VmError::StepLimit { limit: 10 });

        vm.load_program(vec![ins(OpCode::Inv, 0, 1, 0)]);
        assert!(matches!(vm.execute(), Err(VmError::InverseOfZero { .. })));

        vm.load_program(vec![ins(OpCode::In, 0, 0, 0)]);
        assert!(matches!(vm.execute(), Err(VmError::InputExhausted { .. })));

        vm.load_program(vec![ins(OpCode::Halt, 0, 0, 0)]);
        vm.set_inputs(vec![M31::ONE]);
        assert!(matches!(vm.execute(), Err(VmError::UnreadInputs { .. })));

        vm.set_inputs(vec![]);
        vm.load_program(vec![
            ins(OpCode::LoadImm, 0, MAX_DATA_WORDS, 0),
            ins(OpCode::Load, 1, 0, 0),
        ]);
        assert!(matches!(
            vm.execute(),
            Err(VmError::AddressOutOfRange { .. })
        ));
    }
}

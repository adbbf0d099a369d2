//! The Obelysk instruction set. Every choice here is mirrored by a constraint in the AIR
//! (`obelysk-prover`); `docs/isa.md` is the user-facing description.

use serde::{Deserialize, Serialize};

use crate::field::{M31, P};

/// Number of general-purpose registers, `r0..r15`.
pub const NUM_REGISTERS: usize = 16;
/// Data memory words are addressed `0..MAX_DATA_WORDS`.
pub const MAX_DATA_WORDS: u32 = 1 << 20;
/// Longest program the table can hold.
pub const MAX_PROGRAM_LEN: usize = 1 << 20;
/// Hard ceiling on executed steps: timestamps are `4 * clk + slot` and must stay below 2^24 so
/// that two 12-bit limbs prove their order.
pub const MAX_STEPS: u64 = (1 << 22) - 2;
/// `Lt` is defined when `r_c - r_b` lies in `(-2^LT_BITS, 2^LT_BITS]`: every pair of signed values
/// in `[-2^28, 2^28)` compares correctly.
pub const LT_BITS: u32 = 29;

/// Operation codes. The numeric value is what the program table commits to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum OpCode {
    /// Stop. Every execution ends here.
    Halt = 0,
    /// `r_a = b` (b is an immediate field element).
    LoadImm = 1,
    /// `r_a = r_b + r_c`.
    Add = 2,
    /// `r_a = r_b - r_c`.
    Sub = 3,
    /// `r_a = r_b * r_c`.
    Mul = 4,
    /// `r_a = r_b + c` (c is an immediate).
    AddImm = 5,
    /// `r_a = r_b * c` (c is an immediate).
    MulImm = 6,
    /// `r_a = 1 / r_b`; faults when `r_b = 0`.
    Inv = 7,
    /// `r_a = 1` if `signed(r_b) < signed(r_c)` else `0`.
    Lt = 8,
    /// `r_a = mem[r_b + c]`.
    Load = 9,
    /// `mem[r_b + a] = r_c` (a is an immediate offset).
    Store = 10,
    /// `pc = c`.
    Jmp = 11,
    /// `pc = c` if `r_b == 0`.
    Jz = 12,
    /// `pc = c` if `r_b != 0`.
    Jnz = 13,
    /// `r_a = next public input`.
    In = 14,
    /// Append `r_b` to the public outputs.
    Out = 15,
}

impl OpCode {
    pub const ALL: [OpCode; 16] = [
        OpCode::Halt,
        OpCode::LoadImm,
        OpCode::Add,
        OpCode::Sub,
        OpCode::Mul,
        OpCode::AddImm,
        OpCode::MulImm,
        OpCode::Inv,
        OpCode::Lt,
        OpCode::Load,
        OpCode::Store,
        OpCode::Jmp,
        OpCode::Jz,
        OpCode::Jnz,
        OpCode::In,
        OpCode::Out,
    ];
    pub const COUNT: usize = Self::ALL.len();

    pub fn from_u8(value: u8) -> Option<Self> {
        Self::ALL.get(value as usize).copied()
    }

    /// Assembler mnemonic.
    pub const fn mnemonic(self) -> &'static str {
        match self {
            OpCode::Halt => "halt",
            OpCode::LoadImm => "loadi",
            OpCode::Add => "add",
            OpCode::Sub => "sub",
            OpCode::Mul => "mul",
            OpCode::AddImm => "addi",
            OpCode::MulImm => "muli",
            OpCode::Inv => "inv",
            OpCode::Lt => "lt",
            OpCode::Load => "load",
            OpCode::Store => "store",
            OpCode::Jmp => "jmp",
            OpCode::Jz => "jz",
            OpCode::Jnz => "jnz",
            OpCode::In => "in",
            OpCode::Out => "out",
        }
    }

    /// Writes register `a`.
    pub const fn writes_a(self) -> bool {
        matches!(
            self,
            OpCode::LoadImm
                | OpCode::Add
                | OpCode::Sub
                | OpCode::Mul
                | OpCode::AddImm
                | OpCode::MulImm
                | OpCode::Inv
                | OpCode::Lt
                | OpCode::Load
                | OpCode::In
        )
    }

    /// Reads register `b`.
    pub const fn reads_b(self) -> bool {
        matches!(
            self,
            OpCode::Add
                | OpCode::Sub
                | OpCode::Mul
                | OpCode::AddImm
                | OpCode::MulImm
                | OpCode::Inv
                | OpCode::Lt
                | OpCode::Load
                | OpCode::Store
                | OpCode::Jz
                | OpCode::Jnz
                | OpCode::Out
        )
    }

    /// Reads register `c`.
    pub const fn reads_c(self) -> bool {
        matches!(
            self,
            OpCode::Add | OpCode::Sub | OpCode::Mul | OpCode::Lt | OpCode::Store
        )
    }

    /// Touches data memory.
    pub const fn accesses_memory(self) -> bool {
        matches!(self, OpCode::Load | OpCode::Store)
    }

    /// `c` is a jump target.
    pub const fn is_jump(self) -> bool {
        matches!(self, OpCode::Jmp | OpCode::Jz | OpCode::Jnz)
    }
}

/// One instruction: an opcode and three fields whose meaning the opcode gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Instruction {
    pub opcode: OpCode,
    pub a: u32,
    pub b: u32,
    pub c: u32,
}

impl Instruction {
    pub const fn new(opcode: OpCode, a: u32, b: u32, c: u32) -> Self {
        Self { opcode, a, b, c }
    }
}

/// Why a program cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramError {
    #[error("program is empty: it needs at least a `halt`")]
    Empty,
    #[error("program has {len} instructions, the limit is {max}")]
    TooLong { len: usize, max: usize },
    #[error("instruction {pc} ({op}): field {field} = {value} must be a register r0..r15")]
    BadRegister {
        pc: usize,
        op: &'static str,
        field: char,
        value: u32,
    },
    #[error("instruction {pc} ({op}): field {field} = {value} must be a field element below {P}")]
    BadImmediate {
        pc: usize,
        op: &'static str,
        field: char,
        value: u32,
    },
    #[error("instruction {pc} ({op}): jump target {target} is outside the program (0..{len})")]
    BadJumpTarget {
        pc: usize,
        op: &'static str,
        target: u32,
        len: usize,
    },
    #[error("the last instruction is `{found}`: a program must end with `halt` or `jmp` so control cannot run off its end")]
    FallsOffEnd { found: &'static str },
    #[error("instruction {pc} ({op}): unused field {field} must be 0, found {value}")]
    UnusedField {
        pc: usize,
        op: &'static str,
        field: char,
        value: u32,
    },
}

/// A validated program. Validation makes every field canonical, so the program hash and the
/// program table in the proof have one reading.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Instruction>", into = "Vec<Instruction>")]
pub struct Program {
    instructions: Vec<Instruction>,
}

impl Program {
    pub fn new(instructions: Vec<Instruction>) -> Result<Self, ProgramError> {
        validate(&instructions)?;
        Ok(Self { instructions })
    }

    pub fn instructions(&self) -> &[Instruction] {
        &self.instructions
    }

    pub fn len(&self) -> usize {
        self.instructions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.instructions.is_empty()
    }

    /// Canonical byte encoding: for each instruction, opcode then a, b, c as little-endian u32.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * self.len() + 8);
        out.extend_from_slice(b"OBLYSK01");
        for ins in &self.instructions {
            out.extend_from_slice(&(ins.opcode as u32).to_le_bytes());
            out.extend_from_slice(&ins.a.to_le_bytes());
            out.extend_from_slice(&ins.b.to_le_bytes());
            out.extend_from_slice(&ins.c.to_le_bytes());
        }
        out
    }

    /// The program hash that a proof's claim names: Blake2s-256 of [`Program::encode`].
    pub fn hash(&self) -> [u8; 32] {
        use blake2::{Blake2s256, Digest};
        Blake2s256::digest(self.encode()).into()
    }
}

impl TryFrom<Vec<Instruction>> for Program {
    type Error = ProgramError;
    fn try_from(value: Vec<Instruction>) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Program> for Vec<Instruction> {
    fn from(value: Program) -> Self {
        value.instructions
    }
}

fn validate(instructions: &[Instruction]) -> Result<(), ProgramError> {
    if instructions.is_empty() {
        return Err(ProgramError::Empty);
    }
    if instructions.len() > MAX_PROGRAM_LEN {
        return Err(ProgramError::TooLong {
            len: instructions.len(),
            max: MAX_PROGRAM_LEN,
        });
    }
    let len = instructions.len();
    let last = instructions[len - 1].opcode;
    if !matches!(last, OpCode::Halt | OpCode::Jmp) {
        return Err(ProgramError::FallsOffEnd {
            found: last.mnemonic(),
        });
    }
    for (pc, ins) in instructions.iter().enumerate() {
        let op = ins.opcode;
        let name = op.mnemonic();
        let register = |field: char, value: u32| {
            if (value as usize) < NUM_REGISTERS {
                Ok(())
            } else {
                Err(ProgramError::BadRegister {
                    pc,
                    op: name,
                    field,
                    value,
                })
            }
        };
        let immediate = |field: char, value: u32| {
            if M31::from_canonical(value).is_some() {
                Ok(())
            } else {
                Err(ProgramError::BadImmediate {
                    pc,
                    op: name,
                    field,
                    value,
                })
            }
        };
        let unused = |field: char, value: u32| {
            if value == 0 {
                Ok(())
            } else {
                Err(ProgramError::UnusedField {
                    pc,
                    op: name,
                    field,
                    value,
                })
            }
        };
        // Field a.
        match op {
            _ if op.writes_a() => register('a', ins.a)?,
            OpCode::Store => immediate('a', ins.a)?,
            _ => unused('a', ins.a)?,
        }
        // Field b.
        match op {
            _ if op.reads_b() => register('b', ins.b)?,
            OpCode::LoadImm => immediate('b', ins.b)?,
            _ => unused('b', ins.b)?,
        }
        // Field c.
        match op {
            _ if op.reads_c() => register('c', ins.c)?,
            OpCode::AddImm | OpCode::MulImm | OpCode::Load => immediate('c', ins.c)?,
            _ if op.is_jump() => {
                if ins.c as usize >= len {
                    return Err(ProgramError::BadJumpTarget {
                        pc,
                        op: name,
                        target: ins.c,
                        len,
                    });
                }
            }
            _ => unused('c', ins.c)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcode_values_are_indices() {
        for (i, op) in OpCode::ALL.iter().enumerate() {
            assert_eq!(*op as usize, i);
            assert_eq!(OpCode::from_u8(i as u8), Some(*op));
        }
        assert_eq!(OpCode::from_u8(16), None);
    }

    #[test]
    fn validation_rejects_bad_fields() {
        let halt = Instruction::new(OpCode::Halt, 0, 0, 0);
        let bad_reg = vec![Instruction::new(OpCode::Add, 16, 0, 0), halt];
        assert!(matches!(
            Program::new(bad_reg),
            Err(ProgramError::BadRegister { field: 'a', .. })
        ));
        let bad_jump = vec![Instruction::new(OpCode::Jmp, 0, 0, 5), halt];
        assert!(matches!(
            Program::new(bad_jump),
            Err(ProgramError::BadJumpTarget { .. })
        ));
        let bad_imm = vec![Instruction::new(OpCode::LoadImm, 0, P, 0), halt];
        assert!(matches!(
            Program::new(bad_imm),
            Err(ProgramError::BadImmediate { .. })
        ));
        let open_end = vec![Instruction::new(OpCode::LoadImm, 1, 0, 0)];
        assert!(matches!(
            Program::new(open_end),
            Err(ProgramError::FallsOffEnd { .. })
        ));
        let unused = vec![Instruction::new(OpCode::Halt, 1, 0, 0)];
        assert!(matches!(
            Program::new(unused),
            Err(ProgramError::UnusedField { .. })
        ));
        assert_eq!(Program::new(vec![]), Err(ProgramError::Empty));
    }

    #[test]
    fn hash_depends_on_every_field() {
        let base = Program::new(vec![
            Instruction::new(OpCode::LoadImm, 1, 7, 0),
            Instruction::new(OpCode::Halt, 0, 0, 0),
        ])
        .unwrap();
        let other = Program::new(vec![
            Instruction::new(OpCode::LoadImm, 1, 8, 0),
            Instruction::new(OpCode::Halt, 0, 0, 0),
        ])
        .unwrap();
        assert_ne!(base.hash(), other.hash());
    }
}

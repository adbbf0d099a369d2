//! The `.oasm` text assembler and its inverse, the disassembler.
//!
//! # Syntax
//!
//! One instruction per line. Comments start with `#` or `;` and run to the end of the line.
//! A label is `name:` (name matching `[A-Za-z_.][A-Za-z0-9_.]*`), either on its own line or in
//! front of an instruction; it names the index of the next instruction. Mnemonics and registers
//! (`r0`..`r15`) are case-insensitive, labels are case-sensitive. Operands are separated by
//! commas. Immediates are decimal (`42`, `-1`, where `-v` means `p - v`) or hex (`0x2A`), and their
//! magnitude must be below `p = 2^31 - 1`.
//!
//! | Syntax                  | Instruction (`a, b, c`)   |
//! |-------------------------|---------------------------|
//! | `halt`                  | `Halt 0, 0, 0`            |
//! | `loadi rA, IMM` (`li`)  | `LoadImm A, IMM, 0`       |
//! | `add rA, rB, rC`        | `Add A, B, C` (also `sub`, `mul`, `lt`) |
//! | `addi rA, rB, IMM`      | `AddImm A, B, IMM` (also `muli`) |
//! | `mov rA, rB`            | `AddImm A, B, 0`          |
//! | `inv rA, rB`            | `Inv A, B, 0`             |
//! | `load rA, [rB + IMM]`   | `Load A, B, IMM`          |
//! | `store rC, [rB + IMM]`  | `Store IMM, B, C`         |
//! | `jmp T`                 | `Jmp 0, 0, T`             |
//! | `jz rB, T` / `jnz rB, T`| `Jz 0, B, T` / `Jnz 0, B, T` |
//! | `in rA`                 | `In A, 0, 0`              |
//! | `out rB`                | `Out 0, B, 0`             |
//!
//! A memory operand is `[rB]`, `[rB + IMM]` or `[rB - IMM]` (the offset is negated in the field).
//! A jump target `T` is a label or an instruction index.
//!
//! Unlike [`ObelyskVM::load_program`](crate::ObelyskVM::load_program), which does the same at run
//! time, [`assemble`] appends a final `halt` itself when the program does not end with one, or
//! when a label stands after the last instruction (so that `jmp end` to a trailing `end:` label
//! works); the result is then validated with [`Program::new`].

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::field::{M31, P};
use crate::isa::{Instruction, OpCode, Program, ProgramError};

/// An assembly error, located in the source. Displays as `file:line:col: message`, where the
/// message is usually `expected X, found Y`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{col}: {kind}")]
pub struct AsmError {
    /// The file name given to [`assemble`].
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    pub kind: AsmErrorKind,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AsmErrorKind {
    /// The parser wanted one thing and saw another.
    #[error("expected {expected}, found {found}")]
    Expected { expected: String, found: String },
    /// A label defined twice; the error points at the second definition.
    #[error("expected a new label name, found `{name}`, already defined at line {first_line}")]
    DuplicateLabel { name: String, first_line: usize },
    /// A jump to a label that is not defined anywhere in the file.
    #[error("expected a label defined in this file, found unknown label `{name}`")]
    UnknownLabel { name: String },
    /// The assembled program failed validation; the error points at the offending instruction.
    #[error("{0}")]
    Program(#[source] ProgramError),
}

impl AsmError {
    /// What the parser expected, for [`AsmErrorKind::Expected`].
    pub fn expected(&self) -> Option<&str> {
        match &self.kind {
            AsmErrorKind::Expected { expected, .. } => Some(expected),
            _ => None,
        }
    }

    /// What the parser found instead, for [`AsmErrorKind::Expected`].
    pub fn found(&self) -> Option<&str> {
        match &self.kind {
            AsmErrorKind::Expected { found, .. } => Some(found),
            _ => None,
        }
    }
}

/// Assembles `.oasm` source into a validated program. `file_name` only labels errors.
pub fn assemble(source: &str, file_name: &str) -> Result<Program, AsmError> {
    let err = |line: usize, col: usize, kind: AsmErrorKind| AsmError {
        file: file_name.to_string(),
        line,
        col,
        kind,
    };

    let mut instructions: Vec<Instruction> = Vec::new();
    // For each instruction: (line, column of the mnemonic, column of the jump target).
    let mut positions: Vec<(usize, usize, usize)> = Vec::new();
    // Jumps whose target is a label: (instruction index, label, line, column).
    let mut fixups: Vec<(usize, String, usize, usize)> = Vec::new();
    // Label name -> (instruction index, line of definition).
    let mut labels: HashMap<String, (usize, usize)> = HashMap::new();
    let mut last_line = 1;

    for (index, raw) in source.lines().enumerate() {
        let line_no = index + 1;
        last_line = line_no;
        let parsed = parse_line(raw).map_err(|(col, kind)| err(line_no, col, kind))?;
        for (name, col) in parsed.labels {
            if let Some(&(_, first_line)) = labels.get(&name) {
                return Err(err(
                    line_no,
                    col,
                    AsmErrorKind::DuplicateLabel { name, first_line },
                ));
            }
            labels.insert(name, (instructions.len(), line_no));
        }
        if let Some(parsed) = parsed.instruction {
            if let Some((name, col)) = parsed.label_target {
                fixups.push((instructions.len(), name, line_no, col));
            }
            positions.push((line_no, parsed.col, parsed.target_col));
            instructions.push(parsed.instruction);
        }
    }

    for (pc, name, line, col) in fixups {
        match labels.get(&name) {
            Some(&(target, _)) => instructions[pc].c = target as u32,
            None => return Err(err(line, col, AsmErrorKind::UnknownLabel { name })),
        }
    }

    let ends_in_halt = instructions.last().map(|i| i.opcode) == Some(OpCode::Halt);
    let label_past_end = labels
        .values()
        .any(|&(target, _)| target == instructions.len());
    if !ends_in_halt || label_past_end {
        instructions.push(Instruction::new(OpCode::Halt, 0, 0, 0));
        positions.push((last_line, 1, 1));
    }

    Program::new(instructions).map_err(|e| {
        let located = match &e {
            ProgramError::BadJumpTarget { pc, .. } => positions
                .get(*pc)
                .map(|&(line, _, target_col)| (line, target_col)),
            ProgramError::BadRegister { pc, .. }
            | ProgramError::BadImmediate { pc, .. }
            | ProgramError::UnusedField { pc, .. } => {
                positions.get(*pc).map(|&(line, col, _)| (line, col))
            }
            ProgramError::TooLong { max, .. } => {
                positions.get(*max).map(|&(line, col, _)| (line, col))
            }
            ProgramError::Empty | ProgramError::FallsOffEnd { .. } => None,
        };
        let (line, col) = located.unwrap_or((last_line, 1));
        err(line, col, AsmErrorKind::Program(e))
    })
}

/// Prints a program as `.oasm` source. Jump targets get labels `L<index>`; immediates print in
/// their signed reading (`addi r1, r1, -1`). Assembling the output gives back the same program,
/// provided it ends in `halt` (otherwise [`assemble`] appends one).
pub fn disassemble(program: &Program) -> String {
    let targets: std::collections::BTreeSet<u32> = program
        .instructions()
        .iter()
        .filter(|i| i.opcode.is_jump())
        .map(|i| i.c)
        .collect();
    let imm = |v: u32| M31::new(v).signed().to_string();
    let mem = |base: u32, offset: u32| {
        let signed = M31::new(offset).signed();
        match signed {
            0 => format!("[r{base}]"),
            s if s < 0 => format!("[r{base} - {}]", -s),
            s => format!("[r{base} + {s}]"),
        }
    };
    let mut out = String::new();
    for (pc, ins) in program.instructions().iter().enumerate() {
        if targets.contains(&(pc as u32)) {
            let _ = writeln!(out, "L{pc}:");
        }
        let Instruction { opcode, a, b, c } = *ins;
        let m = opcode.mnemonic();
        let text = match opcode {
            OpCode::Halt => m.to_string(),
            OpCode::LoadImm => format!("{m} r{a}, {}", imm(b)),
            OpCode::Add | OpCode::Sub | OpCode::Mul | OpCode::Lt => {
                format!("{m} r{a}, r{b}, r{c}")
            }
            OpCode::AddImm if c == 0 => format!("mov r{a}, r{b}"),
            OpCode::AddImm | OpCode::MulImm => format!("{m} r{a}, r{b}, {}", imm(c)),
            OpCode::Inv => format!("{m} r{a}, r{b}"),
            OpCode::Load => format!("{m} r{a}, {}", mem(b, c)),
            OpCode::Store => format!("{m} r{c}, {}", mem(b, a)),
            OpCode::Jmp => format!("{m} L{c}"),
            OpCode::Jz | OpCode::Jnz => format!("{m} r{b}, L{c}"),
            OpCode::In => format!("{m} r{a}"),
            OpCode::Out => format!("{m} r{b}"),
        };
        let _ = writeln!(out, "    {text}");
    }
    out
}

/// Parses public inputs: values separated by commas and/or whitespace, each decimal (`-3` means
/// `p - 3`) or hex (`0x1f`). Every value must be a canonical field element: its magnitude must be
/// below `p`.
pub fn parse_inputs(text: &str) -> Result<Vec<M31>, String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|token| !token.is_empty())
        .enumerate()
        .map(|(index, token)| {
            parse_number(token).map_err(|why| format!("input #{} `{token}`: {why}", index + 1))
        })
        .collect()
}

/// Why a number failed to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberError {
    /// Not decimal or `0x` hex digits.
    Malformed,
    /// A number, but not below `p`.
    TooLarge,
}

/// Parses a whole token as a field element: optional `-`, then decimal or `0x` hex.
fn parse_number(token: &str) -> Result<M31, String> {
    let (negative, digits) = match token.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, token),
    };
    match parse_magnitude(digits) {
        Ok(v) if negative => Ok(-M31::new(v)),
        Ok(v) => Ok(M31::new(v)),
        Err(NumberError::Malformed) => {
            Err("not a number: expected decimal (e.g. 42, -1) or hex (e.g. 0x2a)".to_string())
        }
        Err(NumberError::TooLarge) => Err(format!(
            "not a field element: values must be below p = {P} (negative values down to -{})",
            P - 1
        )),
    }
}

/// Parses an unsigned decimal or `0x` hex number whose value must be below `p`.
fn parse_magnitude(digits: &str) -> Result<u32, NumberError> {
    let (radix, body) = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => (16, hex),
        None => (10, digits),
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return Err(NumberError::Malformed);
    }
    // Overflowing u64 means the value is far above p.
    match u64::from_str_radix(body, radix) {
        Ok(v) if v < P as u64 => Ok(v as u32),
        _ => Err(NumberError::TooLarge),
    }
}

/// One instruction parsed from a line.
struct ParsedInstruction {
    instruction: Instruction,
    /// Column of the mnemonic.
    col: usize,
    /// Column of the jump target (or of the mnemonic for other instructions).
    target_col: usize,
    /// A jump target still to resolve: label name and its column.
    label_target: Option<(String, usize)>,
}

#[derive(Default)]
struct ParsedLine {
    labels: Vec<(String, usize)>,
    instruction: Option<ParsedInstruction>,
}

type LineResult<T> = Result<T, (usize, AsmErrorKind)>;

fn expected<T>(col: usize, expected: impl Into<String>, found: String) -> LineResult<T> {
    Err((
        col,
        AsmErrorKind::Expected {
            expected: expected.into(),
            found,
        },
    ))
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '.'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// A cursor over the characters of one line (comment already removed).
struct Cursor {
    chars: Vec<char>,
    pos: usize,
}

impl Cursor {
    fn new(text: &str) -> Self {
        Self {
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    /// 1-based column of the cursor.
    fn col(&self) -> usize {
        self.pos + 1
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    /// Takes a run of identifier/number characters (possibly empty).
    fn word(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_ident_char) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    /// Describes what is at the cursor, for error messages.
    fn describe(&self) -> String {
        match self.peek() {
            None => "end of line".to_string(),
            Some(c) if is_ident_char(c) || c == '-' => {
                let end = self.chars[self.pos + 1..]
                    .iter()
                    .position(|&c| !is_ident_char(c))
                    .map_or(self.chars.len(), |n| self.pos + 1 + n);
                let token: String = self.chars[self.pos..end].iter().collect();
                format!("`{token}`")
            }
            Some(c) => format!("`{c}`"),
        }
    }

    /// Consumes `c` (after whitespace) or fails with `expected`.
    fn expect_char(&mut self, c: char, what: &str) -> LineResult<()> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            expected(self.col(), what, self.describe())
        }
    }

    /// Consumes the comma before the next operand.
    fn comma(&mut self, next: &str) -> LineResult<()> {
        self.expect_char(',', &format!("`,` followed by {next}"))
    }

    fn register(&mut self) -> LineResult<u32> {
        self.skip_ws();
        let col = self.col();
        let found = self.describe();
        let word = self.word();
        let number = word
            .strip_prefix(['r', 'R'])
            .filter(|d| !d.is_empty() && d.len() <= 2);
        match number.and_then(|d| d.parse::<u32>().ok()) {
            Some(r) if r < crate::isa::NUM_REGISTERS as u32 => Ok(r),
            _ => expected(col, "a register r0..r15", found),
        }
    }

    /// An immediate: optional `-`, then decimal or hex. Returns the field element's value.
    fn immediate(&mut self) -> LineResult<u32> {
        self.skip_ws();
        let col = self.col();
        let found = self.describe();
        let negative = self.peek() == Some('-');
        if negative {
            self.pos += 1;
        }
        let digits = self.word();
        match parse_magnitude(&digits) {
            Ok(v) if negative => Ok((-M31::new(v)).value()),
            Ok(v) => Ok(v),
            Err(NumberError::Malformed) => expected(
                col,
                "an immediate (decimal like 42 or -1, or hex like 0x2a)",
                found,
            ),
            Err(NumberError::TooLarge) => expected(
                col,
                format!("an immediate whose magnitude is below p = {P}"),
                found,
            ),
        }
    }

    /// `[rB]`, `[rB + IMM]` or `[rB - IMM]`: returns (B, offset).
    fn memory(&mut self) -> LineResult<(u32, u32)> {
        self.expect_char('[', "a memory operand `[rB + offset]`")?;
        let base = self.register()?;
        self.skip_ws();
        let offset = match self.peek() {
            Some('+') => {
                self.pos += 1;
                self.immediate()?
            }
            Some('-') => {
                self.pos += 1;
                (-M31::new(self.immediate()?)).value()
            }
            _ => 0,
        };
        self.expect_char(']', "`+ offset`, `- offset` or `]`")?;
        Ok((base, offset))
    }

    /// A jump target: a label, or an instruction index.
    fn target(&mut self) -> LineResult<(u32, Option<String>)> {
        self.skip_ws();
        let col = self.col();
        match self.peek() {
            Some(c) if is_ident_start(c) => Ok((0, Some(self.word()))),
            Some(c) if c.is_ascii_digit() => {
                let found = self.describe();
                let digits = self.word();
                match parse_magnitude(&digits) {
                    Ok(v) => Ok((v, None)),
                    Err(_) => expected(col, "a label or an instruction index", found),
                }
            }
            _ => expected(col, "a label or an instruction index", self.describe()),
        }
    }
}

/// Strips the comment (from the first `#` or `;`) off a line.
fn strip_comment(line: &str) -> &str {
    match line.find(['#', ';']) {
        Some(i) => &line[..i],
        None => line,
    }
}

fn parse_line(raw: &str) -> LineResult<ParsedLine> {
    let mut cur = Cursor::new(strip_comment(raw));
    let mut parsed = ParsedLine::default();
    loop {
        cur.skip_ws();
        if cur.at_end() {
            return Ok(parsed);
        }
        let col = cur.col();
        if !cur.peek().is_some_and(is_ident_start) {
            return expected(col, "a mnemonic or a label", cur.describe());
        }
        let word = cur.word();
        cur.skip_ws();
        if cur.peek() == Some(':') {
            cur.pos += 1;
            parsed.labels.push((word, col));
            continue;
        }
        let instruction = parse_instruction(&mut cur, &word, col)?;
        cur.skip_ws();
        if !cur.at_end() {
            return expected(cur.col(), "end of line", cur.describe());
        }
        parsed.instruction = Some(instruction);
        return Ok(parsed);
    }
}

const MNEMONICS: &str =
    "halt, loadi, li, add, sub, mul, addi, muli, mov, inv, lt, load, store, jmp, jz, jnz, in, out";

fn parse_instruction(
    cur: &mut Cursor,
    mnemonic: &str,
    col: usize,
) -> LineResult<ParsedInstruction> {
    const REG: &str = "a register";
    const IMM: &str = "an immediate";
    let mut target_col = col;
    let mut label_target = None;
    let ins = |op, a, b, c| Instruction::new(op, a, b, c);
    let instruction = match mnemonic.to_ascii_lowercase().as_str() {
        "halt" => ins(OpCode::Halt, 0, 0, 0),
        "loadi" | "li" => {
            let a = cur.register()?;
            cur.comma(IMM)?;
            ins(OpCode::LoadImm, a, cur.immediate()?, 0)
        }
        name @ ("add" | "sub" | "mul" | "lt") => {
            let op = match name {
                "add" => OpCode::Add,
                "sub" => OpCode::Sub,
                "mul" => OpCode::Mul,
                _ => OpCode::Lt,
            };
            let a = cur.register()?;
            cur.comma(REG)?;
            let b = cur.register()?;
            cur.comma(REG)?;
            ins(op, a, b, cur.register()?)
        }
        name @ ("addi" | "muli") => {
            let op = if name == "addi" {
                OpCode::AddImm
            } else {
                OpCode::MulImm
            };
            let a = cur.register()?;
            cur.comma(REG)?;
            let b = cur.register()?;
            cur.comma(IMM)?;
            ins(op, a, b, cur.immediate()?)
        }
        name @ ("mov" | "inv") => {
            let op = if name == "mov" {
                OpCode::AddImm
            } else {
                OpCode::Inv
            };
            let a = cur.register()?;
            cur.comma(REG)?;
            ins(op, a, cur.register()?, 0)
        }
        "load" => {
            let a = cur.register()?;
            cur.comma("a memory operand")?;
            let (b, offset) = cur.memory()?;
            ins(OpCode::Load, a, b, offset)
        }
        "store" => {
            let c = cur.register()?;
            cur.comma("a memory operand")?;
            let (b, offset) = cur.memory()?;
            ins(OpCode::Store, offset, b, c)
        }
        name @ ("jmp" | "jz" | "jnz") => {
            let (op, b) = if name == "jmp" {
                (OpCode::Jmp, 0)
            } else {
                let b = cur.register()?;
                cur.comma("a jump target")?;
                (
                    if name == "jz" {
                        OpCode::Jz
                    } else {
                        OpCode::Jnz
                    },
                    b,
                )
            };
            cur.skip_ws();
            target_col = cur.col();
            let (target, label) = cur.target()?;
            label_target = label.map(|name| (name, target_col));
            ins(op, 0, b, target)
        }
        "in" => ins(OpCode::In, cur.register()?, 0, 0),
        "out" => ins(OpCode::Out, 0, cur.register()?, 0),
        _ => {
            return expected(
                col,
                format!("a mnemonic ({MNEMONICS})"),
                format!("`{mnemonic}`"),
            )
        }
    };
    Ok(ParsedInstruction {
        instruction,
        col,
        target_col,
        label_target,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::isa::NUM_REGISTERS;
    use crate::vm::{ExecutionTrace, ObelyskVM};

    fn asm(source: &str) -> Vec<Instruction> {
        match assemble(source, "test.oasm") {
            Ok(program) => program.instructions().to_vec(),
            Err(e) => panic!("{e}"),
        }
    }

    fn asm_err(source: &str) -> AsmError {
        assemble(source, "test.oasm").expect_err("source should not assemble")
    }

    fn ins(op: OpCode, a: u32, b: u32, c: u32) -> Instruction {
        Instruction::new(op, a, b, c)
    }

    fn neg(v: u32) -> u32 {
        P - v
    }

    const HALT: Instruction = Instruction::new(OpCode::Halt, 0, 0, 0);

    #[test]
    fn every_mnemonic() {
        let source = "
            halt
            loadi r1, 7
            li r2, 8
            add r3, r1, r2
            sub r4, r3, r1
            mul r5, r4, r4
            addi r6, r5, 10
            muli r7, r6, 3
            mov r8, r7
            inv r9, r8
            lt r10, r1, r2
            load r11, [r1 + 4]
            load r11, [r1]
            load r11, [r1 - 4]
            store r12, [r2 + 5]
            store r12, [r2]
            store r12, [ r2 - 5 ]
            jmp 0
            jz r13, 1
            jnz r14, 2
            in r15
            out r0
            halt
        ";
        let expect = vec![
            HALT,
            ins(OpCode::LoadImm, 1, 7, 0),
            ins(OpCode::LoadImm, 2, 8, 0),
            ins(OpCode::Add, 3, 1, 2),
            ins(OpCode::Sub, 4, 3, 1),
            ins(OpCode::Mul, 5, 4, 4),
            ins(OpCode::AddImm, 6, 5, 10),
            ins(OpCode::MulImm, 7, 6, 3),
            ins(OpCode::AddImm, 8, 7, 0),
            ins(OpCode::Inv, 9, 8, 0),
            ins(OpCode::Lt, 10, 1, 2),
            ins(OpCode::Load, 11, 1, 4),
            ins(OpCode::Load, 11, 1, 0),
            ins(OpCode::Load, 11, 1, neg(4)),
            ins(OpCode::Store, 5, 2, 12),
            ins(OpCode::Store, 0, 2, 12),
            ins(OpCode::Store, neg(5), 2, 12),
            ins(OpCode::Jmp, 0, 0, 0),
            ins(OpCode::Jz, 0, 13, 1),
            ins(OpCode::Jnz, 0, 14, 2),
            ins(OpCode::In, 15, 0, 0),
            ins(OpCode::Out, 0, 0, 0),
            HALT,
        ];
        assert_eq!(asm(source), expect);
    }

    #[test]
    fn case_insensitive_mnemonics_and_registers() {
        assert_eq!(
            asm("ADD R1, r2, R3\nHalt"),
            vec![ins(OpCode::Add, 1, 2, 3), HALT]
        );
    }

    #[test]
    fn appends_halt() {
        assert_eq!(
            asm("loadi r0, 1"),
            vec![ins(OpCode::LoadImm, 0, 1, 0), HALT]
        );
        assert_eq!(asm(""), vec![HALT]);
        assert_eq!(asm("# nothing\n\n"), vec![HALT]);
        assert_eq!(asm("halt"), vec![HALT]);
        // A label after the final halt still names an instruction.
        assert_eq!(
            asm("jmp end\nhalt\nend:"),
            vec![ins(OpCode::Jmp, 0, 0, 2), HALT, HALT]
        );
    }

    #[test]
    fn labels_forward_and_backward() {
        let source = "
        start:
            jz r1, end          # forward
            addi r1, r1, -1
        back: jnz r1, back      ; backward, same line
            jmp start
        end: halt
        ";
        assert_eq!(
            asm(source),
            vec![
                ins(OpCode::Jz, 0, 1, 4),
                ins(OpCode::AddImm, 1, 1, neg(1)),
                ins(OpCode::Jnz, 0, 1, 2),
                ins(OpCode::Jmp, 0, 0, 0),
                HALT,
            ]
        );
        // Two labels on one line, names with dots and underscores, case-sensitive.
        assert_eq!(
            asm("a: .B_1: jmp .B_1\nA: jmp a"),
            vec![ins(OpCode::Jmp, 0, 0, 0), ins(OpCode::Jmp, 0, 0, 0), HALT]
        );
    }

    #[test]
    fn comments_both_styles() {
        let source = "# full line\n; also full line\nloadi r1, 5 # trailing\nout r1; trailing\n";
        assert_eq!(
            asm(source),
            vec![
                ins(OpCode::LoadImm, 1, 5, 0),
                ins(OpCode::Out, 0, 1, 0),
                HALT
            ]
        );
    }

    #[test]
    fn hex_and_negative_immediates() {
        assert_eq!(asm("li r1, 0x1F")[0].b, 31);
        assert_eq!(asm("li r1, 0XfF")[0].b, 255);
        assert_eq!(asm("li r1, -1")[0].b, P - 1);
        assert_eq!(asm("li r1, -0x10")[0].b, P - 16);
        assert_eq!(asm("li r1, -0")[0].b, 0);
        assert_eq!(asm("li r1, 2147483646")[0].b, P - 1);
        assert_eq!(asm("li r1, -2147483646")[0].b, 1);
        assert_eq!(asm("li r1, 0x7ffffffe")[0].b, P - 1);
        assert_eq!(asm("addi r1,r2,-3")[0].c, P - 3);
        assert_eq!(asm("load r1, [r2 + -3]")[0].c, P - 3);
    }

    /// Asserts position and message of an error.
    fn check(source: &str, line: usize, col: usize, message: &str) {
        let e = asm_err(source);
        let shown = e.to_string();
        assert_eq!((e.line, e.col), (line, col), "{shown}");
        assert_eq!(e.file, "test.oasm");
        assert_eq!(shown, format!("test.oasm:{line}:{col}: {message}"));
    }

    #[test]
    fn error_unknown_mnemonic() {
        let e = asm_err("halt\n  frob r1, r2");
        assert_eq!((e.line, e.col), (2, 3));
        assert_eq!(e.found(), Some("`frob`"));
        assert!(
            e.expected().unwrap().starts_with("a mnemonic (halt, loadi"),
            "{e}"
        );
        assert!(
            e.to_string()
                .starts_with("test.oasm:2:3: expected a mnemonic"),
            "{e}"
        );
    }

    #[test]
    fn error_bad_register() {
        check(
            "add r1, r16, r2",
            1,
            9,
            "expected a register r0..r15, found `r16`",
        );
        check(
            "add r1, x2, r2",
            1,
            9,
            "expected a register r0..r15, found `x2`",
        );
        check("out 5", 1, 5, "expected a register r0..r15, found `5`");
        check(
            "load r1, [5]",
            1,
            11,
            "expected a register r0..r15, found `5`",
        );
    }

    #[test]
    fn error_missing_operand() {
        check(
            "add r1, r2",
            1,
            11,
            "expected `,` followed by a register, found end of line",
        );
        check(
            "add r1, r2,   # c?",
            1,
            15,
            "expected a register r0..r15, found end of line",
        );
        check(
            "loadi r1",
            1,
            9,
            "expected `,` followed by an immediate, found end of line",
        );
        check(
            "loadi r1,",
            1,
            10,
            "expected an immediate (decimal like 42 or -1, or hex like 0x2a), found end of line",
        );
        check(
            "jmp",
            1,
            4,
            "expected a label or an instruction index, found end of line",
        );
        check(
            "load r1, [r2 + 3",
            1,
            17,
            "expected `+ offset`, `- offset` or `]`, found end of line",
        );
    }

    #[test]
    fn error_trailing_junk() {
        check("halt now", 1, 6, "expected end of line, found `now`");
        check(
            "add r1, r2, r3, r4",
            1,
            15,
            "expected end of line, found `,`",
        );
        check("\n\nout r1 )", 3, 8, "expected end of line, found `)`");
        check(
            "li r1, 12abc",
            1,
            8,
            "expected an immediate (decimal like 42 or -1, or hex like 0x2a), found `12abc`",
        );
    }

    #[test]
    fn error_immediate_too_large() {
        let msg = "expected an immediate whose magnitude is below p = 2147483647";
        check(
            "li r1, 2147483647",
            1,
            8,
            &format!("{msg}, found `2147483647`"),
        );
        check(
            "li r1, -2147483647",
            1,
            8,
            &format!("{msg}, found `-2147483647`"),
        );
        check(
            "li r1, 0x80000000",
            1,
            8,
            &format!("{msg}, found `0x80000000`"),
        );
        check(
            "li r1, 99999999999999999999999",
            1,
            8,
            &format!("{msg}, found `99999999999999999999999`"),
        );
        check(
            "addi r1, r1, 4294967296",
            1,
            14,
            &format!("{msg}, found `4294967296`"),
        );
    }

    #[test]
    fn error_duplicate_label() {
        check(
            "loop: halt\n\n  loop: halt",
            3,
            3,
            "expected a new label name, found `loop`, already defined at line 1",
        );
    }

    #[test]
    fn error_unknown_label() {
        check(
            "halt\njnz r1, nowhere",
            2,
            9,
            "expected a label defined in this file, found unknown label `nowhere`",
        );
    }

    #[test]
    fn error_validation_is_located() {
        let e = asm_err("halt\n\njmp 7\nhalt");
        assert_eq!((e.line, e.col), (3, 5));
        assert!(matches!(
            e.kind,
            AsmErrorKind::Program(ProgramError::BadJumpTarget { target: 7, .. })
        ));
        assert!(
            e.to_string()
                .starts_with("test.oasm:3:5: instruction 1 (jmp): jump target 7"),
            "{e}"
        );
    }

    #[test]
    fn error_other_syntax() {
        check("3: halt", 1, 1, "expected a mnemonic or a label, found `3`");
        check(
            "load r1, r2",
            1,
            10,
            "expected a memory operand `[rB + offset]`, found `r2`",
        );
        check(
            "jmp -1",
            1,
            5,
            "expected a label or an instruction index, found `-1`",
        );
        check(
            "jz r1 loop",
            1,
            7,
            "expected `,` followed by a jump target, found `loop`",
        );
    }

    #[test]
    fn parse_inputs_accepts_and_rejects() {
        let m = M31::from_i64;
        assert_eq!(
            parse_inputs("1, 2,3\n -3 0x10\t0XFF,"),
            Ok(vec![m(1), m(2), m(3), m(-3), m(16), m(255)])
        );
        assert_eq!(parse_inputs("  "), Ok(vec![]));
        assert_eq!(parse_inputs("2147483646"), Ok(vec![m(P as i64 - 1)]));
        assert_eq!(parse_inputs("-2147483646"), Ok(vec![m(1)]));
        let e = parse_inputs("1 2147483647").unwrap_err();
        assert!(
            e.contains("input #2") && e.contains("below p = 2147483647"),
            "{e}"
        );
        let e = parse_inputs("-2147483647").unwrap_err();
        assert!(e.contains("input #1") && e.contains("below p"), "{e}");
        let e = parse_inputs("1, x").unwrap_err();
        assert!(
            e.contains("input #2 `x`") && e.contains("not a number"),
            "{e}"
        );
        assert!(parse_inputs("0x").is_err());
        assert!(parse_inputs("--1").is_err());
    }

    #[test]
    fn disassembly_reads_well() {
        let program = Program::new(vec![
            ins(OpCode::LoadImm, 1, neg(1), 0),
            ins(OpCode::AddImm, 2, 1, 0),
            ins(OpCode::Load, 3, 2, neg(2)),
            ins(OpCode::Store, 4, 2, 3),
            ins(OpCode::Jnz, 0, 1, 0),
            HALT,
        ])
        .unwrap();
        assert_eq!(
            disassemble(&program),
            "L0:\n    loadi r1, -1\n    mov r2, r1\n    load r3, [r2 - 2]\n    store r3, [r2 + 4]\n    \
             jnz r1, L0\n    halt\n"
        );
    }

    fn instruction(len: usize) -> impl Strategy<Value = Instruction> {
        let reg = 0..NUM_REGISTERS as u32;
        (
            0..OpCode::COUNT as u8,
            reg.clone(),
            reg.clone(),
            reg,
            0..P,
            0..len as u32,
        )
            .prop_map(|(op, ra, rb, rc, imm, target)| {
                let op = OpCode::from_u8(op).unwrap();
                match op {
                    OpCode::Halt => ins(op, 0, 0, 0),
                    OpCode::LoadImm => ins(op, ra, imm, 0),
                    OpCode::Add | OpCode::Sub | OpCode::Mul | OpCode::Lt => ins(op, ra, rb, rc),
                    OpCode::AddImm | OpCode::MulImm | OpCode::Load => ins(op, ra, rb, imm),
                    OpCode::Inv => ins(op, ra, rb, 0),
                    OpCode::Store => ins(op, imm, rb, rc),
                    OpCode::Jmp => ins(op, 0, 0, target),
                    OpCode::Jz | OpCode::Jnz => ins(op, 0, rb, target),
                    OpCode::In => ins(op, ra, 0, 0),
                    OpCode::Out => ins(op, 0, rb, 0),
                }
            })
    }

    fn program() -> impl Strategy<Value = Program> {
        (1usize..48).prop_flat_map(|len| {
            prop::collection::vec(instruction(len), len - 1).prop_map(|mut body| {
                body.push(HALT);
                Program::new(body).expect("generated programs are valid")
            })
        })
    }

    proptest! {
        #[test]
        fn disassembly_round_trips(program in program()) {
            let text = disassemble(&program);
            let back = assemble(&text, "roundtrip.oasm");
            prop_assert_eq!(back, Ok(program), "{}", text);
        }
    }

    fn execute(source: &str, name: &str, inputs: &[i64]) -> ExecutionTrace {
        let program = assemble(source, name).unwrap_or_else(|e| panic!("{e}"));
        let mut vm = ObelyskVM::new();
        vm.load(&program);
        vm.set_inputs(inputs.iter().map(|&v| M31::from_i64(v)).collect());
        vm.execute().unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn run(source: &str, name: &str, inputs: &[i64]) -> Vec<M31> {
        execute(source, name, inputs).outputs().to_vec()
    }

    fn m(values: &[i64]) -> Vec<M31> {
        values.iter().map(|&v| M31::from_i64(v)).collect()
    }

    #[test]
    fn example_quickstart() {
        let source = include_str!("../../../examples/quickstart.oasm");
        assert_eq!(run(source, "quickstart.oasm", &[]), m(&[11]));
    }

    #[test]
    fn example_dot_relu() {
        let source = include_str!("../../../examples/dot_relu.oasm");
        let name = "dot_relu.oasm";
        // 3*4 + (-1)*2 = 10.
        assert_eq!(run(source, name, &[2, 3, 4, -1, 2]), m(&[10]));
        // 2*3 + (-4)*5 + 1*(-1) = -15, clamped to 0.
        assert_eq!(run(source, name, &[3, 2, 3, -4, 5, 1, -1]), m(&[0]));
        assert_eq!(run(source, name, &[0]), m(&[0]));
        assert_eq!(run(source, name, &[1, -7, -9]), m(&[63]));
    }

    #[test]
    fn example_loop_sum() {
        let source = include_str!("../../../examples/loop_sum.oasm");
        let name = "loop_sum.oasm";
        let trace = execute(source, name, &[4, 1, 2, 3, -10]);
        assert_eq!(trace.outputs(), m(&[-4]));
        assert_eq!(trace.data_words(), 0x100 + 4);
        assert_eq!(run(source, name, &[0]), m(&[0]));
        let values: Vec<i64> = (1..=100).collect();
        let inputs: Vec<i64> = std::iter::once(100).chain(values).collect();
        assert_eq!(run(source, name, &inputs), m(&[5050]));
    }
}

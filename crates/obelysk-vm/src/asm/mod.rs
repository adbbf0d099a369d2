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
mod tests;

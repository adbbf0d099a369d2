//! Assembler tests: syntax, error positions, round trips, the example programs.

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
    let source = include_str!("../../../../examples/quickstart.oasm");
    assert_eq!(run(source, "quickstart.oasm", &[]), m(&[11]));
}

#[test]
fn example_dot_relu() {
    let source = include_str!("../../../../examples/dot_relu.oasm");
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
    let source = include_str!("../../../../examples/loop_sum.oasm");
    let name = "loop_sum.oasm";
    let trace = execute(source, name, &[4, 1, 2, 3, -10]);
    assert_eq!(trace.outputs(), m(&[-4]));
    assert_eq!(trace.data_words(), 0x100 + 4);
    assert_eq!(run(source, name, &[0]), m(&[0]));
    let values: Vec<i64> = (1..=100).collect();
    let inputs: Vec<i64> = std::iter::once(100).chain(values).collect();
    assert_eq!(run(source, name, &inputs), m(&[5050]));
}

//! The contracts' Cairo unit tests (`contracts/src/tests.cairo`), run by `cairo-test --starknet`
//! at the compiler's version. Skipped, with the reason, without the toolchain or `cairo-test`.

use bitsage_starknet::toolchain::{contracts_dir, Toolchain};

#[test]
fn the_contracts_cairo_unit_tests_pass() {
    let toolchain = match Toolchain::find() {
        Ok(t) => t,
        Err(e) => return eprintln!("skipped the_contracts_cairo_unit_tests_pass: {e}"),
    };
    match toolchain.run_cairo_tests(&contracts_dir()) {
        Ok(report) => {
            assert!(report.contains("test result: ok"), "{report}");
            assert!(
                !report.contains(" 0 passed"),
                "no Cairo test ran:\n{report}"
            );
        }
        Err(bitsage_starknet::Error::Toolchain(e)) => {
            eprintln!("skipped the_contracts_cairo_unit_tests_pass: {e}")
        }
        Err(e) => panic!("{e}"),
    }
}

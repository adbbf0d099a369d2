//! The Cairo toolchain: `starknet-compile` and `starknet-sierra-compile` at [`CAIRO_VERSION`],
//! and Cairo's core library at the same version, which those binaries do not ship. Nothing of it
//! is vendored: install the binaries with
//! `cargo install --locked starknet-compile@2.19.4 starknet-sierra-compile@2.19.4`, and put the
//! `corelib/` folder of starkware-libs/cairo at tag v2.19.4 at [`default_corelib`] or name it in
//! `BITSAGE_CAIRO_CORELIB`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result};

/// The compiler version the contracts are written for.
pub const CAIRO_VERSION: &str = "2.19.4";

/// The five contracts, by Cairo path, in deployment order.
pub const CONTRACTS: [(&str, &str); 5] = [
    ("SageToken", "bitsage::token::SageToken"),
    ("ProverStaking", "bitsage::staking::ProverStaking"),
    ("PaymentRouter", "bitsage::router::PaymentRouter"),
    ("JobManager", "bitsage::jobs::JobManager"),
    ("Faucet", "bitsage::faucet::Faucet"),
];

/// `contracts/` of this repository.
pub fn contracts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts")
}

/// Where the core library is looked for when `BITSAGE_CAIRO_CORELIB` is not set.
pub fn default_corelib() -> PathBuf {
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
    Path::new(&home)
        .join(".cache/bitsage-worker")
        .join(format!("cairo-{CAIRO_VERSION}"))
        .join("corelib")
}

/// The located toolchain.
#[derive(Clone, Debug)]
pub struct Toolchain {
    compile: PathBuf,
    sierra_compile: PathBuf,
    corelib: PathBuf,
}

/// One compiled contract: the Sierra class (what is declared) and its CASM (whose hash the
/// declaration commits to).
#[derive(Clone, Debug)]
pub struct Artifact {
    pub name: &'static str,
    pub sierra: PathBuf,
    pub casm: PathBuf,
}

impl Toolchain {
    /// Finds the binaries on `PATH` and the core library, and checks the compiler's version.
    /// The error says what is missing and how to get it.
    pub fn find() -> Result<Self> {
        let compile = on_path("starknet-compile")?;
        let sierra_compile = on_path("starknet-sierra-compile")?;
        let corelib = std::env::var_os("BITSAGE_CAIRO_CORELIB")
            .map(PathBuf::from)
            .unwrap_or_else(default_corelib);
        if !corelib.join("src/lib.cairo").exists() {
            return Err(Error::Toolchain(format!(
                "Cairo's core library is not at {} (set BITSAGE_CAIRO_CORELIB to the corelib/ \
                 folder of starkware-libs/cairo at tag v{CAIRO_VERSION})",
                corelib.display()
            )));
        }
        let version = Command::new(&compile)
            .arg("--version")
            .output()
            .map_err(|e| Error::Toolchain(format!("running {}: {e}", compile.display())))?;
        let version = String::from_utf8_lossy(&version.stdout);
        if !version.contains(CAIRO_VERSION) {
            return Err(Error::Toolchain(format!(
                "{} is version {}, the contracts need {CAIRO_VERSION}",
                compile.display(),
                version.trim()
            )));
        }
        Ok(Self {
            compile,
            sierra_compile,
            corelib,
        })
    }

    /// Compiles every contract of `contracts` (a Cairo crate with `cairo_project.toml`) into
    /// `out`, Sierra then CASM.
    pub fn compile_all(&self, contracts: &Path, out: &Path) -> Result<Vec<Artifact>> {
        std::fs::create_dir_all(out)?;
        let contracts = contracts.canonicalize()?;
        // The compiler finds the core library only as `corelib/src` under its working
        // directory (or next to its binary), so it runs in a directory with a link named so.
        let workdir = tempfile::tempdir()?;
        std::os::unix::fs::symlink(self.corelib.canonicalize()?, workdir.path().join("corelib"))?;
        let mut artifacts = Vec::new();
        for (name, path) in CONTRACTS {
            let sierra = out.join(format!("{name}.contract_class.json"));
            let casm = out.join(format!("{name}.compiled_contract_class.json"));
            run(Command::new(&self.compile)
                .current_dir(workdir.path())
                .arg("--contract-path")
                .arg(path)
                .arg(&contracts)
                .arg(&sierra))?;
            run(Command::new(&self.sierra_compile)
                .current_dir(workdir.path())
                .arg(&sierra)
                .arg(&casm))?;
            artifacts.push(Artifact { name, sierra, casm });
        }
        Ok(artifacts)
    }

    /// Runs the contracts' Cairo unit tests (`contracts/src/tests.cairo`) with `cairo-test
    /// --starknet` at [`CAIRO_VERSION`] (`cargo install --locked cairo-test@2.19.4`, optional: the
    /// compilers do not need it); returns its report.
    pub fn run_cairo_tests(&self, contracts: &Path) -> Result<String> {
        let cairo_test = on_path("cairo-test")?;
        let contracts = contracts.canonicalize()?;
        let workdir = tempfile::tempdir()?;
        std::os::unix::fs::symlink(self.corelib.canonicalize()?, workdir.path().join("corelib"))?;
        let output = Command::new(&cairo_test)
            .current_dir(workdir.path())
            .arg("--starknet")
            .arg(&contracts)
            .output()
            .map_err(|e| Error::Toolchain(format!("running {}: {e}", cairo_test.display())))?;
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if output.status.success() {
            Ok(report)
        } else {
            Err(Error::Compile(format!("cairo-test failed:\n{report}")))
        }
    }
}

fn on_path(binary: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(binary))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            Error::Toolchain(format!(
                "{binary} is not on PATH (cargo install --locked {binary}@{CAIRO_VERSION})"
            ))
        })
}

fn run(command: &mut Command) -> Result<()> {
    let output = command
        .output()
        .map_err(|e| Error::Toolchain(format!("running {command:?}: {e}")))?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::Compile(format!(
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )))
}

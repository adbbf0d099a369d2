//! Test support shared by the workspace's integration tests.
//!
//! [`Postgres`] starts a throwaway PostgreSQL 15 server (as the `postgres` user when the tests
//! run as root, since PostgreSQL refuses root) or uses `BITSAGE_TEST_POSTGRES_URL`; tests print
//! the reason and skip when neither is possible. Not for production code.

use std::process::Command;

/// A PostgreSQL 15 server in a temporary directory on a free loopback port, run as the
/// `postgres` user (it refuses to run as root). Stopped on drop.
#[derive(Debug)]
pub struct Postgres {
    dir: tempfile::TempDir,
    pub url: String,
    bin: std::path::PathBuf,
}

impl Postgres {
    /// Starts a server, or says why it cannot (the caller prints the skip reason).
    pub fn start() -> Result<Self, String> {
        if let Ok(url) = std::env::var("BITSAGE_TEST_POSTGRES_URL") {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            return Ok(Self {
                dir,
                url,
                bin: Default::default(),
            });
        }
        let bin = std::path::PathBuf::from("/usr/lib/postgresql/15/bin");
        if !bin.join("initdb").exists() {
            return Err("PostgreSQL 15 is not installed at /usr/lib/postgresql/15/bin".into());
        }
        let dir = tempfile::Builder::new()
            .prefix("bitsage-pg")
            .tempdir()
            .map_err(|e| e.to_string())?;
        if running_as_root() {
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .map_err(|e| format!("chown: {e}"))?;
        }
        let data = dir.path().join("data");
        let port = free_port()?;
        let initdb = bin.join("initdb");
        run(&[
            initdb.to_str().unwrap(),
            "-D",
            data.to_str().unwrap(),
            "-U",
            "postgres",
            "--auth=trust",
        ])?;
        let pg_ctl = bin.join("pg_ctl");
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1",
            dir.path().display()
        );
        let log = dir.path().join("log");
        run(&[
            pg_ctl.to_str().unwrap(),
            "-D",
            data.to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
            "-o",
            &opts,
            "-w",
            "start",
        ])?;
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        Ok(Self { dir, url, bin })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.bin.as_os_str().is_empty() {
            return;
        }
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.dir.path().join("data");
        let args = [
            pg_ctl.to_str().unwrap_or_default(),
            "-D",
            data.to_str().unwrap_or_default(),
            "-m",
            "immediate",
            "stop",
        ];
        let _ = run(&args);
    }
}

/// Runs a PostgreSQL tool, as the `postgres` user when this process is root (the server
/// refuses to run as root).
fn run(args: &[&str]) -> Result<(), String> {
    let output = if running_as_root() {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .args(args)
            .output()
    } else {
        Command::new(args[0]).args(&args[1..]).output()
    }
    .map_err(|e| format!("cannot run {}: {e}", args[0]))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed: {}",
            args[0],
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Whether this process runs as root (`id -u` is 0).
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

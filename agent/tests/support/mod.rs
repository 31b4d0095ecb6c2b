//! Test bed for the agent: an in-process mock peer (axum, plain HTTP or TLS with a CA made in
//! the test) that answers from a script, and a fake salt configuration directory whose
//! restart/stop commands append to an events file.
#![allow(dead_code, unreachable_pub)]

pub mod fake_salt;
pub mod mock_peer;

/// Run the built agent binary with `args`; returns (exit code, stdout, stderr).
pub fn run_agent(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_uyuni-cluster-agent"))
        .args(args)
        .env("RUST_LOG", "debug")
        .output()
        .expect("agent binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

//! The `uyuni-cluster` binary's offline commands, run as a user would. (Building this test
//! also makes cargo build the binary with the workspace's test feature set, which is the one
//! the netsim scenarios start: see netsim-tests/src/harness.rs.)

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_uyuni-cluster"))
}

#[test]
fn keygen_writes_a_private_key_once_and_refuses_to_overwrite_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("cluster.key");
    let out = bin()
        .arg("keygen")
        .arg("--out")
        .arg(&key)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("fingerprint"));
    let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the key is readable by its owner only");
    let first = std::fs::read(&key).expect("read");

    let again = bin()
        .arg("keygen")
        .arg("--out")
        .arg(&key)
        .output()
        .expect("run");
    assert!(!again.status.success(), "an existing key is never replaced");
    assert!(String::from_utf8_lossy(&again.stderr).starts_with("error: "));
    assert_eq!(std::fs::read(&key).expect("read"), first);
}

#[test]
fn ca_init_and_issue_write_a_chain_that_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca");
    let init = bin()
        .args(["ca", "init", "--dir"])
        .arg(&ca)
        .output()
        .expect("run");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let issue = bin()
        .args(["ca", "issue", "--name", "n1", "--dir"])
        .arg(&ca)
        .output()
        .expect("run");
    assert!(
        issue.status.success(),
        "{}",
        String::from_utf8_lossy(&issue.stderr)
    );
    let key_mode = std::fs::metadata(ca.join("n1.key"))
        .expect("node key")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(key_mode, 0o600);
    // The issued certificate serves TLS: a server config loads from the pair.
    cluster_core::tls::server_config(&ca.join("n1.pem"), &ca.join("n1.key"), None).expect("loads");
}

#[test]
fn a_peer_without_a_name_refuses_to_start_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("peer.toml");
    std::fs::write(&cfg, "[tls]\ndev_plain_http = true\n").expect("write");
    let out = bin()
        .args(["peer", "--config"])
        .arg(&cfg)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a node name is required"), "{err}");
}

/// `triggers` connects with the peer's `[uyuni]` TLS settings (`--config`), flags win, and a
/// setting that cannot work is refused before any connection.
#[test]
fn triggers_take_the_database_and_its_tls_from_the_peer_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("peer.toml");
    std::fs::write(
        &cfg,
        "[uyuni]\ndb = \"host=db.example.org dbname=susemanager user=spacewalk\"\ndb_sslmode = \"verify-full\"\n",
    )
    .expect("write config");
    let run = |extra: &[&str]| {
        let out = bin()
            .args(["triggers", "status", "--config"])
            .arg(&cfg)
            .args(extra)
            .env_remove("UYUNI_CLUSTER_DB")
            .env_remove("UYUNI_CLUSTER_DB_SSLMODE")
            .env_remove("UYUNI_CLUSTER_DB_CA_FILE")
            .output()
            .expect("run");
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // verify-full from the config, no CA: refused, naming the setting.
    let err = run(&[]);
    assert!(err.contains("needs db_ca_file"), "{err}");
    // A flag overrides the config's mode: now a CA file is one too many.
    let err = run(&[
        "--db-sslmode",
        "disable",
        "--db-ca-file",
        "/nonexistent/ca.pem",
    ]);
    assert!(err.contains("only used with db_sslmode"), "{err}");
    let err = run(&["--db-sslmode", "sometimes"]);
    assert!(
        err.contains("expected disable, require or verify-full"),
        "{err}"
    );
    // No database anywhere.
    let out = bin()
        .args(["triggers", "status"])
        .env_remove("UYUNI_CLUSTER_DB")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no database"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

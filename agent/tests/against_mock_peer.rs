//! The agent against in-process mock peers: the built binary with `--once` over plain HTTP and
//! over TLS, failover between entry points, learned peers across runs, and the library loop
//! following a scripted cluster from onboarding through orphan to deletion.
#![allow(clippy::unwrap_used)]

mod support;

use std::fs;
use std::sync::mpsc;
use std::time::Duration;

use agent::config::{FileConfig, Overrides};
use agent::machine::Exit;
use agent::runner::{Agent, RunOptions};
use agent::wire::Status;
use rand::SeedableRng;
use support::fake_salt::{FINGERPRINT, FakeSalt};
use support::mock_peer::{Harness, TestPki, onboarded, st};
use support::run_agent;

/// A port on which nothing listens.
fn dead_entry() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("127.0.0.1:{}", l.local_addr().unwrap().port())
}

#[test]
fn once_over_plain_http_registers_and_reports_the_new_status() {
    let h = Harness::new();
    let peer = h.plain_peer();
    peer.script(vec![st("u"), st("n")]);
    let salt = FakeSalt::new();
    let config = salt.config(&[peer.entry("127.0.0.1")], "dev_plain_http = true");

    let (code, stdout, stderr) = run_agent(&["--config", config.to_str().unwrap(), "--once"]);

    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("status=n (new)"), "{stdout}");
    assert!(stdout.contains(&format!("fp={FINGERPRINT}")), "{stdout}");
    let fp_query = format!("fp={FINGERPRINT}");
    assert_eq!(
        peer.requests(),
        [
            format!("GET /system/status {fp_query}"),
            "POST /system/register".to_owned(),
            format!("GET /system/status {fp_query}"),
        ]
    );
    let reg = peer.with(|s| s.registrations[0].clone());
    assert_eq!(reg["fingerprint"], FINGERPRINT);
    assert_eq!(reg["minion_id"], "web1.example.org");
    assert_eq!(reg["public_key"], support::fake_salt::MINION_PUB);
    // Nothing was done to the minion.
    assert!(salt.events().is_empty());
    assert!(salt.master_key().exists());
}

#[test]
fn without_a_token_it_registers_signed_then_keeps_the_token_across_runs() {
    let h = Harness::new();
    let peer = h.plain_peer();
    peer.with(|s| s.require_token = true);
    peer.script(vec![st("n")]);
    let salt = FakeSalt::new();
    let config = salt.config(&[peer.entry("127.0.0.1")], "dev_plain_http = true");

    let (code, stdout, stderr) = run_agent(&["--config", config.to_str().unwrap(), "--once"]);

    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("status=n (new)"), "{stdout}");
    // 401 (no token), a registration the mock verified with the peer's code, then the status.
    assert_eq!(
        peer.requests(),
        [
            format!("GET /system/status fp={FINGERPRINT}"),
            "POST /system/register".to_owned(),
            format!("GET /system/status fp={FINGERPRINT}"),
        ]
    );
    let reg = peer.with(|s| s.registrations[0].clone());
    assert_eq!(reg["public_key"], support::fake_salt::MINION_PUB);
    assert!(reg["signature"].as_str().is_some_and(|s| !s.is_empty()));
    let state = fs::read_to_string(&salt.state_file).unwrap();
    assert!(state.contains("mock-token-"), "{state}");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = fs::metadata(&salt.state_file).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the token makes the state file a credential"
    );

    // A second run shows the kept token: one request, no registration.
    let (code, ..) = run_agent(&["--config", config.to_str().unwrap(), "--once"]);
    assert_eq!(code, 0);
    assert_eq!(peer.requests().len(), 4);
}

#[test]
fn a_minion_key_that_is_not_the_public_keys_pair_is_refused() {
    let h = Harness::new();
    let peer = h.plain_peer();
    peer.with(|s| s.require_token = true);
    let salt = FakeSalt::new();
    // Another salt key's private half beside the minion's public key.
    fs::write(
        salt.config_dir.join("pki/minion/minion.pem"),
        include_str!("../../agent-proto/tests/data/other.pem"),
    )
    .unwrap();
    let config = salt.config(&[peer.entry("127.0.0.1")], "dev_plain_http = true");

    let (code, stdout, stderr) = run_agent(&["--config", config.to_str().unwrap(), "--once"]);

    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("registration refused"), "{stderr}");
}

#[test]
fn once_repoints_the_minion_to_its_node() {
    let h = Harness::new();
    let peer = h.plain_peer();
    peer.script(vec![onboarded("srv2.example.org:4507")]);
    let salt = FakeSalt::new().with_susemanager_conf("uyuni-old.example.org");
    let config = salt.config(&[peer.entry("127.0.0.1")], "");

    let (code, stdout, stderr) = run_agent(&[
        "--config",
        config.to_str().unwrap(),
        "--once",
        "--dev-plain-http",
    ]);

    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains("status=o (onboarded) master=srv2.example.org:4507"),
        "{stdout}"
    );
    let conf = fs::read_to_string(salt.susemanager_conf()).unwrap();
    assert!(
        conf.starts_with("master: srv2.example.org\nmaster_port: 4507\n"),
        "{conf}"
    );
    assert!(conf.contains("activation_key: \"1-key\""), "{conf}");
    assert!(!salt.own_conf().exists());
    assert!(
        !salt.master_key().exists(),
        "minion_master.pub must be deleted"
    );
    assert!(salt.config_dir.join("pki/minion/minion.pub").exists());
    assert_eq!(salt.events(), ["restart"]);

    // Already there: a second run changes nothing.
    let (code, _, _) = run_agent(&[
        "--config",
        config.to_str().unwrap(),
        "--once",
        "--dev-plain-http",
    ]);
    assert_eq!(code, 0);
    assert_eq!(salt.events(), ["restart"]);
}

#[test]
fn once_writes_its_own_drop_in_without_a_uyuni_master_line() {
    let h = Harness::new();
    let peer = h.plain_peer();
    peer.script(vec![onboarded("srv3.example.org")]);
    let salt = FakeSalt::new();
    let config = salt.config(&[peer.entry("127.0.0.1")], "dev_plain_http = true");

    let (code, stdout, stderr) = run_agent(&["--config", config.to_str().unwrap(), "--once"]);

    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    let conf = fs::read_to_string(salt.own_conf()).unwrap();
    assert!(conf.ends_with("\nmaster: srv3.example.org\n"), "{conf}");
    assert!(!salt.master_key().exists());
    assert_eq!(salt.events(), ["restart"]);
}

#[test]
fn once_fails_over_past_a_dead_and_a_failing_entry_point() {
    let h = Harness::new();
    let failing = h.plain_peer();
    failing.with(|s| s.fail_with = Some(503));
    let good = h.plain_peer();
    good.script(vec![st("n")]);
    let salt = FakeSalt::new();
    let entries = [
        dead_entry(),
        failing.entry("127.0.0.1"),
        good.entry("127.0.0.1"),
    ];
    let config = salt.config(&entries, "dev_plain_http = true");

    let (code, stdout, stderr) = run_agent(&["--config", config.to_str().unwrap(), "--once"]);

    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains(&format!("peer={}", good.entry("127.0.0.1"))),
        "{stdout}"
    );
    assert_eq!(failing.requests().len(), 1);
    assert_eq!(good.requests().len(), 1);
}

#[test]
fn once_exits_3_when_no_entry_point_answers() {
    let salt = FakeSalt::new();
    let config = salt.config(&[dead_entry(), dead_entry()], "dev_plain_http = true");
    let (code, stdout, _) = run_agent(&["--config", config.to_str().unwrap(), "--once"]);
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("result=Unreachable"), "{stdout}");
}

#[test]
fn learned_peers_survive_a_restart() {
    let h = Harness::new();
    let first = h.plain_peer();
    let second = h.plain_peer();
    first.script(vec![st("n")]);
    first.with(|s| s.peers_header = Some(format!("{}, not a host", second.entry("127.0.0.1"))));
    second.script(vec![st("n")]);
    let salt = FakeSalt::new();
    let config = salt.config(&[first.entry("127.0.0.1")], "dev_plain_http = true");

    let (code, ..) = run_agent(&["--config", config.to_str().unwrap(), "--once"]);
    assert_eq!(code, 0);
    let state = fs::read_to_string(&salt.state_file).unwrap();
    assert!(state.contains(&second.entry("127.0.0.1")), "{state}");

    // The configured entry point fails now; the learned one answers.
    first.with(|s| s.fail_with = Some(503));
    let (code, stdout, stderr) = run_agent(&["--config", config.to_str().unwrap(), "--once"]);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(second.requests().len(), 1);
}

#[test]
fn once_deleted_stops_the_minion_and_exits_4() {
    let h = Harness::new();
    let peer = h.plain_peer();
    peer.script(vec![st("d")]);
    let salt = FakeSalt::new();
    let config = salt.config(&[peer.entry("127.0.0.1")], "dev_plain_http = true");
    let (code, stdout, _) = run_agent(&["--config", config.to_str().unwrap(), "--once"]);
    assert_eq!(code, 4, "{stdout}");
    assert!(stdout.contains("status=d (deleted)"), "{stdout}");
    assert_eq!(salt.events(), ["stop"]);
}

#[test]
fn once_over_tls_trusts_the_cluster_ca_only() {
    let h = Harness::new();
    let pki = TestPki::new();
    let peer = h.tls_peer(&pki.server_cert_pem, &pki.server_key_pem);
    peer.script(vec![onboarded("srv2.example.org")]);
    let salt = FakeSalt::new().with_susemanager_conf("uyuni-old.example.org");
    let ca_file = salt.path().join("ca.pem");
    fs::write(&ca_file, &pki.ca_pem).unwrap();
    let extra = format!("ca_file = {:?}", ca_file.display().to_string());
    let config = salt.config(&[format!("https://{}", peer.entry("localhost"))], &extra);

    let (code, stdout, stderr) = run_agent(&["--config", config.to_str().unwrap(), "--once"]);

    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    let conf = fs::read_to_string(salt.susemanager_conf()).unwrap();
    assert!(conf.starts_with("master: srv2.example.org\n\n"), "{conf}");
    assert!(!salt.master_key().exists());
    assert_eq!(salt.events(), ["restart"]);

    // Another CA: the peer's certificate is not trusted, so no peer answers.
    let other_ca = salt.path().join("other-ca.pem");
    fs::write(&other_ca, TestPki::new().ca_pem).unwrap();
    let (code, stdout, stderr) = run_agent(&[
        "--config",
        config.to_str().unwrap(),
        "--once",
        "--ca-file",
        other_ca.to_str().unwrap(),
    ]);
    assert_eq!(code, 3, "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(
        peer.requests().len(),
        1,
        "the untrusted handshake must not reach the handler"
    );

    // Plain HTTP to a TLS config is refused unless asked for.
    let (code, _, stderr) = run_agent(&[
        "--config",
        config.to_str().unwrap(),
        "--once",
        "--peer",
        &format!("http://{}", peer.entry("localhost")),
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("dev_plain_http"), "{stderr}");
}

#[test]
fn the_loop_follows_the_cluster_from_onboarding_to_deletion() {
    let h = Harness::new();
    let peer = h.plain_peer();
    peer.script(vec![
        st("u"),
        st("n"),
        onboarded("srv1.example.org"),
        onboarded("srv1.example.org"),
        st("r"),
        onboarded("srv2.example.org:4507"),
        st("d"),
    ]);
    peer.with(|s| s.orphans = vec![None, None, Some("srv2.example.org:4507".to_owned())].into());
    let salt = FakeSalt::new().with_susemanager_conf("uyuni-old.example.org");
    let config_path = salt.config(&[peer.entry("127.0.0.1")], "dev_plain_http = true");
    let config = FileConfig::load(&config_path, true)
        .unwrap()
        .apply(Overrides::default())
        .validate()
        .unwrap();

    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rng = rand::rngs::StdRng::seed_from_u64(3);
        let result = Agent::start(&config, &RunOptions::default(), rng).map(|mut a| a.run());
        let _ = tx.send(result.map_err(|e| e.to_string()));
    });
    let summary = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("agent loop ends")
        .unwrap();

    assert_eq!(summary.exit, Exit::Deleted);
    assert_eq!(summary.status, Some(Status::Deleted));
    // srv1: restart; orphan: stop; srv2: restart; deleted: stop.
    assert_eq!(salt.events(), ["restart", "stop", "restart", "stop"]);
    let conf = fs::read_to_string(salt.susemanager_conf()).unwrap();
    assert!(
        conf.starts_with("master: srv2.example.org\nmaster_port: 4507\n"),
        "{conf}"
    );
    assert!(!salt.master_key().exists());
    let kinds: Vec<String> = peer
        .requests()
        .iter()
        .map(|r| r.split(" fp=").next().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "GET /system/status",
            "POST /system/register",
            "GET /system/status",
            "GET /system/status",
            "GET /system/status",
            "GET /system/status",
            "GET /system/orphan",
            "GET /system/orphan",
            "GET /system/orphan",
            "GET /system/status",
            "GET /system/status",
        ]
    );
}

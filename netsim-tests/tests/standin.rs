//! Fidelity tests of the Uyuni stand-in: Python's `xmlrpc.client` and `urllib` drive it the
//! way spacecmd and JSON clients do, and the PostgreSQL storage is checked with `psql`.
//! PostgreSQL and python3 are required: a missing one fails the test with a message.

use std::path::Path;
use std::process::Command;

use netsim_tests::pg::bin_dir;
use netsim_tests::standin::session::Session;
use netsim_tests::standin::{SeedSpec, Seeded, StandIn, StandInOptions, xmlrpc_call};
use uyuni_api::Value;
use uyuni_api::value::string;

fn python() -> String {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "python3 is required for the stand-in fidelity tests (apt-get install python3)"
    );
    "python3".into()
}

fn run_py(script: &str, args: &[&str], standin: &StandIn) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(script);
    let out = Command::new(python())
        .arg(&path)
        .args(args)
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("OK "),
        "{script} failed:\n{stdout}\n{stderr}\n---- stand-in log ----\n{}",
        standin.log()
    );
    eprintln!("{script}: {}", stdout.trim());
}

fn require_pg() {
    assert!(
        bin_dir().is_some(),
        "PostgreSQL server binaries are required (apt-get install postgresql, or set PG_BIN)"
    );
}

fn psql(dsn_socket_dir: &str, sql: &str) -> String {
    let psql = bin_dir().expect("pg").join("psql");
    let out = Command::new(psql)
        .args([
            "-X",
            "-A",
            "-t",
            "-h",
            dsn_socket_dir,
            "-U",
            "postgres",
            "-d",
            "uyuni",
            "-c",
            sql,
        ])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn socket_dir(dsn: &str) -> String {
    dsn.split_whitespace()
        .find_map(|kv| kv.strip_prefix("host="))
        .expect("host in dsn")
        .to_string()
}

#[test]
fn spacecmd_style_xmlrpc_with_postgres() {
    require_pg();
    let s = StandIn::spawn(StandInOptions::default()).expect("spawn");
    assert!(s.dsn().is_some());
    run_py("standin_xmlrpc.py", &[s.url(), s.base()], &s);
}

#[test]
fn spacecmd_style_xmlrpc_in_memory() {
    let s = StandIn::spawn(StandInOptions {
        postgres: "none".into(),
        ..StandInOptions::default()
    })
    .expect("spawn");
    assert!(s.dsn().is_none());
    run_py("standin_xmlrpc.py", &[s.url(), s.base()], &s);
}

#[test]
fn json_api_with_urllib() {
    let s = StandIn::spawn(StandInOptions {
        postgres: "none".into(),
        ..StandInOptions::default()
    })
    .expect("spawn");
    run_py("standin_json.py", &[s.base()], &s);
}

#[test]
fn malformed_xml_is_a_fault_not_a_crash() {
    let s = StandIn::spawn(StandInOptions {
        postgres: "none".into(),
        ..StandInOptions::default()
    })
    .expect("spawn");
    for body in [
        "",
        "<methodCall>",
        "not xml at all",
        "<methodCall><methodName></methodName></methodCall>",
    ] {
        let mut resp = ureq::post(s.url())
            .header("Content-Type", "text/xml")
            .send(body.as_bytes())
            .expect("http 200");
        assert_eq!(resp.status(), 200);
        let text = resp.body_mut().read_to_string().expect("body");
        let parsed = uyuni_api::codec::parse_response(&text).expect("a methodResponse");
        assert_eq!(parsed.expect_err("a fault").code, -1, "{body:?}");
    }
    // Still serving.
    let v = xmlrpc_call(s.url(), "api.getVersion", &[])
        .expect("call")
        .expect("value");
    assert_eq!(v, Value::String("31".into()));
}

#[test]
fn state_is_in_the_uyuni_tables_and_survives_a_restart() {
    require_pg();
    let dir = tempfile::tempdir().expect("tmp");
    let opts = StandInOptions {
        data_dir: Some(dir.path().join("standin")),
        ..StandInOptions::default()
    };
    let mut s = StandIn::spawn(opts.clone()).expect("spawn");
    let dsn = s.dsn().expect("dsn").to_string();
    let sock = socket_dir(&dsn);
    let key = match xmlrpc_call(
        s.url(),
        "auth.login",
        &[Value::String("admin".into()), Value::String("admin".into())],
    )
    .expect("call")
    {
        Ok(Value::String(k)) => k,
        other => panic!("login: {other:?}"),
    };
    let str_ = |v: &str| Value::String(v.into());
    let r = xmlrpc_call(
        s.url(),
        "channel.software.create",
        &[
            str_(&key),
            str_("pg-chan"),
            str_("PG Channel"),
            str_("summary"),
            str_("channel-x86_64"),
            str_(""),
        ],
    )
    .expect("call");
    assert_eq!(r, Ok(Value::Integer(1)));
    assert_eq!(
        psql(&sock, "SELECT label || '|' || name FROM rhnchannel"),
        "pg-chan|PG Channel"
    );
    // A failed call writes nothing.
    let dup = xmlrpc_call(
        s.url(),
        "channel.software.create",
        &[
            str_(&key),
            str_("pg-chan"),
            str_("Other"),
            str_("summary"),
            str_("channel-x86_64"),
            str_(""),
        ],
    )
    .expect("call");
    assert_eq!(dup.expect_err("duplicate").code, 1201);
    assert_eq!(psql(&sock, "SELECT count(*) FROM rhnchannel"), "1");
    // A minion accepted through saltkey.accept becomes rhnServer + suseMinionInfo rows.
    let resp = ureq::post(&format!("{}/standin/minions", s.base()))
        .header("Content-Type", "application/json")
        .send(r#"{"minion_id":"db-minion","fingerprint":"ff"}"#.as_bytes())
        .expect("hook");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        xmlrpc_call(s.url(), "saltkey.accept", &[str_(&key), str_("db-minion")]).expect("call"),
        Ok(Value::Integer(1))
    );
    assert_eq!(
        psql(
            &sock,
            "SELECT s.id || '|' || s.hostname || '|' || m.minion_id FROM rhnserver s JOIN suseminioninfo m ON m.server_id = s.id"
        ),
        "1000010000|db-minion|db-minion"
    );
    s.stop().expect("stop");

    let s = StandIn::spawn(opts).expect("restart");
    // The session and the data come back from the tables.
    let details = xmlrpc_call(
        s.url(),
        "channel.software.getDetails",
        &[str_(&key), str_("pg-chan")],
    )
    .expect("call")
    .expect("details after restart");
    let Value::Struct(d) = details else {
        panic!("{details:?}")
    };
    assert_eq!(d.get("name"), Some(&str_("PG Channel")));
    let systems = xmlrpc_call(s.url(), "system.listSystems", &[str_(&key)])
        .expect("call")
        .expect("systems");
    let Value::Array(systems) = systems else {
        panic!()
    };
    assert_eq!(systems.len(), 1);
    let sock = socket_dir(s.dsn().expect("dsn"));
    assert_eq!(
        xmlrpc_call(
            s.url(),
            "system.deleteSystem",
            &[str_(&key), Value::Integer(1_000_010_000)]
        )
        .expect("call"),
        Ok(Value::Integer(1))
    );
    assert_eq!(psql(&sock, "SELECT count(*) FROM rhnserver"), "0");
    assert_eq!(psql(&sock, "SELECT count(*) FROM suseminioninfo"), "0");
}

#[test]
fn salt_keys_in_a_real_pki_dir() {
    let dir = tempfile::tempdir().expect("tmp");
    let pki = dir.path().join("pki");
    std::fs::create_dir_all(pki.join("minions_pre")).expect("mkdir");
    std::fs::write(pki.join("minions_pre/web1"), "KEY").expect("key");
    let s = StandIn::spawn(StandInOptions {
        postgres: "none".into(),
        salt_pki_dir: Some(pki.clone()),
        ..StandInOptions::default()
    })
    .expect("spawn");
    let str_ = |v: &str| Value::String(v.into());
    let key =
        match xmlrpc_call(s.url(), "auth.login", &[str_("admin"), str_("admin")]).expect("call") {
            Ok(Value::String(k)) => k,
            other => panic!("{other:?}"),
        };
    assert_eq!(
        xmlrpc_call(s.url(), "saltkey.pendingList", &[str_(&key)]).expect("call"),
        Ok(Value::Array(vec![str_("web1")]))
    );
    assert_eq!(
        xmlrpc_call(s.url(), "saltkey.accept", &[str_(&key), str_("web1")]).expect("call"),
        Ok(Value::Integer(1))
    );
    assert!(pki.join("minions/web1").is_file());
    assert!(!pki.join("minions_pre/web1").exists());
    let fault = xmlrpc_call(s.url(), "saltkey.accept", &[str_(&key), str_("web1")])
        .expect("call")
        .expect_err("not pending");
    assert!(fault.string.contains("is not pending"), "{fault:?}");
    assert_eq!(
        xmlrpc_call(s.url(), "saltkey.delete", &[str_(&key), str_("web1")]).expect("call"),
        Ok(Value::Integer(1))
    );
    assert!(!pki.join("minions/web1").exists());
    assert_eq!(
        xmlrpc_call(s.url(), "system.listSystems", &[str_(&key)]).expect("call"),
        Ok(Value::Array(vec![]))
    );
}

/// `(id, name)` that `StandIn::seed` should have created.
fn expected_systems(seeded: &Seeded, spec: &SeedSpec) -> Vec<(i64, String)> {
    (0..spec.count)
        .map(|i| {
            (
                seeded.first_id + i as i64,
                format!("{}{}.{}", spec.prefix, spec.start + i as u64, spec.domain),
            )
        })
        .collect()
}

fn group_size(sess: &Session, group: &str) -> usize {
    sess.call("systemgroup.listSystems", vec![string(group)])
        .expect("listSystems of a group")
        .as_array()
        .map_or(0, Vec::len)
}

#[test]
fn seed_hook_creates_systems_on_two_standins() {
    let spawn = || {
        StandIn::spawn(StandInOptions {
            postgres: "none".into(),
            ..StandInOptions::default()
        })
        .expect("spawn")
    };
    let (a, b) = (spawn(), spawn());
    let (sa, sb) = (
        Session::login(&a).expect("login a"),
        Session::login(&b).expect("login b"),
    );
    // g1 exists on a only; g2 nowhere; a base channel on a.
    sa.call("systemgroup.create", vec![string("g1"), string("pre")])
        .expect("group");
    sa.create_channel("seed-base").expect("channel");
    let spec_a = SeedSpec {
        groups: vec!["g1".into(), "g2".into()],
        base_channel: Some("seed-base".into()),
        ..SeedSpec::new(500)
    };
    let spec_b = SeedSpec {
        prefix: "node".into(),
        domain: "b.example.org".into(),
        groups: vec!["g1".into()],
        ..SeedSpec::new(500)
    };
    let ra = a.seed(&spec_a).expect("seed a");
    let rb = b.seed(&spec_b).expect("seed b");
    // Ids are allocated as usual: the two stand-ins overlap.
    for r in [ra, rb] {
        assert_eq!(
            r,
            Seeded {
                created: 500,
                first_id: 1_000_010_000,
                last_id: 1_000_010_499
            }
        );
    }
    assert_eq!(sa.systems().expect("a"), expected_systems(&ra, &spec_a));
    assert_eq!(sb.systems().expect("b"), expected_systems(&rb, &spec_b));
    assert_eq!(sa.systems().expect("a")[0].1, "sys1.example.org");
    assert_eq!(group_size(&sa, "g1"), 500);
    assert_eq!(group_size(&sa, "g2"), 500);
    assert_eq!(group_size(&sb, "g1"), 500);
    // Dates, minion id, channel.
    let sid = Value::Integer(1_000_010_042);
    let details = sa
        .call("system.getDetails", vec![sid.clone()])
        .expect("details");
    assert_eq!(details["minion_id"], "sys43.example.org", "{details}");
    let date = sa
        .call("system.getRegistrationDate", vec![sid.clone()])
        .expect("registration date");
    assert!(date.as_str().is_some_and(|d| d.ends_with('Z')), "{date}");
    let name = sa.call("system.getName", vec![sid.clone()]).expect("name");
    assert!(name["last_checkin"].as_str().is_some(), "{name}");
    let base = sa
        .call("system.getSubscribedBaseChannel", vec![sid])
        .expect("base");
    assert_eq!(base["label"], "seed-base", "{base}");
    let minions = sa
        .call("system.getMinionIdMap", vec![])
        .expect("minion map");
    assert_eq!(minions["sys500.example.org"], 1_000_010_499);
    // Seeding again continues the ids; the same names again are refused; so is a missing
    // channel.
    let more = a
        .seed(&SeedSpec {
            start: 501,
            ..SeedSpec::new(10)
        })
        .expect("more");
    assert_eq!(
        (more.first_id, more.last_id),
        (1_000_010_500, 1_000_010_509)
    );
    let err = a.seed(&SeedSpec::new(1)).expect_err("duplicate names");
    assert!(err.to_string().contains("sys1.example.org"), "{err}");
    let err = b
        .seed(&SeedSpec {
            base_channel: Some("nope".into()),
            start: 10_000,
            ..SeedSpec::new(1)
        })
        .expect_err("missing channel");
    assert!(err.to_string().contains("nope"), "{err}");
    assert_eq!(sb.systems().expect("b").len(), 500);
}

#[test]
fn seed_hook_with_postgres_20k_in_one_transaction() {
    require_pg();
    let dir = tempfile::tempdir().expect("tmp");
    let opts = StandInOptions {
        data_dir: Some(dir.path().join("standin")),
        ..StandInOptions::default()
    };
    let mut s = StandIn::spawn(opts.clone()).expect("spawn");
    let sock = socket_dir(s.dsn().expect("dsn"));
    let spec = SeedSpec {
        groups: vec!["bench".into()],
        ..SeedSpec::new(20_000)
    };
    let start = std::time::Instant::now();
    let r = s.seed(&spec).expect("seed");
    let took = start.elapsed();
    eprintln!("seeded 20000 systems into PostgreSQL in {took:?}");
    assert!(took < std::time::Duration::from_secs(60), "{took:?}");
    assert_eq!(
        (r.created, r.first_id, r.last_id),
        (20_000, 1_000_010_000, 1_000_029_999)
    );
    assert_eq!(
        psql(
            &sock,
            "SELECT (SELECT count(*) FROM rhnserver) || '|' || (SELECT count(*) FROM rhnserverinfo) || '|' || \
             (SELECT count(*) FROM suseminioninfo) || '|' || (SELECT count(*) FROM rhnservergroupmembers) || '|' || \
             (SELECT current_members FROM rhnservergroup WHERE name = 'bench')"
        ),
        "20000|20000|20000|20000|20000"
    );
    s.stop().expect("stop");
    // The model read back from the tables lists the same systems.
    let s = StandIn::spawn(opts).expect("restart");
    let sess = Session::login(&s).expect("login");
    assert_eq!(
        sess.systems().expect("systems"),
        expected_systems(&r, &spec)
    );
    let group = sess
        .call("systemgroup.getDetails", vec![string("bench")])
        .expect("group");
    assert_eq!(group["system_count"], 20_000, "{group}");
}

/// A package import, an erratum and an installed old build: the errata and package methods
/// spacecmd calls answer from Uyuni's own tables (rhnPackage, rhnErrata, rhnErrataPackage,
/// rhnChannelErrata, rhnServerPackage), and the same after a restart.
#[test]
fn errata_and_packages_are_in_the_uyuni_tables() {
    require_pg();
    let dir = tempfile::tempdir().expect("tmp");
    let opts = StandInOptions {
        data_dir: Some(dir.path().join("standin")),
        ..StandInOptions::default()
    };
    let mut s = StandIn::spawn(opts.clone()).expect("spawn");
    let sock = socket_dir(s.dsn().expect("dsn"));
    let str_ = |v: &str| Value::String(v.into());
    let key =
        match xmlrpc_call(s.url(), "auth.login", &[str_("admin"), str_("admin")]).expect("call") {
            Ok(Value::String(k)) => k,
            other => panic!("login: {other:?}"),
        };
    let call = |url: &str, m: &str, p: Vec<Value>| {
        let mut all = vec![str_(&key)];
        all.extend(p);
        xmlrpc_call(url, m, &all).expect("call")
    };
    call(
        s.url(),
        "channel.software.create",
        vec![
            str_("base-chan"),
            str_("Base Channel"),
            str_("s"),
            str_("channel-x86_64"),
            str_(""),
        ],
    )
    .expect("channel");
    let hook = |base: &str, path: &str, body: serde_json::Value| -> (u16, String) {
        match ureq::post(&format!("{base}{path}")).send_json(body) {
            Ok(mut r) => (
                r.status().as_u16(),
                r.body_mut().read_to_string().expect("body"),
            ),
            Err(ureq::Error::StatusCode(c)) => (c, String::new()),
            Err(e) => panic!("{e}"),
        }
    };
    let (st, _) = hook(
        s.base(),
        "/standin/minions",
        serde_json::json!({"minion_id": "m1", "fingerprint": "ff"}),
    );
    assert_eq!(st, 200);
    assert_eq!(
        call(s.url(), "saltkey.accept", vec![str_("m1")]),
        Ok(Value::Integer(1))
    );
    let sid = 1_000_010_000;
    let (st, body) = hook(
        s.base(),
        "/standin/package",
        serde_json::json!({"name": "nginx", "version": "1.20", "release": "1", "arch": "x86_64",
                           "installed_on": [sid]}),
    );
    assert_eq!((st, body.as_str()), (200, r#"{"id":1}"#));
    let (st, body) = hook(
        s.base(),
        "/standin/package",
        serde_json::json!({"name": "nginx", "version": "1.22", "release": "1", "arch": "x86_64",
                           "channels": ["base-chan"], "description": "web"}),
    );
    assert_eq!((st, body.as_str()), (200, r#"{"id":2}"#));
    // Bad input is a 400 and writes nothing.
    let (st, _) = hook(
        s.base(),
        "/standin/package",
        serde_json::json!({"name": "x", "version": "1", "release": "1", "arch": "x86_64",
                           "channels": ["nope"]}),
    );
    assert_eq!(st, 400);
    let (st, _) = hook(
        s.base(),
        "/standin/erratum",
        serde_json::json!({"advisory_name": "E-1", "advisory_type": "Nonsense", "synopsis": "s"}),
    );
    assert_eq!(st, 400);
    let (st, body) = hook(
        s.base(),
        "/standin/erratum",
        serde_json::json!({"advisory_name": "E-1", "advisory_type": "Security Advisory",
                           "synopsis": "nginx update", "solution": "update",
                           "channels": ["base-chan"], "packages": [2]}),
    );
    assert_eq!((st, body.as_str()), (200, r#"{"id":1}"#));
    assert_eq!(
        psql(
            &sock,
            "SELECT e.advisory_name || '|' || ce.channel_id || '|' || ep.package_id FROM rhnerrata e \
             JOIN rhnchannelerrata ce ON ce.errata_id = e.id JOIN rhnerratapackage ep ON ep.errata_id = e.id"
        ),
        "E-1|100|2"
    );
    assert_eq!(psql(&sock, "SELECT count(*) FROM rhnserverpackage"), "1");
    assert_eq!(psql(&sock, "SELECT count(*) FROM rhnpackage"), "2");
    s.stop().expect("stop");

    let s = StandIn::spawn(opts).expect("restart");
    let ids = |v: Result<Value, uyuni_api::Fault>, field: &str| -> Vec<Value> {
        match v.expect("answer") {
            Value::Array(a) => a
                .into_iter()
                .map(|x| match x {
                    Value::Struct(m) => m.get(field).cloned().expect("field"),
                    other => other,
                })
                .collect(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        ids(
            call(
                s.url(),
                "channel.software.listErrata",
                vec![str_("base-chan")]
            ),
            "advisory_name"
        ),
        vec![str_("E-1")]
    );
    assert_eq!(
        ids(
            call(s.url(), "errata.listAffectedSystems", vec![str_("E-1")]),
            "id"
        ),
        vec![Value::Integer(sid)]
    );
    assert_eq!(
        ids(
            call(s.url(), "errata.listPackages", vec![str_("E-1")]),
            "id"
        ),
        vec![Value::Integer(2)]
    );
    assert_eq!(
        ids(
            call(s.url(), "errata.applicableToChannels", vec![str_("E-1")]),
            "label"
        ),
        vec![str_("base-chan")]
    );
    let Ok(Value::Struct(d)) = call(s.url(), "errata.getDetails", vec![str_("E-1")]) else {
        panic!("details")
    };
    assert_eq!(d.get("type"), Some(&str_("Security Advisory")));
    assert_eq!(d.get("solution"), Some(&str_("update")));
    assert_eq!(
        call(s.url(), "errata.getDetails", vec![str_("E-9")])
            .expect_err("unknown")
            .code,
        -208
    );
    let Ok(Value::Struct(p)) = call(s.url(), "packages.getDetails", vec![Value::Integer(2)]) else {
        panic!("package")
    };
    assert_eq!(p.get("file"), Some(&str_("nginx-1.22-1.x86_64.rpm")));
    assert_eq!(p.get("description"), Some(&str_("web")));
    assert_eq!(
        ids(
            call(
                s.url(),
                "packages.listProvidingChannels",
                vec![Value::Integer(2)]
            ),
            "label"
        ),
        vec![str_("base-chan")]
    );
    assert_eq!(
        ids(
            call(
                s.url(),
                "packages.listProvidingErrata",
                vec![Value::Integer(2)]
            ),
            "advisory"
        ),
        vec![str_("E-1")]
    );
    assert_eq!(
        ids(
            call(
                s.url(),
                "system.listSystemsWithPackage",
                vec![Value::Integer(1)]
            ),
            "id"
        ),
        vec![Value::Integer(sid)]
    );
    assert_eq!(
        ids(
            call(
                s.url(),
                "system.listSystemsWithPackage",
                vec![str_("nginx"), str_("1.20"), str_("1")]
            ),
            "id"
        ),
        vec![Value::Integer(sid)]
    );
    assert!(
        ids(
            call(
                s.url(),
                "system.listSystemsWithPackage",
                vec![Value::Integer(2)]
            ),
            "id"
        )
        .is_empty()
    );
}

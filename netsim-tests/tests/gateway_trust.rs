//! The gateway's trust model end to end (issue 13; docs/security/gwtrust.md): a real peer beside
//! a Uyuni stand-in and a gateway peer in front of it.
//!
//! * No secrets at rest: a user logs in and out with a distinctive password (XML-RPC as
//!   spacecmd does, and the REST API), the gateway restarts, and no file under the cluster's
//!   data directories (stores, session file, audit log, the peers' logs) holds the password,
//!   its base64 or hex forms, or anything the old session sealer (a key derived from the
//!   cluster key) would open to it.
//! * A session survives a restart of its gateway; a logout removes it from disk.
//! * The REST API applies Uyuni's roles: no session 401; a plain user sees only the systems
//!   Uyuni shows them and cannot ban (403); an org admin can; the audit log says who did what.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use netsim_tests::harness::{Cluster, Options, wait_until};
use netsim_tests::standin::session::peer_section;
use netsim_tests::standin::{StandIn, StandInOptions, xmlrpc_call};
use uyuni_api::Value;
use uyuni_api::value::string;

const T: Duration = Duration::from_secs(60);

/// The distinctive password of the test user.
const PASSWORD: &str = "Gw7rust-Zq8!distinct-4417";

fn standin() -> anyhow::Result<StandIn> {
    StandIn::spawn(StandInOptions {
        postgres: "none".into(),
        fqdn: "dc1-a.uyuni.test".into(),
        ..StandInOptions::default()
    })
}

/// Peer dc1-a beside `stand` and the gateway member gw1: the cluster and gw1's index.
fn cluster_beside(stand: &StandIn) -> anyhow::Result<(Cluster, usize)> {
    let mut c = Cluster::new(&["dc1".into()], Options::default())?;
    c.add_peer_with("dc1-a", "dc1", &peer_section(stand))?;
    let g = c.add_peer_with(
        "gw1",
        "dc1",
        "role = \"gateway\"\n[gateway]\nlisten = \"127.0.0.1:0\"\nnode_timeout_ms = 3000\n",
    )?;
    Ok((c, g))
}

fn base(c: &Cluster, g: usize) -> anyhow::Result<String> {
    c.peers[g]
        .gateway
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no gateway"))
}

fn login(rpc: &str, user: &str, password: &str) -> anyhow::Result<String> {
    match xmlrpc_call(rpc, "auth.login", &[string(user), string(password)])? {
        Ok(Value::String(k)) => Ok(k),
        other => anyhow::bail!("login: {other:?}"),
    }
}

fn session_id(key: &str) -> String {
    gateway::sessions::session_id(key)
}

/// Every file under `dir`, recursively.
fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> anyhow::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() {
            files(&e.path(), out)?;
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    Ok(())
}

/// Runs of base64 characters at least `min` long (candidate sealed values).
fn base64_runs(bytes: &[u8], min: usize) -> Vec<&[u8]> {
    let is_b64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    bytes
        .split(|b| !is_b64(*b))
        .filter(|r| r.len() >= min)
        .collect()
}

/// `plain` sealed the way the pre-issue-13 gateway did (a fixed nonce: a probe for the
/// detector below).
fn old_seal(cluster_key: &[u8], plain: &str) -> String {
    use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"uyuni-cluster gateway session secret v1\0");
    h.update(cluster_key);
    let key =
        LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &h.finalize()).expect("32-byte key"));
    let nonce = [7u8; 12];
    let mut buf = plain.as_bytes().to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
        .expect("seal");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    base64::engine::general_purpose::STANDARD.encode(out)
}

/// What the pre-issue-13 gateway sealed passwords with: ChaCha20-Poly1305 under
/// SHA-256("uyuni-cluster gateway session secret v1\0" ‖ cluster key), nonce ‖ sealed, base64.
fn old_sealer_opens_to_password(cluster_key: &[u8], token: &[u8]) -> bool {
    use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"uyuni-cluster gateway session secret v1\0");
    h.update(cluster_key);
    let Ok(unbound) = UnboundKey::new(&CHACHA20_POLY1305, &h.finalize()) else {
        return false;
    };
    let key = LessSafeKey::new(unbound);
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(token) else {
        return false;
    };
    if raw.len() < NONCE_LEN + 16 {
        return false;
    }
    let (nonce, rest) = raw.split_at(NONCE_LEN);
    let Ok(nonce) = Nonce::try_assume_unique_for_key(nonce) else {
        return false;
    };
    let mut buf = rest.to_vec();
    key.open_in_place(nonce, Aad::empty(), &mut buf)
        .is_ok_and(|plain| {
            plain
                .windows(PASSWORD.len())
                .any(|w| w == PASSWORD.as_bytes())
        })
}

#[test]
fn no_password_is_kept_at_rest_and_sessions_survive_a_restart() -> anyhow::Result<()> {
    let stand = standin()?;
    stand.add_user("operator", PASSWORD, &["org_admin"], &[])?;
    let (mut c, g) = cluster_beside(&stand)?;
    let rpc = format!("{}/rpc/api", base(&c, g)?);
    wait_until(T, "the gateway logs the user in", || {
        Ok(login(&rpc, "operator", PASSWORD).is_ok())
    })?;
    let sessions_file = c.data_dir_of("gw1").join(gateway::session_file::FILE_NAME);

    // spacecmd's round: api.getVersion, auth.login, user.listAssignableRoles, a command,
    // auth.logout. After the logout the key is unknown and gone from disk.
    xmlrpc_call(&rpc, "api.getVersion", &[])?.map_err(|f| anyhow::anyhow!("{f:?}"))?;
    let once = login(&rpc, "operator", PASSWORD)?;
    xmlrpc_call(&rpc, "user.listAssignableRoles", &[string(&once)])?
        .map_err(|f| anyhow::anyhow!("{f:?}"))?;
    xmlrpc_call(&rpc, "system.listSystems", &[string(&once)])?
        .map_err(|f| anyhow::anyhow!("{f:?}"))?;
    assert!(std::fs::read_to_string(&sessions_file)?.contains(&session_id(&once)));
    xmlrpc_call(&rpc, "auth.logout", &[string(&once)])?.map_err(|f| anyhow::anyhow!("{f:?}"))?;
    let gone = xmlrpc_call(&rpc, "system.listSystems", &[string(&once)])?;
    assert!(
        gone.is_err_and(|f| f.code == -1),
        "a logged-out key is unknown"
    );
    assert!(!std::fs::read_to_string(&sessions_file)?.contains(&session_id(&once)));

    // A wrong password is the node's own fault.
    let wrong = xmlrpc_call(&rpc, "auth.login", &[string("operator"), string("nope")])?;
    assert!(wrong.is_err(), "{wrong:?}");

    // The REST login takes the same password; a session kept across a kill -9 of the gateway.
    let rest: serde_json::Value = ureq::post(format!("{}/api/v1/login", base(&c, g)?))
        .send_json(serde_json::json!({"username": "operator", "password": PASSWORD}))?
        .body_mut()
        .read_json()?;
    let rest_key = rest["session"].as_str().unwrap_or_default().to_string();
    let kept = login(&rpc, "operator", PASSWORD)?;
    c.kill(g);
    c.restart(g)?;
    let rpc = format!("{}/rpc/api", base(&c, g)?);
    wait_until(T, "the restarted gateway accepts the session", || {
        Ok(xmlrpc_call(&rpc, "system.listSystems", &[string(&kept)])?.is_ok())
    })?;
    let nodes = ureq::get(format!("{}/api/v1/nodes", base(&c, g)?))
        .header("Authorization", &format!("Bearer {rest_key}"))
        .call()?;
    assert_eq!(nodes.status().as_u16(), 200);
    for key in [&kept, &rest_key] {
        xmlrpc_call(&rpc, "auth.logout", &[string(key)])?.map_err(|f| anyhow::anyhow!("{f:?}"))?;
        assert!(!std::fs::read_to_string(&sessions_file)?.contains(&session_id(key)));
    }

    // Stop every peer (logs flushed), then read every file of the cluster.
    for i in 0..c.peers.len() {
        c.stop(i)?;
    }
    let root = c
        .data_dir_of("gw1")
        .parent()
        .ok_or_else(|| anyhow::anyhow!("no cluster dir"))?
        .to_path_buf();
    let mut all = Vec::new();
    files(&root, &mut all)?;
    assert!(all.len() > 5, "{all:?}");
    let b64 = base64::engine::general_purpose::STANDARD;
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let forms: Vec<String> = vec![
        PASSWORD.to_string(),
        b64.encode(PASSWORD),
        b64url.encode(PASSWORD),
        b64.encode(PASSWORD).trim_end_matches('=').to_string(),
        hex::encode(PASSWORD),
    ];
    let cluster_key = std::fs::read(&c.key)?;
    // The detector finds a sealed password inside a record as the old gateway wrote it.
    let probe = format!("{{\"secret\":\"{}\"}}", old_seal(&cluster_key, PASSWORD));
    assert!(
        base64_runs(probe.as_bytes(), 40)
            .iter()
            .any(|t| old_sealer_opens_to_password(&cluster_key, t)),
        "the old-sealer detector works: {probe}"
    );
    let mut read = 0usize;
    for f in &all {
        let bytes = std::fs::read(f)?;
        read += bytes.len();
        for form in &forms {
            assert!(
                !bytes.windows(form.len()).any(|w| w == form.as_bytes()),
                "{} holds the password (as {form:?})",
                f.display()
            );
        }
        for token in base64_runs(&bytes, 40) {
            assert!(
                !old_sealer_opens_to_password(&cluster_key, token),
                "{} holds the password sealed",
                f.display()
            );
        }
    }
    eprintln!("{} files, {read} bytes searched", all.len());
    Ok(())
}

#[test]
fn rest_users_get_uyunis_roles() -> anyhow::Result<()> {
    let stand = standin()?;
    let api = netsim_tests::standin::session::Session::login(&stand)?;
    for g in ["web", "db"] {
        api.call("systemgroup.create", vec![string(g), string(g)])?;
    }
    for (prefix, group) in [("web", "web"), ("db", "db")] {
        ureq::post(format!("{}/standin/seed", stand.base())).send_json(serde_json::json!({
            "count": 2, "prefix": prefix, "domain": "example.org", "groups": [group],
        }))?;
    }
    stand.add_user("viewer", "viewer-pw", &[], &["web"])?;
    stand.add_user("orgadmin", "orgadmin-pw", &["org_admin"], &[])?;
    let (c, g) = cluster_beside(&stand)?;
    let base = base(&c, g)?;
    for (i, m) in ["web1", "web2", "db1"].iter().enumerate() {
        c.register(0, &format!("0c:0{i}"), &format!("{m}.example.org"))?;
    }
    let rest_login = |user: &str, pw: &str| -> anyhow::Result<String> {
        let v: serde_json::Value = ureq::post(format!("{base}/api/v1/login"))
            .send_json(serde_json::json!({"username": user, "password": pw}))?
            .body_mut()
            .read_json()?;
        Ok(v["session"].as_str().unwrap_or_default().to_string())
    };
    let mut viewer = String::new();
    wait_until(T, "the gateway logs the users in", || {
        viewer = rest_login("viewer", "viewer-pw").unwrap_or_default();
        Ok(!viewer.is_empty())
    })?;
    let admin = rest_login("orgadmin", "orgadmin-pw")?;
    let get = |path: &str, key: Option<&str>| -> anyhow::Result<(u16, serde_json::Value)> {
        let mut req = ureq::get(format!("{base}{path}"));
        if let Some(k) = key {
            req = req.header("Authorization", &format!("Bearer {k}"));
        }
        let mut resp = req.config().http_status_as_error(false).build().call()?;
        let status = resp.status().as_u16();
        Ok((status, resp.body_mut().read_json().unwrap_or_default()))
    };
    let ban = |key: Option<&str>, q: &str| -> anyhow::Result<(u16, serde_json::Value)> {
        let mut req = ureq::post(format!("{base}/api/v1/systems/bulk"));
        if let Some(k) = key {
            req = req.header("Authorization", &format!("Bearer {k}"));
        }
        let mut resp = req
            .config()
            .http_status_as_error(false)
            .build()
            .send_json(serde_json::json!({"q": q, "action": "ban"}))?;
        let status = resp.status().as_u16();
        Ok((status, resp.body_mut().read_json().unwrap_or_default()))
    };
    let names = |page: &serde_json::Value| -> Vec<String> {
        let mut n: Vec<String> = page["systems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["minion_id"].as_str().map(str::to_string))
            .collect();
        n.sort();
        n
    };

    // No session: 401.
    assert_eq!(get("/api/v1/systems", None)?.0, 401);
    assert_eq!(ban(None, "web1*")?.0, 401);
    assert_eq!(get("/api/v1/systems", Some("1x00"))?.0, 401);

    // The org admin sees every system; the plain user only those of their group.
    wait_until(T, "the org admin sees the three systems", || {
        let (s, page) = get("/api/v1/systems", Some(&admin))?;
        Ok(s == 200 && page["total"] == 3)
    })?;
    let (s, page) = get("/api/v1/systems", Some(&viewer))?;
    assert_eq!(s, 200, "{page}");
    assert_eq!(
        names(&page),
        ["web1.example.org", "web2.example.org"],
        "{page}"
    );
    let (s, paged) = get("/api/v1/systems?limit=1", Some(&viewer))?;
    assert_eq!((s, paged["total"].as_u64()), (200, Some(2)), "{paged}");
    assert_eq!(paged["next"], "o1", "{paged}");
    // Systems are registered under labels; the harness signs each as its own identity.
    let (fp0, fp2) = (c.fp("0c:00"), c.fp("0c:02"));
    assert_eq!(
        get(&format!("/api/v1/systems/{fp2}"), Some(&viewer))?.0,
        404
    );
    assert_eq!(
        get(&format!("/api/v1/systems/{fp0}"), Some(&viewer))?.0,
        200
    );

    // A plain user cannot ban (403, nothing done); an org admin can.
    let (s, body) = ban(Some(&viewer), "web1*")?;
    assert_eq!(s, 403, "{body}");
    let (s, page) = get("/api/v1/systems?q=web1*", Some(&admin))?;
    assert_eq!(s, 200);
    assert_eq!(page["total"], 1, "{page}");
    assert!(
        page["systems"][0].get("banned").is_none(),
        "not banned: {page}"
    );
    let (s, report) = ban(Some(&admin), "web1*")?;
    assert_eq!((s, report["matched"].as_u64()), (200, Some(1)), "{report}");
    let (_, page) = get("/api/v1/systems?q=web1*", Some(&admin))?;
    assert_eq!(page["systems"][0]["banned"], true, "banned: {page}");

    // The audit log: admins only; it names who did what to which systems.
    assert_eq!(get("/api/v1/audit", Some(&viewer))?.0, 403);
    assert_eq!(get("/api/v1/audit", None)?.0, 401);
    let (s, log) = get("/api/v1/audit", Some(&admin))?;
    assert_eq!(s, 200, "{log}");
    let entries = log.as_array().cloned().unwrap_or_default();
    let refused = entries
        .iter()
        .find(|e| e["who"] == "user:viewer")
        .ok_or_else(|| anyhow::anyhow!("no entry for the refused ban: {log}"))?;
    assert_eq!(refused["status"], 403);
    assert_eq!(refused["action"], "bulk ban");
    let done = entries
        .iter()
        .find(|e| e["who"] == "user:orgadmin")
        .ok_or_else(|| anyhow::anyhow!("no entry for the ban: {log}"))?;
    assert_eq!(done["status"], 200);
    assert!(
        done["detail"].as_str().unwrap_or_default().contains(&fp0),
        "{done}"
    );
    assert!(done["at_ms"].as_u64().unwrap_or(0) > 0);

    // The Cluster UI's routes: a session first, then Uyuni's roles and the user's scope.
    for path in [
        "/api/v1/session",
        "/api/v1/zones",
        "/api/v1/events",
        "/api/v1/history",
        "/api/v1/content/repos",
        "/api/v1/systems/facets",
    ] {
        assert_eq!(get(path, None)?.0, 401, "{path}");
    }
    let (s, me) = get("/api/v1/session", Some(&admin))?;
    assert_eq!((s, me["user"].as_str()), (200, Some("orgadmin")), "{me}");
    let (_, seen) = get("/api/v1/systems", Some(&viewer))?;
    let (s, facets) = get("/api/v1/systems/facets?q=", Some(&viewer))?;
    assert_eq!(s, 200, "{facets}");
    assert_eq!(
        facets["total"], seen["total"],
        "facets count what the user sees"
    );
    let (s, zones) = get("/api/v1/zones", Some(&admin))?;
    assert_eq!(s, 200, "{zones}");
    let zone = zones[0]["name"].as_str().unwrap_or_default().to_string();
    let mut resp = ureq::post(format!("{base}/api/v1/zones/{zone}/mode"))
        .header("Authorization", &format!("Bearer {admin}"))
        .config()
        .http_status_as_error(false)
        .build()
        .send_json(serde_json::json!({"mode": "disaster-recovery"}))?;
    assert_eq!(
        resp.status().as_u16(),
        403,
        "an org admin may not switch a zone's mode: {}",
        resp.body_mut().read_to_string().unwrap_or_default()
    );
    let (_, log) = get("/api/v1/audit", Some(&admin))?;
    assert!(
        log.as_array()
            .into_iter()
            .flatten()
            .any(|e| e["action"] == "zone mode" && e["status"] == 403),
        "the refused switch is audited: {log}"
    );
    Ok(())
}

/// A client of https trusting exactly the cluster CA in `ca`.
fn tls_agent(ca: &Path) -> anyhow::Result<ureq::Agent> {
    let roots: Vec<ureq::tls::Certificate<'static>> = cluster_core::tls::read_certs(ca)?
        .iter()
        .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(cluster_core::tls::provider())
        .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
        .build();
    Ok(ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .build()
        .new_agent())
}

/// An XML-RPC call over https, trusting exactly the cluster CA in `ca`.
fn call_over_tls(
    ca: &Path,
    url: &str,
    method: &str,
    params: &[Value],
) -> anyhow::Result<Result<Value, uyuni_api::Fault>> {
    let body = uyuni_api::codec::render_call(method, params)?;
    let text = tls_agent(ca)?
        .post(url)
        .header("Content-Type", "text/xml")
        .send(body.as_bytes())?
        .body_mut()
        .read_to_string()?;
    Ok(uyuni_api::codec::parse_response(&text)?)
}

/// A REST GET over https with a bearer session: status and body.
fn rest_get_over_tls(
    ca: &Path,
    url: &str,
    bearer: &str,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let mut res = tls_agent(ca)?
        .get(url)
        .header("Authorization", &format!("Bearer {bearer}"))
        .call()?;
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string()?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    ))
}

/// An admin session on the stand-in's own XML-RPC API.
fn stand_session(s: &StandIn) -> anyhow::Result<netsim_tests::standin::session::Session> {
    netsim_tests::standin::session::Session::login(s)
}

/// A REST POST over https with a JSON body and (if any) a bearer session: status and body.
fn rest_post_over_tls(
    ca: &Path,
    url: &str,
    bearer: Option<&str>,
    body: &serde_json::Value,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let mut req = tls_agent(ca)?.post(url);
    if let Some(b) = bearer {
        req = req.header("Authorization", &format!("Bearer {b}"));
    }
    let mut res = req.send_json(body)?;
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string()?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    ))
}

/// Sessions across gateways, over TLS (docs/SECURITY.md, "Gateway sessions"): a key from gw1
/// works at gw2 (which asks gw1 with its peer certificate and then keeps the sealed entry); the
/// route that serves sessions refuses operators (403) and the anonymous (401); "Apply cluster
/// update" through gw2 runs on the Leader Node's peer; a logout at gw2 ends the session at gw1
/// too; an unknown key stays unknown.
#[test]
fn a_session_opened_at_one_gateway_works_at_every_gateway() -> anyhow::Result<()> {
    let stand = standin()?;
    stand.add_user("operator", PASSWORD, &["org_admin"], &[])?;
    stand.add_user("sat", "sat-pw", &["satellite_admin"], &[])?;
    let opts = Options {
        tls: true,
        ..Options::default()
    };
    let mut c = Cluster::new(&["dc1".into()], opts)?;
    c.add_peer_with("dc1-a", "dc1", &peer_section(&stand))?;
    let gw = "role = \"gateway\"\n[gateway]\nlisten = \"127.0.0.1:0\"\nnode_timeout_ms = 3000\n";
    let g1 = c.add_peer_with("gw1", "dc1", gw)?;
    let g2 = c.add_peer_with("gw2", "dc1", gw)?;
    let ca = c.ca.clone().ok_or_else(|| anyhow::anyhow!("no CA"))?;
    let (rpc1, rpc2) = (
        format!("{}/rpc/api", base(&c, g1)?),
        format!("{}/rpc/api", base(&c, g2)?),
    );
    assert!(rpc1.starts_with("https://") && rpc2.starts_with("https://"));
    wait_until(T, "both gateways see each other alive", || {
        let alive = |i: usize| -> anyhow::Result<bool> {
            Ok(c.members(i)?.iter().filter(|m| m.status == "alive").count() == 3)
        };
        Ok(alive(g1)? && alive(g2)?)
    })?;
    let login = |rpc: &str| -> anyhow::Result<Option<String>> {
        match call_over_tls(
            &ca,
            rpc,
            "auth.login",
            &[string("operator"), string(PASSWORD)],
        )? {
            Ok(Value::String(k)) => Ok(Some(k)),
            _ => Ok(None),
        }
    };
    wait_until(T, "gw1 logs the user in", || Ok(login(&rpc1)?.is_some()))?;
    let key = login(&rpc1)?.ok_or_else(|| anyhow::anyhow!("login"))?;
    let id = session_id(&key);

    // gw2 never saw the login: it finds the session at gw1 and keeps it.
    let at_gw2 = call_over_tls(&ca, &rpc2, "system.listSystems", &[string(&key)])?;
    assert!(at_gw2.is_ok(), "gw2 accepts gw1's session: {at_gw2:?}");
    let gw2_file = c.data_dir_of("gw2").join(gateway::session_file::FILE_NAME);
    assert!(std::fs::read_to_string(&gw2_file)?.contains(&id));
    assert!(!std::fs::read_to_string(&gw2_file)?.contains(PASSWORD));

    // Only gateways (peer certificates) read sessions.
    let path = format!("/gateway/sessions/{id}");
    let as_operator = c.peers[g1].client().request_raw("GET", &path, None)?;
    assert_eq!(as_operator.status, 403, "{}", as_operator.body);
    let anonymous = c.peers[g1]
        .anonymous_client()
        .request_raw("GET", &path, None)?;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);

    // "Apply cluster update" through gw2: the Leader Node's peer (dc1-a) publishes, asked by
    // gw2 with its peer certificate; an org admin may not (403), a SUSE Manager admin may.
    let gw2 = base(&c, g2)?;
    let (status, answer) = rest_post_over_tls(
        &ca,
        &format!("{gw2}/api/v1/login"),
        None,
        &serde_json::json!({"username": "sat", "password": "sat-pw"}),
    )?;
    assert_eq!(status, 200, "{answer}");
    let sat = answer["session"].as_str().unwrap_or_default().to_string();
    let (status, answer) = rest_post_over_tls(
        &ca,
        &format!("{gw2}/api/v1/zones/dc1/publish"),
        Some(&sat),
        &serde_json::json!({}),
    )?;
    assert_eq!(status, 400, "no Leader Node yet: {answer}");
    let (status, answer) = rest_post_over_tls(
        &ca,
        &format!("{gw2}/api/v1/zones/dc1/lease"),
        Some(&sat),
        &serde_json::json!({"node": "dc1-a"}),
    )?;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = rest_post_over_tls(
        &ca,
        &format!("{gw2}/api/v1/zones/dc1/publish"),
        Some(&sat),
        &serde_json::json!({}),
    )?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["leader"], "dc1-a", "{answer}");
    assert_eq!(answer["zone"], "dc1", "{answer}");
    let (status, answer) = rest_post_over_tls(
        &ca,
        &format!("{gw2}/api/v1/zones/dc1/publish"),
        Some(&key),
        &serde_json::json!({}),
    )?;
    assert_eq!(status, 403, "an org admin may not publish: {answer}");

    // The Content and CLM page's actions through gw2, run on dc1-a's own peer (asked with
    // gw2's peer certificate): verify (an org admin may not: 403; an unknown node: 400), each
    // node's content, a CLM version saved from dc1-a's server and applied to dc1.
    let (status, answer) = rest_post_over_tls(
        &ca,
        &format!("{gw2}/api/v1/content/verify"),
        Some(&sat),
        &serde_json::json!({"node": "dc1-a"}),
    )?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["node"], "dc1-a", "{answer}");
    assert!(answer["report"]["drift"].is_array(), "{answer}");
    let (status, answer) = rest_post_over_tls(
        &ca,
        &format!("{gw2}/api/v1/content/verify"),
        Some(&key),
        &serde_json::json!({"node": "dc1-a"}),
    )?;
    assert_eq!(status, 403, "an org admin may not verify: {answer}");
    let (status, answer) = rest_post_over_tls(
        &ca,
        &format!("{gw2}/api/v1/content/verify"),
        Some(&sat),
        &serde_json::json!({"node": "../admin"}),
    )?;
    assert_eq!(status, 400, "an unknown node: {answer}");
    let (status, answer) = rest_get_over_tls(&ca, &format!("{gw2}/api/v1/content/nodes"), &sat)?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer[0]["node"], "dc1-a", "{answer}");
    assert!(answer[0].get("error").is_none(), "{answer}");
    stand_session(&stand)?.call(
        "contentmanagement.createProject",
        vec![string("web-clm"), string("Web CLM"), string("")],
    )?;
    let (status, answer) = rest_post_over_tls(
        &ca,
        &format!("{gw2}/api/v1/clm/dc1/web-clm/save"),
        Some(&sat),
        &serde_json::json!({"node": "dc1-a"}),
    )?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["version"], 1, "{answer}");
    let (status, answer) = rest_post_over_tls(
        &ca,
        &format!("{gw2}/api/v1/clm/dc1/web-clm/apply"),
        Some(&sat),
        &serde_json::json!({}),
    )?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["applied_by"], "dc1-a", "{answer}");
    wait_until(T, "gw2 to list the applied CLM version", || {
        let (_, list) = rest_get_over_tls(&ca, &format!("{gw2}/api/v1/clm"), &sat)?;
        Ok(list[0]["project"] == "web-clm"
            && list[0]["applied"]["version_id"] == answer["version_id"])
    })?;
    let (_, audit) = rest_get_over_tls(&ca, &format!("{gw2}/api/v1/audit"), &sat)?;
    let text = audit.to_string();
    assert!(
        text.contains("content verify") && text.contains("clm apply"),
        "audited: {text}"
    );

    // An unknown key is unknown at every gateway.
    let bogus = "42x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let unknown = call_over_tls(&ca, &rpc2, "system.listSystems", &[string(bogus)])?;
    assert!(
        unknown.is_err_and(|f| f.code == -1),
        "an unknown key is refused"
    );

    // A logout at gw2 ends the session at gw1 as well, before the logout answers.
    let gw1_file = c.data_dir_of("gw1").join(gateway::session_file::FILE_NAME);
    assert!(std::fs::read_to_string(&gw1_file)?.contains(&id));
    call_over_tls(&ca, &rpc2, "auth.logout", &[string(&key)])?
        .map_err(|f| anyhow::anyhow!("{f:?}"))?;
    assert!(!std::fs::read_to_string(&gw1_file)?.contains(&id));
    assert!(!std::fs::read_to_string(&gw2_file)?.contains(&id));
    let at_gw1 = call_over_tls(&ca, &rpc1, "system.listSystems", &[string(&key)])?;
    assert!(at_gw1.is_err_and(|f| f.code == -1), "gw1 ended it too");
    Ok(())
}

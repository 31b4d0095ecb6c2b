//! The sandbox's demonstrations: dc1's common data published by its Leader Node, and the
//! agents' systems onboarded.

use super::*;

/// Show the Leader Node flow once: dc1's first node claims the lease, gets a base channel, a
/// child channel, a system group and an activation key, publishes them, and every other dc1
/// node copies them (store1's nodes do not).
pub(crate) fn demo_common_data(
    peers: &[Peer],
    standins: &[StandInProc],
    ca: &Path,
    per_zone: usize,
) -> anyhow::Result<String> {
    use uyuni_api::value::{string, strings};
    let leader = crate::admin_client(&peers[0].http, ca)?;
    let _: serde_json::Value = leader.post(
        "/zones/dc1/lease",
        &serde_json::json!({"ttl_ms": 600_000, "force": true}),
    )?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let api = |u: &StandInProc| {
        uyuni_api::UyuniClient::new(uyuni_api::ClientConfig::new(
            &format!("{}/rpc/api", u.base),
            UYUNI_USER,
            UYUNI_PASSWORD,
        ))
    };
    let first = api(&standins[0])?;
    let created = rt.block_on(async {
        let exists = |e: &uyuni_api::ApiError| e.fault().is_some();
        let calls: Vec<(&str, Vec<uyuni_api::Value>)> = vec![
            (
                "channel.software.create",
                vec![
                    string("sandbox-base-x86_64"),
                    string("Sandbox base"),
                    string("Sandbox base channel"),
                    string("channel-x86_64"),
                    string(""),
                ],
            ),
            (
                "channel.software.create",
                vec![
                    string("sandbox-tools-x86_64"),
                    string("Sandbox tools"),
                    string("Sandbox child channel"),
                    string("channel-x86_64"),
                    string("sandbox-base-x86_64"),
                ],
            ),
            (
                "systemgroup.create",
                vec![string("sandbox-web"), string("Web servers")],
            ),
            (
                "activationkey.create",
                vec![
                    string("sandbox"),
                    string("Sandbox key"),
                    string("sandbox-base-x86_64"),
                    strings(Vec::<String>::new()),
                    uyuni_api::Value::Boolean(false),
                ],
            ),
        ];
        let mut created = 0usize;
        for (method, params) in calls {
            match first.call(method, params).await {
                Ok(_) => created += 1,
                // Already there from an earlier sandbox run: fine.
                Err(e) if exists(&e) => {}
                Err(e) => return Err(anyhow::Error::from(e)),
            }
        }
        Ok::<_, anyhow::Error>(created)
    })?;
    let outbox = standins[0].dsn.is_some();
    if outbox && created > 0 {
        // The triggers capture the changes into the lease's change set: wait for every object
        // created above, not just the first (publishing a partial change set left the child
        // channel unpublished on a loaded machine).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let lease: serde_json::Value = leader.get("/zones/dc1/lease")?;
            let n = lease["pending"].as_array().map_or(0, Vec::len);
            if n >= created || std::time::Instant::now() > deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    let report: serde_json::Value =
        leader.post("/zones/dc1/publish", &serde_json::json!({"all": !outbox}))?;
    let _: serde_json::Value = leader.delete("/zones/dc1/lease")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let has_channel = |u: &StandInProc| -> bool {
        let Ok(c) = api(u) else { return false };
        rt.block_on(async {
            c.call("channel.listAllChannels", vec![])
                .await
                .is_ok_and(|v| {
                    uyuni_api::json::to_json(&v)
                        .as_array()
                        .is_some_and(|a| a.iter().any(|ch| ch["label"] == "sandbox-tools-x86_64"))
                })
        })
    };
    let dc1 = &standins[..per_zone.min(standins.len())];
    while !dc1.iter().all(has_channel) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let copied = dc1.iter().filter(|u| has_channel(u)).count();
    let elsewhere = standins[dc1.len()..]
        .iter()
        .filter(|u| has_channel(u))
        .count();
    Ok(format!(
        "{} published {} object(s) (generation {}, captured by {}); channels present on {copied}/{} dc1 nodes and {elsewhere}/{} store1 nodes",
        peers[0].name,
        report["published"].as_array().map_or(0, Vec::len),
        report["generation"],
        if outbox {
            "the database triggers"
        } else {
            "a full publication (no PostgreSQL)"
        },
        dc1.len(),
        standins.len() - dc1.len(),
    ))
}

/// Wait (briefly) for the agents to register, accept all but the last, and give the
/// accepted ones time to learn their node. Best effort: the sandbox runs either way.
pub(crate) fn onboard_agents(client: &Client, agents: &[AgentProc]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let get = |fp: &str| -> Option<crdt_store::SystemRecord> {
        client.get(&format!("/systems/{fp}")).ok()
    };
    let wait = |cond: &dyn Fn() -> bool| {
        while !cond() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    wait(&|| agents.iter().all(|a| get(&a.fingerprint).is_some()));
    for a in agents.iter().take(agents.len().saturating_sub(1)) {
        let _: Result<serde_json::Value, _> = client.post(
            &format!("/systems/{}/accept", a.fingerprint),
            &serde_json::json!({}),
        );
    }
    wait(&|| {
        agents
            .iter()
            .take(agents.len().saturating_sub(1))
            .all(|a| master_written(&a.config_dir))
    });
}

//! Test-side helpers around a running stand-in: a logged-in XML-RPC session, a stand-in on a
//! database of a shared throwaway PostgreSQL with the cluster's triggers installed, and the
//! `[uyuni]` section that points a peer's Node Controller at it.

use std::process::Command;

use uyuni_api::Value;
use uyuni_api::value::string;

use super::{StandIn, StandInOptions, xmlrpc_call};
use crate::pg::Postgres;

/// A stand-in on database `db` of `pg`, with the cluster's triggers installed
/// (`uyuni-cluster triggers install`).
pub fn standin_with_triggers(pg: &Postgres, db: &str) -> anyhow::Result<StandIn> {
    let dsn = pg.create_database(db)?;
    let s = StandIn::spawn(StandInOptions {
        postgres: dsn.clone(),
        fqdn: format!("{db}.uyuni.test"),
        ..StandInOptions::default()
    })?;
    let out = Command::new(crate::harness::binary()?)
        .args(["triggers", "install", "--db", &dsn])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "triggers install: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(s)
}

/// Peer config lines for a node beside `s`: its `fqdn` and a `[uyuni]` section with test
/// timings (and the database, for events out of Uyuni, when `s` has one).
pub fn peer_section(s: &StandIn) -> String {
    let mut out = format!(
        "fqdn = \"{}\"\n[uyuni]\nurl = \"{}\"\nuser = \"admin\"\npassword = \"admin\"\nreconcile_interval_ms = 300\noutbox_poll_ms = 500\nretries = 2\n",
        s.base().trim_start_matches("http://"),
        s.url()
    );
    if let Some(dsn) = s.dsn() {
        out.push_str(&format!("db = \"{dsn}\"\n"));
    }
    out
}

/// A logged-in XML-RPC session (admin/admin) on a stand-in.
#[derive(Debug, Clone)]
pub struct Session {
    url: String,
    key: String,
}

impl Session {
    /// Log in.
    pub fn login(s: &StandIn) -> anyhow::Result<Self> {
        let key = match xmlrpc_call(s.url(), "auth.login", &[string("admin"), string("admin")])? {
            Ok(Value::String(k)) => k,
            other => anyhow::bail!("login: {other:?}"),
        };
        Ok(Self {
            url: s.url().to_string(),
            key,
        })
    }

    /// Call `method` with the session key first; the result as JSON, a fault as an error.
    pub fn call(&self, method: &str, params: Vec<Value>) -> anyhow::Result<serde_json::Value> {
        let mut all = vec![string(&self.key)];
        all.extend(params);
        match xmlrpc_call(&self.url, method, &all)? {
            Ok(v) => Ok(uyuni_api::json::to_json(&v)),
            Err(f) => anyhow::bail!("{method}: {f}"),
        }
    }

    /// Labels of `channel.listAllChannels`.
    pub fn channels(&self) -> anyhow::Result<Vec<String>> {
        Ok(self
            .call("channel.listAllChannels", vec![])?
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["label"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `(id, name)` of `system.listSystems`.
    pub fn systems(&self) -> anyhow::Result<Vec<(i64, String)>> {
        Ok(self
            .call("system.listSystems", vec![])?
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| Some((s["id"].as_i64()?, s["name"].as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Whether `system.listSystems` lists `name`.
    pub fn lists(&self, name: &str) -> anyhow::Result<bool> {
        Ok(self.systems()?.iter().any(|(_, n)| n == name))
    }

    /// A base channel (`channel-x86_64`) named after its label.
    pub fn create_channel(&self, label: &str) -> anyhow::Result<()> {
        self.call(
            "channel.software.create",
            vec![
                string(label),
                string(format!("Name of {label}")),
                string(format!("Summary of {label}")),
                string("channel-x86_64"),
                string(""),
            ],
        )
        .map(|_| ())
    }
}

/// How often the stand-in answered `method` (`GET /standin/calls`).
pub fn calls(s: &StandIn, method: &str) -> anyhow::Result<u64> {
    let v: serde_json::Value = ureq::get(format!("{}/standin/calls", s.base()))
        .call()?
        .body_mut()
        .read_json()?;
    Ok(v[method].as_u64().unwrap_or(0))
}

/// A minion connecting to the stand-in's salt master: its key becomes pending
/// (`POST /standin/minions`).
pub fn present_minion(s: &StandIn, minion: &str) -> anyhow::Result<()> {
    ureq::post(format!("{}/standin/minions", s.base()))
        .send_json(serde_json::json!({"minion_id": minion}))?;
    Ok(())
}

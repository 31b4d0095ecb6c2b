//! Write-through storage in PostgreSQL.
//!
//! The model is loaded from the tables once at start; afterwards every API call that changes
//! something hands its SQL statements (built with the literal helpers below) to [`PgStore::apply`],
//! which runs them in **one transaction** (`BEGIN; …; COMMIT`). Only when that commits does the
//! call's new model replace the old one, so the tables and the model never diverge, and triggers on
//! the tables see one transaction per API call.

use std::collections::BTreeSet;

use anyhow::Context as _;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use super::state::{
    Action, ActivationKey, Arch, Channel, ConfigChannel, ConfigFile, Environment, Erratum, Filter,
    Group, KeyState, Model, Package, Project, SaltKey, Server, ServerAction, Session,
};

/// The stand-in's reference rows and own tables, loaded after Uyuni's schema (idempotent).
pub const STANDIN_SQL: &str = include_str!("../../sql/standin.sql");

/// A SQL string literal (standard_conforming_strings: only `'` needs doubling).
pub fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A nullable string literal: NULL for empty.
pub fn qn(s: &str) -> String {
    if s.is_empty() { "NULL".into() } else { q(s) }
}

/// An optional integer literal.
pub fn qi(v: Option<i64>) -> String {
    v.map_or_else(|| "NULL".into(), |v| v.to_string())
}

/// A `timestamptz` literal of Unix milliseconds.
pub fn ts(ms: u64) -> String {
    format!("to_timestamp({}::double precision / 1000)", ms)
}

/// 'Y' / 'N'.
pub fn yn(b: bool) -> &'static str {
    if b { "'Y'" } else { "'N'" }
}

/// A connected store.
#[derive(Debug)]
pub struct PgStore {
    client: Client,
}

impl PgStore {
    /// Connect, load Uyuni's own schema (netsim-tests/schema/uyuni) into a database that does
    /// not have it yet, then the stand-in's rows and tables (idempotent), and return the store.
    pub async fn connect(dsn: &str) -> anyhow::Result<Self> {
        let (client, conn) = tokio_postgres::connect(dsn, NoTls)
            .await
            .with_context(|| format!("connecting to PostgreSQL ({dsn})"))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::error!("PostgreSQL connection ended: {e}");
            }
        });
        let has_schema = client
            .query_one("SELECT to_regclass('rhnchannel') IS NOT NULL", &[])
            .await?
            .try_get::<_, bool>(0)?;
        if !has_schema {
            let sql = crate::uyuni_schema::assemble_with_seed("")?;
            client
                .batch_execute(&sql)
                .await
                .context("loading Uyuni's schema")?;
        }
        client
            .batch_execute(STANDIN_SQL)
            .await
            .context("loading standin.sql")?;
        Ok(Self { client })
    }

    /// Run a call's statements in one transaction.
    pub async fn apply(&self, stmts: &[String]) -> anyhow::Result<()> {
        if stmts.is_empty() {
            return Ok(());
        }
        let mut sql = String::from("BEGIN;\n");
        for s in stmts {
            sql.push_str(s);
            sql.push_str(";\n");
        }
        sql.push_str("COMMIT;");
        if let Err(e) = self.client.batch_execute(&sql).await {
            // A failed statement leaves the transaction aborted: end it.
            let _ = self.client.batch_execute("ROLLBACK").await;
            return Err(anyhow::Error::new(e).context("write-through transaction"));
        }
        Ok(())
    }

    async fn rows(&self, sql: &str) -> anyhow::Result<Vec<Vec<String>>> {
        let msgs = self
            .client
            .simple_query(sql)
            .await
            .with_context(|| sql.to_string())?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some(
                    (0..r.len())
                        .map(|i| r.get(i).unwrap_or("").to_string())
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }

    /// Read the whole model from the tables.
    pub async fn load(&self) -> anyhow::Result<Model> {
        let mut m = Model::default();
        let ms = |c: &str| format!("coalesce((extract(epoch from {c}) * 1000)::bigint, 0)");
        for r in self
            .rows("SELECT id, label, name FROM rhnChannelArch ORDER BY id")
            .await?
        {
            m.arches.push(Arch {
                id: int(&r[0]),
                label: r[1].clone(),
                name: r[2].clone(),
            });
        }
        let sql = format!(
            "SELECT c.id, coalesce(c.parent_channel::text, ''), c.channel_arch_id, c.label, c.name, c.summary, \
             coalesce(c.description, ''), c.gpg_check, coalesce(c.gpg_key_url, ''), coalesce(c.gpg_key_id, ''), \
             coalesce(c.gpg_key_fp, ''), coalesce(t.label, ''), coalesce(c.maint_name, ''), \
             coalesce(c.maint_email, ''), coalesce(c.maint_phone, ''), coalesce(c.support_policy, ''), {} \
             FROM rhnChannel c LEFT JOIN rhnChecksumType t ON t.id = c.checksum_type_id",
            ms("c.last_modified")
        );
        for r in self.rows(&sql).await? {
            let id = int(&r[0]);
            m.channels.insert(
                id,
                Channel {
                    id,
                    parent: opt_int(&r[1]),
                    arch_id: int(&r[2]),
                    label: r[3].clone(),
                    name: r[4].clone(),
                    summary: r[5].clone(),
                    description: r[6].clone(),
                    gpg_check: r[7] == "Y",
                    gpg_key_url: r[8].clone(),
                    gpg_key_id: r[9].clone(),
                    gpg_key_fp: r[10].clone(),
                    checksum: r[11].clone(),
                    maint_name: r[12].clone(),
                    maint_email: r[13].clone(),
                    maint_phone: r[14].clone(),
                    support_policy: r[15].clone(),
                    last_modified: int(&r[16]) as u64,
                },
            );
        }
        let sql = format!(
            "SELECT p.id, n.name, coalesce(e.epoch, ''), e.version, e.release, a.label, {}, \
             coalesce(p.summary, ''), coalesce(p.description, ''), coalesce(p.path, ''), p.package_size, \
             coalesce(c.checksum, '') \
             FROM rhnPackage p JOIN rhnPackageName n ON n.id = p.name_id \
             JOIN rhnPackageEVR e ON e.id = p.evr_id JOIN rhnPackageArch a ON a.id = p.package_arch_id \
             LEFT JOIN rhnChecksum c ON c.id = p.checksum_id",
            ms("p.last_modified")
        );
        for r in self.rows(&sql).await? {
            let id = int(&r[0]);
            m.packages.insert(
                id,
                Package {
                    id,
                    name: r[1].clone(),
                    epoch: r[2].clone(),
                    version: r[3].clone(),
                    release: r[4].clone(),
                    arch: r[5].clone(),
                    last_modified: int(&r[6]) as u64,
                    summary: r[7].clone(),
                    description: r[8].clone(),
                    path: r[9].clone(),
                    size: int(&r[10]),
                    checksum: r[11].clone(),
                },
            );
        }
        m.channel_packages = self
            .pairs("SELECT channel_id, package_id FROM rhnChannelPackage")
            .await?;
        let sql = format!(
            "SELECT id, advisory_name, advisory_type, advisory_rel, product, synopsis, \
             coalesce(description, ''), coalesce(topic, ''), solution, coalesce(refers_to, ''), \
             coalesce(notes, ''), {}, {}, {} FROM rhnErrata",
            ms("issue_date"),
            ms("update_date"),
            ms("last_modified")
        );
        for r in self.rows(&sql).await? {
            let id = int(&r[0]);
            m.errata.insert(
                id,
                Erratum {
                    id,
                    advisory_name: r[1].clone(),
                    advisory_type: r[2].clone(),
                    release: int(&r[3]),
                    product: r[4].clone(),
                    synopsis: r[5].clone(),
                    description: r[6].clone(),
                    topic: r[7].clone(),
                    solution: r[8].clone(),
                    references: r[9].clone(),
                    notes: r[10].clone(),
                    issue_date: int(&r[11]) as u64,
                    update_date: int(&r[12]) as u64,
                    last_modified: int(&r[13]) as u64,
                    packages: BTreeSet::new(),
                },
            );
        }
        for (e, p) in self
            .pairs("SELECT errata_id, package_id FROM rhnErrataPackage")
            .await?
        {
            if let Some(x) = m.errata.get_mut(&e) {
                x.packages.insert(p);
            }
        }
        m.channel_errata = self
            .pairs("SELECT channel_id, errata_id FROM rhnChannelErrata")
            .await?;
        let sql = format!(
            "SELECT s.id, coalesce(s.name, ''), coalesce(s.hostname, ''), coalesce(s.description, ''), s.os, \
             s.release, s.secret, s.auto_update, coalesce(s.machine_id, ''), {}, {}, coalesce(mi.minion_id, '') \
             FROM rhnServer s LEFT JOIN rhnServerInfo i ON i.server_id = s.id \
             LEFT JOIN suseMinionInfo mi ON mi.server_id = s.id",
            ms("s.created"),
            ms("i.checkin")
        );
        for r in self.rows(&sql).await? {
            let id = int(&r[0]);
            m.servers.insert(
                id,
                Server {
                    id,
                    name: r[1].clone(),
                    hostname: r[2].clone(),
                    description: r[3].clone(),
                    os: r[4].clone(),
                    release: r[5].clone(),
                    secret: r[6].clone(),
                    auto_update: r[7] == "Y",
                    machine_id: r[8].clone(),
                    created: int(&r[9]) as u64,
                    checkin: int(&r[10]) as u64,
                    minion_id: (!r[11].is_empty()).then(|| r[11].clone()),
                },
            );
        }
        m.server_channels = self
            .pairs("SELECT server_id, channel_id FROM rhnServerChannel")
            .await?;
        for r in self
            .rows("SELECT id, name, description FROM rhnServerGroup WHERE group_type IS NULL")
            .await?
        {
            let id = int(&r[0]);
            m.groups.insert(
                id,
                Group {
                    id,
                    name: r[1].clone(),
                    description: r[2].clone(),
                },
            );
        }
        m.group_members = self
            .pairs("SELECT server_group_id, server_id FROM rhnServerGroupMembers")
            .await?;
        for r in self
            .rows(
                "SELECT t.id, k.token, t.note, coalesce(t.usage_limit::text, ''), t.disabled, t.contact_method_id \
                 FROM rhnRegToken t JOIN rhnActivationKey k ON k.reg_token_id = t.id",
            )
            .await?
        {
            let id = int(&r[0]);
            m.keys.insert(
                id,
                ActivationKey {
                    id,
                    key: r[1].clone(),
                    description: r[2].clone(),
                    usage_limit: opt_int(&r[3]),
                    disabled: int(&r[4]) != 0,
                    contact_method: contact_label(int(&r[5])).to_string(),
                    channels: BTreeSet::new(),
                    groups: BTreeSet::new(),
                    packages: BTreeSet::new(),
                    config_channels: Vec::new(),
                    entitlements: BTreeSet::new(),
                },
            );
        }
        for (t, c) in self
            .pairs(
                "SELECT token_id, config_channel_id FROM rhnRegTokenConfigChannels \
                 ORDER BY token_id, position",
            )
            .await?
        {
            if let Some(k) = m.keys.get_mut(&t) {
                k.config_channels.push(c);
            }
        }
        for r in self
            .rows(
                "SELECT t.token_id, n.name, coalesce(a.label, '') FROM rhnRegTokenPackages t \
                 JOIN rhnPackageName n ON n.id = t.name_id LEFT JOIN rhnPackageArch a ON a.id = t.arch_id",
            )
            .await?
        {
            if let Some(k) = m.keys.get_mut(&int(&r[0])) {
                k.packages.insert((r[1].clone(), r[2].clone()));
            }
        }
        for (t, c) in self
            .pairs("SELECT token_id, channel_id FROM rhnRegTokenChannels")
            .await?
        {
            if let Some(k) = m.keys.get_mut(&t) {
                k.channels.insert(c);
            }
        }
        for (t, g) in self
            .pairs("SELECT token_id, server_group_id FROM rhnRegTokenGroups")
            .await?
        {
            if let Some(k) = m.keys.get_mut(&t) {
                k.groups.insert(g);
            }
        }
        for r in self
            .rows("SELECT reg_token_id, label FROM standin_regtoken_entitlement")
            .await?
        {
            if let Some(k) = m.keys.get_mut(&int(&r[0])) {
                k.entitlements.insert(r[1].clone());
            }
        }
        m.universal_default = self
            .rows("SELECT coalesce(reg_token_id::text, '') FROM rhnRegTokenOrgDefault WHERE org_id = 1")
            .await?
            .first()
            .and_then(|r| opt_int(&r[0]));
        for r in self
            .rows("SELECT id, label, name, coalesce(description, ''), coalesce(first_env_id::text, '') FROM suseContentProject")
            .await?
        {
            let id = int(&r[0]);
            m.projects.insert(
                id,
                Project {
                    id,
                    label: r[1].clone(),
                    name: r[2].clone(),
                    description: r[3].clone(),
                    first_env: opt_int(&r[4]),
                    sources: BTreeSet::new(),
                    filters: BTreeSet::new(),
                },
            );
        }
        for (pid, c) in self
            .pairs(
                "SELECT project_id, channel_id FROM suseContentProjectSource \
                 WHERE type = 'software' AND channel_id IS NOT NULL",
            )
            .await?
        {
            if let Some(pr) = m.projects.get_mut(&pid) {
                pr.sources.insert(c);
            }
        }
        for r in self
            .rows(
                "SELECT id, name, rule, type, matcher, field, coalesce(value, '') FROM suseContentFilter",
            )
            .await?
        {
            let id = int(&r[0]);
            m.filters.insert(
                id,
                Filter {
                    id,
                    name: r[1].clone(),
                    rule: r[2].clone(),
                    entity_type: r[3].clone(),
                    matcher: r[4].clone(),
                    field: r[5].clone(),
                    value: r[6].clone(),
                },
            );
        }
        for r in self
            .rows(
                "SELECT id, label, name, description FROM rhnConfigChannel \
                 WHERE confchan_type_id = (SELECT id FROM rhnConfigChannelType WHERE label = 'normal')",
            )
            .await?
        {
            let id = int(&r[0]);
            m.config_channels.insert(
                id,
                ConfigChannel {
                    id,
                    label: r[1].clone(),
                    name: r[2].clone(),
                    description: r[3].clone(),
                    files: Default::default(),
                },
            );
        }
        for r in self
            .rows(
                "SELECT f.id, f.config_channel_id, n.path, r.revision, \
                        coalesce(convert_from(c.contents, 'UTF8'), ''), coalesce(i.username, ''), \
                        coalesce(i.groupname, ''), coalesce(i.filemode, 644) \
                 FROM rhnConfigFile f JOIN rhnConfigFileName n ON n.id = f.config_file_name_id \
                 JOIN rhnConfigRevision r ON r.id = f.latest_config_revision_id \
                 LEFT JOIN rhnConfigContent c ON c.id = r.config_content_id \
                 JOIN rhnConfigInfo i ON i.id = r.config_info_id",
            )
            .await?
        {
            if let Some(ch) = m.config_channels.get_mut(&int(&r[1])) {
                ch.files.insert(
                    r[2].clone(),
                    ConfigFile {
                        id: int(&r[0]),
                        revision: int(&r[3]),
                        contents: r[4].clone(),
                        owner: r[5].clone(),
                        group: r[6].clone(),
                        permissions: int(&r[7]),
                    },
                );
            }
        }
        for (f, pid) in self
            .pairs("SELECT filter_id, project_id FROM suseContentFilterProject")
            .await?
        {
            if let Some(pr) = m.projects.get_mut(&pid) {
                pr.filters.insert(f);
            }
        }
        for r in self
            .rows("SELECT id, project_id, label, name, coalesce(description, ''), version, coalesce(next_env_id::text, '') FROM suseContentEnvironment")
            .await?
        {
            let id = int(&r[0]);
            m.envs.insert(
                id,
                Environment {
                    id,
                    project: int(&r[1]),
                    label: r[2].clone(),
                    name: r[3].clone(),
                    description: r[4].clone(),
                    version: int(&r[5]),
                    next: opt_int(&r[6]),
                },
            );
        }
        let sql = format!(
            "SELECT id, session_key, web_user, {} FROM standin_session",
            ms("expires")
        );
        for r in self.rows(&sql).await? {
            let id = int(&r[0]);
            m.sessions.insert(
                id,
                Session {
                    id,
                    key: r[1].clone(),
                    user: r[2].clone(),
                    expires: int(&r[3]) as u64,
                },
            );
        }
        for r in self
            .rows("SELECT minion_id, fingerprint, state FROM standin_salt_key")
            .await?
        {
            if let Some(state) = KeyState::parse(&r[2]) {
                m.salt_keys.insert(
                    r[0].clone(),
                    SaltKey {
                        fingerprint: r[1].clone(),
                        state,
                    },
                );
            }
        }
        let sql = format!(
            "SELECT a.id, t.label, t.name, coalesce(a.name, ''), coalesce(c.login, ''), {}, {}, a.archived \
             FROM rhnAction a JOIN rhnActionType t ON t.id = a.action_type \
             LEFT JOIN web_contact c ON c.id = a.scheduler",
            ms("a.earliest_action"),
            ms("a.created")
        );
        for r in self.rows(&sql).await? {
            let id = int(&r[0]);
            m.actions.insert(
                id,
                Action {
                    id,
                    type_label: r[1].clone(),
                    type_name: r[2].clone(),
                    name: r[3].clone(),
                    scheduler: r[4].clone(),
                    earliest: int(&r[5]) as u64,
                    created: int(&r[6]) as u64,
                    archived: int(&r[7]) == 1,
                    script: None,
                },
            );
        }
        let sql = format!(
            "SELECT action_id, server_id, status, coalesce(result_code::text, ''), \
             coalesce(result_msg, ''), CASE WHEN completion_time IS NULL THEN '' ELSE {}::text END \
             FROM rhnServerAction",
            ms("completion_time")
        );
        for r in self.rows(&sql).await? {
            m.server_actions.insert(
                (int(&r[0]), int(&r[1])),
                ServerAction {
                    status: int(&r[2]),
                    result_code: opt_int(&r[3]),
                    result_msg: r[4].clone(),
                    completed: opt_int(&r[5]).map(|v| v as u64),
                },
            );
        }
        m.installed = self
            .pairs(
                "SELECT sp.server_id, p.id FROM rhnServerPackage sp JOIN rhnPackage p \
                 ON p.name_id = sp.name_id AND p.evr_id = sp.evr_id AND p.package_arch_id = sp.package_arch_id",
            )
            .await?;
        Ok(m)
    }

    async fn pairs(&self, sql: &str) -> anyhow::Result<BTreeSet<(i64, i64)>> {
        Ok(self
            .rows(sql)
            .await?
            .iter()
            .map(|r| (int(&r[0]), int(&r[1])))
            .collect())
    }
}

fn int(s: &str) -> i64 {
    s.trim().parse().unwrap_or(0)
}

fn opt_int(s: &str) -> Option<i64> {
    s.trim().parse().ok()
}

/// Uyuni's contact methods (`suseServerContactMethod`): id to label.
pub fn contact_label(id: i64) -> &'static str {
    match id {
        1 => "ssh-push",
        2 => "ssh-push-tunnel",
        _ => "default",
    }
}

/// Label to contact method id.
pub fn contact_id(label: &str) -> i64 {
    match label {
        "ssh-push" => 1,
        "ssh-push-tunnel" => 2,
        _ => 0,
    }
}

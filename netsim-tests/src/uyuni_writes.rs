//! SQL shaped like Uyuni's own writes, on its real tables ([`crate::uyuni_schema`]): what a
//! minion registration, a check-in, a package-profile refresh, an action, a channel sync, a
//! system group, an activation key, a configuration channel and a CLM project write, table by
//! table, column by column (after Uyuni's Java and stored procedures: `RegisterMinionEventMessageAction`,
//! `rhn_server.insert_into_servergroup`, `rhn_config.insert_revision`, `ContentManager`, …).
//!
//! Every function returns a SQL script (several statements) for `psql` or `batch_execute`.
//! Ids are the caller's, so tests can name rows; Uyuni takes them from its sequences.
//! Everything belongs to the seed's organisation [`ORG`].

/// The organisation of `schema/uyuni/seed.sql`.
pub const ORG: i64 = 1;

/// A SQL string literal.
fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "NULL".into(), |v| v.to_string())
}

/// A software channel (`channel.software.create`, or a reposync'd vendor channel).
pub fn channel(id: i64, label: &str, name: &str, parent: Option<i64>) -> String {
    format!(
        "INSERT INTO rhnChannel (id, parent_channel, org_id, channel_arch_id, label, basedir, name, summary, \
                                 status, description, checksum_type_id, channel_access) \
         VALUES ({id}, {parent}, {ORG}, (SELECT id FROM rhnChannelArch WHERE label = 'channel-x86_64'), \
                 {label}, '/dev/null', {name}, {name}, 'active', NULL, \
                 (SELECT id FROM rhnChecksumType WHERE label = 'sha256'), 'private');",
        parent = opt(parent),
        label = q(label),
        name = q(name),
    )
}

/// `n` packages with ids `first..first + n` (name, EVR, checksum and package rows, as a
/// package import writes them).
pub fn packages(first: i64, n: i64) -> String {
    let last = first + n - 1;
    format!(
        "INSERT INTO rhnPackageName (id, name) SELECT g, 'pkg-' || g FROM generate_series({first}, {last}) g;\n\
         INSERT INTO rhnPackageEVR (id, epoch, version, release, evr) \
             SELECT g, NULL, '1.0', g::text, evr_t(NULL, '1.0', g::text, 'rpm') FROM generate_series({first}, {last}) g;\n\
         INSERT INTO rhnChecksum (id, checksum_type_id, checksum) \
             SELECT g, (SELECT id FROM rhnChecksumType WHERE label = 'sha256'), md5(g::text) || md5(g::text) \
             FROM generate_series({first}, {last}) g;\n\
         INSERT INTO rhnPackage (id, org_id, name_id, evr_id, package_arch_id, summary, package_size, checksum_id, path) \
             SELECT g, NULL, g, g, (SELECT id FROM rhnPackageArch WHERE label = 'x86_64'), 'pkg-' || g, 4096, g, \
                    'packages/1/pkg-' || g || '.rpm' FROM generate_series({first}, {last}) g;"
    )
}

/// A reposync: packages `first..first + n` into `channel` in one statement, and the
/// channel's `last_synced` set (Uyuni's own trigger sets `last_modified`).
pub fn sync_channel(channel: i64, first: i64, n: i64) -> String {
    let last = first + n - 1;
    format!(
        "INSERT INTO rhnChannelPackage (channel_id, package_id) \
             SELECT {channel}, g FROM generate_series({first}, {last}) g ON CONFLICT DO NOTHING;\n\
         UPDATE rhnChannel SET last_synced = current_timestamp WHERE id = {channel};"
    )
}

/// A Salt minion's registration: the server, its info and minion rows, its entitlement
/// group's membership (and member count), its base channel subscription left out.
pub fn register_minion(server_id: i64, minion_id: &str) -> String {
    let m = q(minion_id);
    format!(
        "INSERT INTO rhnServer (id, org_id, digital_server_id, server_arch_id, os, release, name, secret, \
                                creator_id, contact_method_id, machine_id, hostname) \
         VALUES ({server_id}, {ORG}, 'ID-{server_id}', (SELECT id FROM rhnServerArch WHERE label = 'x86_64-redhat-linux'), \
                 'SLES', '15.6', {m}, md5({m}), NULL, 0, md5({m}), {m});\n\
         INSERT INTO rhnServerInfo (server_id, checkin, checkin_counter) VALUES ({server_id}, current_timestamp, 0);\n\
         INSERT INTO suseMinionInfo (server_id, minion_id, os_family, kernel_live_version, ssh_push_port) \
             VALUES ({server_id}, {m}, 'Suse', NULL, NULL);\n\
         {entitle}",
        entitle = join_group(
            server_id,
            "(SELECT g.id FROM rhnServerGroup g JOIN rhnServerGroupType t ON t.id = g.group_type WHERE t.label = 'salt_entitled' AND g.org_id = 1)"
        ),
    )
}

/// A system joins a group: the membership row, and the group's member count (what
/// `rhn_server.insert_into_servergroup` does).
pub fn join_group(server_id: i64, group: &str) -> String {
    format!(
        "INSERT INTO rhnServerGroupMembers (server_id, server_group_id) VALUES ({server_id}, {group});\n\
         UPDATE rhnServerGroup SET current_members = current_members + 1 WHERE id = {group};"
    )
}

/// A minion's check-in (a Salt job return or presence ping): its info row.
pub fn checkin(server_id: i64) -> String {
    format!(
        "UPDATE rhnServerInfo SET checkin = current_timestamp, checkin_counter = checkin_counter + 1 \
         WHERE server_id = {server_id};"
    )
}

/// A package-profile refresh: the installed packages replaced by `n` packages (ids
/// `first..first + n`, which must exist), the server row saved (running kernel, modified), the
/// minion row saved with its live-patch version (Hibernate writes the whole entity).
pub fn package_refresh(server_id: i64, first: i64, n: i64) -> String {
    let last = first + n - 1;
    format!(
        "DELETE FROM rhnServerPackage WHERE server_id = {server_id};\n\
         INSERT INTO rhnServerPackage (server_id, name_id, evr_id, package_arch_id, installtime) \
             SELECT {server_id}, g, g, (SELECT id FROM rhnPackageArch WHERE label = 'x86_64'), current_timestamp \
             FROM generate_series({first}, {last}) g;\n\
         UPDATE rhnServer SET running_kernel = '6.4.0-150600.23-default', last_boot = last_boot + 1 WHERE id = {server_id};\n\
         UPDATE suseMinionInfo SET os_family = 'Suse', kernel_live_version = 'kgraft_patch_1', \
                modified = current_timestamp WHERE server_id = {server_id};"
    )
}

/// An action scheduled for servers (`rhnAction` and one `rhnServerAction` each, queued).
pub fn schedule_action(action_id: i64, label: &str, servers: &[i64]) -> String {
    let values: Vec<String> = servers
        .iter()
        .map(|s| format!("({s}, {action_id}, 0)"))
        .collect();
    format!(
        "INSERT INTO rhnAction (id, org_id, action_type, name, scheduler, earliest_action) \
         VALUES ({action_id}, {ORG}, (SELECT id FROM rhnActionType WHERE label = {l}), {l}, NULL, current_timestamp);\n\
         INSERT INTO rhnServerAction (server_id, action_id, status) VALUES {v};",
        l = q(label),
        v = values.join(", ")
    )
}

/// An action's result for one server: picked up, then completed.
pub fn complete_action(action_id: i64, server_id: i64) -> String {
    format!(
        "UPDATE rhnServerAction SET status = 1, pickup_time = current_timestamp \
         WHERE action_id = {action_id} AND server_id = {server_id};\n\
         UPDATE rhnServerAction SET status = 2, completion_time = current_timestamp, result_code = 0, \
                result_msg = 'Success' WHERE action_id = {action_id} AND server_id = {server_id};"
    )
}

/// A user-managed system group (`systemgroup.create`).
pub fn system_group(id: i64, name: &str, description: &str) -> String {
    format!(
        "INSERT INTO rhnServerGroup (id, name, description, group_type, org_id) \
         VALUES ({id}, {}, {}, NULL, {ORG});",
        q(name),
        q(description)
    )
}

/// What an activation key holds besides its token.
#[derive(Debug, Clone, Default)]
pub struct KeyParts {
    /// Base and child channels (`rhnRegTokenChannels`).
    pub channels: Vec<i64>,
    /// System groups (`rhnRegTokenGroups`).
    pub groups: Vec<i64>,
    /// Packages to install, by `rhnPackageName` id (`rhnRegTokenPackages`; ids from
    /// `package_row_ids`).
    pub packages: Vec<i64>,
    /// Configuration channels in order (`rhnRegTokenConfigChannels`).
    pub config_channels: Vec<i64>,
}

/// An activation key (`activationkey.create` and its `add*` calls): the registration
/// token, the key, and its channels, groups, packages and configuration channels. The
/// `rhnRegTokenPackages` ids are `token_id * 1000 + i`.
pub fn activation_key(token_id: i64, key: &str, note: &str, parts: &KeyParts) -> String {
    let mut sql = format!(
        "INSERT INTO rhnRegToken (id, org_id, user_id, server_id, note, usage_limit, disabled, deploy_configs, contact_method_id) \
         VALUES ({token_id}, {ORG}, NULL, NULL, {}, NULL, 0, 'Y', 0);\n\
         INSERT INTO rhnActivationKey (token, reg_token_id, ks_session_id, bootstrap) VALUES ({}, {token_id}, NULL, 'N');\n",
        q(note),
        q(key)
    );
    for c in &parts.channels {
        sql.push_str(&format!(
            "INSERT INTO rhnRegTokenChannels (token_id, channel_id) VALUES ({token_id}, {c});\n"
        ));
    }
    for g in &parts.groups {
        sql.push_str(&format!(
            "INSERT INTO rhnRegTokenGroups (token_id, server_group_id) VALUES ({token_id}, {g});\n"
        ));
    }
    for (i, p) in parts.packages.iter().enumerate() {
        sql.push_str(&format!(
            "INSERT INTO rhnRegTokenPackages (id, token_id, name_id, arch_id) VALUES ({}, {token_id}, {p}, NULL);\n",
            token_id * 1000 + i as i64
        ));
    }
    for (i, c) in parts.config_channels.iter().enumerate() {
        sql.push_str(&format!(
            "INSERT INTO rhnRegTokenConfigChannels (token_id, config_channel_id, position) VALUES ({token_id}, {c}, {});\n",
            i + 1
        ));
    }
    sql
}

/// A configuration channel (`configchannel.create`, type `normal`).
pub fn config_channel(id: i64, label: &str, name: &str) -> String {
    format!(
        "INSERT INTO rhnConfigChannel (id, org_id, confchan_type_id, name, label, description) \
         VALUES ({id}, {ORG}, (SELECT id FROM rhnConfigChannelType WHERE label = 'normal'), {}, {}, {});",
        q(name),
        q(label),
        q(name)
    )
}

/// A file's new revision in a configuration channel (`configchannel.createOrUpdatePath`,
/// i.e. `rhn_config.insert_revision`): the file (created on its first revision, with its
/// path), content, info and revision rows, then the file's latest revision. Ids: the file is
/// `file_id`, its path `file_id`, the revision, content and info `file_id * 100 + revision`.
pub fn config_file_revision(
    file_id: i64,
    channel: i64,
    path: &str,
    revision: i64,
    contents: &str,
) -> String {
    let rid = file_id * 100 + revision;
    let first = if revision == 1 {
        format!(
            "INSERT INTO rhnConfigFileName (id, path) VALUES ({file_id}, {p});\n\
             INSERT INTO rhnConfigFile (id, config_channel_id, config_file_name_id, latest_config_revision_id, state_id) \
             VALUES ({file_id}, {channel}, {file_id}, NULL, (SELECT id FROM rhnConfigFileState WHERE label = 'alive'));\n",
            p = q(path)
        )
    } else {
        String::new()
    };
    format!(
        "{first}\
         INSERT INTO rhnChecksum (id, checksum_type_id, checksum) \
             VALUES ({ck}, (SELECT id FROM rhnChecksumType WHERE label = 'sha256'), encode(sha256({c}::bytea), 'hex'));\n\
         INSERT INTO rhnConfigContent (id, contents, file_size, checksum_id, is_binary, delim_start, delim_end) \
             VALUES ({rid}, {c}::bytea, {len}, {ck}, 'N', '{{|', '|}}');\n\
         INSERT INTO rhnConfigInfo (id, username, groupname, filemode) VALUES ({rid}, 'root', 'root', 644);\n\
         INSERT INTO rhnConfigRevision (id, revision, config_file_id, config_content_id, config_info_id, config_file_type_id) \
             VALUES ({rid}, {revision}, {file_id}, {rid}, {rid}, (SELECT id FROM rhnConfigFileType WHERE label = 'file'));\n\
         UPDATE rhnConfigFile SET latest_config_revision_id = {rid}, modified = current_timestamp WHERE id = {file_id};",
        ck = 9_000_000 + rid,
        c = q(contents),
        len = contents.len(),
    )
}

/// A Content Lifecycle project with one software source, one filter and its environments
/// in order (`contentmanagement.createProject`, `attachSource`, `createFilter`,
/// `attachFilter`, `createEnvironment`…). Environment `i` has id `id * 10 + i`; the source and
/// the filter have id `id`.
pub fn clm_project(id: i64, label: &str, source_channel: i64, envs: &[&str]) -> String {
    let mut sql = format!(
        "INSERT INTO suseContentProject (id, name, org_id, label, description) VALUES ({id}, {l}, {ORG}, {l}, NULL);\n\
         INSERT INTO suseContentProjectSource (id, type, state, project_id, channel_id) \
             VALUES ({id}, 'software', 'ATTACHED', {id}, {source_channel});\n\
         INSERT INTO suseContentFilter (id, org_id, type, rule, name, matcher, field, value) \
             VALUES ({id}, {ORG}, 'package', 'deny', {f}, 'contains', 'name', 'debuginfo');\n\
         INSERT INTO suseContentFilterProject (filter_id, project_id, position) VALUES ({id}, {id}, 1);\n",
        l = q(label),
        f = q(&format!("{label}-no-debuginfo")),
    );
    for (i, env) in envs.iter().enumerate() {
        let eid = id * 10 + i as i64;
        sql.push_str(&format!(
            "INSERT INTO suseContentEnvironment (id, project_id, label, name, description, version, next_env_id) \
             VALUES ({eid}, {id}, {e}, {e}, NULL, 0, NULL);\n",
            e = q(env)
        ));
        if i > 0 {
            sql.push_str(&format!(
                "UPDATE suseContentEnvironment SET next_env_id = {eid} WHERE id = {};\n",
                eid - 1
            ));
        }
    }
    sql
}

/// A CLM build into environment `env_id`: its target channel row, the build's status
/// steps, the environment's new version.
pub fn clm_build(env_id: i64, target_id: i64, target_channel: i64) -> String {
    format!(
        "INSERT INTO suseContentEnvironmentTarget (id, env_id, type, status, channel_id) \
             VALUES ({target_id}, {env_id}, 'software', 'NEW', {target_channel}) ON CONFLICT DO NOTHING;\n\
         UPDATE suseContentEnvironmentTarget SET status = 'BUILDING' WHERE id = {target_id};\n\
         UPDATE suseContentEnvironmentTarget SET status = 'GENERATING_REPODATA' WHERE id = {target_id};\n\
         UPDATE suseContentEnvironmentTarget SET status = 'BUILT', built_time = current_timestamp WHERE id = {target_id};\n\
         UPDATE suseContentEnvironment SET version = version + 1, modified = current_timestamp WHERE id = {env_id};"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_quoted() {
        assert!(system_group(1, "it's", "d").contains("'it''s'"));
        assert!(channel(1, "a", "A", None).contains("parent_channel"));
        assert!(channel(2, "b", "B", Some(1)).contains("VALUES (2, 1,"));
    }
}

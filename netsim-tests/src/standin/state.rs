//! The stand-in's model of one Uyuni server: the rows of Uyuni's own tables
//! (netsim-tests/schema/uyuni), kept in memory. Every change a call makes is also written, as SQL, to
//! the database in the same call (see `store_pg`); reads are served from here.

use std::collections::{BTreeMap, BTreeSet};

/// The only organisation.
pub const ORG_ID: i64 = 1;
/// The first system id Uyuni hands out.
pub const FIRST_SYSTEM_ID: i64 = 1_000_010_000;

/// A row of `rhnChannelArch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arch {
    /// `id`.
    pub id: i64,
    /// `label`, e.g. `channel-x86_64`.
    pub label: String,
    /// `name`, e.g. `x86_64`.
    pub name: String,
}

/// A row of `rhnChannel`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// `id`.
    pub id: i64,
    /// `parent_channel`.
    pub parent: Option<i64>,
    /// `channel_arch_id`.
    pub arch_id: i64,
    /// `label`.
    pub label: String,
    /// `name`.
    pub name: String,
    /// `summary`.
    pub summary: String,
    /// `description`.
    pub description: String,
    /// `gpg_check` ('Y').
    pub gpg_check: bool,
    /// `gpg_key_url`.
    pub gpg_key_url: String,
    /// `gpg_key_id`.
    pub gpg_key_id: String,
    /// `gpg_key_fp`.
    pub gpg_key_fp: String,
    /// `checksum_type_id` as its label (`sha256`).
    pub checksum: String,
    /// `maint_name`.
    pub maint_name: String,
    /// `maint_email`.
    pub maint_email: String,
    /// `maint_phone`.
    pub maint_phone: String,
    /// `support_policy`.
    pub support_policy: String,
    /// `last_modified`, Unix ms.
    pub last_modified: u64,
}

/// A package (`rhnPackage` joined with name, EVR and arch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// `rhnPackage.id`.
    pub id: i64,
    /// Package name.
    pub name: String,
    /// Epoch ("" when none).
    pub epoch: String,
    /// Version.
    pub version: String,
    /// Release.
    pub release: String,
    /// Package arch label.
    pub arch: String,
    /// `last_modified`, Unix ms.
    pub last_modified: u64,
    /// `summary`.
    pub summary: String,
    /// `description`.
    pub description: String,
    /// `path` (relative to the package store).
    pub path: String,
    /// `package_size`, bytes.
    pub size: i64,
    /// The checksum (`rhnChecksum.checksum`, SHA-256).
    pub checksum: String,
}

/// A row of `rhnErrata`, with its packages (`rhnErrataPackage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erratum {
    /// `id`.
    pub id: i64,
    /// `advisory_name` (also `advisory`).
    pub advisory_name: String,
    /// `advisory_type`: `Bug Fix Advisory`, `Product Enhancement Advisory`, `Security Advisory`.
    pub advisory_type: String,
    /// `advisory_rel`.
    pub release: i64,
    /// `product`.
    pub product: String,
    /// `synopsis`.
    pub synopsis: String,
    /// `description`.
    pub description: String,
    /// `topic`.
    pub topic: String,
    /// `solution`.
    pub solution: String,
    /// `refers_to`.
    pub references: String,
    /// `notes`.
    pub notes: String,
    /// `issue_date`, Unix ms.
    pub issue_date: u64,
    /// `update_date`, Unix ms.
    pub update_date: u64,
    /// `last_modified`, Unix ms.
    pub last_modified: u64,
    /// Package ids (`rhnErrataPackage`).
    pub packages: BTreeSet<i64>,
}

/// A row of `rhnServer` with `rhnServerInfo` and `suseMinionInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `id`.
    pub id: i64,
    /// `name` (the profile name).
    pub name: String,
    /// `hostname`.
    pub hostname: String,
    /// `description`.
    pub description: String,
    /// `os`.
    pub os: String,
    /// `release`.
    pub release: String,
    /// `secret`.
    pub secret: String,
    /// `auto_update`.
    pub auto_update: bool,
    /// `machine_id`.
    pub machine_id: String,
    /// `created`, Unix ms.
    pub created: u64,
    /// `rhnServerInfo.checkin`, Unix ms.
    pub checkin: u64,
    /// `suseMinionInfo.minion_id`, for Salt minions.
    pub minion_id: Option<String>,
}

/// A row of `rhnServerGroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `id`.
    pub id: i64,
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: String,
}

/// An activation key: `rhnRegToken` + `rhnActivationKey` + its channels, groups, entitlements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationKey {
    /// `rhnRegToken.id`.
    pub id: i64,
    /// `rhnActivationKey.token`.
    pub key: String,
    /// `note`.
    pub description: String,
    /// `usage_limit` (None: unlimited).
    pub usage_limit: Option<i64>,
    /// `disabled`.
    pub disabled: bool,
    /// `contact_method_id` as its label.
    pub contact_method: String,
    /// Channels (`rhnRegTokenChannels`).
    pub channels: BTreeSet<i64>,
    /// Groups (`rhnRegTokenGroups`).
    pub groups: BTreeSet<i64>,
    /// Packages to install: name and architecture label ("" for any) (`rhnRegTokenPackages`).
    pub packages: BTreeSet<(String, String)>,
    /// Configuration channels in order (`rhnRegTokenConfigChannels`, by position).
    pub config_channels: Vec<i64>,
    /// Entitlement labels.
    pub entitlements: BTreeSet<String>,
}

/// A row of `suseContentProject`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// `id`.
    pub id: i64,
    /// `label`.
    pub label: String,
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: String,
    /// `first_env_id`.
    pub first_env: Option<i64>,
    /// Software sources: channel ids (`suseContentProjectSource`, type `software`).
    pub sources: BTreeSet<i64>,
    /// Attached filters: filter ids (`suseContentFilterProject`).
    pub filters: BTreeSet<i64>,
}

/// A configuration channel (`rhnConfigChannel`, type `normal`) with its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChannel {
    /// `id`.
    pub id: i64,
    /// `label`.
    pub label: String,
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: String,
    /// Files by path (`rhnConfigFile` and its latest revision).
    pub files: BTreeMap<String, ConfigFile>,
}

/// A configuration file's latest revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// `rhnConfigFile.id`.
    pub id: i64,
    /// `rhnConfigRevision.revision`.
    pub revision: i64,
    /// Contents (text).
    pub contents: String,
    /// `rhnConfigInfo.username`.
    pub owner: String,
    /// `rhnConfigInfo.groupname`.
    pub group: String,
    /// `rhnConfigInfo.filemode`, e.g. 644.
    pub permissions: i64,
}

/// A row of `suseContentFilter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// `id`.
    pub id: i64,
    /// `name`.
    pub name: String,
    /// `rule`: `allow` or `deny`.
    pub rule: String,
    /// `type`: the entity type (`package`, `erratum`, `module`).
    pub entity_type: String,
    /// `matcher`.
    pub matcher: String,
    /// `field`.
    pub field: String,
    /// `value`.
    pub value: String,
}

/// A row of `suseContentEnvironment`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// `id`.
    pub id: i64,
    /// `project_id`.
    pub project: i64,
    /// `label`.
    pub label: String,
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: String,
    /// `version`.
    pub version: i64,
    /// `next_env_id`.
    pub next: Option<i64>,
}

/// An API session (`standin_session`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Row id (the number before `x` in the key).
    pub id: i64,
    /// The whole key.
    pub key: String,
    /// User name.
    pub user: String,
    /// Expiry, Unix ms.
    pub expires: u64,
}

/// A Uyuni user besides the configured admin (test hook `POST /standin/user`; kept in memory
/// only: a restarted stand-in knows the admin alone).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct User {
    /// Login.
    pub login: String,
    /// Password.
    pub password: String,
    /// Organisation.
    #[serde(default = "default_org")]
    pub org_id: i64,
    /// Role labels (`org_admin`, `satellite_admin`, …); none: a plain user.
    #[serde(default)]
    pub roles: Vec<String>,
    /// System groups assigned to the user: a plain user sees the systems in them.
    #[serde(default)]
    pub groups: Vec<String>,
}

fn default_org() -> i64 {
    ORG_ID
}

/// The state of a salt key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyState {
    /// `minions_pre`.
    Pending,
    /// `minions`.
    Accepted,
    /// `minions_rejected`.
    Rejected,
    /// `minions_denied`.
    Denied,
}

impl KeyState {
    /// The word stored in `standin_salt_key.state`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Denied => "denied",
        }
    }

    /// Parse [`KeyState::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "accepted" => Self::Accepted,
            "rejected" => Self::Rejected,
            "denied" => Self::Denied,
            _ => return None,
        })
    }

    /// The salt-master pki subdirectory.
    pub fn dir(self) -> &'static str {
        match self {
            Self::Pending => "minions_pre",
            Self::Accepted => "minions",
            Self::Rejected => "minions_rejected",
            Self::Denied => "minions_denied",
        }
    }

    /// All states.
    pub const ALL: [KeyState; 4] = [
        KeyState::Pending,
        KeyState::Accepted,
        KeyState::Rejected,
        KeyState::Denied,
    ];
}

/// A salt key kept in the database (no pki directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaltKey {
    /// Fingerprint (free text for the stand-in).
    pub fingerprint: String,
    /// State.
    pub state: KeyState,
}

/// A row of `rhnAction` (with its `rhnActionType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// `id`.
    pub id: i64,
    /// `rhnActionType.label` (`reboot.reboot`, `script.run`, …).
    pub type_label: String,
    /// `rhnActionType.name` (`System reboot`, …).
    pub type_name: String,
    /// `name`.
    pub name: String,
    /// The scheduler's login (`scheduler` → `web_contact.login`).
    pub scheduler: String,
    /// `earliest_action`, Unix ms.
    pub earliest: u64,
    /// `created`, Unix ms.
    pub created: u64,
    /// `archived`.
    pub archived: bool,
    /// The script of a `script.run` action (kept in memory only).
    pub script: Option<String>,
}

/// A row of `rhnServerAction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAction {
    /// `status`: 0 Queued, 1 Picked Up, 2 Completed, 3 Failed (`rhnActionStatus`).
    pub status: i64,
    /// `result_code`.
    pub result_code: Option<i64>,
    /// `result_msg`.
    pub result_msg: String,
    /// `completion_time`, Unix ms.
    pub completed: Option<u64>,
}

/// Everything the stand-in knows.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// `rhnChannelArch`.
    pub arches: Vec<Arch>,
    /// `rhnChannel` by id.
    pub channels: BTreeMap<i64, Channel>,
    /// Packages by id.
    pub packages: BTreeMap<i64, Package>,
    /// `rhnChannelPackage` (channel, package).
    pub channel_packages: BTreeSet<(i64, i64)>,
    /// Systems by id.
    pub servers: BTreeMap<i64, Server>,
    /// `rhnServerChannel` (server, channel).
    pub server_channels: BTreeSet<(i64, i64)>,
    /// Groups by id.
    pub groups: BTreeMap<i64, Group>,
    /// `rhnServerGroupMembers` (group, server).
    pub group_members: BTreeSet<(i64, i64)>,
    /// Activation keys by reg token id.
    pub keys: BTreeMap<i64, ActivationKey>,
    /// `rhnRegTokenOrgDefault.reg_token_id`.
    pub universal_default: Option<i64>,
    /// Content projects by id.
    pub projects: BTreeMap<i64, Project>,
    /// CLM filters by id.
    pub filters: BTreeMap<i64, Filter>,
    /// Configuration channels by id.
    pub config_channels: BTreeMap<i64, ConfigChannel>,
    /// Content environments by id.
    pub envs: BTreeMap<i64, Environment>,
    /// Sessions by id.
    pub sessions: BTreeMap<i64, Session>,
    /// Salt keys by minion id (database mode only).
    pub salt_keys: BTreeMap<String, SaltKey>,
    /// Users other than the configured admin, by login (memory only).
    pub users: BTreeMap<String, User>,
    /// `rhnAction` by id.
    pub actions: BTreeMap<i64, Action>,
    /// `rhnServerAction` by (action, server).
    pub server_actions: BTreeMap<(i64, i64), ServerAction>,
    /// `rhnErrata` by id.
    pub errata: BTreeMap<i64, Erratum>,
    /// `rhnChannelErrata` as (channel, erratum).
    pub channel_errata: BTreeSet<(i64, i64)>,
    /// Installed packages (`rhnServerPackage`) as (server, package id).
    pub installed: BTreeSet<(i64, i64)>,
    /// Custom values per system (`rhnServerCustomDataValue` by key label; memory only).
    pub custom_values: BTreeMap<i64, BTreeMap<String, String>>,
}

fn next_id<V>(m: &BTreeMap<i64, V>, first: i64) -> i64 {
    m.keys().next_back().map_or(first, |k| (k + 1).max(first))
}

impl Model {
    /// The next free channel id.
    pub fn next_channel_id(&self) -> i64 {
        next_id(&self.channels, 100)
    }
    /// The next free system id.
    pub fn next_server_id(&self) -> i64 {
        next_id(&self.servers, FIRST_SYSTEM_ID)
    }
    /// The next free package id.
    pub fn next_package_id(&self) -> i64 {
        next_id(&self.packages, 1)
    }
    /// The next free erratum id.
    pub fn next_erratum_id(&self) -> i64 {
        next_id(&self.errata, 1)
    }
    /// An erratum by advisory name.
    pub fn erratum_by_name(&self, name: &str) -> Option<&Erratum> {
        self.errata.values().find(|e| e.advisory_name == name)
    }
    /// The next free action id (Uyuni numbers actions from 1).
    pub fn next_action_id(&self) -> i64 {
        next_id(&self.actions, 1)
    }
    /// The next free group id.
    pub fn next_group_id(&self) -> i64 {
        next_id(&self.groups, 1000)
    }
    /// The next free reg token id.
    pub fn next_key_id(&self) -> i64 {
        next_id(&self.keys, 1)
    }
    /// The next free project id.
    pub fn next_project_id(&self) -> i64 {
        next_id(&self.projects, 1)
    }
    /// The next free environment id.
    pub fn next_env_id(&self) -> i64 {
        next_id(&self.envs, 1)
    }
    /// A configuration channel by label.
    pub fn config_channel_by_label(&self, label: &str) -> Option<&ConfigChannel> {
        self.config_channels.values().find(|c| c.label == label)
    }
    /// The next free CLM filter id.
    pub fn next_filter_id(&self) -> i64 {
        next_id(&self.filters, 1)
    }
    /// The next free session id.
    pub fn next_session_id(&self) -> i64 {
        next_id(&self.sessions, 1)
    }

    /// A channel by label.
    pub fn channel_by_label(&self, label: &str) -> Option<&Channel> {
        self.channels.values().find(|c| c.label == label)
    }
    /// An arch by id.
    pub fn arch(&self, id: i64) -> Option<&Arch> {
        self.arches.iter().find(|a| a.id == id)
    }
    /// The label of a channel's parent (`""` for a base channel).
    pub fn parent_label(&self, c: &Channel) -> String {
        c.parent
            .and_then(|p| self.channels.get(&p))
            .map(|p| p.label.clone())
            .unwrap_or_default()
    }
    /// A group by name.
    pub fn group_by_name(&self, name: &str) -> Option<&Group> {
        self.groups.values().find(|g| g.name == name)
    }
    /// An activation key by key string.
    pub fn key_by_name(&self, key: &str) -> Option<&ActivationKey> {
        self.keys.values().find(|k| k.key == key)
    }
    /// A project by label.
    pub fn project_by_label(&self, label: &str) -> Option<&Project> {
        self.projects.values().find(|p| p.label == label)
    }
    /// A system by minion id.
    pub fn server_by_minion(&self, minion: &str) -> Option<&Server> {
        self.servers
            .values()
            .find(|s| s.minion_id.as_deref() == Some(minion))
    }
    /// Environments of a project in their order (first, then `next` links; strays last).
    pub fn project_envs(&self, project: &Project) -> Vec<&Environment> {
        let mut out: Vec<&Environment> = Vec::new();
        let mut cur = project.first_env;
        while let Some(id) = cur {
            let Some(e) = self.envs.get(&id) else { break };
            if out.iter().any(|x| x.id == id) {
                break;
            }
            out.push(e);
            cur = e.next;
        }
        for e in self.envs.values().filter(|e| e.project == project.id) {
            if !out.iter().any(|x| x.id == e.id) {
                out.push(e);
            }
        }
        out
    }
    /// Groups a system is in.
    pub fn groups_of(&self, sid: i64) -> Vec<&Group> {
        self.group_members
            .iter()
            .filter(|(_, s)| *s == sid)
            .filter_map(|(g, _)| self.groups.get(g))
            .collect()
    }
    /// Members of a group.
    pub fn members_of(&self, gid: i64) -> Vec<&Server> {
        self.group_members
            .iter()
            .filter(|(g, _)| *g == gid)
            .filter_map(|(_, s)| self.servers.get(s))
            .collect()
    }
    /// Channels a system is subscribed to.
    pub fn channels_of(&self, sid: i64) -> Vec<&Channel> {
        self.server_channels
            .iter()
            .filter(|(s, _)| *s == sid)
            .filter_map(|(_, c)| self.channels.get(c))
            .collect()
    }
}

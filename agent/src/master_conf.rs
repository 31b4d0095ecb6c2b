//! The minion's `master:` setting: reading the value salt will use, and changing it.
//!
//! Salt reads `<config_dir>/minion`, then every `<config_dir>/minion.d/*.conf` in sorted order,
//! later files overriding earlier ones. Uyuni's bootstrap writes `master:` into
//! `minion.d/susemanager.conf`, and reads it back (`sed -n 's/^master: //p'`) on a re-bootstrap,
//! wiping the minion's keys when it changed. So the agent keeps one source of truth:
//!
//! - when `minion.d/susemanager.conf` has a top-level `master:` line, that line is rewritten in
//!   place (with `master_port:` beside it when the node names a port) and every other line of
//!   the file is kept, so a re-bootstrap sees the node the cluster chose; a stale
//!   `minion.d/uyuni-cluster.conf` of ours is removed;
//! - otherwise the agent writes its own `minion.d/uyuni-cluster.conf` (it sorts after
//!   `susemanager.conf`, so it wins over a `susemanager.conf` without `master:`).
//!
//! Afterwards the effective setting is read back; if yet another file overrides it, the change
//! is reported as failed instead of restarting a minion that would still talk to the old master.
//! Only plain top-level `key: value` lines are understood (no YAML anchors or multi-line
//! scalars); a `master:` list (multi-master) is replaced by the single node.

use std::path::{Path, PathBuf};

use crate::addr::HostPort;
use crate::fsutil::{remove_if_exists, write_atomically};

/// Uyuni's own drop-in, written by its bootstrap script.
pub const UYUNI_DROP_IN: &str = "susemanager.conf";
/// The agent's own drop-in, used when Uyuni's has no `master:` line.
pub const OWN_DROP_IN: &str = "uyuni-cluster.conf";

/// Reading or changing the master setting failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MasterError {
    /// A configuration file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// After writing, salt would still use another master because a later file sets it.
    #[error("master written to {written}, but {winner} overrides it with {value:?}")]
    Overridden {
        /// The file the agent wrote.
        written: String,
        /// The file whose setting salt uses.
        winner: String,
        /// Its value.
        value: String,
    },
}

impl MasterError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// The effective `master`/`master_port` and where each came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Effective {
    master: Option<(String, PathBuf)>,
    port: Option<(String, PathBuf)>,
}

impl Effective {
    fn address(&self) -> Option<HostPort> {
        let (host, _) = self.master.as_ref()?;
        let port = match &self.port {
            Some((p, _)) => Some(p.parse::<u16>().ok()?),
            None => None,
        };
        HostPort::new(host, port).ok()
    }
}

/// The master salt would use: `None` when none is set or it is not a single host (a list, a
/// template, garbage), which the agent treats as "points elsewhere".
pub fn effective_master(config_dir: &Path) -> Result<Option<HostPort>, MasterError> {
    Ok(read_effective(config_dir)?.address())
}

fn read_effective(config_dir: &Path) -> Result<Effective, MasterError> {
    let mut eff = Effective::default();
    for path in config_files(config_dir)? {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(MasterError::io(&path)(e)),
        };
        if let Some(v) = last_top_level(&text, "master") {
            eff.master = Some((v, path.clone()));
        }
        if let Some(v) = last_top_level(&text, "master_port") {
            eff.port = Some((v, path.clone()));
        }
    }
    Ok(eff)
}

/// `minion`, then `minion.d/*.conf` sorted: the order salt reads them in.
fn config_files(config_dir: &Path) -> Result<Vec<PathBuf>, MasterError> {
    let mut files = vec![config_dir.join("minion")];
    let dropins = config_dir.join("minion.d");
    let mut confs = Vec::new();
    match std::fs::read_dir(&dropins) {
        Ok(entries) => {
            for entry in entries {
                let path = entry.map_err(MasterError::io(&dropins))?.path();
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
                if name.is_some_and(|n| n.ends_with(".conf") && !n.starts_with('.')) {
                    confs.push(path);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(MasterError::io(&dropins)(e)),
    }
    confs.sort();
    files.extend(confs);
    Ok(files)
}

/// Point the minion at `node`; returns the file written. See the module documentation.
pub fn write_master(config_dir: &Path, node: &HostPort) -> Result<PathBuf, MasterError> {
    let dropins = config_dir.join("minion.d");
    let uyuni = dropins.join(UYUNI_DROP_IN);
    let own = dropins.join(OWN_DROP_IN);
    let uyuni_text = match std::fs::read_to_string(&uyuni) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(MasterError::io(&uyuni)(e)),
    };
    let written = match uyuni_text {
        Some(text) if last_top_level(&text, "master").is_some() => {
            write_atomically(&uyuni, rewrite_master(&text, node).as_bytes(), 0o644)
                .map_err(MasterError::io(&uyuni))?;
            remove_if_exists(&own).map_err(MasterError::io(&own))?;
            uyuni
        }
        _ => {
            write_atomically(&own, own_drop_in(node).as_bytes(), 0o644)
                .map_err(MasterError::io(&own))?;
            own
        }
    };
    let eff = read_effective(config_dir)?;
    if !eff.address().is_some_and(|a| a.same_master(node)) {
        let (winner, value) = match (&eff.master, &eff.port) {
            (Some((m, f)), _) if f != &written => (f.clone(), m.clone()),
            (_, Some((p, f))) if f != &written => (f.clone(), format!("master_port: {p}")),
            (Some((m, f)), _) => (f.clone(), m.clone()),
            (None, _) => (written.clone(), String::new()),
        };
        return Err(MasterError::Overridden {
            written: written.display().to_string(),
            winner: winner.display().to_string(),
            value,
        });
    }
    Ok(written)
}

/// The content of `minion.d/uyuni-cluster.conf`.
pub fn own_drop_in(node: &HostPort) -> String {
    let mut out = String::from(
        "# Written by uyuni-cluster-agent: the Uyuni server (node) the cluster assigned to this\n\
         # system. The agent rewrites it when the cluster moves the system; do not edit.\n",
    );
    for line in master_lines(node) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `text` with its top-level `master:` (and any `master_port:`) replaced by `node`; every other
/// line is kept as it was. The new lines take the place of the first `master:` line.
pub fn rewrite_master(text: &str, node: &HostPort) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut wrote = false;
    let mut in_block = false;
    for line in text.lines() {
        if in_block {
            // The indented or `- ` continuation of a `master:` / `master_port:` block value.
            if line.starts_with([' ', '\t', '-']) {
                continue;
            }
            in_block = false;
        }
        let value = top_level(line, "master").or_else(|| top_level(line, "master_port"));
        match value {
            Some(v) => {
                in_block = v.is_empty();
                if !wrote && top_level(line, "master").is_some() {
                    out.extend(master_lines(node));
                    wrote = true;
                }
            }
            None => out.push(line.to_owned()),
        }
    }
    if !wrote {
        out.extend(master_lines(node));
    }
    let mut joined = out.join("\n");
    joined.push('\n');
    joined
}

fn master_lines(node: &HostPort) -> Vec<String> {
    // A plain scalar keeps Uyuni's `sed -n 's/^master: //p'` working; IPv6 needs quotes in YAML.
    let host = if node.is_ipv6() {
        format!("'{}'", node.host())
    } else {
        node.host().to_owned()
    };
    let mut lines = vec![format!("master: {host}")];
    if let Some(port) = node.port() {
        lines.push(format!("master_port: {port}"));
    }
    lines
}

/// The value of the last top-level `key:` line of `text`, unquoted, comments removed.
fn last_top_level(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| top_level(l, key))
        .next_back()
        .map(|v| unquote(v).to_owned())
}

/// `Some(value)` when `line` is the top-level mapping entry `key: value` (value trimmed, a
/// trailing ` # comment` removed; empty for a block that follows on the next lines).
fn top_level<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = line
        .strip_prefix(key)?
        .trim_start_matches([' ', '\t'])
        .strip_prefix(':')?;
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let value = match rest.find(" #").or_else(|| rest.find("\t#")) {
        Some(i) => &rest[..i],
        None => rest,
    };
    Some(value.trim())
}

fn unquote(v: &str) -> &str {
    for q in ['\'', '"'] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn hp(s: &str) -> HostPort {
        s.parse().unwrap()
    }

    /// susemanager.conf as Uyuni's bootstrap script writes it.
    const SUSEMANAGER_CONF: &str = "\
master: uyuni-old.example.org

server_id_use_crc: adler32
enable_legacy_startup_events: False
enable_fqdns_grains: False
start_event_grains: [machine_id, saltboot_initrd, susemanager]
mine_enabled: False
grains:
  susemanager:
    activation_key: \"1-key\"
system-environment:
  modules:
    pkg:
      _:
        SALT_RUNNING: 1
";

    #[test]
    fn rewrites_only_the_master_line() {
        let out = rewrite_master(SUSEMANAGER_CONF, &hp("srv2.example.org"));
        assert_eq!(
            out,
            SUSEMANAGER_CONF.replace("uyuni-old.example.org", "srv2.example.org")
        );
        let out = rewrite_master(&out, &hp("srv3.example.org:4507"));
        assert!(
            out.starts_with("master: srv3.example.org\nmaster_port: 4507\n\nserver_id_use_crc")
        );
        // Back to the default port: master_port goes.
        let out = rewrite_master(&out, &hp("srv3.example.org"));
        assert_eq!(
            out,
            SUSEMANAGER_CONF.replace("uyuni-old.example.org", "srv3.example.org")
        );
    }

    #[test]
    fn replaces_a_master_list_and_keeps_the_rest() {
        let text = "id: x\nmaster:\n  - a\n  - b\nmaster_port: 1\nfoo: bar\n";
        assert_eq!(
            rewrite_master(text, &hp("n")),
            "id: x\nmaster: n\nfoo: bar\n"
        );
        let text = "master:\n- a\n- b\nfoo: bar";
        assert_eq!(
            rewrite_master(text, &hp("[::1]:9")),
            "master: '::1'\nmaster_port: 9\nfoo: bar\n"
        );
    }

    #[test]
    fn understands_quotes_comments_and_nested_keys() {
        assert_eq!(
            last_top_level("master: 'a' # x\n", "master").as_deref(),
            Some("a")
        );
        assert_eq!(
            last_top_level("master : \"b\"\n", "master").as_deref(),
            Some("b")
        );
        assert_eq!(
            last_top_level("  master: c\nmaster_port: 1\n", "master"),
            None
        );
        assert_eq!(last_top_level("masters: c\n", "master"), None);
        assert_eq!(
            last_top_level("master: a\nmaster: b\n", "master").as_deref(),
            Some("b")
        );
    }

    fn salt_dir() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("etc/salt");
        fs::create_dir_all(dir.join("minion.d")).unwrap();
        (tmp, dir)
    }

    #[test]
    fn rewrites_susemanager_conf_when_it_holds_the_master() {
        let (_tmp, dir) = salt_dir();
        let sm = dir.join("minion.d/susemanager.conf");
        fs::write(&sm, SUSEMANAGER_CONF).unwrap();
        fs::write(dir.join("minion.d/uyuni-cluster.conf"), "master: stale\n").unwrap();
        assert_eq!(effective_master(&dir).unwrap(), Some(hp("stale")));
        let written = write_master(&dir, &hp("srv2.example.org:4506")).unwrap();
        assert_eq!(written, sm);
        assert!(!dir.join("minion.d/uyuni-cluster.conf").exists());
        assert!(
            fs::read_to_string(&sm)
                .unwrap()
                .contains("grains:\n  susemanager:\n")
        );
        assert_eq!(
            effective_master(&dir).unwrap(),
            Some(hp("srv2.example.org:4506"))
        );
    }

    #[test]
    fn writes_its_own_drop_in_otherwise() {
        let (_tmp, dir) = salt_dir();
        fs::write(dir.join("minion"), "master: from-main\n").unwrap();
        fs::write(
            dir.join("minion.d/susemanager.conf"),
            "mine_enabled: False\n",
        )
        .unwrap();
        assert_eq!(effective_master(&dir).unwrap(), Some(hp("from-main")));
        let written = write_master(&dir, &hp("srv2:4507")).unwrap();
        assert_eq!(written, dir.join("minion.d/uyuni-cluster.conf"));
        let text = fs::read_to_string(&written).unwrap();
        assert!(
            text.ends_with("master: srv2\nmaster_port: 4507\n"),
            "{text}"
        );
        assert_eq!(
            fs::read_to_string(dir.join("minion")).unwrap(),
            "master: from-main\n"
        );
        assert_eq!(effective_master(&dir).unwrap(), Some(hp("srv2:4507")));
    }

    #[test]
    fn works_without_minion_d() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(effective_master(tmp.path()).unwrap(), None);
        write_master(tmp.path(), &hp("srv1")).unwrap();
        assert_eq!(effective_master(tmp.path()).unwrap(), Some(hp("srv1")));
    }

    #[test]
    fn reports_a_later_file_that_overrides_the_master() {
        let (_tmp, dir) = salt_dir();
        fs::write(dir.join("minion.d/zz-local.conf"), "master: pinned\n").unwrap();
        let err = write_master(&dir, &hp("srv2")).unwrap_err();
        match err {
            MasterError::Overridden { winner, value, .. } => {
                assert!(winner.ends_with("zz-local.conf"));
                assert_eq!(value, "pinned");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

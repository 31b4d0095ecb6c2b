//! Uyuni's own database schema for the tests: the table files of the `uyuni-project/uyuni`
//! repository (`schema/spacewalk/common/tables/*.sql` and the PostgreSQL type `evr_t`),
//! listed with the commit each came from in `schema/uyuni/MANIFEST.tsv`, loaded in dependency
//! order into a throwaway PostgreSQL.
//!
//! The upstream files are not kept in this repository (see `schema/uyuni/README.md`): they
//! live in [`upstream_dir`] (`$UYUNI_SCHEMA_DIR`, else `netsim-tests/schema/uyuni/upstream`).
//! Each is checked against its manifest entry (size in characters and SHA-256), so a file
//! from another commit is an error, not a silent difference.
//!
//! Some files of the stored history still carry the Oracle forms Uyuni's build used to
//! translate (`NUMBER`, `VARCHAR2`, `TABLESPACE [[…]]`, `ENABLE ROW MOVEMENT`, …);
//! [`normalize`] applies the same translation. Tables outside the fetched closure that a
//! fetched table references are created by `schema/uyuni/stubs.sql` (listed there); the
//! reference rows the tests need (architectures, contact methods, config-file states, …) come
//! from `schema/uyuni/seed.sql`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use sha2::{Digest as _, Sha256};

use crate::pg::Postgres;

/// This crate's `schema/uyuni` directory.
pub fn schema_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/uyuni")
}

/// Where the upstream files are: `$UYUNI_SCHEMA_DIR`, else `schema/uyuni/upstream`.
pub fn upstream_dir() -> PathBuf {
    match std::env::var_os("UYUNI_SCHEMA_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => schema_root().join("upstream"),
    }
}

/// One manifest line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// Path in the uyuni repository (`schema/spacewalk/...`).
    pub path: String,
    /// Commit the file was read at.
    pub commit: String,
    /// Length in characters.
    pub chars: usize,
    /// SHA-256 of the content (hex).
    pub sha256: String,
}

impl ManifestEntry {
    /// The file under [`upstream_dir`]: the path below `schema/spacewalk/`.
    pub fn local_path(&self, dir: &Path) -> PathBuf {
        dir.join(
            self.path
                .strip_prefix("schema/spacewalk/")
                .unwrap_or(&self.path),
        )
    }
}

/// Parse `MANIFEST.tsv` (`path<TAB>commit<TAB>chars<TAB>sha256`, `#` comments).
pub fn parse_manifest(text: &str) -> anyhow::Result<Vec<ManifestEntry>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let [path, commit, chars, sha256] = f[..] else {
            bail!(
                "MANIFEST.tsv line {}: expected 4 tab-separated fields",
                n + 1
            );
        };
        out.push(ManifestEntry {
            path: path.to_owned(),
            commit: commit.to_owned(),
            chars: chars
                .parse()
                .with_context(|| format!("MANIFEST.tsv line {}: bad size", n + 1))?,
            sha256: sha256.to_owned(),
        });
    }
    Ok(out)
}

/// The manifest of this crate.
pub fn manifest() -> anyhow::Result<Vec<ManifestEntry>> {
    let p = schema_root().join("MANIFEST.tsv");
    parse_manifest(&std::fs::read_to_string(&p).with_context(|| p.display().to_string())?)
}

/// SHA-256 of `text`, hex.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Read every manifest file from `dir`, checking size and digest.
pub fn read_files(dir: &Path, entries: &[ManifestEntry]) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for e in entries {
        let p = e.local_path(dir);
        let text = std::fs::read_to_string(&p).with_context(|| {
            format!(
                "Uyuni schema file {} missing (read {} at commit {} into {}; see netsim-tests/schema/uyuni/README.md)",
                p.display(),
                e.path,
                e.commit,
                dir.display()
            )
        })?;
        let chars = text.chars().count();
        if chars != e.chars || sha256_hex(&text) != e.sha256 {
            bail!(
                "{}: {} characters, sha256 {} — the manifest records {} and {} (commit {})",
                p.display(),
                chars,
                sha256_hex(&text),
                e.chars,
                e.sha256,
                e.commit
            );
        }
        out.push((e.path.clone(), text));
    }
    Ok(out)
}

/// Replace every case-insensitive, whole-word occurrence of `word` in `s`.
fn replace_word(s: &str, word: &str, with: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let w = word.to_ascii_lowercase();
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(pos) = lower[i..].find(&w) {
        let at = i + pos;
        let end = at + w.len();
        let before = s[..at].chars().next_back();
        let after = s[end..].chars().next();
        out.push_str(&s[i..at]);
        if is_word(before) || is_word(after) {
            out.push_str(&s[at..end]);
        } else {
            out.push_str(with);
        }
        i = end;
    }
    out.push_str(&s[i..]);
    out
}

/// Translate the Oracle forms some stored versions carry into PostgreSQL, as Uyuni's build
/// did: `NUMBER` → `NUMERIC`, `VARCHAR2(n [CHAR])` → `VARCHAR(n)`, `CLOB` → `TEXT`,
/// `timestamp with local time zone` → `TIMESTAMPTZ`, `sysdate` → `current_timestamp`; and
/// drop `[USING INDEX] TABLESPACE [[…]]`, `NOLOGGING`, `ENABLE ROW MOVEMENT` and a sequence's
/// `ORDER`.
pub fn normalize(sql: &str) -> String {
    let mut s = replace_word(sql, "timestamp with local time zone", "TIMESTAMPTZ");
    s = replace_word(&s, "NUMBER", "NUMERIC");
    s = replace_word(&s, "VARCHAR2", "VARCHAR");
    s = replace_word(&s, "CLOB", "TEXT");
    s = replace_word(&s, "sysdate", "current_timestamp");
    s = replace_word(&s, "ENABLE ROW MOVEMENT", "");
    s = replace_word(&s, "NOLOGGING", "");
    s = s.replace(" CHAR)", ")");
    // [USING INDEX] TABLESPACE [[name]]
    while let Some(at) = s.find("TABLESPACE [[") {
        let Some(close) = s[at..].find("]]") else {
            break;
        };
        let mut start = at;
        if s[..at].trim_end().ends_with("USING INDEX") {
            start = s[..at].trim_end().len() - "USING INDEX".len();
        }
        s.replace_range(start..at + close + 2, "");
    }
    // CREATE SEQUENCE ... ORDER;
    let lines: Vec<String> = s
        .lines()
        .map(|l| {
            let t = l.trim_end();
            if t.to_ascii_uppercase().starts_with("CREATE SEQUENCE") && t.ends_with(" ORDER;") {
                format!("{};", &t[..t.len() - " ORDER;".len()])
            } else {
                l.to_owned()
            }
        })
        .collect();
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Words following `keyword` (case-insensitive), lower case, as identifiers.
fn names_after(sql: &str, keyword: &str) -> Vec<String> {
    let lower = sql.to_ascii_lowercase();
    let kw = keyword.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(pos) = lower[i..].find(&kw) {
        let at = i + pos + kw.len();
        let rest = lower[at..].trim_start();
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push(name);
        }
        i = at;
    }
    out
}

/// The tables a file creates and the tables it references (lower case).
pub fn creates_and_references(sql: &str) -> (Vec<String>, BTreeSet<String>) {
    let sql = strip_comments(sql);
    let creates = names_after(&sql, "create table");
    let refs = names_after(&sql, "references")
        .into_iter()
        .filter(|r| !creates.contains(r))
        .collect();
    (creates, refs)
}

fn strip_comments(sql: &str) -> String {
    sql.lines()
        .map(|l| match l.find("--") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Order table files so every referenced table is created first; `provided` are tables that
/// exist already (the stubs). A reference to a table neither provided nor in the set is an
/// error naming both.
pub fn dependency_order(
    files: &[(String, String)],
    provided: &BTreeSet<String>,
) -> anyhow::Result<Vec<usize>> {
    let mut owner: BTreeMap<String, usize> = BTreeMap::new();
    let mut deps: Vec<BTreeSet<String>> = Vec::new();
    for (i, (_, sql)) in files.iter().enumerate() {
        let (creates, refs) = creates_and_references(sql);
        for c in creates {
            owner.insert(c, i);
        }
        deps.push(refs);
    }
    for (i, d) in deps.iter().enumerate() {
        for r in d {
            if !owner.contains_key(r) && !provided.contains(r) {
                bail!(
                    "{} references table {r}, which is neither in MANIFEST.tsv nor in stubs.sql",
                    files[i].0
                );
            }
        }
    }
    let mut done = vec![false; files.len()];
    let mut order = Vec::new();
    while order.len() < files.len() {
        let before = order.len();
        for i in 0..files.len() {
            if done[i] {
                continue;
            }
            let ready = deps[i]
                .iter()
                .all(|r| provided.contains(r) || owner.get(r).is_some_and(|&j| done[j]));
            if ready {
                done[i] = true;
                order.push(i);
            }
        }
        if order.len() == before {
            let stuck: Vec<&str> = (0..files.len())
                .filter(|&i| !done[i])
                .map(|i| files[i].0.as_str())
                .collect();
            bail!("circular references among {stuck:?}");
        }
    }
    Ok(order)
}

/// The tables `stubs.sql` creates (lower case).
pub fn stub_tables() -> anyhow::Result<Vec<String>> {
    let stubs = std::fs::read_to_string(schema_root().join("stubs.sql"))?;
    Ok(creates_and_references(&stubs).0)
}

/// The whole schema as one SQL script: types (`postgres/class`), stubs, tables in dependency
/// order, Uyuni's own triggers (`postgres/triggers`), seed rows.
pub fn assemble() -> anyhow::Result<String> {
    assemble_with_seed(&std::fs::read_to_string(schema_root().join("seed.sql"))?)
}

/// [`assemble`] with other reference rows than `seed.sql` (the stand-in has its own).
pub fn assemble_with_seed(seed: &str) -> anyhow::Result<String> {
    let entries = manifest()?;
    let files = read_files(&upstream_dir(), &entries)?;
    let stubs = std::fs::read_to_string(schema_root().join("stubs.sql"))?;
    let provided: BTreeSet<String> = creates_and_references(&stubs).0.into_iter().collect();
    let (tables, rest): (Vec<_>, Vec<_>) =
        files.into_iter().partition(|(p, _)| p.contains("/tables/"));
    let (triggers, types): (Vec<_>, Vec<_>) = rest
        .into_iter()
        .partition(|(p, _)| p.contains("/triggers/"));
    let order = dependency_order(&tables, &provided)?;
    let mut out = String::from("SET client_min_messages = warning;\n");
    let mut add = |path: &str, sql: &str| {
        out.push_str(&format!("-- ==== {path}\n{}\n", normalize(sql)));
    };
    for (path, sql) in &types {
        add(path, sql);
    }
    add("stubs.sql", &stubs);
    for i in order {
        let (path, sql) = &tables[i];
        add(path, sql);
    }
    for (path, sql) in &triggers {
        add(path, sql);
    }
    out.push_str(&format!("-- ==== seed.sql\n{seed}\n"));
    Ok(out)
}

/// Create database `db` on `pg` with Uyuni's schema in it; returns its connection string.
pub fn create_uyuni_database(pg: &Postgres, db: &str) -> anyhow::Result<String> {
    let dsn = pg.create_database(db)?;
    let sql = assemble()?;
    let file = tempfile::Builder::new()
        .prefix("uyuni-schema-")
        .suffix(".sql")
        .tempfile()?;
    std::fs::write(file.path(), sql)?;
    // The postgres user (when running as root) reads the file through psql's client side, so
    // ownership does not matter.
    pg.psql_file(db, file.path())
        .context("loading Uyuni's schema")?;
    Ok(dsn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oracle_forms_become_postgres() {
        let sql = "CREATE TABLE t\n(\n    id NUMBER NOT NULL\n        CONSTRAINT t_pk PRIMARY KEY\n        USING INDEX TABLESPACE [[4m_tbs]],\n    n VARCHAR2(64 CHAR),\n    d CLOB,\n    at timestamp with local time zone DEFAULT (sysdate)\n)\nENABLE ROW MOVEMENT\n;\nCREATE INDEX i ON t (id)\n    TABLESPACE [[2m_tbs]]\n    NOLOGGING;\nCREATE SEQUENCE s START WITH 10 ORDER;\n";
        let out = normalize(sql);
        for bad in [
            "NUMBER",
            "VARCHAR2",
            "CLOB",
            "TABLESPACE",
            "NOLOGGING",
            "ROW MOVEMENT",
        ] {
            assert!(!out.contains(bad), "{bad} left in {out}");
        }
        assert!(out.contains("id NUMERIC NOT NULL"), "{out}");
        assert!(out.contains("n VARCHAR(64)"), "{out}");
        assert!(
            out.contains("at TIMESTAMPTZ DEFAULT (current_timestamp)"),
            "{out}"
        );
        assert!(out.contains("CREATE SEQUENCE s START WITH 10;"), "{out}");
        // Words that merely contain a keyword are left alone.
        assert_eq!(normalize("phone_number NUMBERS"), "phone_number NUMBERS\n");
    }

    #[test]
    fn tables_come_after_what_they_reference() {
        let files = vec![
            (
                "c".to_owned(),
                "CREATE TABLE c (a NUMERIC REFERENCES b (id), k NUMERIC REFERENCES stub (id), s NUMERIC REFERENCES c (id));".to_owned(),
            ),
            ("b".to_owned(), "create table B (x NUMERIC references a(id));".to_owned()),
            ("a".to_owned(), "CREATE TABLE a (id NUMERIC); -- REFERENCES nowhere".to_owned()),
        ];
        let provided = BTreeSet::from(["stub".to_owned()]);
        assert_eq!(
            dependency_order(&files, &provided).expect("order"),
            vec![2, 1, 0]
        );
        let err = dependency_order(&files, &BTreeSet::new()).expect_err("stub missing");
        assert!(err.to_string().contains("stub"), "{err}");
    }

    #[test]
    fn the_manifest_parses() {
        let m = manifest().expect("manifest");
        assert!(m.len() >= 50, "{}", m.len());
        assert!(m.iter().all(|e| e.sha256.len() == 64 && e.chars > 0));
        assert!(
            m.iter()
                .any(|e| e.path == "schema/spacewalk/common/tables/rhnChannel.sql")
        );
    }
}

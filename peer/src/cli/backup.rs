//! `uyuni-cluster backup` (online, through the admin API) and `uyuni-cluster restore`
//! (offline, into a stopped peer's data directory).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::Target;

/// `backup --out FILE`: a consistent snapshot of the peer's metastore, written to a
/// temporary file beside FILE and renamed once complete.
pub(super) fn backup(out: &Path, t: &Target) -> anyhow::Result<()> {
    if out.exists() {
        anyhow::bail!("{} exists: choose a new file", out.display());
    }
    let tmp = out.with_extension("partial");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let n = t
        .client()?
        .post_download("/cluster/backup", &mut f)
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
    f.flush()?;
    f.sync_all()?;
    drop(f);
    let info = crdt_store::read_backup_info(&mut std::fs::File::open(&tmp)?)
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .context("the peer's answer is not a backup")?;
    std::fs::rename(&tmp, out)?;
    if t.json {
        println!(
            "{}",
            serde_json::json!({"file": out, "bytes": n, "info": info})
        );
    } else {
        println!(
            "backup of {} written to {}: {} records, {} bytes, root digest {}",
            info.source,
            out.display(),
            info.records,
            n,
            info.root
        );
    }
    Ok(())
}

/// `restore --from FILE --data-dir DIR`: the peer must be stopped; its metastore directory
/// (`DIR/store`) must not exist (move it aside first). The identity and the rest of the data
/// directory are left alone. On start the peer rejoins and catches up through sync.
pub(super) fn restore(from: &Path, data_dir: &Path, json: bool) -> anyhow::Result<()> {
    let store_dir: PathBuf = data_dir.join("store");
    let mut f = std::io::BufReader::new(
        std::fs::File::open(from).with_context(|| format!("opening {}", from.display()))?,
    );
    let info = crdt_store::restore_backup(&mut f, &store_dir)?;
    if json {
        println!("{}", serde_json::json!({"store": store_dir, "info": info}));
    } else {
        println!(
            "restored {} records (root digest {}, taken from {} at {} ms) into {}; start the \
             peer: it rejoins and catches up on what changed since",
            info.records,
            info.root,
            info.source,
            info.taken_at,
            store_dir.display()
        );
    }
    Ok(())
}

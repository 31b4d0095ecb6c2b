//! The write-ahead log: every change a shard takes is appended here and fsync'd before the write
//! is acknowledged.
//!
//! A log is a sequence of segment files `wal/<seq>.log`. Each frame is
//! `[len: u32][crc32: u32][shard: u32][payload: len bytes]` (little endian), where the CRC covers
//! the shard number and the payload and the payload is an automerge change chunk. Compaction
//! rotates to a new segment, snapshots the dirty shards, then deletes the older segments.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::disk::Disk;
use crate::error::StoreError;

const HEADER: usize = 12;
/// Refuse frames larger than this on replay: a length field this big is corruption.
const MAX_FRAME: u32 = 256 * 1024 * 1024;

/// One frame read back from the log.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) shard: u32,
    pub(crate) payload: Vec<u8>,
}

/// Something replay found wrong and how it was handled.
#[derive(Debug, Clone)]
pub struct WalIssue {
    /// The segment involved.
    pub path: PathBuf,
    /// Byte offset of the first bad frame.
    pub offset: u64,
    /// What happened.
    pub what: String,
}

/// A position in the log: the end of some written frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct WalPos {
    seq: u64,
    end: u64,
}

/// The log. Writing and syncing are separate so that a shard can put its frame into the log
/// while it still holds its lock (the log order is then the order automerge made the changes
/// in, which replay needs), and fsync after releasing it (one fsync covers every writer that
/// wrote before it: group commit). A failed write or fsync stops the log for good
/// ([`Disk`]): a writer whose frame an earlier, failed fsync should have covered gets the
/// error too instead of a second fsync that might lie.
#[derive(Debug)]
pub(crate) struct Wal {
    dir: PathBuf,
    disk: Arc<Disk>,
    seq: u64,
    file: File,
    /// Bytes written to the active segment (complete frames only).
    len: u64,
    /// Bytes of the active segment known to be on disk.
    synced: u64,
    /// Bytes in older segments that compaction has not removed yet.
    old_bytes: u64,
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:010}.log"))
}

fn list_segments(dir: &Path) -> Result<Vec<u64>, StoreError> {
    let mut seqs = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".log")) else {
            continue;
        };
        if let Ok(seq) = stem.parse::<u64>() {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

pub(crate) fn encode_frame(out: &mut Vec<u8>, shard: u32, payload: &[u8]) {
    let mut h = crc32fast::Hasher::new();
    h.update(&shard.to_le_bytes());
    h.update(payload);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.extend_from_slice(&shard.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Parse frames from `buf`. Returns the frames and, if parsing stopped early, the offset and
/// reason. `truncated` is true when the stop is a torn tail (an incomplete last frame).
fn parse_frames(buf: &[u8]) -> (Vec<Frame>, Option<(u64, String, bool)>) {
    let mut frames = Vec::new();
    let mut off = 0usize;
    while off < buf.len() {
        let rest = &buf[off..];
        if rest.len() < HEADER {
            return (frames, Some((off as u64, "torn frame header".into(), true)));
        }
        let word = |i: usize| u32::from_le_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
        let (len, crc, shard) = (word(0), word(4), word(8));
        if len > MAX_FRAME {
            return (
                frames,
                Some((off as u64, format!("frame length {len} too large"), false)),
            );
        }
        let end = HEADER + len as usize;
        if rest.len() < end {
            return (
                frames,
                Some((off as u64, "torn frame payload".into(), true)),
            );
        }
        let payload = &rest[HEADER..end];
        let mut h = crc32fast::Hasher::new();
        h.update(&shard.to_le_bytes());
        h.update(payload);
        if h.finalize() != crc {
            return (
                frames,
                Some((off as u64, "checksum mismatch".into(), false)),
            );
        }
        frames.push(Frame {
            shard,
            payload: payload.to_vec(),
        });
        off += end;
    }
    (frames, None)
}

impl Wal {
    /// Open the log in `dir`, replaying every segment. A torn tail is cut off (it was never
    /// acknowledged); a checksum failure moves the rest of that segment aside as `.corrupt`
    /// (fsync'd before the segment is cut) and is reported, replay continuing with the next
    /// segment.
    pub(crate) fn open(
        dir: &Path,
        disk: Arc<Disk>,
    ) -> Result<(Self, Vec<Frame>, Vec<WalIssue>), StoreError> {
        fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let seqs = list_segments(dir)?;
        let mut frames = Vec::new();
        let mut issues = Vec::new();
        let mut old_bytes = 0;
        for &seq in &seqs {
            let path = segment_path(dir, seq);
            let mut buf = Vec::new();
            File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut buf))
                .map_err(|e| StoreError::io(&path, e))?;
            let (mut got, stop) = parse_frames(&buf);
            frames.append(&mut got);
            let mut kept = buf.len() as u64;
            if let Some((offset, what, torn)) = stop {
                if !torn {
                    let aside = path.with_extension(format!("log.{offset}.corrupt"));
                    let f = File::create(&aside)
                        .and_then(|mut f| f.write_all(&buf[offset as usize..]).map(|()| f))
                        .map_err(|e| StoreError::io(&aside, e))?;
                    disk.sync_all(&f, &aside)?;
                    disk.sync_dir(dir)?;
                }
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| StoreError::io(&path, e))?;
                f.set_len(offset).map_err(|e| StoreError::io(&path, e))?;
                disk.sync_all(&f, &path)?;
                kept = offset;
                issues.push(WalIssue { path, offset, what });
            }
            old_bytes += kept;
        }
        let seq = seqs.last().map_or(1, |s| s + 1);
        let file = Self::create_segment(&disk, dir, seq)?;
        Ok((
            Self {
                dir: dir.to_path_buf(),
                disk,
                seq,
                file,
                len: 0,
                synced: 0,
                old_bytes,
            },
            frames,
            issues,
        ))
    }

    fn create_segment(disk: &Disk, dir: &Path, seq: u64) -> Result<File, StoreError> {
        let path = segment_path(dir, seq);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        disk.sync_dir(dir)?;
        Ok(file)
    }

    /// Write encoded frames to the active segment, without fsync. Returns the position
    /// [`Self::sync`] must reach before the frames may be acknowledged. A failure stops the
    /// log (nothing written after it is acknowledged).
    pub(crate) fn write(&mut self, encoded: &[u8]) -> Result<WalPos, StoreError> {
        let path = segment_path(&self.dir, self.seq);
        self.disk.write_all(&mut self.file, &path, encoded)?;
        self.len += encoded.len() as u64;
        Ok(WalPos {
            seq: self.seq,
            end: self.len,
        })
    }

    /// Make everything written up to `pos` durable (a no-op when an earlier sync or a
    /// rotation already did). Once a write or an fsync has failed, this fails too, even for a
    /// position an earlier successful fsync covered: the store is stopped.
    pub(crate) fn sync(&mut self, pos: WalPos) -> Result<(), StoreError> {
        self.disk.check()?;
        if pos.seq < self.seq || pos.end <= self.synced {
            return Ok(());
        }
        self.disk
            .sync_data(&self.file, &segment_path(&self.dir, self.seq))?;
        self.synced = self.len;
        Ok(())
    }

    /// Bytes in every segment not yet folded into snapshots.
    pub(crate) fn total_bytes(&self) -> u64 {
        self.old_bytes + self.len
    }

    /// Make the active segment durable and start a new one; returns the sequence number of the
    /// one just closed.
    pub(crate) fn rotate(&mut self) -> Result<u64, StoreError> {
        let old_path = segment_path(&self.dir, self.seq);
        self.disk.sync_data(&self.file, &old_path)?;
        let next = self.seq + 1;
        let file = Self::create_segment(&self.disk, &self.dir, next)?;
        let old = self.seq;
        self.old_bytes += self.len;
        self.file = file;
        self.seq = next;
        self.len = 0;
        self.synced = 0;
        Ok(old)
    }

    /// Delete every segment up to and including `seq` (their content is in snapshots now).
    pub(crate) fn remove_through(&mut self, seq: u64) -> Result<(), StoreError> {
        for s in list_segments(&self.dir)? {
            if s <= seq && s != self.seq {
                let p = segment_path(&self.dir, s);
                let size = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                fs::remove_file(&p).map_err(|e| StoreError::io(&p, e))?;
                self.old_bytes = self.old_bytes.saturating_sub(size);
            }
        }
        self.disk.sync_dir(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(n: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..n {
            encode_frame(&mut out, i, format!("payload-{i}").as_bytes());
        }
        out
    }

    #[test]
    fn replays_what_was_appended() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut wal, got, issues) = Wal::open(dir.path(), Arc::default()).expect("open");
        assert!(got.is_empty() && issues.is_empty());
        let pos = wal.write(&frames(3)).expect("write");
        wal.sync(pos).expect("sync");
        drop(wal);
        let (_, got, issues) = Wal::open(dir.path(), Arc::default()).expect("reopen");
        assert!(issues.is_empty());
        assert_eq!(got.len(), 3);
        assert_eq!(got[2].shard, 2);
        assert_eq!(got[2].payload, b"payload-2");
    }

    #[test]
    fn torn_tail_is_cut_and_corruption_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut wal, _, _) = Wal::open(dir.path(), Arc::default()).expect("open");
        let pos = wal.write(&frames(3)).expect("write");
        wal.sync(pos).expect("sync");
        let path = segment_path(dir.path(), 1);
        drop(wal);
        // Torn tail: half of a fourth frame.
        let mut extra = Vec::new();
        encode_frame(&mut extra, 9, b"never acknowledged");
        let mut bytes = fs::read(&path).expect("read");
        bytes.extend_from_slice(&extra[..7]);
        fs::write(&path, &bytes).expect("write");
        let (_, got, issues) = Wal::open(dir.path(), Arc::default()).expect("reopen");
        assert_eq!(got.len(), 3);
        assert_eq!(issues.len(), 1);
        assert!(issues[0].what.contains("torn"));

        // Flip a byte inside the second frame of segment 1.
        let mut bytes = fs::read(&path).expect("read");
        let second = HEADER + "payload-0".len() + HEADER + 2;
        bytes[second] ^= 0xff;
        fs::write(&path, &bytes).expect("write");
        let (_, got, issues) = Wal::open(dir.path(), Arc::default()).expect("reopen");
        assert_eq!(got.len(), 1, "frames before the corruption survive");
        assert!(issues.iter().any(|i| i.what.contains("checksum")));
        let corrupt = fs::read_dir(dir.path())
            .expect("ls")
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().ends_with(".corrupt"));
        assert!(corrupt, "the bad part is kept aside for inspection");
    }

    #[test]
    fn a_failed_write_stops_the_log_and_keeps_what_was_synced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let faults = crate::FaultInjector::new();
        let disk = Arc::new(Disk::new(Some(faults.clone())));
        let (mut wal, _, _) = Wal::open(dir.path(), disk).expect("open");
        let pos = wal.write(&frames(2)).expect("write");
        wal.sync(pos).expect("sync");
        faults.fail_write(true);
        let err = wal.write(&frames(1)).expect_err("disk full");
        assert!(err.is_read_only(), "{err}");
        assert!(err.to_string().contains("No space"), "{err}");
        // The disk frees up: the log stays stopped, a write is refused with the first cause.
        faults.fail_write(false);
        let again = wal.write(&frames(1)).expect_err("stopped");
        assert!(again.to_string().contains("No space"), "{again}");
        drop(wal);
        let (_, got, issues) = Wal::open(dir.path(), Arc::default()).expect("reopen");
        assert!(issues.is_empty());
        assert_eq!(got.len(), 2, "what was synced before the failure replays");
    }

    #[test]
    fn a_failed_fsync_is_not_retried_for_a_writer_it_should_have_covered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let faults = crate::FaultInjector::new();
        let disk = Arc::new(Disk::new(Some(faults.clone())));
        let (mut wal, _, _) = Wal::open(dir.path(), disk).expect("open");
        // Two writers put their frames in (group commit), the second one's fsync fails.
        let first = wal.write(&frames(1)).expect("write");
        let second = wal.write(&frames(1)).expect("write");
        faults.fail_fsync(true);
        assert!(wal.sync(second).expect_err("EIO").is_read_only());
        faults.fail_fsync(false);
        let tried = faults.fsyncs();
        // The first writer must not be told its frame is durable by a second fsync.
        let err = wal.sync(first).expect_err("stopped");
        assert!(err.to_string().contains("Input/output error"), "{err}");
        assert_eq!(faults.fsyncs(), tried, "no fsync retried");
        assert!(wal.rotate().is_err(), "compaction stops too");
    }
}

//! The search index: one compact slot per system, posting sets for the exact terms and a
//! name-ordered list for paging. Pure data structure (no I/O); the peer keeps it current from
//! the store's change feed ([`crate`]).
//!
//! Layout, per system (about 110 bytes at a million systems, see docs/PERFORMANCE.md):
//! - a 36-byte [`Slot`]: offsets into two arenas, interned node and zone, set counts, status;
//! - the fingerprint in an arena, **packed** to its raw bytes when it has the canonical
//!   `salt-key -F` form (32 bytes instead of 95), the minion id (and the host name when it
//!   differs) in a string arena, tag/group/channel ids (`u32`) in a third arena;
//! - a 4-byte entry in `order` (slots sorted by name) and in the fingerprint hash table;
//! - its share of the posting sets ([`Postings`]): status, zone, node, each tag, group and
//!   channel.
//!
//! Arenas are append-only; a rewritten or removed system leaves garbage that is compacted
//! once it exceeds half the arena. New systems wait in `pending` (unsorted) and are merged
//! into `order` in bulk, so a registration storm does not shift a million entries per insert.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

use crdt_store::{SystemRecord, SystemStatus};
use hashbrown::HashTable;

use super::bits::{Bits, Postings};
use super::glob::Glob;
use super::query::{Expr, SetField, Term, status_bit};

const NONE: u32 = u32::MAX;
const HOST_SAME: u8 = 1;
const FP_PACKED: u8 = 2;
const LIVE: u8 = 4;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    name_off: u32,
    fp_off: u32,
    sets_off: u32,
    node: u32,
    zone: u32,
    name_len: u16,
    host_len: u16,
    fp_len: u16,
    ntags: u16,
    ngroups: u16,
    nchannels: u16,
    status: u8,
    flags: u8,
}

impl Slot {
    fn nsets(&self) -> usize {
        usize::from(self.ntags) + usize::from(self.ngroups) + usize::from(self.nchannels)
    }
}

/// Where a page ends: the sort key of its last system. Opaque to clients (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Minion id of the last system shown.
    pub name: String,
    /// Its fingerprint.
    pub fingerprint: String,
}

/// A cursor that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor (pass back the \"next\" value of the previous page)")]
pub struct CursorError;

impl Cursor {
    /// The opaque form.
    pub fn encode(&self) -> String {
        hex::encode(format!(
            "{}:{}{}",
            self.name.len(),
            self.name,
            self.fingerprint
        ))
    }

    /// Parse the opaque form.
    pub fn decode(s: &str) -> Result<Self, CursorError> {
        let raw =
            String::from_utf8(hex::decode(s).map_err(|_| CursorError)?).map_err(|_| CursorError)?;
        let (len, rest) = raw.split_once(':').ok_or(CursorError)?;
        let len: usize = len.parse().map_err(|_| CursorError)?;
        if !rest.is_char_boundary(len) || len > rest.len() {
            return Err(CursorError);
        }
        Ok(Self {
            name: rest[..len].to_string(),
            fingerprint: rest[len..].to_string(),
        })
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Systems matching in total (all pages).
    pub total: usize,
    /// Fingerprints of this page, in order.
    pub fingerprints: Vec<String>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// The index (see the module documentation).
#[derive(Debug, Default)]
pub struct SearchIndex {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: Bits,
    count: usize,
    names: String,
    names_garbage: usize,
    fps: Vec<u8>,
    fps_garbage: usize,
    sets: Vec<u32>,
    sets_garbage: usize,
    by_fp: HashTable<u32>,
    hasher: BuildHasherDefault<DefaultHasher>,
    strings: Vec<Box<str>>,
    string_ids: HashMap<Box<str>, u32>,
    /// Postings per set field (indexed like [`SetField::ALL`]), by interned value.
    values: [HashMap<u32, Postings>; 5],
    status: [Postings; 4],
    /// Systems whose host name differs from their minion id.
    other_host: Postings,
    order: Vec<u32>,
    pending: Vec<u32>,
}

fn field_ix(f: SetField) -> usize {
    match f {
        SetField::Tag => 0,
        SetField::Group => 1,
        SetField::Channel => 2,
        SetField::Zone => 3,
        SetField::Node => 4,
    }
}

fn status_ix(s: SystemStatus) -> usize {
    status_bit(s).trailing_zeros() as usize
}

/// The canonical `salt-key -F` form (lowercase hex pairs joined by `:`) as raw bytes.
fn pack_fp(fp: &str) -> Option<Vec<u8>> {
    let b = fp.as_bytes();
    if b.is_empty() || !(b.len() + 1).is_multiple_of(3) {
        return None;
    }
    let hex = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    b.chunks(3)
        .map(|c| {
            if c.len() == 3 && c[2] != b':' {
                return None;
            }
            Some(hex(c[0])? << 4 | hex(c[1])?)
        })
        .collect()
}

fn unpack_fp(raw: &[u8]) -> String {
    let mut s = String::with_capacity(raw.len() * 3);
    for (i, b) in raw.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Compare names as the sort order does: ASCII-lowercased first, then exactly.
fn cmp_names(a: &str, b: &str) -> Ordering {
    let lower = a
        .bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()));
    lower.then_with(|| a.cmp(b))
}

impl SearchIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Systems indexed.
    pub fn len(&self) -> usize {
        self.count
    }

    /// No system indexed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn name(&self, s: &Slot) -> &str {
        let a = s.name_off as usize;
        &self.names[a..a + usize::from(s.name_len)]
    }

    fn host(&self, s: &Slot) -> &str {
        if s.flags & HOST_SAME != 0 {
            return self.name(s);
        }
        let a = s.name_off as usize + usize::from(s.name_len);
        &self.names[a..a + usize::from(s.host_len)]
    }

    fn fp_raw(&self, s: &Slot) -> &[u8] {
        let a = s.fp_off as usize;
        &self.fps[a..a + usize::from(s.fp_len)]
    }

    fn fingerprint(&self, s: &Slot) -> String {
        let raw = self.fp_raw(s);
        if s.flags & FP_PACKED != 0 {
            unpack_fp(raw)
        } else {
            String::from_utf8_lossy(raw).into_owned()
        }
    }

    fn set_ids(&self, s: &Slot) -> &[u32] {
        let a = s.sets_off as usize;
        &self.sets[a..a + s.nsets()]
    }

    fn hash_stored(&self, packed: bool, raw: &[u8]) -> u64 {
        self.hasher.hash_one((packed, raw))
    }

    fn find(&self, fp: &str) -> Option<u32> {
        let (packed, raw) = match pack_fp(fp) {
            Some(p) => (true, p),
            None => (false, fp.as_bytes().to_vec()),
        };
        let h = self.hash_stored(packed, &raw);
        self.by_fp
            .find(h, |&id| {
                let s = &self.slots[id as usize];
                (s.flags & FP_PACKED != 0) == packed && self.fp_raw(s) == raw.as_slice()
            })
            .copied()
    }

    fn intern(&mut self, v: &str) -> u32 {
        if let Some(&id) = self.string_ids.get(v) {
            return id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(v.into());
        self.string_ids.insert(v.into(), id);
        id
    }

    fn cmp_slots(&self, a: u32, b: u32) -> Ordering {
        let (sa, sb) = (&self.slots[a as usize], &self.slots[b as usize]);
        cmp_names(self.name(sa), self.name(sb)).then_with(|| {
            if sa.flags & sb.flags & FP_PACKED != 0 {
                self.fp_raw(sa).cmp(self.fp_raw(sb))
            } else {
                self.fingerprint(sa).cmp(&self.fingerprint(sb))
            }
        })
    }

    fn cmp_cursor(&self, a: u32, c: &Cursor) -> Ordering {
        let s = &self.slots[a as usize];
        cmp_names(self.name(s), &c.name).then_with(|| self.fingerprint(s).cmp(&c.fingerprint))
    }

    fn postings_edit(&mut self, slot: u32, add: bool) {
        let s = self.slots[slot as usize];
        let edit = |p: &mut Postings| {
            if add {
                p.insert(slot);
            } else {
                p.remove(slot);
            }
        };
        edit(&mut self.status[usize::from(s.status)]);
        if s.flags & HOST_SAME == 0 {
            edit(&mut self.other_host);
        }
        let ids: Vec<u32> = self.set_ids(&s).to_vec();
        let (t, g) = (usize::from(s.ntags), usize::from(s.ngroups));
        let fields = ids.iter().enumerate().map(|(i, id)| {
            let f = if i < t {
                SetField::Tag
            } else if i < t + g {
                SetField::Group
            } else {
                SetField::Channel
            };
            (f, *id)
        });
        let singles = [(SetField::Zone, s.zone), (SetField::Node, s.node)];
        for (f, id) in fields.chain(singles).filter(|(_, id)| *id != NONE) {
            let map = &mut self.values[field_ix(f)];
            let p = map.entry(id).or_default();
            edit(p);
            if p.is_empty() {
                map.remove(&id);
            }
        }
    }

    /// Take in the current record of a system (added or changed).
    pub fn upsert(&mut self, rec: &SystemRecord) {
        let host_same = rec.hostname == rec.minion_id;
        let host_len = if host_same { 0 } else { rec.hostname.len() };
        let (Ok(name_len), Ok(host_len), Ok(fp_len)) = (
            u16::try_from(rec.minion_id.len()),
            u16::try_from(host_len),
            u16::try_from(rec.fingerprint.len()),
        ) else {
            tracing::warn!(fp = %rec.fingerprint, "system with an oversized name not indexed");
            return;
        };
        let (Ok(ntags), Ok(ngroups), Ok(nchannels)) = (
            u16::try_from(rec.tags.len()),
            u16::try_from(rec.groups.len()),
            u16::try_from(rec.channels.len()),
        ) else {
            tracing::warn!(fp = %rec.fingerprint, "system with too many tags not indexed");
            return;
        };
        let existing = self.find(&rec.fingerprint);
        let slot_id = match existing {
            Some(id) => {
                self.postings_edit(id, false);
                id
            }
            None => self.free.pop().unwrap_or_else(|| {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }),
        };
        let old = self.slots[slot_id as usize];
        let mut s = old;
        // Names: rewrite only when they changed (a changed name also moves in `order`).
        let renamed = existing.is_some() && self.name(&old) != rec.minion_id;
        let host_kept = existing.is_some()
            && (old.flags & HOST_SAME != 0) == host_same
            && (host_same || self.host(&old) == rec.hostname);
        if existing.is_none() || renamed || !host_kept {
            if renamed {
                self.unorder(slot_id);
            }
            if existing.is_some() {
                self.names_garbage += usize::from(old.name_len) + usize::from(old.host_len);
            }
            s.name_off = self.names.len() as u32;
            self.names.push_str(&rec.minion_id);
            if !host_same {
                self.names.push_str(&rec.hostname);
            }
            s.name_len = name_len;
            s.host_len = host_len;
        }
        s.flags = LIVE | if host_same { HOST_SAME } else { 0 };
        if existing.is_none() {
            s.fp_off = self.fps.len() as u32;
            match pack_fp(&rec.fingerprint) {
                Some(p) => {
                    s.flags |= FP_PACKED;
                    s.fp_len = p.len() as u16;
                    self.fps.extend_from_slice(&p);
                }
                None => {
                    s.fp_len = fp_len;
                    self.fps.extend_from_slice(rec.fingerprint.as_bytes());
                }
            }
        } else {
            s.flags |= old.flags & FP_PACKED;
        }
        let ids: Vec<u32> = rec
            .tags
            .iter()
            .chain(&rec.groups)
            .chain(&rec.channels)
            .map(|v| self.intern(v))
            .collect();
        let same_sets = existing.is_some()
            && (old.ntags, old.ngroups, old.nchannels) == (ntags, ngroups, nchannels)
            && self.set_ids(&old) == ids.as_slice();
        if !same_sets {
            if existing.is_some() {
                self.sets_garbage += old.nsets();
            }
            s.sets_off = self.sets.len() as u32;
            self.sets.extend_from_slice(&ids);
            (s.ntags, s.ngroups, s.nchannels) = (ntags, ngroups, nchannels);
        }
        s.node = rec.node.as_deref().map_or(NONE, |n| self.intern(n));
        s.zone = rec.zone.as_deref().map_or(NONE, |z| self.intern(z));
        s.status = status_ix(rec.status) as u8;
        self.slots[slot_id as usize] = s;
        self.postings_edit(slot_id, true);
        if existing.is_none() {
            let h = self.hash_stored(s.flags & FP_PACKED != 0, self.fp_raw(&s));
            let Self {
                by_fp,
                slots,
                fps,
                hasher,
                ..
            } = self;
            by_fp.insert_unique(h, slot_id, |&id| {
                let s = &slots[id as usize];
                let a = s.fp_off as usize;
                hasher.hash_one((s.flags & FP_PACKED != 0, &fps[a..a + usize::from(s.fp_len)]))
            });
            self.live.grow(self.slots.len());
            self.live.set(slot_id);
            self.count += 1;
        }
        if existing.is_none() || renamed {
            self.pending.push(slot_id);
            self.merge_pending(false);
        }
        self.compact_if_needed();
    }

    /// Forget the system with this fingerprint.
    pub fn remove(&mut self, fingerprint: &str) {
        let Some(id) = self.find(fingerprint) else {
            return;
        };
        self.postings_edit(id, false);
        self.unorder(id);
        let s = self.slots[id as usize];
        let h = self.hash_stored(s.flags & FP_PACKED != 0, self.fp_raw(&s));
        if let Ok(entry) = self.by_fp.find_entry(h, |&x| x == id) {
            entry.remove();
        }
        self.names_garbage += usize::from(s.name_len) + usize::from(s.host_len);
        self.fps_garbage += usize::from(s.fp_len);
        self.sets_garbage += s.nsets();
        self.slots[id as usize] = Slot::default();
        self.live.clear(id);
        self.count -= 1;
        self.free.push(id);
        self.compact_if_needed();
    }

    /// Take `slot` out of `order` (or `pending`), by its current name.
    fn unorder(&mut self, slot: u32) {
        if let Some(i) = self.pending.iter().position(|&x| x == slot) {
            self.pending.swap_remove(i);
            return;
        }
        let at = self
            .order
            .partition_point(|&x| self.cmp_slots(x, slot) == Ordering::Less);
        if self.order.get(at) == Some(&slot) {
            self.order.remove(at);
        } else if let Some(i) = self.order.iter().position(|&x| x == slot) {
            // Not where its key says (cannot happen unless keys collide): remove anyway.
            self.order.remove(i);
        }
    }

    /// Merge `pending` into `order` once it is large (or now, with `force`).
    fn merge_pending(&mut self, force: bool) {
        let threshold = (self.order.len() / 32).max(1024);
        if self.pending.is_empty() || (!force && self.pending.len() < threshold) {
            return;
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_by(|&a, &b| self.cmp_slots(a, b));
        let order = std::mem::take(&mut self.order);
        let mut merged = Vec::with_capacity(order.len() + pending.len());
        let (mut i, mut j) = (0, 0);
        while i < order.len() && j < pending.len() {
            if self.cmp_slots(order[i], pending[j]) == Ordering::Greater {
                merged.push(pending[j]);
                j += 1;
            } else {
                merged.push(order[i]);
                i += 1;
            }
        }
        merged.extend_from_slice(&order[i..]);
        merged.extend_from_slice(&pending[j..]);
        self.order = merged;
    }

    /// Rewrite the arenas without garbage once it exceeds half of them.
    fn compact_if_needed(&mut self) {
        let big = |len: usize, garbage: usize| garbage > 4096 && garbage * 2 > len;
        if !(big(self.names.len(), self.names_garbage)
            || big(self.fps.len(), self.fps_garbage)
            || big(self.sets.len(), self.sets_garbage))
        {
            return;
        }
        let (mut names, mut fps, mut sets) = (
            String::with_capacity(self.names.len() - self.names_garbage),
            Vec::with_capacity(self.fps.len() - self.fps_garbage),
            Vec::with_capacity(self.sets.len() - self.sets_garbage),
        );
        for i in 0..self.slots.len() {
            let mut s = self.slots[i];
            if s.flags & LIVE == 0 {
                continue;
            }
            let a = s.name_off as usize;
            let b = a + usize::from(s.name_len) + usize::from(s.host_len);
            s.name_off = names.len() as u32;
            names.push_str(&self.names[a..b]);
            s.fp_off = fps.len() as u32;
            fps.extend_from_slice(self.fp_raw(&self.slots[i]));
            s.sets_off = sets.len() as u32;
            sets.extend_from_slice(self.set_ids(&self.slots[i]));
            self.slots[i] = s;
        }
        (self.names, self.fps, self.sets) = (names, fps, sets);
        (self.names_garbage, self.fps_garbage, self.sets_garbage) = (0, 0, 0);
    }

    /// Finish pending work before a burst of queries (merges new systems into the order).
    pub fn settle(&mut self) {
        self.merge_pending(true);
        // After a full build: give back the growth slack of the vectors (up to half of them).
        self.slots.shrink_to_fit();
        self.names.shrink_to_fit();
        self.fps.shrink_to_fit();
        self.sets.shrink_to_fit();
        self.order.shrink_to_fit();
        self.by_fp.shrink_to_fit(|&id| {
            let s = &self.slots[id as usize];
            let a = s.fp_off as usize;
            self.hasher.hash_one((
                s.flags & FP_PACKED != 0,
                &self.fps[a..a + usize::from(s.fp_len)],
            ))
        });
    }

    fn name_matches(&self, g: &Glob, slot: u32) -> bool {
        let s = &self.slots[slot as usize];
        g.matches(self.name(s)) || (s.flags & HOST_SAME == 0 && g.matches(self.host(s)))
    }

    /// Slots whose name or host name matches `g`, among `within`.
    fn eval_name(&self, g: &Glob, within: &Bits) -> Bits {
        let mut out = Bits::with_len(self.slots.len());
        let pre = g.literal_prefix();
        if pre.is_empty() || !pre.is_ascii() {
            for s in within.iter() {
                if self.name_matches(g, s) {
                    out.set(s);
                }
            }
            return out;
        }
        // Literal-prefix fast path: the names starting with it are one run of `order`.
        let pre_lower = pre.to_ascii_lowercase();
        let lower_lt = |n: &str| {
            n.bytes()
                .map(|c| c.to_ascii_lowercase())
                .lt(pre_lower.bytes())
        };
        let starts = |n: &str| {
            n.len() >= pre.len() && n.as_bytes()[..pre.len()].eq_ignore_ascii_case(pre.as_bytes())
        };
        let lo = self
            .order
            .partition_point(|&x| lower_lt(self.name(&self.slots[x as usize])));
        let run = self.order[lo..].partition_point(|&x| starts(self.name(&self.slots[x as usize])));
        for &s in &self.order[lo..lo + run] {
            if within.get(s) && g.matches(self.name(&self.slots[s as usize])) {
                out.set(s);
            }
        }
        // Not in `order` yet, or matching by a host name that differs.
        let mut others = Bits::with_len(self.slots.len());
        self.other_host.or_into(&mut others);
        for s in self.pending.iter().copied().chain(others.iter()) {
            if within.get(s) && self.name_matches(g, s) {
                out.set(s);
            }
        }
        out
    }

    fn eval_term(&self, t: &Term, within: Option<&Bits>) -> Bits {
        let mut out = Bits::with_len(self.slots.len());
        match t {
            Term::Status(mask) => {
                for (i, p) in self.status.iter().enumerate() {
                    if mask & (1 << i) != 0 {
                        p.or_into(&mut out);
                    }
                }
            }
            Term::Set(f, g) => {
                let map = &self.values[field_ix(*f)];
                if g.is_literal() {
                    if let Some(p) = self.string_ids.get(g.as_str()).and_then(|id| map.get(id)) {
                        p.or_into(&mut out);
                    }
                } else {
                    for (id, p) in map {
                        if g.matches(&self.strings[*id as usize]) {
                            p.or_into(&mut out);
                        }
                    }
                }
            }
            Term::Name(g) => return self.eval_name(g, within.unwrap_or(&self.live)),
            Term::Fp(g) => {
                for s in within.unwrap_or(&self.live).iter() {
                    if g.matches(&self.fingerprint(&self.slots[s as usize])) {
                        out.set(s);
                    }
                }
            }
        }
        out
    }

    /// The slots matching `e`.
    pub fn eval(&self, e: &Expr) -> Bits {
        match e {
            Expr::All => self.live.clone(),
            Expr::Term(t) => self.eval_term(t, None),
            Expr::Not(x) => {
                let mut b = self.eval(x);
                b.not_within(&self.live);
                b
            }
            Expr::Or(es) => {
                let mut acc = Bits::with_len(self.slots.len());
                for x in es {
                    acc.or(&self.eval(x));
                }
                acc
            }
            Expr::And(es) => {
                // Indexed terms first; scanning terms (names, fingerprints) only look at the
                // systems the others left.
                let scans = |x: &&Expr| matches!(x, Expr::Term(Term::Name(_) | Term::Fp(_)));
                let mut acc: Option<Bits> = None;
                for x in es.iter().filter(|x| !scans(x)) {
                    let b = self.eval(x);
                    match &mut acc {
                        None => acc = Some(b),
                        Some(a) => a.and(&b),
                    }
                }
                let mut acc = acc.unwrap_or_else(|| self.live.clone());
                for x in es.iter().filter(scans) {
                    if let Expr::Term(t) = x {
                        acc = self.eval_term(t, Some(&acc));
                    }
                }
                acc
            }
        }
    }

    /// Fingerprints of every system matching `e` (slot order: for bulk actions).
    pub fn matching(&self, e: &Expr) -> Vec<String> {
        self.eval(e)
            .iter()
            .map(|s| self.fingerprint(&self.slots[s as usize]))
            .collect()
    }

    /// One page of the systems matching `e`, sorted by name (case-insensitive, then exact),
    /// then fingerprint, starting after `after`.
    pub fn search(&self, e: &Expr, after: Option<&Cursor>, limit: usize) -> Page {
        let bits = self.eval(e);
        let total = bits.count();
        let start = after.map_or(0, |c| {
            self.order
                .partition_point(|&x| self.cmp_cursor(x, c) != Ordering::Greater)
        });
        let mut pending: Vec<u32> = self
            .pending
            .iter()
            .copied()
            .filter(|&s| bits.get(s))
            .filter(|&s| after.is_none_or(|c| self.cmp_cursor(s, c) == Ordering::Greater))
            .collect();
        pending.sort_by(|&a, &b| self.cmp_slots(a, b));
        let mut ordered = self.order[start..].iter().copied().filter(|&s| bits.get(s));
        let mut pend = pending.into_iter().peekable();
        let mut next_o = ordered.next();
        let mut take = || -> Option<u32> {
            match (next_o, pend.peek().copied()) {
                (Some(o), Some(p)) if self.cmp_slots(p, o) == Ordering::Less => pend.next(),
                (Some(o), _) => {
                    next_o = ordered.next();
                    Some(o)
                }
                (None, _) => pend.next(),
            }
        };
        let mut page = Vec::with_capacity(limit.min(total));
        while page.len() < limit {
            match take() {
                Some(s) => page.push(s),
                None => break,
            }
        }
        let more = page.len() == limit && take().is_some();
        let next = page.last().filter(|_| more).map(|&s| {
            let slot = &self.slots[s as usize];
            Cursor {
                name: self.name(slot).to_string(),
                fingerprint: self.fingerprint(slot),
            }
        });
        Page {
            total,
            fingerprints: page
                .into_iter()
                .map(|s| self.fingerprint(&self.slots[s as usize]))
                .collect(),
            next,
        }
    }

    /// Heap bytes held (capacities, not lengths).
    pub fn heap_bytes(&self) -> usize {
        let postings: usize = self
            .values
            .iter()
            .flat_map(|m| m.values())
            .chain(&self.status)
            .chain(std::iter::once(&self.other_host))
            .map(|p| p.heap_bytes() + std::mem::size_of::<Postings>() + 8)
            .sum();
        let strings: usize = self.strings.iter().map(|s| 2 * s.len() + 48).sum();
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.free.capacity() * 4
            + self.live.heap_bytes()
            + self.names.capacity()
            + self.fps.capacity()
            + self.sets.capacity() * 4
            + self.by_fp.capacity() * 5
            + (self.order.capacity() + self.pending.capacity()) * 4
            + postings
            + strings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse;

    fn rec(fp: &str, name: &str, tags: &[&str], node: Option<&str>) -> SystemRecord {
        SystemRecord::new(fp, name, 0)
            .with_status(SystemStatus::Onboarded)
            .with_node(node)
            .with_zone("dc1")
            .with_tags(tags.iter().copied())
    }

    #[test]
    fn pages_are_sorted_and_follow_the_cursor() {
        let mut ix = SearchIndex::new();
        for i in 0..3000u32 {
            let fp = format!("{:02x}:{:02x}", i >> 8, i & 0xff);
            ix.upsert(&rec(
                &fp,
                &format!("web{:04}.acme.org", 2999 - i),
                &["db"],
                None,
            ));
        }
        assert_eq!(ix.len(), 3000);
        let q = parse("web0*").expect("valid");
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = ix.search(&q, cursor.as_ref(), 400);
            assert_eq!(page.total, 1000);
            seen.extend(page.fingerprints);
            match page.next {
                Some(c) => cursor = Some(Cursor::decode(&c.encode()).expect("valid")),
                None => break,
            }
        }
        assert_eq!(seen.len(), 1000);
        // web0000 is i = 2999.
        assert_eq!(seen[0], "0b:b7");
    }

    #[test]
    fn updates_move_postings_and_names() {
        let mut ix = SearchIndex::new();
        ix.upsert(&rec("aa:01", "a1", &["db"], Some("n1")));
        ix.upsert(&rec("aa:02", "b1", &["web"], Some("n1")));
        ix.upsert(&rec("ZZ", "c1", &["db", "web"], None));
        let fps = |ix: &SearchIndex, q: &str| {
            ix.search(&parse(q).expect("valid"), None, 100).fingerprints
        };
        assert_eq!(fps(&ix, "tag:db"), vec!["aa:01", "ZZ"]);
        assert_eq!(fps(&ix, "tag:db and not node:n1"), vec!["ZZ"]);
        ix.upsert(&rec("aa:01", "z1", &["web"], Some("n2")));
        assert_eq!(fps(&ix, "tag:db"), vec!["ZZ"]);
        assert_eq!(fps(&ix, "node:n2"), vec!["aa:01"]);
        assert_eq!(fps(&ix, ""), vec!["aa:02", "ZZ", "aa:01"]);
        ix.remove("aa:02");
        assert_eq!(fps(&ix, "tag:web"), vec!["ZZ", "aa:01"]);
        assert_eq!(fps(&ix, "fp:aa"), vec!["aa:01"]);
        assert_eq!(ix.len(), 2);
        ix.settle();
        assert_eq!(fps(&ix, "*1"), vec!["ZZ", "aa:01"]);
    }
}

//! [`crate::rawmerge`] made incremental: one node's `methodResponse` holding a list of
//! systems, fed in pieces as it arrives (the pieces split anywhere), rewritten into the items
//! of the merged list with every `id` member translated to its gateway id. The caller
//! ([`crate::fanout::stream`]) writes the merged document's head, then each node's items in
//! slot order, then the tail, so nothing of the nodes' answers is held longer than one piece.
//! Pure: no I/O, no clock.
//!
//! What is held back, and why:
//! * until the head (`…<params><param><value><array><data>`) is complete: whether the node
//!   answered a list or a fault is only known there (a fault document is kept whole, it is
//!   small, and [`NodeRewriter::finish`] decodes it);
//! * after an `<name>id</name>` member until its number is complete;
//! * the last [`HOLD`] bytes: the final `</data>` that ends the list is only known at the end
//!   of the answer (an item may hold arrays of its own).

use bytes::{Buf as _, BufMut, BytesMut};
use memchr::memmem;
use uyuni_api::Fault;

use crate::ids::{IdKind, to_gateway};

const ID_MEMBER: &[u8] = b"<name>id</name>";
/// Bytes kept back at the end of what arrived: more than a split `<name>id</name>` or the
/// document's tail (`</data></array></value></param></params></methodResponse>`) with room
/// for whitespace.
pub const HOLD: usize = 4096;
/// The most a head (everything before the first item) or a fault document may take.
pub const MAX_HEAD: usize = 64 << 10;

/// The head of the merged document (a node's items follow it).
pub const MERGED_HEAD: &str =
    "<?xml version=\"1.0\"?><methodResponse><params><param><value><array><data>";
/// The tail of the merged document.
pub const MERGED_TAIL: &str = "</data></array></value></param></params></methodResponse>";

/// Why a node's answer cannot be streamed on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The answer is neither a list nor a fault (another method's shape, or not XML-RPC).
    #[error("the node's answer is not a list: {0}")]
    NotAList(&'static str),
    /// An `id` member whose value is not an integer.
    #[error("the node's answer has an id that is not an integer")]
    BadId,
    /// A system id outside the range the gateway can translate.
    #[error("system id {0} of the node cannot be shown as a gateway id")]
    Untranslatable(i64),
    /// The answer ended before its list did.
    #[error("the node's answer ends before its list does")]
    Truncated,
    /// Bytes that are not UTF-8.
    #[error("the node's answer is not UTF-8")]
    NotUtf8,
    /// A fault document that does not decode.
    #[error("the node's fault does not decode: {0}")]
    BadFault(String),
}

/// What the head of a node's answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Head {
    /// Not complete yet.
    Pending,
    /// A list: items follow.
    Items,
    /// A fault document (decoded by [`NodeRewriter::finish`]).
    Fault,
}

/// One node's answer rewritten piece by piece. See the module documentation.
#[derive(Debug)]
pub struct NodeRewriter {
    slot: u32,
    head: Head,
    /// Arrived and not yet written out.
    /// (A `BytesMut`: what was written out is dropped from its front without moving the
    /// rest; the room is reclaimed when more arrives, once per buffer's worth.)
    pending: BytesMut,
    /// `pending[..validated]` is known to be UTF-8.
    validated: usize,
    finder: memmem::Finder<'static>,
}

enum Number {
    /// The number spans `pending[start..end]`.
    Done {
        start: usize,
        end: usize,
        local: i64,
    },
    /// More bytes are needed.
    Incomplete,
}

impl NodeRewriter {
    /// A rewriter for the answer of the node in `slot`.
    pub fn new(slot: u32) -> Self {
        Self {
            slot,
            head: Head::Pending,
            pending: BytesMut::with_capacity(128 << 10),
            validated: 0,
            finder: memmem::Finder::new(ID_MEMBER),
        }
    }

    /// What the head said so far.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Take `input` (the next piece of the answer) and append the items it completes,
    /// translated, to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut impl BufMut) -> Result<(), StreamError> {
        self.pending.extend_from_slice(input);
        self.validate()?;
        match self.head {
            Head::Pending => {
                self.read_head()?;
                if self.head == Head::Items {
                    self.rewrite(out, false)?;
                }
                Ok(())
            }
            Head::Items => self.rewrite(out, false),
            Head::Fault if self.pending.len() > MAX_HEAD => {
                Err(StreamError::BadFault("longer than 64 KiB".into()))
            }
            Head::Fault => Ok(()),
        }
    }

    /// The answer has ended: append the last items to `out`. `Ok(Some(fault))` when the
    /// answer was a fault.
    pub fn finish(&mut self, out: &mut impl BufMut) -> Result<Option<Fault>, StreamError> {
        if self.validated != self.pending.len() {
            return Err(StreamError::NotUtf8);
        }
        match self.head {
            Head::Pending => Err(StreamError::Truncated),
            Head::Fault => {
                let text = String::from_utf8(std::mem::take(&mut self.pending).to_vec())
                    .map_err(|_| StreamError::NotUtf8)?;
                match uyuni_api::codec::parse_response(&text) {
                    Ok(Err(f)) => Ok(Some(f)),
                    Ok(Ok(_)) => Err(StreamError::BadFault("not a fault".into())),
                    Err(e) => Err(StreamError::BadFault(e.to_string())),
                }
            }
            Head::Items => {
                let end = memmem::rfind(&self.pending, b"</data>").ok_or(StreamError::Truncated)?;
                if !is_tail(&self.pending[end + b"</data>".len()..]) {
                    return Err(StreamError::Truncated);
                }
                self.pending.truncate(end);
                self.validated = end;
                self.rewrite(out, true)?;
                Ok(None)
            }
        }
    }

    fn validate(&mut self) -> Result<(), StreamError> {
        match std::str::from_utf8(&self.pending[self.validated..]) {
            Ok(_) => self.validated = self.pending.len(),
            // A character split at the end of the piece: its rest comes with the next.
            Err(e) if e.error_len().is_none() => self.validated += e.valid_up_to(),
            Err(_) => return Err(StreamError::NotUtf8),
        }
        Ok(())
    }

    /// Decide the head once it is complete; the items' start is left at `pending[0]`.
    fn read_head(&mut self) -> Result<(), StreamError> {
        let buf = &self.pending[..self.validated];
        let params = memmem::find(buf, b"<params>");
        let fault = memmem::find(buf, b"<fault>");
        match (params, fault) {
            (Some(p), f) if f.is_none_or(|f| p < f) => {
                let mut rest = &buf[p + b"<params>".len()..];
                for tag in [&b"<param>"[..], b"<value>", b"<array>"] {
                    rest = trim_start(rest);
                    if rest.len() < tag.len() {
                        return self.head_incomplete();
                    }
                    rest = rest
                        .strip_prefix(tag)
                        .ok_or(StreamError::NotAList("no array in the answer"))?;
                }
                rest = trim_start(rest);
                if rest.len() < b"<data/>".len() {
                    return self.head_incomplete();
                }
                let items_at = if rest.starts_with(b"<data/>") {
                    // An empty list: what follows is the tail; keep a `</data>` to end it.
                    let at = buf.len() - rest.len() + b"<data/>".len();
                    let mut rest = BytesMut::with_capacity(self.pending.len() - at + 16);
                    rest.put_slice(b"</data>");
                    rest.put_slice(&self.pending[at..]);
                    self.pending = rest;
                    self.validated = self.validated + b"</data>".len() - at;
                    self.head = Head::Items;
                    return Ok(());
                } else if let Some(r) = rest.strip_prefix(b"<data>") {
                    buf.len() - r.len()
                } else {
                    return Err(StreamError::NotAList("no array in the answer"));
                };
                self.pending.advance(items_at);
                self.validated -= items_at;
                self.head = Head::Items;
                Ok(())
            }
            (_, Some(_)) => {
                self.head = Head::Fault;
                Ok(())
            }
            _ => self.head_incomplete(),
        }
    }

    fn head_incomplete(&self) -> Result<(), StreamError> {
        if self.pending.len() > MAX_HEAD {
            Err(StreamError::NotAList("no list within the first 64 KiB"))
        } else {
            Ok(())
        }
    }

    /// Write out every complete item with its ids translated, keeping back what may still
    /// change meaning ([`HOLD`]); at the end (`last`) keep back only the tail.
    fn rewrite(&mut self, out: &mut impl BufMut, last: bool) -> Result<(), StreamError> {
        let len = self.validated;
        let mut pos = 0;
        loop {
            let Some(i) = self.finder.find(&self.pending[pos..len]).map(|i| i + pos) else {
                let keep_from = if last {
                    len
                } else {
                    pos.max(len.saturating_sub(HOLD))
                };
                out.put_slice(&self.pending[pos..keep_from]);
                pos = keep_from;
                break;
            };
            match number_after(&self.pending[..len], i + ID_MEMBER.len())? {
                Number::Incomplete if last => return Err(StreamError::Truncated),
                Number::Incomplete => {
                    if len - i > HOLD {
                        return Err(StreamError::BadId);
                    }
                    out.put_slice(&self.pending[pos..i]);
                    pos = i;
                    break;
                }
                Number::Done { start, end, local } => {
                    let gid = to_gateway(IdKind::System, self.slot, local)
                        .ok_or(StreamError::Untranslatable(local))?;
                    out.put_slice(&self.pending[pos..start]);
                    out.put_slice(itoa::Buffer::new().format(gid).as_bytes());
                    pos = end;
                }
            }
        }
        self.pending.advance(pos);
        self.validated -= pos;
        Ok(())
    }
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

/// `prefix` of `b` at `at` (after whitespace): the position after it, `None` when `b` ends
/// first.
fn expect(b: &[u8], at: usize, prefix: &[u8]) -> Result<Option<usize>, StreamError> {
    let rest = trim_start(&b[at..]);
    let at = b.len() - rest.len();
    if rest.len() < prefix.len() {
        return if prefix.starts_with(rest) {
            Ok(None)
        } else {
            Err(StreamError::BadId)
        };
    }
    if rest.starts_with(prefix) {
        Ok(Some(at + prefix.len()))
    } else {
        Err(StreamError::BadId)
    }
}

/// The integer of the `<value><i4>…</i4>` at `at`.
fn number_after(b: &[u8], at: usize) -> Result<Number, StreamError> {
    let Some(at) = expect(b, at, b"<value>")? else {
        return Ok(Number::Incomplete);
    };
    let rest = trim_start(&b[at..]);
    let at = b.len() - rest.len();
    let mut open = None;
    for tag in [&b"<i4>"[..], b"<int>", b"<i8>"] {
        if rest.len() < tag.len() && tag.starts_with(rest) {
            return Ok(Number::Incomplete);
        }
        if rest.starts_with(tag) {
            open = Some(at + tag.len());
            break;
        }
    }
    let start = open.ok_or(StreamError::BadId)?;
    let Some(len) = memchr::memchr(b'<', &b[start..]) else {
        return Ok(Number::Incomplete);
    };
    let end = start + len;
    let text = std::str::from_utf8(&b[start..end]).map_err(|_| StreamError::BadId)?;
    let local: i64 = text.trim().parse().map_err(|_| StreamError::BadId)?;
    Ok(Number::Done { start, end, local })
}

/// Whether `b` is the rest of a list's document after its final `</data>`.
fn is_tail(mut b: &[u8]) -> bool {
    for tag in [
        &b"</array>"[..],
        b"</value>",
        b"</param>",
        b"</params>",
        b"</methodResponse>",
    ] {
        match trim_start(b).strip_prefix(tag) {
            Some(r) => b = r,
            None => return false,
        }
    }
    trim_start(b).is_empty()
}

/// One node's whole answer through a [`NodeRewriter`] in pieces of `sizes` (cycled), for
/// tests: the items, or the fault.
#[cfg(test)]
pub fn rewrite_in_pieces(
    slot: u32,
    doc: &[u8],
    sizes: &mut dyn FnMut() -> usize,
) -> Result<Result<Vec<u8>, Fault>, StreamError> {
    let mut rw = NodeRewriter::new(slot);
    let mut out = Vec::new();
    let mut at = 0;
    while at < doc.len() {
        let n = sizes().max(1).min(doc.len() - at);
        rw.feed(&doc[at..at + n], &mut out)?;
        at += n;
    }
    Ok(match rw.finish(&mut out)? {
        Some(f) => Err(f),
        None => Ok(out),
    })
}

#[cfg(test)]
#[path = "rawstream_tests.rs"]
mod tests;

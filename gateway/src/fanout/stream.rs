//! Streamed merged lists of systems (docs/GATEWAY.md, "Streamed merges"). Every node is
//! called at once; each node's answer is read until its head says "a list" or "a fault"
//! ([`crate::rawstream`]); then the policy ([`decide`]) says whether the call fails (a
//! well-formed fault, nothing else sent yet) or is answered. The answer is the merged head,
//! the answering nodes' items (ids translated on the way), and the tail. Each node is read
//! and translated by a task of its own into a small bounded channel of pieces; the answer
//! takes them node after node in slot order ([`Order::Slot`], the default: id order when
//! the nodes list by id; the pieces are the rewritten bytes, split off without a copy) or
//! as they come from any node ([`Order::Arrival`]: every node read at once; each piece then
//! holds whole items only, [`ItemBounds`]; for the JSON API they always do,
//! [`ItemSplitter`]). A node that is not read from is held back by its channel (and, behind
//! it, by its TCP connection): the gateway holds about [`CHANNEL_CHUNKS`] × [`CHUNK`] per
//! node, never the nodes' whole answers.
//!
//! A node that fails after the answer has begun (its connection breaks, its XML turns out
//! malformed, an id cannot be translated) cannot be reported in the answer any more: the
//! HTTP status and headers are sent. The body then ends with an error, so the HTTP
//! connection is aborted (no final chunk) and the client sees a broken transfer, never a
//! shorter list that looks whole; the gateway logs it and counts it
//! (`gateway_streams_cut`).

use std::pin::Pin;

use axum::body::Bytes;
use bytes::BytesMut;
use futures::channel::mpsc;
use futures::stream::{self, BoxStream, Stream, StreamExt as _};
use futures::{SinkExt as _, future::join_all};
use uyuni_api::{Fault, Value};

use super::{Cluster, Fanout, unavailable};
use crate::jsonstream::{ItemBounds, ItemSplitter};
use crate::metastore::NodeView;
use crate::pool::{Answer, Credentials};
use crate::rawstream::{Head, NodeRewriter, StreamError};

/// A node's answer as it arrives.
pub type RawChunks = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;

/// The merged list's items as they are sent, or (after they have begun) the failure that
/// cuts the answer off.
pub type Body = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// How the items are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// XML-RPC `<value>` elements, one after another (between the merged document's head
    /// and tail: [`crate::rawstream::MERGED_HEAD`], [`crate::rawstream::MERGED_TAIL`]).
    Xml,
    /// JSON values, each preceded by a comma (the caller drops the first).
    Json,
}

/// In which order the nodes' parts of a merged list are sent (`[gateway] merged_order`,
/// docs/GATEWAY.md#streamed-merges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Node after node in slot order (the merged list is in id order when every node lists
    /// by id), each node waiting for its turn; the bytes go on as they are rewritten.
    #[default]
    Slot,
    /// Pieces of whole items from whichever node has one ready; each node's items stay in
    /// its own order. Every node is read at once, at the cost of finding where each item
    /// ends.
    Arrival,
}

/// Items are sent on in pieces of at least this many bytes (the last piece may be smaller).
pub const CHUNK: usize = 256 << 10;
/// Pieces a node's channel holds while it waits for its turn.
pub const CHANNEL_CHUNKS: usize = 4;

/// A merged list being streamed.
pub struct Streamed {
    /// Nodes whose part the answer lacks (the policy let it through).
    pub missing: Vec<String>,
    /// The items, each node's in its own order (nodes as [`Order`] says).
    pub body: Body,
}

impl std::fmt::Debug for Streamed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streamed")
            .field("missing", &self.missing)
            .finish_non_exhaustive()
    }
}

/// How a started node's rewritten items are cut into whole items.
enum Cut {
    /// XML-RPC, node after node ([`Order::Slot`]): the rewritten bytes go on as they are,
    /// cut anywhere (the next node's part follows only after this one's end).
    Raw,
    /// XML-RPC, pieces of different nodes interleaved ([`Order::Arrival`]): where the whole
    /// items end in the rewritten bytes, which go on as they are.
    Xml(ItemBounds),
    /// The JSON API: each item converted into `out`.
    Json {
        split: ItemSplitter,
        /// Whole items, as JSON, ready to send.
        out: Vec<u8>,
    },
}

/// A node whose head said "a list": what has been read of it so far.
struct Started {
    slot: u32,
    name: String,
    rw: NodeRewriter,
    chunks: RawChunks,
    /// Rewritten items not yet sent (XML-RPC) or converted (JSON).
    xml: BytesMut,
    cut: Cut,
}

impl Started {
    fn new(
        slot: u32,
        name: String,
        rw: NodeRewriter,
        chunks: RawChunks,
        xml: BytesMut,
        format: Format,
    ) -> Self {
        let cut = match format {
            Format::Xml => Cut::Xml(ItemBounds::default()),
            Format::Json => Cut::Json {
                split: ItemSplitter::default(),
                out: Vec::new(),
            },
        };
        Self {
            slot,
            name,
            rw,
            chunks,
            xml,
            cut,
        }
    }

    /// The whole items rewritten so far as a piece to send, once they make at least
    /// [`CHUNK`] (`last`: whatever there is). XML-RPC's piece is the rewritten bytes
    /// themselves, split off without a copy.
    fn piece(&mut self, last: bool) -> Result<Option<Bytes>, StreamError> {
        let min = if last { 1 } else { CHUNK };
        match &mut self.cut {
            Cut::Raw => {
                if self.xml.len() < min {
                    return Ok(None);
                }
                Ok(Some(self.xml.split().freeze()))
            }
            Cut::Xml(bounds) => {
                let whole = bounds.scan(&self.xml, |_| Ok(()))?;
                if last {
                    bounds.finish(&self.xml[whole..])?;
                }
                if whole < min {
                    return Ok(None);
                }
                bounds.taken(whole);
                Ok(Some(self.xml.split_to(whole).freeze()))
            }
            Cut::Json { split, out } => {
                split.feed(&self.xml, out)?;
                self.xml.clear();
                if last {
                    split.finish()?;
                }
                if out.len() < min {
                    return Ok(None);
                }
                Ok(Some(Bytes::from(std::mem::replace(
                    out,
                    Vec::with_capacity(CHUNK + CHUNK / 4),
                ))))
            }
        }
    }
}

/// How each node's head came back: its items follow (`Value`), its fault, or no answer.
pub type Heads = Vec<(NodeView, Answer<()>)>;

/// The partial-answer policy (docs/GATEWAY.md#partial-answers) over the nodes' heads, decided
/// before the first byte is sent: `Ok(missing)` to answer (the nodes the answer will lack), or
/// the fault to answer with. Every node faulted → the first fault as the node gave it; nothing
/// answered → "unavailable"; a node that faulted while others answered is left out and
/// reported missing (logged), as in the buffered merge. `strict` (the `fail` policy): a node's
/// fault fails the call with that fault, naming the node; a node missing → "unavailable".
///
/// A fault in `absent` ([`crate::table::absent_faults`]) says the node holds no part: it is
/// not missing; when no node answered a list and none failed otherwise, the first such fault
/// is the answer (as one server lacking the object).
pub fn decide(
    heads: &Heads,
    mut missing: Vec<String>,
    strict: bool,
    absent: &[i32],
) -> Result<Vec<String>, Fault> {
    let mut first_fault: Option<(String, Fault)> = None;
    let mut first_absent: Option<Fault> = None;
    let mut answered = 0;
    for (n, a) in heads {
        match a {
            Answer::Value(()) => answered += 1,
            Answer::Fault(f) if absent.contains(&f.code) => {
                tracing::debug!(node = %n.name, fault = %f.message(), "node holds no part of a merged answer");
                first_absent.get_or_insert_with(|| f.clone());
            }
            Answer::Fault(f) => {
                tracing::warn!(node = %n.name, fault = %f.message(), "node faulted; left out of a merged answer");
                missing.push(n.name.clone());
                first_fault.get_or_insert_with(|| (n.name.clone(), f.clone()));
            }
            Answer::Unavailable(_) => missing.push(n.name.clone()),
        }
    }
    missing.sort();
    if answered == 0 && !heads.is_empty() {
        return Err(match (first_fault, first_absent) {
            (Some((_, f)), _) => f,
            (None, _) if !missing.is_empty() => unavailable(&missing.join(", ")),
            (None, Some(f)) => f,
            (None, None) => unavailable(&missing.join(", ")),
        });
    }
    if answered == 0 && !missing.is_empty() {
        return Err(unavailable(&missing.join(", ")));
    }
    if strict {
        if let Some((node, f)) = &first_fault {
            return Err(super::named(node, f));
        }
        if !missing.is_empty() {
            return Err(unavailable(&missing.join(", ")));
        }
    }
    Ok(missing)
}

impl<C: Cluster> Fanout<'_, C> {
    /// `method(args)` on every node with a slot, answered as one merged list of systems
    /// streamed as it arrives, or the fault the policy ([`decide`]) answers with. Returns
    /// once every node's head is in.
    pub async fn merged_stream(
        &self,
        cred: &Credentials,
        method: &str,
        args: Vec<Value>,
        strict: bool,
        format: Format,
    ) -> Result<Streamed, Fault> {
        let (nodes, missing) = self.slotted();
        let starts = nodes.iter().map(|n| {
            let opened = self.cluster.open_raw(n, cred, method, args.clone());
            async move { start(n, opened.await, format).await }
        });
        let results = join_all(starts).await;
        let mut heads = Vec::new();
        let mut started = Vec::new();
        for (n, result) in nodes.iter().zip(results) {
            // An id that cannot be translated fails the call (the other nodes' tasks are
            // dropped with their answers).
            let (head, s) = result?;
            if let Answer::Unavailable(why) = &head {
                tracing::warn!(node = %n.name, method, why, "node left out of a merged answer");
            }
            heads.push((n.clone(), head));
            started.extend(s);
        }
        let missing = decide(&heads, missing, strict, crate::table::absent_faults(method))?;
        started.sort_by_key(|s| s.slot);
        if self.order == Order::Slot {
            for s in &mut started {
                if matches!(s.cut, Cut::Xml(_)) {
                    s.cut = Cut::Raw;
                }
            }
        }
        let method = method.to_string();
        let parts: Vec<_> = started
            .into_iter()
            .map(|s| {
                let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
                tokio::spawn(pump(s, method.clone(), tx));
                rx
            })
            .collect();
        let body = match self.order {
            Order::Arrival => stream::select_all(parts).boxed(),
            Order::Slot => stream::iter(parts).flatten().boxed(),
        };
        Ok(Streamed { missing, body })
    }
}

/// Read `opened` until its head is known: a list (items follow), a fault, or no answer;
/// `Err`: the call's fault (an id the gateway cannot translate).
async fn start(
    node: &NodeView,
    opened: Answer<RawChunks>,
    format: Format,
) -> Result<(Answer<()>, Option<Started>), Fault> {
    let mut chunks = match opened {
        Answer::Value(c) => c,
        Answer::Fault(f) => return Ok((Answer::Fault(f), None)),
        Answer::Unavailable(why) => return Ok((Answer::Unavailable(why), None)),
    };
    let slot = node.slot.unwrap_or(0);
    let mut rw = NodeRewriter::new(slot);
    let mut out = BytesMut::new();
    loop {
        match chunks.next().await {
            Some(Ok(piece)) => {
                if let Err(e) = rw.feed(&piece, &mut out) {
                    return head_failure(slot, e);
                }
                if rw.head() == &Head::Items {
                    let s = Started::new(slot, node.name.clone(), rw, chunks, out, format);
                    return Ok((Answer::Value(()), Some(s)));
                }
            }
            Some(Err(why)) => return Ok((Answer::Unavailable(why), None)),
            None => {
                return match rw.finish(&mut out) {
                    Ok(Some(f)) => Ok((Answer::Fault(f), None)),
                    // A list whose head came with its end (cannot be: the head is decided
                    // as soon as it is complete), or a document cut short.
                    Ok(None) => Ok((Answer::Unavailable("answer ended early".into()), None)),
                    Err(e) => head_failure(slot, e),
                };
            }
        }
    }
}

/// A node's answer that failed before the merged answer began: an id the gateway cannot
/// translate is the call's fault (`Err`, as in the decoding path: never shown unchanged,
/// never silently left out); anything else leaves the node out as not answering.
fn head_failure(slot: u32, e: StreamError) -> Result<(Answer<()>, Option<Started>), Fault> {
    match e {
        StreamError::Untranslatable(local) => Err(crate::ids::Untranslatable {
            kind: crate::ids::IdKind::System,
            slot,
            local,
        }
        .fault()),
        e => Ok((Answer::Unavailable(format!("malformed answer: {e}")), None)),
    }
}

type Items = mpsc::Sender<Result<Bytes, std::io::Error>>;

/// Read the rest of a started node's answer into `tx`, piece by piece; a failure ends the
/// channel with an error (which cuts the answer off). Stops when the answer is dropped.
async fn pump(mut s: Started, method: String, mut tx: Items) {
    let failure = loop {
        match s.piece(false) {
            Ok(Some(piece)) => {
                if tx.send(Ok(piece)).await.is_err() {
                    return; // The caller went away.
                }
            }
            Ok(None) => {}
            Err(e) => break format!("malformed answer: {e}"),
        }
        match s.chunks.next().await {
            Some(Ok(piece)) => {
                // Room for what the piece becomes at once: the buffer was split off (or
                // cleared) when it was last sent, so only what is left of it moves; growing by
                // doubling instead copied each piece about twice over.
                s.xml
                    .reserve(piece.len() + piece.len() / 4 + crate::rawstream::HOLD);
                if let Err(e) = s.rw.feed(&piece, &mut s.xml) {
                    break format!("malformed answer: {e}");
                }
            }
            Some(Err(why)) => break why,
            None => {
                let ended = match s.rw.finish(&mut s.xml) {
                    Ok(None) => s.piece(true),
                    Ok(Some(_)) => Err(StreamError::NotAList("a fault after a list's head")),
                    Err(e) => Err(e),
                };
                match ended {
                    Ok(piece) => {
                        if let Some(piece) = piece {
                            let _ = tx.send(Ok(piece)).await;
                        }
                        return;
                    }
                    Err(e) => break format!("malformed answer: {e}"),
                }
            }
        }
    };
    tracing::warn!(node = %s.name, method, why = %failure,
        "node failed while its part of a merged answer was being sent; the answer is cut off");
    crate::metrics::metrics().stream_cut();
    let _ = tx
        .send(Err(std::io::Error::other(format!(
            "node {} failed mid-answer: {failure}",
            s.name
        ))))
        .await;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A node's answer of many pieces, counting how many were taken from it.
    fn counted(pieces: usize, taken: Arc<AtomicUsize>) -> RawChunks {
        let item = "<value><struct><member><name>id</name><value><i4>1000010000</i4></value>\
                    </member></struct></value>"
            .repeat(1000);
        let tail = b"</data></array></value></param></params></methodResponse>";
        Box::pin(
            stream::iter(0..pieces)
                .map(move |_| {
                    taken.fetch_add(1, Ordering::SeqCst);
                    Ok(Bytes::from(item.clone()))
                })
                .chain(stream::once(async move { Ok(Bytes::from_static(tail)) })),
        )
    }

    #[tokio::test]
    async fn a_node_whose_turn_has_not_come_is_held_back() {
        let taken = Arc::new(AtomicUsize::new(0));
        let mut rw = NodeRewriter::new(0);
        let mut xml = BytesMut::new();
        let head = b"<?xml version=\"1.0\"?><methodResponse><params><param><value><array><data>";
        rw.feed(head, &mut xml).expect("head");
        let piece_len = counted(1, Arc::new(AtomicUsize::new(0)))
            .next()
            .await
            .map_or(0, |p| p.map_or(0, |b| b.len()));
        let s = Started::new(
            0,
            "a".into(),
            rw,
            counted(10_000, taken.clone()),
            xml,
            Format::Xml,
        );
        let (tx, mut rx) = mpsc::channel(CHANNEL_CHUNKS);
        let task = tokio::spawn(pump(s, "system.listSystems".into(), tx));
        // Nobody reads: the node is read until the channel is full, and no further.
        let mut last = usize::MAX;
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let now = taken.load(Ordering::SeqCst);
            if now == last {
                break;
            }
            last = now;
        }
        let held = last * piece_len;
        let bound = (CHANNEL_CHUNKS + 2) * (CHUNK + piece_len) + crate::rawstream::HOLD;
        assert!(held <= bound, "{held} bytes read ahead, bound {bound}");
        assert!(last < 10_000);
        // Reading on drains it all.
        let mut got = 0;
        while let Some(p) = rx.next().await {
            got += p.expect("piece").len();
        }
        task.await.expect("pump");
        assert_eq!(taken.load(Ordering::SeqCst), 10_000);
        assert!(got > 10_000 * piece_len / 2, "{got}");
    }
}

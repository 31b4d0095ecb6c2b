//! Streamed merged lists cut into whole items: the translated XML-RPC items that
//! [`crate::rawstream`] writes, cut into whole items (`<value>…</value>` at the list's top
//! level) as they arrive ([`ItemBounds`]). For the JSON API each is decoded alone and written
//! as JSON, every item preceded by a comma (the caller drops the first one:
//! [`ItemSplitter`]); for XML-RPC the whole items are passed on as they are, so that pieces of
//! different nodes' parts can be sent in the order they arrive ([`crate::fanout::stream`]).
//! One item is held at a time. Pure.

use std::sync::LazyLock;

use memchr::memmem;

use crate::rawstream::StreamError;

/// The longest single item accepted (a system's overview is a few hundred bytes).
pub const MAX_ITEM: usize = 4 << 20;

/// The word every tag the cut looks at holds (`<value>`, `</value>`, `<value/>`): searched for
/// instead of every `<`, so the scan stops only at those (a member's `<name>`, `<i4>`, ...
/// are passed over at memmem's speed).
static VALUE: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new("value"));

/// Where the whole items end in a run of XML-RPC array items that the caller holds and
/// appends to: the depth of `<value>` elements, carried from one call to the next. No buffer
/// of its own, so the XML-RPC stream hands on the caller's bytes without a copy.
#[derive(Debug, Default)]
pub struct ItemBounds {
    /// `buf[..scanned]` has been read.
    scanned: usize,
    /// Depth of `<value>` elements at `scanned`.
    depth: usize,
    /// Where the item being read starts.
    start: usize,
}

fn whitespace(b: &[u8]) -> bool {
    b.iter().all(u8::is_ascii_whitespace)
}

impl ItemBounds {
    /// Read `buf` on from where the last call stopped (`buf`: what the last call saw, less
    /// what was [`ItemBounds::taken`], with more appended); `item` gets each item completed.
    /// Returns how long `buf`'s prefix of whole items (and the white space between them) is.
    pub fn scan(
        &mut self,
        buf: &[u8],
        mut item: impl FnMut(&[u8]) -> Result<(), StreamError>,
    ) -> Result<usize, StreamError> {
        const BETWEEN: StreamError = StreamError::NotAList("text between the list's items");
        loop {
            let Some(i) = VALUE.find(&buf[self.scanned..]).map(|i| i + self.scanned) else {
                if self.depth == 0 {
                    // Only white space, then perhaps the start of the next item's tag.
                    let rest = &buf[self.scanned..];
                    let text = rest.len() - rest.trim_ascii_start().len();
                    let tail = &rest[text..];
                    if !b"<value".starts_with(tail) {
                        return Err(BETWEEN);
                    }
                    self.scanned += text;
                } else {
                    // A word split at the end ("valu") is found whole next time.
                    self.scanned = self.scanned.max(buf.len().saturating_sub(4));
                }
                break;
            };
            let (after, after2) = (buf.get(i + 5).copied(), buf.get(i + 6).copied());
            let opens = i >= 1 && buf[i - 1] == b'<';
            let closes = i >= 2 && buf[i - 1] == b'/' && buf[i - 2] == b'<';
            let tag_at = if closes { i - 2 } else { i.saturating_sub(1) };
            if self.depth == 0
                && (!(opens || closes) || !buf.get(self.scanned..tag_at).is_some_and(whitespace))
            {
                return Err(BETWEEN);
            }
            match (opens, closes, after, after2) {
                // Not complete yet: read again from its `<`.
                (true, _, None, _) | (true, _, Some(b'/'), None) | (_, true, None, _) => {
                    self.scanned = self.scanned.max(tag_at);
                    break;
                }
                (true, _, Some(b'>'), _) => {
                    if self.depth == 0 {
                        self.start = tag_at;
                    }
                    self.depth += 1;
                    self.scanned = i + 6;
                }
                (true, _, Some(b'/'), Some(b'>')) => {
                    self.scanned = i + 7;
                    if self.depth == 0 {
                        item(&buf[tag_at..self.scanned])?;
                    }
                }
                (_, true, Some(b'>'), _) => {
                    self.depth = self
                        .depth
                        .checked_sub(1)
                        .ok_or(StreamError::NotAList("a </value> without its <value>"))?;
                    self.scanned = i + 6;
                    if self.depth == 0 {
                        item(&buf[self.start..self.scanned])?;
                    }
                }
                // "value" in a text or another tag's name.
                _ if self.depth == 0 => {
                    return Err(StreamError::NotAList("an item that is not a <value>"));
                }
                _ => self.scanned = i + 5,
            }
        }
        Ok(if self.depth > 0 {
            self.start
        } else {
            self.scanned
        })
    }

    /// The first `n` bytes of the buffer (at most what [`ItemBounds::scan`] returned) were
    /// taken away.
    pub fn taken(&mut self, n: usize) {
        self.scanned -= n;
        self.start = self.start.saturating_sub(n);
    }

    /// The items have ended with `rest` (what is left in the buffer): nothing may be left
    /// half read.
    pub fn finish(&self, rest: &[u8]) -> Result<(), StreamError> {
        if self.depth == 0 && whitespace(rest) {
            Ok(())
        } else {
            Err(StreamError::Truncated)
        }
    }
}

/// Cuts a run of XML-RPC array items into whole items and writes each as `,` and its JSON.
/// See the module documentation.
#[derive(Debug, Default)]
pub struct ItemSplitter {
    buf: Vec<u8>,
    bounds: ItemBounds,
}

impl ItemSplitter {
    /// Take the next piece of items; append each item completed, as `,` and its JSON, to
    /// `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), StreamError> {
        self.buf.extend_from_slice(input);
        let whole = self.bounds.scan(&self.buf, |item| item_json(item, out))?;
        // Keep only the item being read (or the unread rest).
        self.buf.drain(..whole);
        self.bounds.taken(whole);
        if self.buf.len() > MAX_ITEM {
            return Err(StreamError::NotAList("an item longer than 4 MiB"));
        }
        Ok(())
    }

    /// The items have ended: nothing may be left half read.
    pub fn finish(&self) -> Result<(), StreamError> {
        self.bounds.finish(&self.buf)
    }
}

/// `,` and the JSON of one item (`<value>…</value>`).
fn item_json(item: &[u8], out: &mut Vec<u8>) -> Result<(), StreamError> {
    let item = std::str::from_utf8(item).map_err(|_| StreamError::NotUtf8)?;
    let doc = format!(
        "<?xml version=\"1.0\"?><methodResponse><params><param>{item}</param></params></methodResponse>"
    );
    let value = match uyuni_api::codec::parse_response(&doc) {
        Ok(Ok(v)) => v,
        Ok(Err(_)) => return Err(StreamError::NotAList("a fault inside a list")),
        Err(_) => return Err(StreamError::NotAList("an item that does not decode")),
    };
    out.push(b',');
    serde_json::to_writer(&mut *out, &uyuni_api::json::to_json(&value))
        .map_err(|_| StreamError::NotAList("an item not representable in JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rawstream::rewrite_in_pieces;
    use uyuni_api::Value;
    use uyuni_api::codec::render_response;
    use uyuni_api::json::to_json;
    use uyuni_api::value::{StructBuilder, int, string};

    fn node(ids: &[i64]) -> String {
        let items = ids
            .iter()
            .map(|id| {
                StructBuilder::new()
                    .field("id", int(*id))
                    .field("name", string(format!("s{id} <value> & ü")))
                    .field(
                        "tags",
                        Value::Array(vec![string("a"), Value::Array(vec![])]),
                    )
                    .build()
            })
            .chain([string(""), Value::Array(vec![])])
            .collect();
        render_response(&Value::Array(items)).expect("render")
    }

    fn json_of(items: &[u8], piece: usize) -> Result<serde_json::Value, StreamError> {
        let mut sp = ItemSplitter::default();
        let mut out = vec![b'['];
        for p in items.chunks(piece) {
            sp.feed(p, &mut out)?;
        }
        sp.finish()?;
        out.push(b']');
        if out.get(1) == Some(&b',') {
            out.remove(1);
        }
        Ok(serde_json::from_slice(&out).expect("json"))
    }

    #[test]
    fn items_in_any_pieces_are_the_decoded_list() {
        let doc = node(&[1_000_010_000, 1_000_010_003]);
        let items = rewrite_in_pieces(2, doc.as_bytes(), &mut || 3)
            .expect("streams")
            .expect("a list");
        let want = {
            let v = uyuni_api::codec::parse_response(&doc)
                .expect("xml")
                .expect("value");
            let v = crate::translate::ids_out(v, 2, &[("id", crate::ids::IdKind::System)])
                .expect("ids");
            to_json(&v)
        };
        for piece in [1, 2, 7, 64, 100_000] {
            assert_eq!(
                json_of(&items, piece).expect("json"),
                want,
                "pieces of {piece}"
            );
        }
        assert_eq!(want[1]["id"], 1_002_010_003);
        assert_eq!(json_of(b"", 1).expect("empty"), serde_json::json!([]));
    }

    #[test]
    fn malformed_items_are_typed_errors() {
        assert!(json_of(b"<value><i4>1</i4>", 3).is_err());
        assert!(json_of(b"junk<value><i4>1</i4></value>", 3).is_err());
        assert!(json_of(b"<value><i4>x</i4></value>", 3).is_err());
        assert!(json_of(b"</value>", 3).is_err());
        assert!(json_of(b"<struct></struct>", 3).is_err());
    }

    #[test]
    fn xml_items_are_cut_whole_in_any_pieces() {
        let doc = node(&[1_000_010_000, 1_000_010_003]);
        let items = rewrite_in_pieces(2, doc.as_bytes(), &mut || 3)
            .expect("streams")
            .expect("a list");
        for piece in [1, 2, 3, 5, 7, 64, 100_000] {
            let mut bounds = ItemBounds::default();
            let mut buf = Vec::new();
            let mut out = Vec::new();
            let mut seen = 0;
            for p in items.chunks(piece) {
                buf.extend_from_slice(p);
                let whole = bounds
                    .scan(&buf, |_| {
                        seen += 1;
                        Ok(())
                    })
                    .expect("items");
                // What is cut off is whole items only: it decodes as a list on its own.
                let part = String::from_utf8(buf[..whole].to_vec()).expect("utf-8");
                let doc = format!(
                    "{}{part}{}",
                    crate::rawstream::MERGED_HEAD,
                    crate::rawstream::MERGED_TAIL
                );
                assert!(
                    matches!(
                        uyuni_api::codec::parse_response(&doc),
                        Ok(Ok(Value::Array(_)))
                    ),
                    "pieces of {piece}: {part}"
                );
                out.extend(buf.drain(..whole));
                bounds.taken(whole);
            }
            bounds.finish(&buf).expect("ended");
            assert_eq!(out, items, "pieces of {piece}");
            assert_eq!(seen, 4, "pieces of {piece}");
        }
        let mut bounds = ItemBounds::default();
        let half = b"<value><i4>1</i4>";
        assert_eq!(bounds.scan(half, |_| Ok(())), Ok(0));
        assert!(bounds.finish(half).is_err());
        for bad in [
            &b"junk<value><i4>1</i4></value>"[..],
            b"<value><i4>1</i4></value>x",
            b"</value>",
            b"<values>",
            b"<struct><member><name>value</name></member></struct>",
        ] {
            let mut bounds = ItemBounds::default();
            assert!(bounds.scan(bad, |_| Ok(())).is_err(), "{bad:?}");
        }
        // "value" inside an item (a member's name, a text) is not a tag.
        let mut bounds = ItemBounds::default();
        let ok = b"<value><struct><member><name>value</name><value>a value/> </value></member></struct></value> ";
        assert_eq!(bounds.scan(ok, |_| Ok(())), Ok(ok.len()));
    }
}

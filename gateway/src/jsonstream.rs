//! Streamed merged lists cut into whole items: the translated XML-RPC items that
//! [`crate::rawstream`] writes, cut into whole items (`<value>…</value>` at the list's top
//! level) as they arrive. For the JSON API each is decoded alone and written as JSON, every
//! item preceded by a comma (the caller drops the first one); for XML-RPC the whole items are
//! passed on as they are, so that pieces of different nodes' parts can be sent in the order
//! they arrive ([`crate::fanout::stream`]). One item is held at a time. Pure.

use memchr::memchr;

use crate::rawstream::StreamError;

/// The longest single item accepted (a system's overview is a few hundred bytes).
pub const MAX_ITEM: usize = 4 << 20;

/// Cuts a run of XML-RPC array items into whole items. See the module documentation.
#[derive(Debug, Default)]
pub struct ItemSplitter {
    /// Write each item as JSON (else: pass the items on as they are).
    json: bool,
    buf: Vec<u8>,
    /// `buf[..scanned]` has been read.
    scanned: usize,
    /// Depth of `<value>` elements at `scanned`.
    depth: usize,
    /// Where the item being read starts.
    start: usize,
}

impl ItemSplitter {
    /// A splitter writing each item as `,` and its JSON.
    pub fn json() -> Self {
        Self {
            json: true,
            ..Self::default()
        }
    }

    /// A splitter passing the whole items on unchanged (XML-RPC `<value>` elements).
    pub fn xml() -> Self {
        Self::default()
    }

    /// Take the next piece of items; append each item completed to `out` (as `,` and its
    /// JSON, or unchanged).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), StreamError> {
        self.buf.extend_from_slice(input);
        loop {
            let Some(lt) = memchr(b'<', &self.buf[self.scanned..]).map(|i| i + self.scanned) else {
                if self.depth == 0 {
                    if !self.buf[self.scanned..].iter().all(u8::is_ascii_whitespace) {
                        return Err(StreamError::NotAList("text between the list's items"));
                    }
                    self.scanned = self.buf.len();
                }
                break;
            };
            let tag = &self.buf[lt + 1..];
            let (open, close, empty) = (b"value>", b"/value>", b"value/>");
            if tag.len() < close.len() {
                break; // The tag is not complete yet.
            }
            if self.depth == 0
                && !self.buf[self.scanned..lt]
                    .iter()
                    .all(u8::is_ascii_whitespace)
            {
                return Err(StreamError::NotAList("text between the list's items"));
            }
            if tag.starts_with(open) {
                if self.depth == 0 {
                    self.start = lt;
                }
                self.depth += 1;
                self.scanned = lt + 1 + open.len();
            } else if tag.starts_with(close) {
                self.depth = self
                    .depth
                    .checked_sub(1)
                    .ok_or(StreamError::NotAList("a </value> without its <value>"))?;
                self.scanned = lt + 1 + close.len();
                if self.depth == 0 && self.json {
                    item_json(&self.buf[self.start..self.scanned], out)?;
                }
            } else if tag.starts_with(empty) {
                self.scanned = lt + 1 + empty.len();
                if self.depth == 0 && self.json {
                    item_json(&self.buf[lt..self.scanned], out)?;
                }
            } else if self.depth == 0 {
                return Err(StreamError::NotAList("an item that is not a <value>"));
            } else {
                self.scanned = lt + 1;
            }
        }
        // Keep only the item being read (or the unread rest).
        let keep = if self.depth > 0 {
            self.start
        } else {
            self.scanned
        };
        if !self.json {
            // Whole items and the white space between them.
            out.extend_from_slice(&self.buf[..keep]);
        }
        self.buf.drain(..keep);
        self.scanned -= keep;
        self.start = self.start.saturating_sub(keep);
        if self.buf.len() > MAX_ITEM {
            return Err(StreamError::NotAList("an item longer than 4 MiB"));
        }
        Ok(())
    }

    /// The items have ended: nothing may be left half read.
    pub fn finish(&self) -> Result<(), StreamError> {
        if self.depth == 0 && self.buf.iter().all(u8::is_ascii_whitespace) {
            Ok(())
        } else {
            Err(StreamError::Truncated)
        }
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
        let mut sp = ItemSplitter::json();
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
    fn xml_items_are_passed_on_whole_and_unchanged_in_any_pieces() {
        let doc = node(&[1_000_010_000, 1_000_010_003]);
        let items = rewrite_in_pieces(2, doc.as_bytes(), &mut || 3)
            .expect("streams")
            .expect("a list");
        for piece in [1, 2, 7, 64, 100_000] {
            let mut sp = ItemSplitter::xml();
            let mut out = Vec::new();
            for p in items.chunks(piece) {
                let before = out.len();
                sp.feed(p, &mut out).expect("items");
                // What comes out is whole items only: it decodes as a list on its own.
                let part = String::from_utf8(out[before..].to_vec()).expect("utf-8");
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
            }
            sp.finish().expect("ended");
            assert_eq!(out, items, "pieces of {piece}");
        }
        let mut sp = ItemSplitter::xml();
        let mut out = Vec::new();
        sp.feed(b"<value><i4>1</i4>", &mut out)
            .expect("half an item");
        assert!(out.is_empty());
        assert!(sp.finish().is_err());
        assert!(
            ItemSplitter::xml()
                .feed(b"junk<value><i4>1</i4></value>", &mut out)
                .is_err()
        );
    }
}

//! The libp2p wire messages (`cluster_core::net::wire`): gossip payloads through
//! `Gossip::decode`, and sync requests and responses through the very request-response CBOR
//! codec the swarm uses (`libp2p::request_response::cbor`, with the peer's size limit). The
//! first byte picks which. Invariant: what decodes re-encodes and decodes to the same encoding.
#![no_main]

use cluster_core::net::wire::{Gossip, Request, Response, SYNC_PROTOCOL};
use futures::executor::block_on;
use futures::io::Cursor;
use libfuzzer_sys::fuzz_target;
use libp2p::StreamProtocol;
use libp2p::request_response::Codec as _;
use libp2p::request_response::cbor::codec::Codec;

const MAX_MSG: u64 = 16 * 1024 * 1024;

fn codec() -> Codec<Request, Response> {
    Codec::default()
        .set_request_size_maximum(MAX_MSG)
        .set_response_size_maximum(MAX_MSG)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let proto = StreamProtocol::new(SYNC_PROTOCOL);
    match mode % 3 {
        0 => {
            if let Ok(g) = Gossip::decode(rest) {
                let once = g.encode();
                let again = Gossip::decode(&once).expect("an encoded gossip decodes");
                assert_eq!(once, again.encode(), "gossip round trip");
            }
        }
        1 => {
            let mut c = codec();
            let read = block_on(c.read_request(&proto, &mut Cursor::new(rest)));
            if let Ok(req) = read {
                let mut once = Vec::new();
                block_on(c.write_request(&proto, &mut Cursor::new(&mut once), req))
                    .expect("a request encodes");
                let again = block_on(c.read_request(&proto, &mut Cursor::new(&once[..])))
                    .expect("an encoded request decodes");
                let mut twice = Vec::new();
                block_on(c.write_request(&proto, &mut Cursor::new(&mut twice), again))
                    .expect("encodes again");
                assert_eq!(once, twice, "request round trip");
            }
        }
        _ => {
            let mut c = codec();
            let read = block_on(c.read_response(&proto, &mut Cursor::new(rest)));
            if let Ok(resp) = read {
                let mut once = Vec::new();
                block_on(c.write_response(&proto, &mut Cursor::new(&mut once), resp))
                    .expect("a response encodes");
                let again = block_on(c.read_response(&proto, &mut Cursor::new(&once[..])))
                    .expect("an encoded response decodes");
                let mut twice = Vec::new();
                block_on(c.write_response(&proto, &mut Cursor::new(&mut twice), again))
                    .expect("encodes again");
                assert_eq!(once, twice, "response round trip");
            }
        }
    }
});

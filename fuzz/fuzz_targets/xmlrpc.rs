//! XML-RPC bodies: `methodCall`s the gateway receives and `methodResponse`s the nodes (and
//! Uyuni) send back, through `uyuni_api::codec`, and the gateway's raw list merge
//! (`gateway::rawmerge`). The first byte picks the entry point. Invariants: whatever parses
//! renders, and the rendering parses to a value that renders the same (idempotent round trip;
//! text is compared, not values, because a double may be NaN).
#![no_main]

use libfuzzer_sys::fuzz_target;
use uyuni_api::codec::{
    is_fault_response, parse_call, parse_response, render_call, render_fault, render_response,
};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match mode % 3 {
        0 => {
            if let Ok(call) = parse_call(text) {
                let Ok(once) = render_call(&call.method, &call.params) else {
                    return;
                };
                let again = parse_call(&once).expect("a rendered call parses");
                let twice = render_call(&again.method, &again.params).expect("renders again");
                assert_eq!(once, twice, "call round trip");
            }
        }
        1 => {
            let fault_first = is_fault_response(text);
            match parse_response(text) {
                Ok(Ok(value)) => {
                    let Ok(once) = render_response(&value) else {
                        return;
                    };
                    assert!(!is_fault_response(&once));
                    let again = parse_response(&once)
                        .expect("a rendered response parses")
                        .expect("not a fault");
                    let twice = render_response(&again).expect("renders again");
                    assert_eq!(once, twice, "response round trip");
                }
                Ok(Err(fault)) => {
                    let once = render_fault(&fault);
                    assert!(is_fault_response(&once));
                    let again = parse_response(&once)
                        .expect("a rendered fault parses")
                        .expect_err("a fault");
                    assert_eq!(once, render_fault(&again), "fault round trip");
                }
                Err(_) => {}
            }
            let _ = fault_first;
        }
        _ => {
            // The gateway's merge of large system lists without decoding them.
            if let Some(items) = gateway::rawmerge::array_items(text) {
                let mut out = String::new();
                let slot = u32::from(rest.first().copied().unwrap_or(0) % 8);
                let _ = gateway::rawmerge::rewrite_ids(items, slot, &mut out);
            }
        }
    }
});

//! Uyuni's JSON over HTTP API as the gateway reads it (`gateway::json_api`): the body's named
//! parameters, each method's overload by names, and the coercion of JSON and query-string
//! values to XML-RPC values (`uyuni_api::json`). Input: `method\nquery\nbody`, query pairs
//! `k=v` separated by `&`. Invariant: a coerced value converts to JSON and back to JSON
//! unchanged (`to_json ∘ from_json` is idempotent).
#![no_main]

use libfuzzer_sys::fuzz_target;
use uyuni_api::json::{coerce_json, coerce_query, from_json, to_json};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let (Some(method), Some(query), body) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let (Ok(method), Ok(query)) = (std::str::from_utf8(method), std::str::from_utf8(query)) else {
        return;
    };
    let pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (p.to_owned(), String::new()),
        })
        .collect();
    let body = gateway::json_api::named_params(pairs, &body.unwrap_or_default().to_vec().into());
    let Ok(named) = body else {
        return;
    };
    let method = method.trim_matches('/').replace('/', ".");
    if !gateway::params::known(&method) {
        return;
    }
    let names: Vec<&str> = named.keys().map(String::as_str).collect();
    let Some(params) = gateway::params::overload(&method, &names) else {
        return;
    };
    for (n, ty) in params {
        let value = match named.get(*n) {
            Some((_, Some(j))) => coerce_json(j, ty),
            Some((Some(q), None)) => coerce_query(q, ty),
            _ => continue,
        };
        let json = to_json(&value);
        let again = to_json(&from_json(&json));
        assert_eq!(json, again, "JSON round trip of a {ty}");
    }
});

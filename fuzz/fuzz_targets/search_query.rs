//! The search query language (`cluster_search::parse`), as typed into `/search?q=`.
//! Invariants: an error carries a position inside the query; a parsed query's printed form
//! (fully parenthesised) parses again to the same expression, and evaluating it against a
//! record does not panic.
#![no_main]

use cluster_search::parse;
use crdt_store::SystemRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(q) = std::str::from_utf8(data) else {
        return;
    };
    match parse(q) {
        // The empty query prints as `*` (all systems), which reads back as `name:*`: the same
        // systems, another tree.
        Ok(cluster_search::Expr::All) => {}
        Ok(e) => {
            let printed = e.to_string();
            match parse(&printed) {
                Ok(again) => assert_eq!(e, again, "printed as {printed:?}"),
                // The printed form wraps every `and`/`or` in parentheses, one level more than
                // a query that nests to the limit (64) needed: refused as too deep, rightly.
                // Likewise the printed form may pass the length limit (4096 characters).
                Err(
                    cluster_search::QueryError::TooDeep { .. }
                    | cluster_search::QueryError::TooLong { .. },
                ) => {}
                Err(err) => panic!("{q:?} printed as {printed:?} does not parse: {err}"),
            }
            let rec = SystemRecord::new("ab:cd", "web1", 0)
                .with_hostname("web1.example.org")
                .with_tags(["prod"]);
            let _ = e.matches(&rec);
        }
        Err(err) => {
            if let Some(pos) = err.position() {
                assert!(
                    pos <= q.chars().count(),
                    "position {pos} past the end of {q:?}"
                );
            }
        }
    }
});

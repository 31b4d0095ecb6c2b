//! `uyuni-cluster systems search` and `uyuni-cluster systems bulk`: the peer's search API
//! (docs/SEARCH.md) from the command line.

use cluster_search::api::{BulkRequest, BulkResult, SearchPage};

use super::systems::{print_systems, system_json};
use super::{Target, urlencode};

/// Page size of `--all` when no `--limit` is given.
const ALL_PAGE: usize = 1000;
/// Systems per request of `systems bulk` (pages until none remain).
const BULK_PAGE: u64 = 2000;

/// `systems search QUERY`: one page (or `--all` pages, following the cursor).
pub(super) fn search(
    query: &str,
    limit: Option<usize>,
    all: bool,
    target: &Target,
) -> anyhow::Result<()> {
    let client = target.client()?;
    let limit = limit.unwrap_or(if all { ALL_PAGE } else { 100 });
    let mut cursor: Option<String> = None;
    let mut systems = Vec::new();
    let mut total;
    loop {
        let mut path = format!("/search?q={}&limit={limit}", urlencode(query));
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", urlencode(c)));
        }
        let page: SearchPage = client.get(&path)?;
        total = page.total;
        systems.extend(page.systems);
        cursor = page.next;
        if !all || cursor.is_none() {
            break;
        }
    }
    if target.json {
        let v = serde_json::json!({
            "total": total,
            "systems": systems.iter().map(system_json).collect::<Vec<_>>(),
            "next": cursor,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    print_systems(&systems, false)?;
    if cursor.is_some() {
        eprintln!("{} of {total} shown (--all for every match)", systems.len());
    } else {
        eprintln!("{total} matching");
    }
    Ok(())
}

/// `systems bulk QUERY --action ACTION [--tag T]...`.
pub(super) fn bulk(
    query: &str,
    action: &str,
    tags: Vec<String>,
    target: &Target,
) -> anyhow::Result<()> {
    let client = target.client()?;
    let mut req = BulkRequest {
        q: query.to_string(),
        action: action.to_string(),
        tags,
        limit: Some(BULK_PAGE),
        after: None,
    };
    // Pages, each a bounded request, summed into one report.
    let mut res = BulkResult {
        matched: 0,
        changed: 0,
        remaining: 0,
        next: None,
    };
    loop {
        let page: BulkResult = client.post("/search/bulk", &serde_json::to_value(&req)?)?;
        res.matched += page.matched;
        res.changed += page.changed;
        match page.next {
            Some(next) if page.remaining > 0 => req.after = Some(next),
            _ => break,
        }
    }
    if target.json {
        println!("{}", serde_json::to_string_pretty(&res)?);
    } else {
        println!("{action}: {} matched, {} changed", res.matched, res.changed);
    }
    Ok(())
}

//! Fetching a repository version from many providers at once: their holdings maps polled at a
//! bounded rate ([`crate::have`]), rarest files first ([`crate::plan`]), several providers
//! per large blob, a busy or failing provider left alone for a moment.

use std::{
    collections::BTreeSet,
    sync::atomic::Ordering::Relaxed,
    time::{Duration, Instant},
};

use iroh_blobs::Hash;
use tokio::task::JoinSet;

use crate::{
    ContentError, Fetcher, Provider,
    have::{Bitmap, HaveAnswer},
    plan::{self, PlanFile, PlanLimits, PlanProvider},
};

/// How a swarm fetch runs.
#[derive(Debug, Clone, Copy)]
pub struct SwarmOptions {
    /// Fetches at once.
    pub parallel: usize,
    /// Fetches at once per provider.
    pub per_provider: usize,
    /// Files of at least this size are fetched from several providers at once.
    pub split_threshold: u64,
    /// At most this many providers per large file.
    pub max_split: usize,
    /// How often a provider's map is asked for (at most).
    pub poll_interval: Duration,
    /// At most this many maps asked for per `poll_interval` (those asked longest ago first,
    /// complete holders before the rest): the cost stays bounded with many providers.
    pub polls_per_interval: usize,
    /// How long a provider that refused (busy) or failed is left alone; doubled for every
    /// further refusal in a row (up to 16 ×), so a hundred stores do not hammer one busy
    /// origin.
    pub cooldown: Duration,
    /// Give up when nothing could be fetched for this long (the caller retries later).
    pub stall_timeout: Duration,
}

impl Default for SwarmOptions {
    fn default() -> Self {
        Self {
            parallel: 4,
            per_provider: 2,
            split_threshold: 16 << 20,
            max_split: 4,
            poll_interval: Duration::from_millis(500),
            polls_per_interval: 16,
            cooldown: Duration::from_millis(300),
            stall_timeout: Duration::from_secs(60),
        }
    }
}

/// Failed or refused fetches in a row after which a provider no longer keeps files away
/// from the seeds ([`crate::plan`]).
const UNHEALTHY_STRIKES: u32 = 4;

/// A provider of the repository.
#[derive(Debug, Clone)]
pub struct SwarmProvider {
    /// Where it is.
    pub provider: Provider,
    /// Its holdings record says it holds the version completely: taken as holding every
    /// file while its map cannot be asked (a peer without the holdings protocol), and a
    /// seed: asked only for files no healthy other provider lists.
    pub complete: bool,
}

/// One file of the repository, in manifest order.
#[derive(Debug, Clone, Copy)]
pub struct SwarmFile {
    /// Its hash.
    pub hash: Hash,
    /// Its size.
    pub size: u64,
}

/// What a swarm fetch did.
#[derive(Debug, Default, Clone, Copy)]
pub struct SwarmReport {
    /// Files fetched.
    pub files: u64,
    /// Payload bytes received.
    pub bytes: u64,
}

struct Peer {
    sp: SwarmProvider,
    map: Option<Bitmap>,
    polled: Option<Instant>,
    polling: bool,
    load: usize,
    until: Option<Instant>,
    strikes: u32,
    key: u64,
}

enum Event {
    Polled(usize, Result<HaveAnswer, String>),
    Fetched(usize, Vec<usize>, Result<u64, String>),
}

/// Make every file of the repository version `manifest` complete in the fetcher's store.
/// `local`: the files held already (also registered in the endpoint's holdings table, where
/// every completed file is marked, so this node serves it onwards at once). `on_file(i)` is
/// called for every file completed.
// The inputs are independent (who, which version, its files, what is here, from whom, how,
// what to tell): a struct of them would only be unpacked again.
#[allow(clippy::too_many_arguments)]
pub async fn fetch_repository(
    fetcher: &Fetcher,
    me: &str,
    manifest: Hash,
    files: &[SwarmFile],
    mut local: Bitmap,
    providers: Vec<SwarmProvider>,
    opts: SwarmOptions,
    on_file: impl Fn(usize, u64),
) -> Result<SwarmReport, ContentError> {
    let have = fetcher.endpoint().have.clone();
    let plan_files: Vec<PlanFile> = files
        .iter()
        .map(|f| PlanFile {
            size: f.size,
            key: plan::tie_key(me, f.hash.as_bytes()),
        })
        .collect();
    let mut peers: Vec<Peer> = providers
        .into_iter()
        .map(|sp| Peer {
            key: plan::tie_key(me, sp.provider.id.as_bytes()),
            sp,
            map: None,
            polled: None,
            polling: false,
            load: 0,
            until: None,
            strikes: 0,
        })
        .collect();
    let mut report = SwarmReport::default();
    let mut in_flight: BTreeSet<usize> = BTreeSet::new();
    let mut tasks: JoinSet<Event> = JoinSet::new();
    let mut last_progress = Instant::now();
    let mut last_error = String::new();
    let (mut window, mut polls) = (Instant::now(), 0usize);
    // The first plan waits (up to one poll interval) for the first answers, so that it
    // sees every holder (a large file is split over all of them).
    let warm_until = Instant::now() + opts.poll_interval;
    while !local.is_full() {
        let now = Instant::now();
        // Ask for maps that are due (a complete map is never asked again), a bounded number
        // per interval.
        if now >= window + opts.poll_interval {
            (window, polls) = (now, 0);
        }
        let mut due: Vec<usize> = (0..peers.len())
            .filter(|&k| {
                let p = &peers[k];
                !p.polling
                    && !p.map.as_ref().is_some_and(Bitmap::is_full)
                    && p.polled.is_none_or(|t| now >= t + opts.poll_interval)
            })
            .collect();
        due.sort_by_key(|&k| (peers[k].polled, !peers[k].sp.complete, peers[k].key));
        due.truncate(opts.polls_per_interval.max(1).saturating_sub(polls));
        for k in due {
            polls += 1;
            let p = &mut peers[k];
            p.polling = true;
            p.polled = Some(now);
            let (f, prov) = (fetcher.clone(), p.sp.provider.clone());
            tasks.spawn(async move { Event::Polled(k, f.have(&prov, manifest).await) });
        }
        // News from providers (a file completed there, or a seed's new hints): as good as
        // an answer to a question asked now.
        for (id, answer) in have.take_news(&manifest) {
            if let Some(k) = peers.iter().position(|p| p.sp.provider.id == id) {
                peers[k].polled = Some(now);
                take_answer(&mut peers, k, answer, &local, fetcher);
            }
        }
        // Plan and start fetches.
        let views: Vec<PlanProvider<'_>> = peers
            .iter()
            .map(|p| PlanProvider {
                holds: p.map.as_ref(),
                load: p.load,
                available: p.until.is_none_or(|t| now >= t),
                key: p.key,
                seed: p.sp.complete,
                healthy: p.strikes < UNHEALTHY_STRIKES,
            })
            .collect();
        let warming = now < warm_until && peers.iter().any(|p| p.polling && p.map.is_none());
        let limits = PlanLimits {
            slots: if warming {
                0
            } else {
                opts.parallel.saturating_sub(in_flight.len())
            },
            per_provider: opts.per_provider,
            split_threshold: opts.split_threshold,
            max_split: opts.max_split,
        };
        let planned = plan::next_fetches(&plan_files, &local, &in_flight, &views, limits);
        drop(views);
        for pl in planned {
            let f = files[pl.file];
            for &k in &pl.providers {
                peers[k].load += 1;
                if !peers[k].map.as_ref().is_some_and(|m| m.get(pl.file)) {
                    fetcher.stats.asks_unlisted.fetch_add(1, Relaxed);
                }
            }
            in_flight.insert(pl.file);
            let provs: Vec<Provider> = pl
                .providers
                .iter()
                .map(|&k| peers[k].sp.provider.clone())
                .collect();
            let fetcher = fetcher.clone();
            tasks.spawn(async move {
                let res = if provs.len() > 1 {
                    fetcher
                        .fetch_split(f.hash, f.size, &provs)
                        .await
                        .map_err(|e| e.to_string())
                } else {
                    fetcher.fetch_from(f.hash, &provs[0]).await
                };
                Event::Fetched(pl.file, pl.providers, res)
            });
        }
        if in_flight.is_empty() && now.duration_since(last_progress) > opts.stall_timeout {
            let missing = local.len() - local.count();
            return Err(ContentError::Unavailable {
                hash: manifest.to_hex(),
                reason: format!(
                    "{missing} files not fetched: no reachable provider holds them ({last_error})"
                ),
            });
        }
        // Wait for a result, or a moment (cool-downs end, maps come due).
        let tick = tokio::time::sleep(Duration::from_millis(100));
        let ev = tokio::select! {
            Some(r) = tasks.join_next() => r.ok(),
            () = tick => None,
        };
        match ev {
            Some(Event::Polled(k, res)) => {
                let p = &mut peers[k];
                p.polling = false;
                match res {
                    Ok(answer) => take_answer(&mut peers, k, answer, &local, fetcher),
                    Err(e) => {
                        // Cannot be asked (unreachable, or a peer without the protocol): its
                        // holdings record decides, until an answer comes.
                        tracing::debug!(provider = %p.sp.provider.id.fmt_short(), "holdings question failed: {e}");
                        if p.map.is_none() && p.sp.complete {
                            p.map = Some(Bitmap::full(files.len()));
                        }
                    }
                }
            }
            Some(Event::Fetched(i, ks, res)) => {
                in_flight.remove(&i);
                for &k in &ks {
                    peers[k].load = peers[k].load.saturating_sub(1);
                }
                match res {
                    Ok(n) => {
                        local.set(i);
                        have.mark(&manifest, i);
                        // Those who asked us about this version hear of it now.
                        fetcher.endpoint().announce(manifest);
                        report.files += 1;
                        report.bytes += n;
                        for &k in &ks {
                            peers[k].strikes = 0;
                        }
                        last_progress = Instant::now();
                        on_file(i, files[i].size);
                    }
                    Err(e) => {
                        tracing::debug!(file = i, "fetch failed: {e}");
                        last_error = e;
                        for &k in &ks {
                            let p = &mut peers[k];
                            // Spread per node and provider (the key's low bits: +0..50%).
                            let wait = opts.cooldown * (1 << p.strikes.min(4));
                            let wait = wait + wait.mul_f64((p.key % 64) as f64 / 128.0);
                            p.strikes += 1;
                            p.until = Some(Instant::now() + wait);
                        }
                    }
                }
            }
            None => {}
        }
    }
    tasks.abort_all();
    have.take_news(&manifest);
    Ok(report)
}

/// Provider `k` answered (or told us) `answer`: its map, and the holders its hints name.
fn take_answer(
    peers: &mut [Peer],
    k: usize,
    answer: HaveAnswer,
    local: &Bitmap,
    fetcher: &Fetcher,
) {
    let n = local.len();
    let mut hints = Vec::new();
    peers[k].map = Some(match answer {
        HaveAnswer::Known(b) if b.len() == n => b,
        HaveAnswer::Seeding(b, h) if b.len() == n => {
            hints = h;
            b
        }
        // Another version's length, not loaded there, or refused: nothing from it.
        _ => Bitmap::new(n),
    });
    // The seed handed these files to these nodes: they hold them.
    for (i, id) in hints {
        if i >= n || local.get(i) {
            continue;
        }
        if let Some(q) = peers.iter_mut().find(|q| q.sp.provider.id == id) {
            q.map.get_or_insert_with(|| Bitmap::new(n)).set(i);
            fetcher.stats.hints.fetch_add(1, Relaxed);
        }
    }
}

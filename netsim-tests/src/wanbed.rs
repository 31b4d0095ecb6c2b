//! The WAN test bed (issue 17): hundreds of peers in hundreds of zones on one machine, with
//! WAN links between the zones.
//!
//! A peer process costs tens of MiB and a share of two cores, so the bed runs **many peers in
//! one process**: each is a real [`peer::node::Node`] (the composition root the
//! `uyuni-cluster` binary runs) with its own identity, data dir, libp2p and HTTP ports on
//! `127.0.0.1:0`, and its config; content sync and the Node Controller are off (no Uyuni
//! server, no blobs), the gateway is not started. All peers share one tokio runtime.
//!
//! Every peer gets one **WAN link** in the [`LinkEmulator`] ([`LinkEmulator::add_wan_link`])
//! and advertises it as its only address, so every connection, inside a zone too, passes the
//! emulator, which finds the dialer's zone from its source port. Each zone draws (seeded) an
//! access delay in `[lat_min/2, lat_max/2]`; a zone pair's one-way latency is the sum of its
//! two zones' (so 20–200 ms with the defaults), with `loss` (a lost TCP chunk waits one
//! `rto`) and a token bucket of `bandwidth` bytes/s per direction. Inside a zone nothing is
//! shaped. A zone **drops** by being cut from every other zone ([`WanBed::cut_zone`]): its
//! connections are severed and new ones black-holed, as for a store whose link went down.
//!
//! The bed reads each peer through its HTTP API (`/cluster/members`, `/systems/{fp}`,
//! `/metrics`), as an operator would; counters on `/metrics` are process-wide, so there they
//! are the sum over every peer of the process.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cluster_core::cluster_api::MemberView;
use peer::config::PeerConfig;
use peer::node::Node;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

use crate::linkemu::{Link, LinkEmulator};

/// How often [`WanBed::wait_agree`] prints where the views disagree.
const REPORT_EVERY: Duration = Duration::from_secs(30);

/// What the bed builds.
#[derive(Debug, Clone)]
pub struct BedOptions {
    /// Peers in all.
    pub peers: usize,
    /// Zones; peer `i` is in zone `i % zones`.
    pub zones: usize,
    /// Seeds the latencies, the loss draws, the join lists and the dropped zone.
    pub seed: u64,
    /// Shortest one-way latency between two zones (ms).
    pub lat_min_ms: u64,
    /// Longest one-way latency between two zones (ms).
    pub lat_max_ms: u64,
    /// Loss probability of a chunk between zones.
    pub loss: f64,
    /// Retransmission timeout a lost chunk waits (ms).
    pub rto_ms: u64,
    /// Bandwidth per direction of a zone pair, bytes/s (`None`: unlimited).
    pub bandwidth: Option<u64>,
    /// `[membership.wan] suspicion_timeout_ms`: a silent zone's members are down after it.
    pub wan_suspicion_ms: u64,
    /// `[membership] summary_interval_ms` (`None`: the production 2 s); the summary timeout
    /// is set to three intervals.
    pub summary_ms: Option<u64>,
    /// Peers started at once.
    pub start_batch: usize,
    /// Pause after each batch of peers started (0: none): a gentler start-up, so that a bed
    /// near the machine's limit does not meet all its members in one burst.
    pub start_pause: Duration,
    /// Threads polling the peers' HTTP APIs.
    pub poll_threads: usize,
    /// Worker threads of the tokio runtime all peers share.
    pub worker_threads: usize,
    /// Every periodic timer of the peers (heartbeats, probes and their timeouts, summaries,
    /// the LAN suspicion, pings, dials, anti-entropy) this many times its production value
    /// (1: production). An idle peer's CPU falls by the same factor, so a bed larger than
    /// two cores can carry at production timings still runs; its times are then in dilated
    /// seconds (docs/PERFORMANCE.md states the factor with every such figure).
    /// `wan_suspicion_ms` and `summary_ms` are taken as given (scale them too).
    pub dilate: u32,
    /// `[membership] zones_pull_interval_ms` (`None`: the production 10 s, dilated; 0: off,
    /// to measure the bed without the periodic pull).
    pub zones_pull_ms: Option<u64>,
}

impl Default for BedOptions {
    fn default() -> Self {
        Self {
            peers: 40,
            zones: 20,
            seed: 1,
            lat_min_ms: 20,
            lat_max_ms: 200,
            loss: 0.01,
            rto_ms: 200,
            bandwidth: Some(256 * 1024),
            wan_suspicion_ms: 60_000,
            summary_ms: None,
            start_batch: 25,
            start_pause: Duration::ZERO,
            poll_threads: 4,
            worker_threads: 2,
            dilate: 1,
            zones_pull_ms: None,
        }
    }
}

/// The `[membership]`, `[membership.lan]`, `[network]` and `[replication]` timers of a bed
/// peer: production ones (nothing written) unless `summary_ms` or `dilate` says otherwise.
fn timer_sections(summary_ms: Option<u64>, zones_pull_ms: Option<u64>, dilate: u32) -> String {
    let k = u64::from(dilate.max(1));
    let mut membership = String::new();
    if k > 1 {
        membership += &format!(
            "heartbeat_interval_ms = {}\nprobe_interval_ms = {}\nprobe_timeout_ms = {}\n",
            1000 * k,
            1000 * k,
            500 * k
        );
    }
    if zones_pull_ms.is_some() || k > 1 {
        let p = zones_pull_ms.unwrap_or(10_000 * k);
        membership += &format!("zones_pull_interval_ms = {p}\n");
    }
    if summary_ms.is_some() || k > 1 {
        let s = summary_ms.unwrap_or(2000 * k);
        membership += &format!(
            "summary_interval_ms = {s}\nsummary_timeout_ms = {}\n",
            3 * s
        );
    }
    let mut out = String::new();
    if !membership.is_empty() {
        out += &format!("[membership]\n{membership}");
    }
    if k > 1 {
        out += &format!(
            "[membership.lan]\nsuspicion_timeout_ms = {}\n[network]\nping_interval_ms = {}\nping_timeout_ms = {}\ndial_interval_ms = {}\ndial_backoff_max_ms = {}\n[replication]\nanti_entropy_interval_ms = {}\n",
            2000 * k,
            2000 * k,
            2000 * k,
            2000 * k,
            4000 * k,
            2000 * k
        );
    }
    out
}

/// One member as a peer sees it, for the agreement checks ([`WanBed::wait_agree`]); the
/// peer itself is in its own view, alive.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// The member's zone.
    pub zone: &'a str,
    /// `alive`, `suspect`, `down` or `left`.
    pub status: &'a str,
}

/// One peer of the bed.
#[derive(Debug)]
pub struct BedPeer {
    /// Node name.
    pub name: String,
    /// Zone.
    pub zone: String,
    /// `http://` base URL of its API.
    pub http: String,
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Its WAN link (the only address it advertises).
    pub link: Link,
    node: Option<Node>,
}

/// The running bed. Dropping it stops every peer.
pub struct WanBed {
    /// The peers, in start order.
    pub peers: Vec<BedPeer>,
    /// The emulator every peer connection passes.
    pub emu: LinkEmulator,
    /// Options it was built with.
    pub opts: BedOptions,
    /// Zone names.
    pub zones: Vec<String>,
    /// How long starting every peer took.
    pub started_in: Duration,
    /// When the first peer started.
    pub t0: Instant,
    cancel: CancellationToken,
    rt: tokio::runtime::Runtime,
    agent: ureq::Agent,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for WanBed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WanBed")
            .field("peers", &self.peers.len())
            .field("zones", &self.zones.len())
            .finish_non_exhaustive()
    }
}

/// The zone of peer `i`.
pub fn zone_name(i: usize) -> String {
    format!("z{i:03}")
}

/// One-way latency (ms) of each zone's access link, seeded: a pair's latency is the sum.
pub fn zone_delays(opts: &BedOptions) -> Vec<u64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
    let (lo, hi) = (opts.lat_min_ms / 2, opts.lat_max_ms.div_ceil(2).max(1));
    (0..opts.zones)
        .map(|_| rng.random_range(lo..=hi.max(lo)))
        .collect()
}

impl WanBed {
    /// Build the links and start every peer: the first alone, then batches of `start_batch`,
    /// each peer joining four (seeded) peers started before it.
    pub fn start(opts: BedOptions) -> anyhow::Result<Self> {
        if opts.zones == 0 || opts.peers < opts.zones {
            bail!(
                "want at least one peer per zone ({} peers, {} zones)",
                opts.peers,
                opts.zones
            );
        }
        let dir = tempfile::tempdir()?;
        let key = dir.path().join("cluster.key");
        cluster_core::cluster_key::generate(&key)?;
        let emu = LinkEmulator::new()?;
        let zones: Vec<String> = (0..opts.zones).map(zone_name).collect();
        let delays = zone_delays(&opts);
        for a in 0..zones.len() {
            for b in 0..zones.len() {
                if a == b {
                    continue;
                }
                if let Some(bw) = opts.bandwidth {
                    emu.set_bandwidth(&zones[a], &zones[b], Some((bw, (bw / 8).max(16 * 1024))));
                }
                if a < b {
                    let lat = Duration::from_millis(delays[a] + delays[b]);
                    emu.set_latency(&zones[a], &zones[b], lat);
                    if opts.loss > 0.0 {
                        let rto = Duration::from_millis(opts.rto_ms);
                        emu.set_loss(&zones[a], &zones[b], opts.loss, rto, opts.seed);
                    }
                }
            }
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.worker_threads.max(1))
            .enable_all()
            .build()?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .new_agent();
        let mut bed = Self {
            peers: Vec::new(),
            emu,
            zones,
            started_in: Duration::ZERO,
            t0: Instant::now(),
            cancel: CancellationToken::new(),
            rt,
            agent,
            _dir: dir,
            opts,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(bed.opts.seed ^ 0x5eed);
        let t0 = Instant::now();
        bed.t0 = t0;
        let mut i = 0;
        while i < bed.opts.peers {
            // The first peer alone: the others join peers already running.
            let batch_len = if i == 0 {
                1
            } else {
                bed.opts.start_batch.max(1)
            };
            let end = (i + batch_len).min(bed.opts.peers);
            let mut batch = Vec::new();
            for j in i..end {
                let join: Vec<String> = if bed.peers.is_empty() {
                    Vec::new()
                } else {
                    (0..4)
                        .map(|_| {
                            let p = &bed.peers[rng.random_range(0..bed.peers.len())];
                            format!("{}/p2p/{}", p.link.multiaddr(), p.peer_id)
                        })
                        .collect()
                };
                batch.push(bed.prepare(j, &key, join)?);
            }
            let cancel = bed.cancel.clone();
            let started = bed.rt.block_on(async move {
                let mut set = tokio::task::JoinSet::new();
                for (k, (cfg, link)) in batch.into_iter().enumerate() {
                    let c = cancel.clone();
                    set.spawn(async move { (k, Node::start(cfg, c).await, link) });
                }
                let mut out = Vec::new();
                while let Some(r) = set.join_next().await {
                    out.push(r);
                }
                out
            });
            let mut started: Vec<_> = started.into_iter().collect::<Result<_, _>>()?;
            started.sort_by_key(|(k, _, _)| *k);
            for (k, node, link) in started {
                let node = node.with_context(|| format!("starting peer {}", i + k))?;
                bed.adopt(i + k, node, link)?;
            }
            i = end;
            if i < bed.opts.peers && !bed.opts.start_pause.is_zero() {
                std::thread::sleep(bed.opts.start_pause);
            }
        }
        bed.started_in = t0.elapsed();
        Ok(bed)
    }

    /// Write peer `i`'s config and its WAN link.
    fn prepare(
        &self,
        i: usize,
        key: &std::path::Path,
        join: Vec<String>,
    ) -> anyhow::Result<(PeerConfig, Link)> {
        let zone = zone_name(i % self.opts.zones);
        let name = format!("p{i:04}");
        let data_dir: PathBuf = self._dir.path().join(&name);
        std::fs::create_dir_all(&data_dir)?;
        let link = self.emu.add_wan_link(&zone)?;
        let join = join
            .iter()
            .map(|j| format!("\"{j}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let toml = format!(
            r#"name = "{name}"
zone = "{zone}"
data_dir = "{data}"
cluster_key = "{key}"
p2p_listen = "/ip4/127.0.0.1/tcp/0"
http_listen = "127.0.0.1:0"
join = [{join}]
advertise = ["{adv}"]
[tls]
dev_plain_http = true
[content]
enabled = false
{timers}[membership.wan]
suspicion_timeout_ms = {wan}
{extra}
[store]
shard_count = 64
"#,
            data = data_dir.display(),
            key = key.display(),
            adv = link.multiaddr(),
            wan = self.opts.wan_suspicion_ms,
            extra = std::env::var("WANBED_EXTRA_TOML").unwrap_or_default(),
            timers = timer_sections(
                self.opts.summary_ms,
                self.opts.zones_pull_ms,
                self.opts.dilate
            ),
        );
        let path = data_dir.join("peer.toml");
        std::fs::write(&path, toml)?;
        let cfg = PeerConfig::from_file(&path)?;
        Ok((cfg, link))
    }

    /// Point peer `i`'s link at it and name its port (dialers are known by it).
    fn adopt(&mut self, i: usize, node: Node, link: Link) -> anyhow::Result<()> {
        let zone = zone_name(i % self.opts.zones);
        let name = node.me.name.clone();
        let port = node
            .net
            .listen_addrs()
            .iter()
            .find_map(|a| {
                a.iter().find_map(|p| match p {
                    libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
                    _ => None,
                })
            })
            .with_context(|| format!("{name} listens on no TCP port"))?;
        self.emu.name_port(port, &name);
        self.emu.set_zone(&name, &zone);
        link.set_target(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
        link.set_peer(&name);
        self.peers.push(BedPeer {
            name,
            zone,
            http: format!("http://{}", node.http_addr),
            peer_id: node.net.local_peer_id().to_string(),
            link,
            node: Some(node),
        });
        Ok(())
    }

    fn get(&self, i: usize, path: &str) -> anyhow::Result<(u16, String)> {
        let url = format!("{}{path}", self.peers[i].http);
        let mut res = self.agent.get(&url).call().with_context(|| url.clone())?;
        Ok((res.status().as_u16(), res.body_mut().read_to_string()?))
    }

    /// Peer `i`'s membership view.
    pub fn members(&self, i: usize) -> anyhow::Result<Vec<MemberView>> {
        // In memory: 500 peers' views of 500 members each, rendered as JSON and parsed every
        // poll round, took more of the two cores than the peers did.
        if let Some(node) = &self.peers[i].node {
            return Ok(cluster_core::cluster_api::member_views(
                &node.me,
                &node.members.lock(),
                Instant::now(),
            ));
        }
        let (status, body) = self.get(i, "/cluster/members")?;
        if status != 200 {
            bail!("{}: /cluster/members HTTP {status}", self.peers[i].name);
        }
        Ok(serde_json::from_str(&body)?)
    }

    /// Run `f(i)` for every peer in `idx`, on `poll_threads` threads; results in `idx` order.
    pub fn each<T: Send>(&self, idx: &[usize], f: impl Fn(usize) -> T + Sync) -> Vec<T> {
        let next = AtomicUsize::new(0);
        let threads = self.opts.poll_threads.max(1);
        let mut out: Vec<(usize, T)> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut got = Vec::new();
                        loop {
                            let k = next.fetch_add(1, Ordering::Relaxed);
                            let Some(&i) = idx.get(k) else { return got };
                            got.push((k, f(i)));
                        }
                    })
                })
                .collect();
            hs.into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        out.sort_by_key(|(k, _)| *k);
        out.into_iter().map(|(_, t)| t).collect()
    }

    /// Indices of every peer.
    pub fn all(&self) -> Vec<usize> {
        (0..self.peers.len()).collect()
    }

    /// How many of the peers `idx` have a view satisfying `ok` (a failed read counts as not).
    pub fn agreeing(
        &self,
        idx: &[usize],
        ok: impl Fn(&BedPeer, &[Seen<'_>]) -> bool + Sync,
    ) -> usize {
        self.each(idx, |i| self.judge(i, &ok))
            .into_iter()
            .filter(|b| *b)
            .count()
    }

    /// `ok` over peer `i`'s view: read in memory under its table's lock, without copying a
    /// member (500 views of 500 members every poll round, copied into [`MemberView`]s, took a
    /// fifth of the bed's CPU); over HTTP for a peer not in this process.
    fn judge(&self, i: usize, ok: &impl Fn(&BedPeer, &[Seen<'_>]) -> bool) -> bool {
        let peer = &self.peers[i];
        if let Some(node) = &peer.node {
            let table = node.members.lock();
            let mut seen = Vec::with_capacity(self.peers.len());
            seen.push(Seen {
                zone: &node.me.zone,
                status: "alive",
            });
            seen.extend(table.members().map(|m| Seen {
                zone: &m.info.zone,
                status: m.status.as_str(),
            }));
            return ok(peer, &seen);
        }
        self.members(i).is_ok_and(|m| {
            let seen: Vec<Seen<'_>> = m
                .iter()
                .map(|v| Seen {
                    zone: &v.zone,
                    status: &v.status,
                })
                .collect();
            ok(peer, &seen)
        })
    }

    /// Poll until every peer of `idx` satisfies `ok`, or `within` passes. Returns the time
    /// from `since` at the first round where all agreed, and the rounds polled.
    pub fn wait_agree(
        &self,
        idx: &[usize],
        since: Instant,
        within: Duration,
        what: &str,
        ok: impl Fn(&BedPeer, &[Seen<'_>]) -> bool + Sync,
    ) -> anyhow::Result<(Duration, usize)> {
        let mut rounds = 0;
        let mut last_report = Instant::now();
        loop {
            rounds += 1;
            let n = self.agreeing(idx, &ok);
            if n == idx.len() {
                return Ok((since.elapsed(), rounds));
            }
            if last_report.elapsed() >= REPORT_EVERY {
                last_report = Instant::now();
                println!(
                    "wanbed: progress what={what:?} after_s={:.0} agreeing={n}/{} {}",
                    since.elapsed().as_secs_f64(),
                    idx.len(),
                    self.disagreement(idx)
                );
            }
            if since.elapsed() > within {
                let sample: Vec<String> =
                    idx.iter().take(3).map(|&i| self.view_summary(i)).collect();
                bail!(
                    "{what}: {n} of {} peers agree after {within:?} (views: {})",
                    idx.len(),
                    sample.join("; ")
                );
            }
            // The views are read in the same process: poll a large bed a little less often.
            std::thread::sleep(Duration::from_millis((idx.len() as u64).max(200)));
        }
    }

    /// Where the views of `idx` are not whole and alive: (view, member) pairs per status and
    /// unknown, and the members held not alive by the most views (a member down everywhere
    /// is its own zone's word; one down in a few views is a summary those views missed).
    pub fn disagreement(&self, idx: &[usize]) -> String {
        let views: Vec<Vec<(String, &'static str)>> = self.each(idx, |i| {
            self.peers[i].node.as_ref().map_or_else(Vec::new, |node| {
                node.members
                    .lock()
                    .members()
                    .map(|m| (m.info.name.clone(), m.status.as_str()))
                    .collect()
            })
        });
        let mut by_status: std::collections::BTreeMap<&str, usize> = Default::default();
        let mut by_member: std::collections::HashMap<&str, usize> = Default::default();
        let mut unknown = 0;
        for v in &views {
            unknown += self.peers.len().saturating_sub(v.len() + 1);
            for (name, status) in v {
                if *status != "alive" {
                    *by_status.entry(status).or_default() += 1;
                    *by_member.entry(name.as_str()).or_default() += 1;
                }
            }
        }
        let mut worst: Vec<(&str, usize)> = by_member.into_iter().collect();
        worst.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let top: Vec<String> = worst
            .iter()
            .take(5)
            .map(|(m, c)| format!("{m}:{c}"))
            .collect();
        format!(
            "not_alive={by_status:?} unknown={unknown} members_not_alive={} worst=[{}]",
            worst.len(),
            top.join(",")
        )
    }

    /// Peer `i`'s view in short: its name, members known, and how many per status.
    pub fn view_summary(&self, i: usize) -> String {
        match self.members(i) {
            Ok(m) => {
                let mut by: std::collections::BTreeMap<&str, usize> = Default::default();
                for v in &m {
                    *by.entry(v.status.as_str()).or_default() += 1;
                }
                format!("{} knows {} {by:?}", self.peers[i].name, m.len())
            }
            Err(e) => format!("{}: {e:#}", self.peers[i].name),
        }
    }

    /// Every member known and alive (a whole, settled view).
    pub fn all_alive(&self) -> impl Fn(&BedPeer, &[Seen<'_>]) -> bool + Sync + use<> {
        let n = self.peers.len();
        move |_, m| m.len() == n && m.iter().all(|v| v.status == "alive")
    }

    /// Cut zone `z` from every other zone (its peers keep running, unreachable).
    pub fn cut_zone(&self, z: &str) {
        for other in self.zones.iter().filter(|o| *o != z) {
            self.emu.partition(z, other);
        }
    }

    /// Undo [`Self::cut_zone`].
    pub fn heal_zone(&self, z: &str) {
        for other in self.zones.iter().filter(|o| *o != z) {
            self.emu.heal(z, other);
        }
    }

    /// Register simulated system `n` through peer `i` (a signed agent registration); returns
    /// its fingerprint.
    pub fn register(&self, i: usize, n: u64) -> anyhow::Result<String> {
        let keys = crate::sim_keys::keys();
        let minion = format!("wanbed-{n}.example.test");
        let nonce = format!("wanbed{:016x}{n:08x}", self.opts.seed);
        let reg = keys.registration(n, &minion, &minion, crate::sim_keys::unix_now(), &nonce)?;
        let url = format!("{}/system/register", self.peers[i].http);
        let mut res = self.agent.post(&url).send_json(&reg).context(url)?;
        if res.status() != 200 {
            bail!(
                "registering {n}: HTTP {} {}",
                res.status(),
                res.body_mut().read_to_string().unwrap_or_default()
            );
        }
        Ok(keys.fingerprint(n))
    }

    /// Whether peer `i` holds system `fp`.
    pub fn has_system(&self, i: usize, fp: &str) -> bool {
        matches!(self.get(i, &format!("/systems/{fp}")), Ok((200, _)))
    }

    /// For every peer of `idx`, the time from `since` until it held `fp` (polled).
    pub fn propagation(
        &self,
        idx: &[usize],
        fp: &str,
        since: Instant,
        within: Duration,
    ) -> anyhow::Result<Vec<Duration>> {
        let mut seen: Vec<Option<Duration>> = vec![None; idx.len()];
        loop {
            let pending: Vec<usize> = (0..idx.len()).filter(|&k| seen[k].is_none()).collect();
            if pending.is_empty() {
                return Ok(seen.into_iter().flatten().collect());
            }
            if since.elapsed() > within {
                bail!(
                    "{fp} reached {} of {} peers in {within:?}",
                    idx.len() - pending.len(),
                    idx.len()
                );
            }
            let peers: Vec<usize> = pending.iter().map(|&k| idx[k]).collect();
            let got = self.each(&peers, |i| self.has_system(i, fp).then(|| since.elapsed()));
            for (k, g) in pending.into_iter().zip(got) {
                seen[k] = g;
            }
        }
    }

    /// A process-wide counter on peer 0's `/metrics` (the sum over the process's peers).
    pub fn metric(&self, name: &str) -> anyhow::Result<f64> {
        let (_, body) = self.get(0, "/metrics")?;
        Ok(body
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' '))
            .filter(|(series, _)| *series == name || series.starts_with(&format!("{name}{{")))
            .filter_map(|(_, v)| v.parse::<f64>().ok())
            .sum())
    }

    /// Stop every peer.
    pub fn shutdown(mut self) {
        self.cancel.cancel();
        let nodes: Vec<Node> = self
            .peers
            .iter_mut()
            .filter_map(|p| p.node.take())
            .collect();
        self.rt.block_on(async move {
            let mut set = tokio::task::JoinSet::new();
            for n in nodes {
                set.spawn(n.shutdown());
            }
            while set.join_next().await.is_some() {}
        });
    }
}

impl Drop for WanBed {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// This process's resident memory (MiB) and CPU time used so far (user + system).
pub fn self_usage() -> (f64, Duration) {
    let rss = crate::workload::rss_mib(std::process::id());
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis: utime is the 14th field, stime 15th.
    let ticks: u64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    // USER_HZ is 100 on Linux.
    (rss, Duration::from_millis(ticks * 10))
}

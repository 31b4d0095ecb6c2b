//! Content-sync level, several endpoints in one process on 127.0.0.1: holdings maps, rarest
//! first swarming, split fetches of a large blob, streamed repairs, upload slots,
//! super-seeding, news of holdings.

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::Ordering::Relaxed},
    time::{Duration, Instant},
};

use content_sync::{
    Bitmap, BlobStore, ContentEndpoint, EndpointId, Fetcher, Gate, Hash, HaveAnswer, Provider,
    SeedOptions, ServeOptions, SwarmFile, SwarmOptions, SwarmProvider, TempTag, fetch_repository,
};

/// Members: everyone; `secret` blobs only for zone "other" (nobody here).
#[derive(Debug)]
struct TestGate {
    secret: Hash,
}

impl Gate for TestGate {
    fn member_zone(&self, _id: &EndpointId) -> Option<String> {
        Some("z".into())
    }
    fn may_fetch(&self, zone: &str, hash: &Hash) -> bool {
        *hash != self.secret || zone == "other"
    }
}

struct Node {
    store: BlobStore,
    ep: ContentEndpoint,
    fetcher: Fetcher,
    dir: tempfile::TempDir,
}

async fn node(name: &str, secret: Hash, opts: ServeOptions, down: Option<u64>) -> Node {
    let dir = tempfile::tempdir().expect("tmp");
    let store = BlobStore::open(dir.path(), None).await.expect("store");
    let bind: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let ep = ContentEndpoint::bind(
        *blake3::hash(name.as_bytes()).as_bytes(),
        bind,
        &store,
        Arc::new(TestGate { secret }),
        opts,
    )
    .await
    .expect("bind");
    let fetcher = Fetcher::new(ep.clone(), store.clone(), down);
    Node {
        store,
        ep,
        fetcher,
        dir,
    }
}

fn provider(n: &Node) -> Provider {
    Provider {
        id: n.ep.id(),
        addrs: n.ep.addrs(),
    }
}

fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(&seed.to_le_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

async fn add_files(n: &Node, sizes: &[usize]) -> (Vec<SwarmFile>, Vec<TempTag>) {
    let mut files = Vec::new();
    let mut tags = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let tt = n.store.add_bytes(noise(i as u64, size)).await.expect("add");
        files.push(SwarmFile {
            hash: tt.hash(),
            size: size as u64,
        });
        tags.push(tt);
    }
    (files, tags)
}

fn manifest_of(files: &[SwarmFile]) -> Hash {
    Hash::new(
        files
            .iter()
            .flat_map(|f| *f.hash.as_bytes())
            .collect::<Vec<u8>>(),
    )
}

fn quick() -> SwarmOptions {
    SwarmOptions {
        poll_interval: Duration::from_millis(100),
        stall_timeout: Duration::from_secs(20),
        split_threshold: 1 << 20,
        ..SwarmOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maps_are_answered_and_only_holders_are_asked() {
    let open = ServeOptions::default();
    let origin = node("origin", Hash::new(b"-"), open, None).await;
    let half = node("half", Hash::new(b"-"), open, None).await;
    let fresh = node("fresh", Hash::new(b"-"), open, None).await;
    let (files, _tags) = add_files(&origin, &[40_000; 6]).await;
    let manifest = manifest_of(&files);
    origin.ep.have.put(manifest, Bitmap::full(6));
    // `half` holds files 0..3 only, and says so.
    let mut held = Bitmap::new(6);
    for (i, f) in files.iter().enumerate().take(3) {
        half.fetcher
            .fetch_from(f.hash, &provider(&origin))
            .await
            .expect("fetch");
        held.set(i);
    }
    half.ep.have.put(manifest, held.clone());
    assert_eq!(
        fresh.fetcher.have(&provider(&half), manifest).await,
        Ok(HaveAnswer::Known(held))
    );
    assert_eq!(
        fresh
            .fetcher
            .have(&provider(&half), Hash::new(b"other"))
            .await,
        Ok(HaveAnswer::Unknown)
    );

    // Only `half` is given as a provider: it lists 3 files, so the swarm stalls on the rest
    // without ever asking it for them.
    fresh.ep.have.put(manifest, Bitmap::new(6));
    let short = SwarmOptions {
        stall_timeout: Duration::from_secs(2),
        ..quick()
    };
    let res = fetch_repository(
        &fresh.fetcher,
        "fresh",
        manifest,
        &files,
        Bitmap::new(6),
        vec![SwarmProvider {
            provider: provider(&half),
            complete: false,
        }],
        short,
        |_, _| {},
    )
    .await;
    assert!(res.is_err(), "three files have no holder");
    assert_eq!(fresh.ep.have.get(&manifest).map(|b| b.count()), Some(3));
    assert_eq!(fresh.fetcher.stats.asks_unlisted.load(Relaxed), 0);
    assert_eq!(
        fresh.fetcher.stats.failures.load(Relaxed),
        0,
        "no refused asks"
    );

    // With the origin too, it completes.
    let mut local = Bitmap::new(6);
    for i in 0..3 {
        local.set(i);
    }
    let report = fetch_repository(
        &fresh.fetcher,
        "fresh",
        manifest,
        &files,
        local,
        vec![
            SwarmProvider {
                provider: provider(&half),
                complete: false,
            },
            SwarmProvider {
                provider: provider(&origin),
                complete: true,
            },
        ],
        quick(),
        |_, _| {},
    )
    .await
    .expect("complete");
    assert_eq!(report.files, 3);
    assert!(fresh.ep.have.get(&manifest).is_some_and(|b| b.is_full()));
    assert_eq!(fresh.fetcher.stats.asks_unlisted.load(Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_blob_comes_from_several_holders_in_ranges() {
    let open = ServeOptions::default();
    let a = node("a", Hash::new(b"-"), open, None).await;
    let b = node("b", Hash::new(b"-"), open, None).await;
    let fresh = node("fresh", Hash::new(b"-"), open, Some(64 << 20)).await;
    let (files, _tags) = add_files(&a, &[3 << 20, 20_000]).await;
    for f in &files {
        b.fetcher
            .fetch_from(f.hash, &provider(&a))
            .await
            .expect("copy");
    }
    let manifest = manifest_of(&files);
    a.ep.have.put(manifest, Bitmap::full(2));
    b.ep.have.put(manifest, Bitmap::full(2));
    fetch_repository(
        &fresh.fetcher,
        "fresh",
        manifest,
        &files,
        Bitmap::new(2),
        [&a, &b]
            .iter()
            .map(|n| SwarmProvider {
                provider: provider(n),
                complete: true,
            })
            .collect(),
        quick(),
        |_, _| {},
    )
    .await
    .expect("complete");
    assert_eq!(fresh.fetcher.stats.split_blobs.load(Relaxed), 1);
    assert!(fresh.fetcher.stats.range_requests.load(Relaxed) >= 2);
    let served = |n: &Node| n.ep.stats.uploaded_bytes.load(Relaxed);
    assert!(
        served(&a) >= 1 << 20 && served(&b) >= 1 << 20,
        "both served a part"
    );
    assert!(fresh.store.verify(files[0].hash).await.expect("verify"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_copy_is_repaired_streamed_and_paced() {
    let open = ServeOptions::default();
    let origin = node("origin", Hash::new(b"-"), open, None).await;
    // 512 KiB/s: a 1 MiB repair takes about a second after the first second's burst.
    let local = node("local", Hash::new(b"-"), open, Some(512 << 10)).await;
    let (files, _tags) = add_files(&origin, &[1 << 20]).await;
    let h = files[0].hash;
    local
        .fetcher
        .fetch_from(h, &provider(&origin))
        .await
        .expect("fetch");
    let data = local
        .dir
        .path()
        .join("data")
        .join(format!("{}.data", h.to_hex()));
    let mut bytes = std::fs::read(&data).expect("data file");
    bytes[700_000] ^= 0xff;
    std::fs::write(&data, &bytes).expect("corrupt");
    assert!(!local.store.verify(h).await.expect("verify"));
    let t = std::time::Instant::now();
    let got = local
        .fetcher
        .repair(h, &[provider(&origin)])
        .await
        .expect("repair");
    assert_eq!(got, 1 << 20);
    assert!(
        t.elapsed() >= Duration::from_millis(800),
        "paced: {:?}",
        t.elapsed()
    );
    assert!(local.store.verify(h).await.expect("verify"));
    assert_eq!(local.fetcher.stats.repairs.load(Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_providers_refuse_and_maps_follow_the_zone_rule() {
    let secret_data = noise(99, 50_000);
    let secret = Hash::new(&secret_data);
    let slots = ServeOptions {
        upload_limit: Some(256 << 10),
        upload_slots: 1,
        ..ServeOptions::default()
    };
    let origin = node("origin", secret, slots, None).await;
    let fresh = node("fresh", secret, ServeOptions::default(), None).await;
    let (files, _tags) = add_files(&origin, &[400_000, 400_000]).await;
    let _s = origin.store.add_bytes(secret_data).await.expect("add");
    // The manifest named `secret` is not shared with zone "z": its map is refused.
    assert_eq!(
        fresh.fetcher.have(&provider(&origin), secret).await,
        Ok(HaveAnswer::Refused)
    );
    // One slot: of two fetches at once, one is refused as busy.
    let p = provider(&origin);
    let (r1, r2) = tokio::join!(
        fresh.fetcher.fetch_from(files[0].hash, &p),
        fresh.fetcher.fetch_from(files[1].hash, &p)
    );
    assert!(r1.is_ok() != r2.is_ok(), "{r1:?} {r2:?}");
    assert_eq!(origin.ep.stats.busy_refusals.load(Relaxed), 1);
    // The refusal left the connection usable: the next fetch goes through.
    let retry = if r1.is_ok() {
        files[1].hash
    } else {
        files[0].hash
    };
    fresh
        .fetcher
        .fetch_from(retry, &p)
        .await
        .expect("after the slot freed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_super_seeding_origin_hands_each_file_out_once_and_points_to_its_recipients() {
    let seeding = ServeOptions {
        upload_limit: Some(1 << 20),
        upload_slots: 2,
        seed: SeedOptions {
            copies: 1,
            hold: Duration::from_secs(600),
        },
        ..ServeOptions::default()
    };
    let origin = node("origin", Hash::new(b"-"), seeding, None).await;
    let (files, _tags) = add_files(&origin, &[100_000; 8]).await;
    let manifest = manifest_of(&files);
    let hashes: Vec<Hash> = files.iter().map(|f| f.hash).collect();
    origin
        .ep
        .have
        .put_files(manifest, Bitmap::full(8), hashes.clone());
    // Fetchers with thin download links: the first copies are still coming while the others
    // ask, so the others must get them from one another.
    let mut stores = Vec::new();
    for k in 0..3 {
        let n = node(
            &format!("s{k}"),
            Hash::new(b"-"),
            ServeOptions::default(),
            Some(200_000),
        )
        .await;
        n.ep.have.put(manifest, Bitmap::new(8));
        stores.push(Arc::new(n));
    }
    let everyone: Vec<Provider> = stores.iter().map(|n| provider(n)).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (k, n) in stores.iter().enumerate() {
        let mut providers: Vec<SwarmProvider> = everyone
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != k)
            .map(|(_, p)| SwarmProvider {
                provider: p.clone(),
                complete: false,
            })
            .collect();
        providers.push(SwarmProvider {
            provider: provider(&origin),
            complete: true,
        });
        let (n, files) = (n.clone(), files.clone());
        tasks.spawn(async move {
            fetch_repository(
                &n.fetcher,
                &format!("s{k}"),
                manifest,
                &files,
                Bitmap::new(8),
                providers,
                quick(),
                |_, _| {},
            )
            .await
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task").expect("fetched");
    }
    for n in &stores {
        for h in &hashes {
            assert!(n.store.verify(*h).await.expect("verify"));
        }
    }
    let up = origin.ep.stats.uploaded_bytes.load(Relaxed);
    assert!(
        up <= 8 * 100_000 + 100_000,
        "the origin sent each file about once: {up} bytes"
    );
    assert!(origin.ep.stats.served_requests.load(Relaxed) <= 9);
    // Each copy handed out was news for the stores that had asked the origin.
    assert!(origin.ep.stats.news_sent.load(Relaxed) >= 1);
    // Every file was handed out: the origin now offers none, and names who holds them.
    let asker = node("late", Hash::new(b"-"), ServeOptions::default(), None).await;
    match asker.fetcher.have(&provider(&origin), manifest).await {
        Ok(HaveAnswer::Seeding(bits, hints)) => {
            assert_eq!(bits.count(), 0);
            let ids: Vec<EndpointId> = stores.iter().map(|n| n.ep.id()).collect();
            assert!(hints.len() >= 8, "{hints:?}");
            assert!(hints.iter().all(|(i, id)| *i < 8 && ids.contains(id)));
        }
        other => panic!("expected a seeding answer: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_tells_those_who_asked_it_of_each_file_it_completes() {
    let open = ServeOptions::default();
    let origin = node("origin", Hash::new(b"-"), open, None).await;
    let a = node("a", Hash::new(b"-"), open, None).await;
    let b = node("b", Hash::new(b"-"), open, None).await;
    let (files, _tags) = add_files(&origin, &[40_000; 3]).await;
    let manifest = manifest_of(&files);
    origin.ep.have.put(manifest, Bitmap::full(3));
    a.ep.have.put(manifest, Bitmap::new(3));
    b.ep.have.put(manifest, Bitmap::new(3));
    // `b` asks `a` once: nothing yet.
    assert_eq!(
        b.fetcher.have(&provider(&a), manifest).await,
        Ok(HaveAnswer::Known(Bitmap::new(3)))
    );
    fetch_repository(
        &a.fetcher,
        "a",
        manifest,
        &files,
        Bitmap::new(3),
        vec![SwarmProvider {
            provider: provider(&origin),
            complete: true,
        }],
        quick(),
        |_, _| {},
    )
    .await
    .expect("fetched");
    // `b` is not asked again, yet hears that `a` holds everything now.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut latest = None;
    while latest != Some(HaveAnswer::Known(Bitmap::full(3))) {
        for (id, answer) in b.ep.have.take_news(&manifest) {
            assert_eq!(id, a.ep.id());
            latest = Some(answer);
        }
        assert!(
            Instant::now() < deadline,
            "no news of the last file: {latest:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(a.ep.stats.news_sent.load(Relaxed) >= 1);
    assert!(b.fetcher.stats.news.load(Relaxed) >= 1);
    assert_eq!(b.fetcher.stats.have_polls.load(Relaxed), 1, "asked once");
    // `origin` was asked by `a` but completed nothing: it told nobody anything.
    assert_eq!(origin.ep.stats.news_sent.load(Relaxed), 0);
}

//! The WAN test bed, short (issue 17): 40 peers in 20 zones in this process, WAN links between
//! the zones (20–200 ms, 1 % loss, 256 KiB/s per direction). Membership agrees after start, a
//! write reaches every peer, a zone cut from all others is seen down by every other peer, and
//! after the heal every peer sees every other alive again. The full run (500 peers, 250 zones)
//! is `scripts/wan-bed.sh` (docs/PERFORMANCE.md).

use std::time::{Duration, Instant};

use netsim_tests::wanbed::{BedOptions, WanBed};

#[test]
fn forty_peers_in_twenty_zones_agree_see_a_zone_drop_and_carry_a_write() {
    let bed = WanBed::start(BedOptions {
        peers: 40,
        zones: 20,
        seed: 3,
        // A dropped zone is down 8 s after its summaries stop (production: 60 s).
        wan_suspicion_ms: 8000,
        ..BedOptions::default()
    })
    .expect("bed");
    let all = bed.all();
    let alive = bed.all_alive();
    let (t, _) = bed
        .wait_agree(&all, bed.t0, Duration::from_secs(90), "after start", &alive)
        .expect("membership agrees after start");
    println!("agreed {:.1} s after the first start", t.as_secs_f64());

    let t = Instant::now();
    let fp = bed.register(17, 4242).expect("write");
    let times = bed
        .propagation(&all, &fp, t, Duration::from_secs(30))
        .expect("the write reaches every peer");
    assert_eq!(times.len(), 40);

    let zone = bed.zones[7].clone();
    let others: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&i| bed.peers[i].zone != zone)
        .collect();
    let t = Instant::now();
    bed.cut_zone(&zone);
    let z = zone.clone();
    let (d, _) = bed
        .wait_agree(
            &others,
            t,
            Duration::from_secs(60),
            "zone down",
            move |_, m| {
                let of: Vec<_> = m.iter().filter(|v| v.zone == z).collect();
                of.len() == 2 && of.iter().all(|v| v.status == "down")
            },
        )
        .expect("every other peer sees the cut zone down");
    println!(
        "zone {zone} down everywhere {:.1} s after the cut",
        d.as_secs_f64()
    );

    let t = Instant::now();
    bed.heal_zone(&zone);
    bed.wait_agree(&all, t, Duration::from_secs(60), "after the heal", &alive)
        .expect("every peer sees every other alive after the heal");
    bed.shutdown();
}

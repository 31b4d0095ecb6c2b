//! Jitter and back-off arithmetic (pure functions; the RNG is passed in).

use std::time::Duration;

use rand::Rng;

/// Relative jitter of every wait: ±20 %, so a fleet restarted at once spreads out.
pub const JITTER: f64 = 0.2;

/// `d` scaled by a uniform factor in `[1 - JITTER, 1 + JITTER]`.
pub fn jittered<R: Rng + ?Sized>(d: Duration, rng: &mut R) -> Duration {
    d.mul_f64(rng.random_range((1.0 - JITTER)..=(1.0 + JITTER)))
}

/// The wait after `rounds` exhausted rounds (0 for the first): `base · 2^rounds`, at most `max`.
/// Jitter is applied on top by the caller, so waits at the cap still spread out.
pub fn backoff(base: Duration, rounds: u32, max: Duration) -> Duration {
    base.saturating_mul(1u32 << rounds.min(20)).min(max)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn jitter_stays_within_twenty_percent_and_varies() {
        let mut rng = StdRng::seed_from_u64(7);
        let d = Duration::from_secs(60);
        let samples: Vec<Duration> = (0..1000).map(|_| jittered(d, &mut rng)).collect();
        assert!(
            samples
                .iter()
                .all(|s| *s >= Duration::from_secs(48) && *s <= Duration::from_secs(72))
        );
        let min = samples.iter().min().unwrap();
        let max = samples.iter().max().unwrap();
        assert!(
            *max - *min > Duration::from_secs(20),
            "spread {min:?}..{max:?}"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = Duration::from_secs;
        let got: Vec<Duration> = (0..8).map(|r| backoff(s(60), r, s(300))).collect();
        assert_eq!(
            got,
            [
                s(60),
                s(120),
                s(240),
                s(300),
                s(300),
                s(300),
                s(300),
                s(300)
            ]
        );
        assert_eq!(backoff(s(1), 1000, s(300)), s(300));
    }
}

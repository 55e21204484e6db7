//! The delay before a failed delivery's next attempt: exponential, capped, with "equal jitter"
//! (half the delay fixed, half random), so that deliveries failing together do not all come
//! back at the same instant, and none comes back sooner than half its step.
//!
//! The random half is drawn from the random bits of a UUIDv7 (`uuid` is already a dependency
//! and its generator is seeded from the OS): jitter needs spread, not cryptographic strength.

use std::time::Duration;

/// The delay after the `failures`-th failure (1 for the first): `base * 2^(failures-1)`, capped
/// at `max`, then jittered into `[step/2, step]`.
pub fn delay(failures: i32, base: Duration, max: Duration) -> Duration {
    jittered(step(failures, base, max), random())
}

/// The un-jittered delay.
pub fn step(failures: i32, base: Duration, max: Duration) -> Duration {
    let exponent = u32::try_from(failures.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    base.saturating_mul(1u32 << exponent).min(max)
}

/// `step/2 + random mod (step/2 + 1)`, in microseconds.
fn jittered(step: Duration, random: u64) -> Duration {
    let micros = u64::try_from(step.as_micros()).unwrap_or(u64::MAX);
    let half = micros / 2;
    Duration::from_micros(half + random % (micros - half + 1))
}

fn random() -> u64 {
    // The low 62 bits of a UUIDv7 are random (`rand_b`).
    let bits = uuid::Uuid::now_v7().as_u128();
    (bits & u128::from(u64::MAX)) as u64 & ((1 << 62) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_doubles_per_failure_up_to_the_cap() {
        let (base, max) = (Duration::from_secs(5), Duration::from_secs(3600));
        let steps: Vec<u64> = (1..=12).map(|n| step(n, base, max).as_secs()).collect();
        assert_eq!(
            steps,
            [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        assert_eq!(step(i32::MAX, base, max), max);
        assert_eq!(step(0, base, max), base);
    }

    #[test]
    fn jitter_stays_between_half_the_step_and_the_step() {
        let step = Duration::from_secs(10);
        for random in [0, 1, 4_999_999, 5_000_000, u64::MAX] {
            let delay = jittered(step, random);
            assert!(delay >= step / 2 && delay <= step, "{delay:?}");
        }
        assert_eq!(jittered(Duration::ZERO, 7), Duration::ZERO);
    }
}

//! The delay before the next attempt of something that failed (a subscriber's step, a webhook
//! delivery): exponential, capped, with "equal jitter" (half the delay fixed, half random), so
//! that work failing together does not all come back at the same instant, and none comes back
//! sooner than half its step.

use std::time::Duration;

use rand::Rng as _;

/// The delay after the `failures`-th failure (1 for the first): `base * 2^(failures-1)`, capped
/// at `max`, then jittered into `[step/2, step]`.
pub fn delay(failures: i32, base: Duration, max: Duration) -> Duration {
    let step = step(failures, base, max);
    let micros = u64::try_from(step.as_micros()).unwrap_or(u64::MAX);
    jittered(step, rand::thread_rng().gen_range(0..=micros / 2 + 1))
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
        for failures in 1..40 {
            let delay = delay(failures, Duration::from_millis(3), Duration::from_secs(1));
            let full = super::step(failures, Duration::from_millis(3), Duration::from_secs(1));
            assert!(delay >= full / 2 && delay <= full, "{delay:?} of {full:?}");
        }
    }
}

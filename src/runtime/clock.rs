//! The runtime's clock: real time, real time sped up for demos, or time
//! stopped at one instant for tests.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// Virtual time that runs `speed` times faster than the wall clock from a
/// starting point. `speed == 1` is the real clock.
#[derive(Clone, Debug)]
pub struct Clock {
    real_start: Instant,
    virtual_start: DateTime<Utc>,
    speed: u32,
    /// Time stands still at `virtual_start`.
    frozen: bool,
}

impl Clock {
    /// The wall clock.
    pub fn real() -> Self {
        Self::accelerated(Utc::now(), 1)
    }

    /// Starts at `start` and runs `speed` times faster than real time.
    pub fn accelerated(start: DateTime<Utc>, speed: u32) -> Self {
        Clock {
            real_start: Instant::now(),
            virtual_start: start,
            speed: speed.max(1),
            frozen: false,
        }
    }

    /// Time stopped at `t`: every call to [`Clock::now`] answers `t`. For
    /// tests that drive the runtime instant by instant.
    pub fn fixed(t: DateTime<Utc>) -> Self {
        Clock {
            real_start: Instant::now(),
            virtual_start: t,
            speed: 1,
            frozen: true,
        }
    }

    pub fn speed(&self) -> u32 {
        self.speed
    }

    pub fn now(&self) -> DateTime<Utc> {
        if self.frozen {
            return self.virtual_start;
        }
        let elapsed = self.real_start.elapsed();
        let scaled = elapsed.as_millis() as i64 * self.speed as i64;
        self.virtual_start + chrono::Duration::milliseconds(scaled)
    }

    pub fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }

    /// How long to really wait until virtual time `t` (Unix milliseconds).
    pub fn real_wait_until(&self, t: i64) -> Duration {
        let ahead = t - self.now_ms();
        if ahead <= 0 {
            return Duration::ZERO;
        }
        Duration::from_millis((ahead as u64).div_ceil(self.speed as u64))
    }

    /// A virtual duration in real time.
    pub fn to_real(&self, virtual_duration: Duration) -> Duration {
        virtual_duration / self.speed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_never_moves() {
        let t = Utc::now() - chrono::Duration::days(3);
        let clock = Clock::fixed(t);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.now(), t);
        assert_eq!(
            clock.real_wait_until(t.timestamp_millis() - 1),
            Duration::ZERO
        );
    }
}

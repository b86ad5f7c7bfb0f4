//! A small measuring harness: warm-up, calibrated samples, median and spread.
//!
//! It owns timing and the printed table only; it knows nothing of relance.
//! Each measure first runs its closure for a warm-up period, which also
//! estimates the cost of one call; it then takes [`SAMPLES`] samples of
//! enough calls to last about [`SAMPLE_TARGET`] each, and reports the
//! median cost per call with the fastest and slowest sample.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// How long a measure runs its closure before sampling.
pub const WARM_UP: Duration = Duration::from_millis(300);
/// How long one sample should last.
pub const SAMPLE_TARGET: Duration = Duration::from_millis(40);
/// Samples per measure; odd, so the median is one sample.
pub const SAMPLES: usize = 25;

/// What one measure found, in nanoseconds per call.
#[derive(Clone, Debug)]
pub struct Measure {
    pub name: String,
    pub median_ns: f64,
    pub min_ns: f64,
    pub max_ns: f64,
}

impl Measure {
    /// Calls per second on one core, from the median.
    pub fn per_second(&self) -> f64 {
        1e9 / self.median_ns
    }

    /// Half the gap between the fastest and slowest sample, as a share of
    /// the median.
    pub fn spread(&self) -> f64 {
        (self.max_ns - self.min_ns) / 2.0 / self.median_ns
    }
}

/// Measures `f`, which must do the same work on every call.
pub fn measure<T>(name: &str, mut f: impl FnMut() -> T) -> Measure {
    let started = Instant::now();
    let mut warm_calls: u64 = 0;
    while started.elapsed() < WARM_UP {
        black_box(f());
        warm_calls += 1;
    }
    let estimate = started.elapsed().as_nanos() as f64 / warm_calls as f64;
    let iterations = ((SAMPLE_TARGET.as_nanos() as f64 / estimate) as u64).max(1);

    let mut samples: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                black_box(f());
            }
            start.elapsed().as_nanos() as f64 / iterations as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);

    Measure {
        name: name.to_string(),
        median_ns: samples[SAMPLES / 2],
        min_ns: samples[0],
        max_ns: samples[SAMPLES - 1],
    }
}

/// A duration in the unit that suits it.
pub fn human(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.1} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else {
        format!("{:.2} ms", ns / 1_000_000.0)
    }
}

/// A rate with thousands grouped by spaces, so that it reads at a glance.
pub fn rate(per_second: f64) -> String {
    let digits = format!("{:.0}", per_second);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// Prints the measures as an aligned table.
pub fn print_table(measures: &[Measure]) {
    let header = ["measure", "median", "min", "max", "spread", "per second"];
    let rows: Vec<[String; 6]> = measures
        .iter()
        .map(|m| {
            [
                m.name.clone(),
                human(m.median_ns),
                human(m.min_ns),
                human(m.max_ns),
                format!("±{:.1}%", m.spread() * 100.0),
                rate(m.per_second()),
            ]
        })
        .collect();

    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 6]| {
        let mut out = format!("{:<w$}", cells[0], w = widths[0]);
        for (i, cell) in cells.iter().enumerate().skip(1) {
            let pad = widths[i] - cell.chars().count();
            out.push_str("  ");
            out.push_str(&" ".repeat(pad));
            out.push_str(cell);
        }
        out
    };
    println!("{}", line(&header.map(String::from)));
    println!(
        "{}",
        "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1))
    );
    for row in &rows {
        println!("{}", line(row));
    }
}

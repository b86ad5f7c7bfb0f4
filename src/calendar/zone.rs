//! Time-zone helpers shared by durations and windows: reading the local wall clock without
//! panicking, turning a wall time back into an instant across DST changes, and finding the
//! instant a zone's offset changes.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc};

/// The local wall-clock time of `t`, or `None` at the very ends of chrono's range.
pub(crate) fn wall_clock<Tz: TimeZone>(t: &DateTime<Tz>) -> Option<NaiveDateTime> {
    t.naive_utc().checked_add_offset(t.offset().fix())
}

/// The instant `local` denotes in `tz`. A wall time that does not exist (skipped by a
/// spring-forward change) gives the first instant after the gap; an ambiguous one (repeated
/// by a fall-back change) gives the earlier instant.
pub(crate) fn resolve<Tz: TimeZone>(tz: &Tz, local: NaiveDateTime) -> Option<DateTime<Tz>> {
    if let Some(t) = tz.from_local_datetime(&local).earliest() {
        return Some(t);
    }

    // In a gap. Local time as a function of the instant is increasing around here, so
    // search for the first whole second whose wall clock is at or after `local`. No zone's
    // offset reaches 30 hours, which bounds the search.
    let guess = local.and_utc().timestamp();
    let mut lo = guess.checked_sub(30 * 3600)?; // wall clock before `local`
    let mut hi = guess.checked_add(30 * 3600)?; // wall clock at or after `local`
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if wall_clock_at(tz, mid)? >= local {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let instant = DateTime::from_timestamp(hi, 0)?;
    Some(tz.from_utc_datetime(&instant.naive_utc()))
}

/// The first instant in `(from, to]` at which `tz`'s offset differs from its offset at
/// `from`, assuming the offset changes at most once in that span. `None` when the offsets
/// at both ends are equal.
pub(crate) fn first_offset_change<Tz: TimeZone>(
    tz: &Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let before = offset_at(tz, &from.naive_utc());
    if offset_at(tz, &to.naive_utc()) == before || to <= from {
        return None;
    }

    // Offsets change on whole seconds.
    let mut lo = from.timestamp(); // same offset as `from`
    let mut hi = to.timestamp(); // a different offset
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let naive = DateTime::from_timestamp(mid, 0)?.naive_utc();
        if offset_at(tz, &naive) == before {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    DateTime::from_timestamp(hi, 0)
}

/// A far instant, one day inside chrono's range so that any zone can still show it.
pub(crate) fn saturated<Tz: TimeZone>(tz: &Tz, forward: bool) -> DateTime<Tz> {
    let date = if forward {
        NaiveDate::MAX.pred_opt()
    } else {
        NaiveDate::MIN.succ_opt()
    };
    let naive = date.unwrap_or_default().and_time(NaiveTime::MIN);
    tz.from_utc_datetime(&naive)
}

fn offset_at<Tz: TimeZone>(tz: &Tz, utc: &NaiveDateTime) -> chrono::FixedOffset {
    tz.offset_from_utc_datetime(utc).fix()
}

fn wall_clock_at<Tz: TimeZone>(tz: &Tz, timestamp: i64) -> Option<NaiveDateTime> {
    let utc = DateTime::from_timestamp(timestamp, 0)?.naive_utc();
    utc.checked_add_offset(offset_at(tz, &utc))
}

/// `local` minus `from`'s wall clock, added to `from`: the instant at which the wall clock
/// would read `local` if the offset did not change in between.
pub(crate) fn at_same_offset(
    from: DateTime<Utc>,
    from_wall: NaiveDateTime,
    local: NaiveDateTime,
) -> Option<DateTime<Utc>> {
    let delta: TimeDelta = local.signed_duration_since(from_wall);
    from.checked_add_signed(delta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Paris;

    fn naive(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("valid test time")
    }

    #[test]
    fn a_skipped_wall_time_resolves_to_the_end_of_the_gap() {
        // Paris skips 02:00–03:00 on 2026-03-29; 03:00 CEST is 01:00 UTC.
        let t = resolve(&Paris, naive("2026-03-29 02:30")).unwrap();
        assert_eq!(t.naive_utc(), naive("2026-03-29 01:00"));
        assert_eq!(t.naive_local(), naive("2026-03-29 03:00"));
    }

    #[test]
    fn a_repeated_wall_time_resolves_to_the_earlier_instant() {
        // Paris repeats 02:00–03:00 on 2026-10-25; the first 02:30 is CEST (00:30 UTC).
        let t = resolve(&Paris, naive("2026-10-25 02:30")).unwrap();
        assert_eq!(t.naive_utc(), naive("2026-10-25 00:30"));
    }

    #[test]
    fn offset_change_is_found_to_the_second() {
        let from = naive("2026-10-24 12:00").and_utc();
        let to = naive("2026-10-26 12:00").and_utc();
        let change = first_offset_change(&Paris, from, to).unwrap();
        assert_eq!(change.naive_utc(), naive("2026-10-25 01:00"));
        assert_eq!(
            first_offset_change(&Paris, from, from + TimeDelta::hours(5)),
            None
        );
    }

    #[test]
    fn saturated_instants_can_be_shown_in_any_zone() {
        let far = saturated(&Paris, true);
        assert!(wall_clock(&far).is_some());
        let early = saturated(&chrono::FixedOffset::west_opt(86_000).unwrap(), false);
        assert!(wall_clock(&early).is_some());
    }
}

//! The business calendar as the scenario engine sees it: holidays per country, business-day
//! arithmetic, durations and sending windows, checked against dates worked out by hand.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use relance::calendar::{Calendar, Country, Duration, Unit, Window, easter_sunday, holidays};

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("valid test date")
}

fn utc(s: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
        .expect("valid test time")
        .and_utc()
}

/// A wall-clock time in `tz` that exists exactly once.
fn local(tz: Tz, s: &str) -> DateTime<Tz> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("valid test time");
    tz.from_local_datetime(&naive)
        .single()
        .expect("unambiguous test time")
}

mod holidays_by_country {
    use super::*;

    /// Checks the dates (written space-separated, in order) and that names are present.
    fn assert_holidays(country: Country, year: i32, expected: &str) {
        let got: Vec<NaiveDate> = holidays(country, year).iter().map(|h| h.date).collect();
        let expected: Vec<NaiveDate> = expected.split_whitespace().map(date).collect();
        assert_eq!(got, expected, "{country} {year}");
        assert!(holidays(country, year).iter().all(|h| !h.name.is_empty()));
    }

    // Working: Easter 2025 is 20 April, so Good Friday 18 Apr, Easter Monday 21 Apr,
    // Ascension (+39) 29 May, Whit Monday (+50) 9 June. Easter 2026 is 5 April: Good Friday
    // 3 Apr, Easter Monday 6 Apr, Ascension 14 May, Whit Monday 25 May.

    #[test]
    fn france_has_eleven_holidays_without_alsace_moselle_extras() {
        assert_holidays(
            Country::FR,
            2025,
            "2025-01-01 2025-04-21 2025-05-01 2025-05-08 2025-05-29 2025-06-09 \
             2025-07-14 2025-08-15 2025-11-01 2025-11-11 2025-12-25",
        );
        assert_holidays(
            Country::FR,
            2026,
            "2026-01-01 2026-04-06 2026-05-01 2026-05-08 2026-05-14 2026-05-25 \
             2026-07-14 2026-08-15 2026-11-01 2026-11-11 2026-12-25",
        );
        // No Good Friday nor St Stephen's Day (Alsace-Moselle only).
        assert!(
            !holidays(Country::FR, 2026)
                .iter()
                .any(|h| h.date == date("2026-04-03"))
        );
    }

    #[test]
    fn holidays_are_named_in_english() {
        let names: Vec<&str> = holidays(Country::FR, 2026).iter().map(|h| h.name).collect();
        assert_eq!(
            names,
            [
                "New Year's Day",
                "Easter Monday",
                "Labour Day",
                "Victory in Europe Day",
                "Ascension Day",
                "Whit Monday",
                "Bastille Day",
                "Assumption Day",
                "All Saints' Day",
                "Armistice Day",
                "Christmas Day",
            ]
        );
        let it = Calendar::new(Some(Country::IT));
        assert_eq!(
            it.holiday(date("2026-10-04")).map(|h| h.name),
            Some("St Francis of Assisi")
        );
    }

    #[test]
    fn spain_has_its_national_holidays_only() {
        assert_holidays(
            Country::ES,
            2025,
            "2025-01-01 2025-01-06 2025-04-18 2025-05-01 2025-08-15 2025-10-12 \
             2025-11-01 2025-12-06 2025-12-08 2025-12-25",
        );
        assert_holidays(
            Country::ES,
            2026,
            "2026-01-01 2026-01-06 2026-04-03 2026-05-01 2026-08-15 2026-10-12 \
             2026-11-01 2026-12-06 2026-12-08 2026-12-25",
        );
    }

    #[test]
    fn germany_has_its_nationwide_holidays() {
        assert_holidays(
            Country::DE,
            2025,
            "2025-01-01 2025-04-18 2025-04-21 2025-05-01 2025-05-29 2025-06-09 \
             2025-10-03 2025-12-25 2025-12-26",
        );
        assert_holidays(
            Country::DE,
            2026,
            "2026-01-01 2026-04-03 2026-04-06 2026-05-01 2026-05-14 2026-05-25 \
             2026-10-03 2026-12-25 2026-12-26",
        );
    }

    #[test]
    fn italy_adds_st_francis_from_2026() {
        assert_holidays(
            Country::IT,
            2025,
            "2025-01-01 2025-01-06 2025-04-21 2025-04-25 2025-05-01 2025-06-02 \
             2025-08-15 2025-11-01 2025-12-08 2025-12-25 2025-12-26",
        );
        assert_holidays(
            Country::IT,
            2026,
            "2026-01-01 2026-01-06 2026-04-06 2026-04-25 2026-05-01 2026-06-02 \
             2026-08-15 2026-10-04 2026-11-01 2026-12-08 2026-12-25 2026-12-26",
        );
    }

    #[test]
    fn belgium_has_ten_holidays() {
        assert_holidays(
            Country::BE,
            2025,
            "2025-01-01 2025-04-21 2025-05-01 2025-05-29 2025-06-09 2025-07-21 \
             2025-08-15 2025-11-01 2025-11-11 2025-12-25",
        );
        assert_holidays(
            Country::BE,
            2026,
            "2026-01-01 2026-04-06 2026-05-01 2026-05-14 2026-05-25 2026-07-21 \
             2026-08-15 2026-11-01 2026-11-11 2026-12-25",
        );
    }

    #[test]
    fn netherlands_has_liberation_day_in_jubilee_years_and_no_good_friday() {
        // 2025: 27 April is a Sunday, so King's Day is Saturday 26 April; 2025 is a
        // jubilee year, so 5 May is off.
        assert_holidays(
            Country::NL,
            2025,
            "2025-01-01 2025-04-21 2025-04-26 2025-05-05 2025-05-29 2025-06-09 \
             2025-12-25 2025-12-26",
        );
        assert_holidays(
            Country::NL,
            2026,
            "2026-01-01 2026-04-06 2026-04-27 2026-05-14 2026-05-25 2026-12-25 \
             2026-12-26",
        );
        assert!(Calendar::new(Some(Country::NL)).is_business_day(date("2026-04-03")));
    }

    #[test]
    fn great_britain_lists_bank_holidays_on_their_observed_days() {
        // 2026: Christmas is a Friday, so Boxing Day moves to Monday 28 December.
        assert_holidays(
            Country::GB,
            2026,
            "2026-01-01 2026-04-03 2026-04-06 2026-05-04 2026-05-25 2026-08-31 \
             2026-12-25 2026-12-28",
        );
        // 2027: Easter is 28 March; Christmas is a Saturday, so both days move to
        // Monday 27 and Tuesday 28 December.
        assert_holidays(
            Country::GB,
            2027,
            "2027-01-01 2027-03-26 2027-03-29 2027-05-03 2027-05-31 2027-08-30 \
             2027-12-27 2027-12-28",
        );
        let names: Vec<&str> = holidays(Country::GB, 2027).iter().map(|h| h.name).collect();
        assert_eq!(names[6], "Christmas Day (substitute day)");
        assert_eq!(names[7], "Boxing Day (substitute day)");
    }

    #[test]
    fn great_britain_substitutes_a_weekend_new_year_and_a_sunday_christmas() {
        // 1 January 2022 is a Saturday; 25 December 2022 a Sunday, so Boxing Day stays on
        // Monday 26 and Christmas moves to Tuesday 27. The 2022 one-off days (Platinum
        // Jubilee, state funeral, spring holiday moved to 2 June) are not modelled.
        let list = holidays(Country::GB, 2022);
        assert_eq!(list.first().map(|h| h.date), Some(date("2022-01-03")));
        let end: Vec<(NaiveDate, &str)> = list[list.len() - 2..]
            .iter()
            .map(|h| (h.date, h.name))
            .collect();
        assert_eq!(
            end,
            [
                (date("2022-12-26"), "Boxing Day"),
                (date("2022-12-27"), "Christmas Day (substitute day)"),
            ]
        );
    }

    #[test]
    fn easter_matches_a_dozen_known_years() {
        for (year, expected) in [
            (1961, "1961-04-02"),
            (2000, "2000-04-23"),
            (2019, "2019-04-21"),
            (2020, "2020-04-12"),
            (2021, "2021-04-04"),
            (2022, "2022-04-17"),
            (2023, "2023-04-09"),
            (2024, "2024-03-31"),
            (2025, "2025-04-20"),
            (2026, "2026-04-05"),
            (2027, "2027-03-28"),
            (2028, "2028-04-16"),
            (2029, "2029-04-01"),
            (2030, "2030-04-21"),
            (2038, "2038-04-25"),
        ] {
            assert_eq!(easter_sunday(year), date(expected), "{year}");
        }
        for year in 1583..3000 {
            let easter = easter_sunday(year);
            assert_eq!(easter.weekday(), Weekday::Sun);
            assert!(date(&format!("{year}-03-22")) <= easter);
            assert!(easter <= date(&format!("{year}-04-25")));
        }
    }
}

mod business_days {
    use super::*;

    #[test]
    fn french_may_2026_skips_victory_day_and_ascension() {
        let fr = Calendar::new(Some(Country::FR));
        // Thu 7 May +1 skips Fri 8 May (holiday) and the weekend.
        assert_eq!(
            fr.add_business_days(date("2026-05-07"), 1),
            date("2026-05-11")
        );
        // Wed 6 May +5: Thu 7, Mon 11, Tue 12, Wed 13, (Thu 14 Ascension), Fri 15.
        assert_eq!(
            fr.add_business_days(date("2026-05-06"), 5),
            date("2026-05-15")
        );
        assert_eq!(
            fr.add_business_days(date("2026-05-15"), -5),
            date("2026-05-06")
        );
        // Whit Monday 25 May: Fri 22 +1 is Tue 26.
        assert_eq!(
            fr.add_business_days(date("2026-05-22"), 1),
            date("2026-05-26")
        );
        assert_eq!(
            fr.add_business_days(date("2026-05-26"), -1),
            date("2026-05-22")
        );
        // Without a country, 8 May is a plain Friday.
        let plain = Calendar::new(None);
        assert_eq!(
            plain.add_business_days(date("2026-05-07"), 1),
            date("2026-05-08")
        );
        assert_eq!(plain.country(), None);
    }

    #[test]
    fn zero_rolls_to_the_next_business_day() {
        let fr = Calendar::new(Some(Country::FR));
        assert_eq!(
            fr.add_business_days(date("2026-05-08"), 0),
            date("2026-05-11")
        );
        assert_eq!(
            fr.add_business_days(date("2026-05-12"), 0),
            date("2026-05-12")
        );
        assert_eq!(fr.next_business_day(date("2026-05-09")), date("2026-05-11"));
        assert_eq!(
            fr.previous_business_day(date("2026-05-10")),
            date("2026-05-07")
        );
    }

    #[test]
    fn counting_starts_from_a_weekend_day_too() {
        let de = Calendar::new(Some(Country::DE));
        assert_eq!(
            de.add_business_days(date("2026-03-07"), 1),
            date("2026-03-09")
        );
        assert_eq!(
            de.add_business_days(date("2026-03-08"), -1),
            date("2026-03-06")
        );
        // Easter 2026: Thu 2 April +1 skips Good Friday and Easter Monday.
        assert_eq!(
            de.add_business_days(date("2026-04-02"), 1),
            date("2026-04-07")
        );
        assert_eq!(
            de.add_business_days(date("2026-04-07"), -1),
            date("2026-04-02")
        );
    }

    #[test]
    fn british_christmas_2026_skips_the_boxing_day_substitute() {
        let gb = Calendar::new(Some(Country::GB));
        assert_eq!(
            gb.add_business_days(date("2026-12-24"), 1),
            date("2026-12-29")
        );
        assert!(!gb.is_business_day(date("2026-12-28")));
        assert_eq!(
            gb.holiday(date("2026-12-28")).map(|h| h.name),
            Some("Boxing Day (substitute day)")
        );
        assert_eq!(gb.holiday(date("2026-12-29")), None);
    }

    #[test]
    fn business_days_cross_the_new_year() {
        let it = Calendar::new(Some(Country::IT));
        // Thu 24 Dec 2026, (25, 26, 27 off), Mon 28, Tue 29, Wed 30, Thu 31, (1 Jan off,
        // weekend), Mon 4, Tue 5, (6 Jan Epiphany), Thu 7.
        assert_eq!(
            it.add_business_days(date("2026-12-24"), 7),
            date("2027-01-07")
        );
        assert_eq!(
            it.add_business_days(date("2027-01-07"), -7),
            date("2026-12-24")
        );
    }
}

mod durations {
    use super::*;
    use chrono_tz::Europe::Paris;

    fn d(s: &str) -> Duration {
        s.parse().expect(s)
    }

    #[test]
    fn months_clamp_to_the_end_of_the_month() {
        let cal = Calendar::default();
        assert_eq!(
            d("1m").shift_date(&cal, date("2026-01-31"), true),
            date("2026-02-28")
        );
        assert_eq!(
            d("1m").shift_date(&cal, date("2024-01-31"), true),
            date("2024-02-29")
        );
        assert_eq!(
            d("1m").shift_date(&cal, date("2026-03-31"), false),
            date("2026-02-28")
        );
        assert_eq!(
            d("2mo").shift_date(&cal, date("2025-12-31"), true),
            date("2026-02-28")
        );
        assert_eq!(
            d("1m").shift_date(&cal, date("2026-05-31"), true),
            date("2026-06-30")
        );
        assert_eq!(
            d("12m").shift_date(&cal, date("2024-02-29"), true),
            date("2025-02-28")
        );

        let t = local(Paris, "2026-01-31 10:00");
        assert_eq!(
            d("1m").shift(&cal, &t, true),
            local(Paris, "2026-02-28 10:00")
        );
    }

    #[test]
    fn days_keep_the_wall_clock_across_dst_and_hours_do_not() {
        let cal = Calendar::default();
        let before = local(Paris, "2026-03-28 10:00");
        assert_eq!(
            d("1d").shift(&cal, &before, true),
            local(Paris, "2026-03-29 10:00")
        );
        assert_eq!(
            d("24h").shift(&cal, &before, true),
            local(Paris, "2026-03-29 11:00")
        );
        let autumn = local(Paris, "2026-10-24 10:00");
        assert_eq!(
            d("1w").shift(&cal, &autumn, true),
            local(Paris, "2026-10-31 10:00")
        );
        assert_eq!(
            d("24h").shift(&cal, &autumn, true),
            local(Paris, "2026-10-25 09:00")
        );
        assert_eq!(
            d("3h").shift(&cal, &autumn, false),
            local(Paris, "2026-10-24 07:00")
        );
    }

    #[test]
    fn a_skipped_wall_time_moves_to_the_end_of_the_gap() {
        let cal = Calendar::default();
        let t = local(Paris, "2026-03-28 02:30");
        let shifted = d("1d").shift(&cal, &t, true);
        assert_eq!(shifted.with_timezone(&Utc), utc("2026-03-29 01:00"));
        assert_eq!(shifted.naive_local().to_string(), "2026-03-29 03:00:00");
    }

    #[test]
    fn a_repeated_wall_time_takes_the_earlier_instant() {
        let cal = Calendar::default();
        let t = local(Paris, "2026-10-24 02:30");
        let shifted = d("1d").shift(&cal, &t, true);
        assert_eq!(shifted.with_timezone(&Utc), utc("2026-10-25 00:30"));
    }

    #[test]
    fn business_days_keep_the_wall_time() {
        let fr = Calendar::new(Some(Country::FR));
        let t = local(Paris, "2026-05-07 15:00");
        assert_eq!(
            d("1bd").shift(&fr, &t, true),
            local(Paris, "2026-05-11 15:00")
        );
        assert_eq!(
            d("1bd").shift(&fr, &local(Paris, "2026-05-11 15:00"), false),
            t
        );
        // 0bd rolls forward going forward and backward going backward.
        let holiday = local(Paris, "2026-05-08 15:00");
        assert_eq!(
            d("0bd").shift(&fr, &holiday, true),
            local(Paris, "2026-05-11 15:00")
        );
        assert_eq!(d("0bd").shift(&fr, &holiday, false), t);
    }

    #[test]
    fn shifts_work_in_utc_and_fixed_offsets() {
        let cal = Calendar::default();
        let t = utc("2026-01-31 23:30");
        assert_eq!(d("1m").shift(&cal, &t, true), utc("2026-02-28 23:30"));
        let fixed = chrono::FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
        let t = fixed.with_ymd_and_hms(2026, 3, 6, 12, 0, 0).unwrap();
        assert_eq!(
            d("1bd").shift(&cal, &t, true),
            fixed.with_ymd_and_hms(2026, 3, 9, 12, 0, 0).unwrap()
        );
    }

    #[test]
    fn parse_errors_give_the_byte_offset_of_the_problem() {
        for (input, offset, message) in [
            ("", 0, "empty duration: write a number then a unit, e.g. 3d"),
            ("bd", 0, "missing number before unit"),
            ("5bx", 1, "unknown unit \"bx\": use h, d, bd, w or m"),
            ("15", 2, "missing unit after 15: use h, d, bd, w or m"),
            (
                "-3d",
                0,
                "unexpected sign \"-\": a duration has no sign, write e.g. 3d",
            ),
            (
                "3 d",
                1,
                "unexpected space: write the number and the unit together, e.g. 5bd",
            ),
            (
                "3d4h",
                2,
                "unexpected \"4h\" after the unit: write one number and one unit, e.g. 5bd",
            ),
            (
                "1.5d",
                1,
                "a duration is a whole number: use a smaller unit, e.g. 36h rather than 1.5d",
            ),
            ("10é", 2, "unknown unit \"é\": use h, d, bd, w or m"),
        ] {
            let err = input.parse::<Duration>().expect_err(input);
            assert_eq!(
                (err.offset, err.message.as_str()),
                (offset, message),
                "{input:?}"
            );
        }
    }

    #[test]
    fn canonical_form_round_trips() {
        for text in ["12h", "3d", "5bd", "2w", "1m", "0d"] {
            assert_eq!(d(text).to_string(), text);
        }
        assert_eq!(
            d("3mo"),
            Duration {
                amount: 3,
                unit: Unit::Months
            }
        );
    }
}

mod windows {
    use super::*;
    use chrono_tz::{Africa::Cairo, America::New_York, Europe::Paris};

    fn office() -> Window {
        "09:00-18:00".parse().expect("valid window")
    }

    fn open_at(cal: &Calendar, tz: Tz, t: DateTime<Utc>) -> DateTime<Utc> {
        office().next_open(cal, tz, t)
    }

    #[test]
    fn sunday_night_waits_for_monday_morning() {
        let fr = Calendar::new(Some(Country::FR));
        // Sun 1 March 2026 03:00 Paris (CET, UTC+1) → Mon 2 March 09:00 = 08:00 UTC.
        assert_eq!(
            open_at(&fr, Paris, utc("2026-03-01 02:00")),
            utc("2026-03-02 08:00")
        );
    }

    #[test]
    fn after_hours_waits_for_the_next_morning_and_open_hours_send_now() {
        let fr = Calendar::new(Some(Country::FR));
        // Wed 4 March 18:30 Paris → Thu 09:00.
        assert_eq!(
            open_at(&fr, Paris, utc("2026-03-04 17:30")),
            utc("2026-03-05 08:00")
        );
        // Wed 10:15 → itself.
        let t = utc("2026-03-04 09:15");
        assert_eq!(open_at(&fr, Paris, t), t);
        // Exactly 18:00 is closed; exactly 09:00 is open.
        assert_eq!(
            open_at(&fr, Paris, utc("2026-03-04 17:00")),
            utc("2026-03-05 08:00")
        );
        assert_eq!(
            open_at(&fr, Paris, utc("2026-03-05 08:00")),
            utc("2026-03-05 08:00")
        );
    }

    #[test]
    fn a_holiday_monday_waits_for_tuesday() {
        let fr = Calendar::new(Some(Country::FR));
        // Sun 24 May 2026 03:00 Paris (CEST), Whit Monday 25 → Tue 26 09:00 = 07:00 UTC.
        assert_eq!(
            open_at(&fr, Paris, utc("2026-05-24 01:00")),
            utc("2026-05-26 07:00")
        );
        // Without a country, Monday opens.
        let plain = Calendar::default();
        assert_eq!(
            open_at(&plain, Paris, utc("2026-05-24 01:00")),
            utc("2026-05-25 07:00")
        );
    }

    #[test]
    fn the_spring_forward_weekend_opens_monday_at_local_nine() {
        let fr = Calendar::new(Some(Country::FR));
        // Sat 28 March 20:00 CET (19:00 UTC); clocks go forward on Sunday 29; Monday 30
        // 09:00 is CEST, 07:00 UTC.
        assert_eq!(
            open_at(&fr, Paris, utc("2026-03-28 19:00")),
            utc("2026-03-30 07:00")
        );
        // From inside the skipped hour itself.
        assert_eq!(
            open_at(&fr, Paris, utc("2026-03-29 00:59")),
            utc("2026-03-30 07:00")
        );
    }

    #[test]
    fn the_fall_back_weekend_opens_monday_at_local_nine() {
        let fr = Calendar::new(Some(Country::FR));
        // Fri 23 October 18:30 CEST (16:30 UTC); clocks go back on Sunday 25; Monday 26
        // 09:00 is CET, 08:00 UTC.
        assert_eq!(
            open_at(&fr, Paris, utc("2026-10-23 16:30")),
            utc("2026-10-26 08:00")
        );
        // From the repeated hour, either pass.
        assert_eq!(
            open_at(&fr, Paris, utc("2026-10-25 00:30")),
            utc("2026-10-26 08:00")
        );
        assert_eq!(
            open_at(&fr, Paris, utc("2026-10-25 01:30")),
            utc("2026-10-26 08:00")
        );
    }

    #[test]
    fn a_new_york_debtor_follows_new_york_clocks_and_the_client_calendar() {
        let fr = Calendar::new(Some(Country::FR));
        // Mon 2 March 11:00 EST → itself.
        assert_eq!(
            open_at(&fr, New_York, utc("2026-03-02 16:00")),
            utc("2026-03-02 16:00")
        );
        // Fri 6 March 18:30 EST; US clocks go forward on Sunday 8; Monday 9 09:00 EDT is
        // 13:00 UTC.
        assert_eq!(
            open_at(&fr, New_York, utc("2026-03-06 23:30")),
            utc("2026-03-09 13:00")
        );
        // Thu 14 May 10:00 EDT is Ascension in the French calendar → Fri 15 09:00 EDT.
        assert_eq!(
            open_at(&fr, New_York, utc("2026-05-14 14:00")),
            utc("2026-05-15 13:00")
        );
        // Late Wednesday evening in New York is already Thursday in UTC: the local date
        // decides. Wed 13 May 20:00 EDT = Thu 00:00 UTC → Fri 15 (Thursday is Ascension).
        assert_eq!(
            open_at(&fr, New_York, utc("2026-05-14 00:00")),
            utc("2026-05-15 13:00")
        );
    }

    #[test]
    fn an_opening_time_skipped_by_the_clock_opens_when_the_gap_ends() {
        // Cairo skips 00:00–01:00 on Friday 24 April 2026 (a business day without a country).
        let plain = Calendar::default();
        let night: Window = "00:30-05:00".parse().unwrap();
        // Thu 23 April 23:00 EET (21:00 UTC) → Fri 01:00 EEST = 22:00 UTC Thursday.
        assert_eq!(
            night.next_open(&plain, Cairo, utc("2026-04-23 21:00")),
            utc("2026-04-23 22:00")
        );
    }

    #[test]
    fn a_fall_back_change_can_reopen_the_window_the_same_evening() {
        // Cairo repeats 23:00–24:00 on Thursday 29 October 2026. At 23:45 EEST the window
        // 22:00-23:30 has closed, but at 24:00 EEST (21:00 UTC) the clock reads 23:00 EET,
        // which is inside it again.
        let plain = Calendar::default();
        let evening: Window = "22:00-23:30".parse().unwrap();
        assert_eq!(
            evening.next_open(&plain, Cairo, utc("2026-10-29 20:45")),
            utc("2026-10-29 21:00")
        );
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    const ZONES: [Tz; 7] = [
        chrono_tz::Europe::Paris,
        chrono_tz::Europe::London,
        chrono_tz::America::New_York,
        chrono_tz::Africa::Cairo,
        chrono_tz::Australia::Sydney,
        chrono_tz::Asia::Kolkata,
        chrono_tz::Pacific::Chatham,
    ];

    fn calendar() -> impl Strategy<Value = Calendar> {
        prop_oneof![
            Just(Calendar::new(None)),
            proptest::sample::select(Country::ALL.to_vec()).prop_map(|c| Calendar::new(Some(c))),
        ]
    }

    fn any_date() -> impl Strategy<Value = NaiveDate> {
        // 1990-01-01 to about 2080.
        (0u64..33_000).prop_map(|days| date("1990-01-01") + chrono::Days::new(days))
    }

    fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
        // 2000 to about 2060, to the second.
        (946_684_800i64..2_840_000_000)
            .prop_map(|s| DateTime::from_timestamp(s, 0).expect("in range"))
    }

    fn any_window() -> impl Strategy<Value = Window> {
        (0u32..24 * 60 - 1, 1u32..24 * 60).prop_filter_map("start before end", |(a, b)| {
            let end = a + b;
            (end < 24 * 60).then(|| Window {
                start: chrono::NaiveTime::from_hms_opt(a / 60, a % 60, 0).expect("valid"),
                end: chrono::NaiveTime::from_hms_opt(end / 60, end % 60, 0).expect("valid"),
            })
        })
    }

    fn is_open(window: &Window, cal: &Calendar, tz: Tz, t: DateTime<Utc>) -> bool {
        let wall = t.with_timezone(&tz).naive_local();
        cal.is_business_day(wall.date()) && window.contains(wall.time())
    }

    proptest! {
        #[test]
        fn adding_non_zero_business_days_lands_on_a_business_day(
            cal in calendar(), d in any_date(), n in (-400i64..400).prop_filter("non-zero", |n| *n != 0),
        ) {
            let result = cal.add_business_days(d, n);
            prop_assert!(cal.is_business_day(result));
            prop_assert_eq!(result > d, n > 0);
        }

        #[test]
        fn adding_then_subtracting_returns_to_a_business_day(
            cal in calendar(), d in any_date(), n in -400i64..400,
        ) {
            let d = cal.next_business_day(d);
            prop_assert_eq!(cal.add_business_days(cal.add_business_days(d, n), -n), d);
        }

        #[test]
        fn business_days_add_up(
            cal in calendar(), d in any_date(), a in -200i64..200, b in -200i64..200,
        ) {
            // Only meaningful when the steps go the same way; zero would roll.
            prop_assume!(a != 0 && b != 0 && (a > 0) == (b > 0));
            prop_assert_eq!(
                cal.add_business_days(cal.add_business_days(d, a), b),
                cal.add_business_days(d, a + b)
            );
        }

        #[test]
        fn next_open_is_the_first_open_instant_and_is_idempotent(
            cal in calendar(),
            zone in proptest::sample::select(ZONES.to_vec()),
            window in any_window(),
            t in any_instant(),
        ) {
            let open = window.next_open(&cal, zone, t);
            prop_assert!(open >= t);
            prop_assert!(is_open(&window, &cal, zone, open), "{} in {}", open, zone);
            prop_assert_eq!(window.next_open(&cal, zone, open), open);
            // The second before it is not open (or is before `t`).
            let before = open - chrono::TimeDelta::seconds(1);
            prop_assert!(before < t || !is_open(&window, &cal, zone, before));
            // No open instant was jumped over at hour granularity.
            let mut probe = t;
            while probe < open {
                prop_assert!(!is_open(&window, &cal, zone, probe), "{} open before {}", probe, open);
                probe += chrono::TimeDelta::minutes(61);
            }
        }

        #[test]
        fn hours_move_exactly_and_days_keep_the_wall_clock(
            zone in proptest::sample::select(ZONES.to_vec()),
            t in any_instant(),
            n in 0i64..2000,
        ) {
            let cal = Calendar::default();
            let t = t.with_timezone(&zone);
            let hours = Duration::new(n, Unit::Hours);
            prop_assert_eq!(hours.shift(&cal, &t, true) - t, chrono::TimeDelta::hours(n));
            prop_assert_eq!(hours.shift(&cal, &hours.shift(&cal, &t, true), false), t);

            let days = Duration::new(n, Unit::Days).shift(&cal, &t, true);
            prop_assert_eq!(days.date_naive(), t.date_naive() + chrono::Days::new(n as u64));
            let wanted = t.date_naive().and_time(t.time()) + chrono::Days::new(n as u64);
            // The wall clock is kept unless it does not exist that day.
            if zone.from_local_datetime(&wanted).earliest().is_some() {
                prop_assert_eq!(days.naive_local(), wanted);
            } else {
                prop_assert!(days.naive_local() > wanted);
            }
        }

        #[test]
        fn months_clamp_to_the_last_day_and_keep_the_day_otherwise(
            d in any_date(), n in 0i64..120,
        ) {
            let cal = Calendar::default();
            let shifted = Duration::new(n, Unit::Months).shift_date(&cal, d, true);
            let months = d.year() * 12 + d.month0() as i32 + n as i32;
            prop_assert_eq!(shifted.year() * 12 + shifted.month0() as i32, months);
            prop_assert!(shifted.day() <= d.day());
            if shifted.day() < d.day() {
                prop_assert_eq!(shifted.succ_opt().map(|s| s.day()), Some(1));
            }
        }

        #[test]
        fn durations_display_and_parse_back(n in 0i64..1_000_000, unit in proptest::sample::select(vec![
            Unit::Hours, Unit::Days, Unit::BusinessDays, Unit::Weeks, Unit::Months,
        ])) {
            let duration = Duration::new(n, unit);
            prop_assert_eq!(duration.to_string().parse::<Duration>(), Ok(duration));
        }
    }
}

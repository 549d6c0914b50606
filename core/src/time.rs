//! Simulated time. The core never reads a clock: every function that needs "now" takes a
//! [`SimTime`] argument, so the same code runs under the virtual-time scheduler and under
//! hyper (where the driver converts wall time into a `SimTime` since the run started).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Nanoseconds since the start of a run. `u64` covers 584 years.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SimTime(u64);

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub const MAX: SimTime = SimTime(u64::MAX);

    pub const fn from_nanos(nanos: u64) -> Self {
        SimTime(nanos)
    }

    pub fn from_duration(d: Duration) -> Self {
        SimTime(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Whole milliseconds, the unit reports use for negotiation timelines.
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }

    /// Time elapsed since `earlier` (zero if `earlier` is later).
    pub fn since(self, earlier: SimTime) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl std::ops::Add<Duration> for SimTime {
    type Output = SimTime;
    fn add(self, rhs: Duration) -> SimTime {
        SimTime(self.0.saturating_add(u64::try_from(rhs.as_nanos()).unwrap_or(u64::MAX)))
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(Duration::from_nanos(self.0)))
    }
}

/// Simulated time zero on the bank API's calendar: 2018-01-01T00:00:00Z, in Unix seconds.
pub const CALENDAR_EPOCH_UNIX: u64 = 1_514_764_800;

/// `ms` after simulated time zero as an RFC 3339 date-time (whole seconds), the API's format.
pub fn calendar_text(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(CALENDAR_EPOCH_UNIX * 1000 + ms);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Appends `calendar_text(ms)` to `out` without allocating: the hot pages write a date per
/// record.
pub fn write_calendar_text(out: &mut Vec<u8>, ms: u64) {
    let secs = CALENDAR_EPOCH_UNIX + ms / 1000;
    let (days, of_day) = ((secs / 86_400) as i64, secs % 86_400);
    let date = crate::population::civil_from_days(days);
    let (year, month, day) = (u64::from(date.year), u64::from(date.month), u64::from(date.day));
    let two = |out: &mut Vec<u8>, n: u64| out.extend_from_slice(&[b'0' + (n / 10) as u8, b'0' + (n % 10) as u8]);
    two(out, year / 100);
    two(out, year % 100);
    out.push(b'-');
    two(out, month);
    out.push(b'-');
    two(out, day);
    out.push(b'T');
    two(out, of_day / 3_600);
    out.push(b':');
    two(out, of_day / 60 % 60);
    out.push(b':');
    two(out, of_day % 60);
    out.push(b'Z');
}

/// Why a date-time is not a time of the API's calendar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CalendarError {
    /// Not an RFC 3339 date-time (the parser's words).
    Syntax(String),
    /// Before 2018-01-01, day 0 of the calendar.
    BeforeEpoch,
}

/// Ms after simulated time zero of an RFC 3339 date-time on the API's calendar: the inverse of
/// [`calendar_text`], for the server reading queries and the client reading answers. One
/// spelling, the one openapi.json's pattern describes: `YYYY-MM-DDThh:mm:ss[.f]Z`, UTC, with a
/// fraction of 1 to 9 digits and no leap second; a valid date before day 0 is `BeforeEpoch`.
pub fn calendar_ms(text: &str) -> Result<u64, CalendarError> {
    const SHAPE: &[u8; 19] = b"0000-00-00T00:00:00";
    let syntax = |what: &str| Err(CalendarError::Syntax(what.into()));
    let b = text.as_bytes();
    let Some(bare) = b.strip_suffix(b"Z") else { return syntax("it must end in `Z` (UTC)") };
    let (head, fraction) = bare.split_at(bare.len().min(SHAPE.len()));
    let shaped = head.len() == SHAPE.len()
        && head.iter().zip(SHAPE).all(|(c, s)| if *s == b'0' { c.is_ascii_digit() } else { c == s });
    if !shaped {
        return syntax("the shape is YYYY-MM-DDThh:mm:ss[.fraction]Z");
    }
    if let Some(digits) = fraction.strip_prefix(b".") {
        if !(1..=9).contains(&digits.len()) || !digits.iter().all(u8::is_ascii_digit) {
            return syntax("a fraction of a second has 1 to 9 digits");
        }
    } else if !fraction.is_empty() {
        return syntax("the shape is YYYY-MM-DDThh:mm:ss[.fraction]Z");
    }
    if &head[17..19] == b"60" {
        return syntax("no leap second: seconds run to 59");
    }
    // RFC 3339 allows years from 0000; the parser starts at 1970. An earlier year is checked in
    // a stand-in year of the same leap-ness (so that 29 February is checked too), and is before
    // the calendar's start.
    let year: u32 = text[..4].parse().expect("four digits");
    if year < 1970 {
        let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
        let stand_in = format!("{}{}", if leap { "1972" } else { "1971" }, &text[4..]);
        humantime::parse_rfc3339(&stand_in).map_err(|e| CalendarError::Syntax(e.to_string()))?;
        return Err(CalendarError::BeforeEpoch);
    }
    let t = humantime::parse_rfc3339(text).map_err(|e| CalendarError::Syntax(e.to_string()))?;
    let unix = t.duration_since(std::time::UNIX_EPOCH).map_err(|_| CalendarError::BeforeEpoch)?;
    let ms = unix.as_millis() as i128 - i128::from(CALENDAR_EPOCH_UNIX) * 1000;
    u64::try_from(ms).map_err(|_| CalendarError::BeforeEpoch)
}

/// [`calendar_ms`] as UK Open Banking reads its date filters: the time may be left out
/// (`YYYY-MM-DD` is midnight), and a zone, `Z` or a numeric offset (`+01:00`), may be given and
/// is ignored ("the ASPSP must ignore the timezone component"), so the time is read as the
/// calendar's. An offset's hours run to 23 and its minutes to 59.
pub fn calendar_ms_zone_ignored(text: &str) -> Result<u64, CalendarError> {
    let syntax = |what: &str| Err(CalendarError::Syntax(what.into()));
    if text.len() == 10 {
        return calendar_ms(&format!("{text}T00:00:00Z"));
    }
    let local = match text.strip_suffix('Z') {
        Some(local) => local,
        None if text.len() > 6 && text.is_char_boundary(text.len() - 6) => {
            let (local, offset) = text.split_at(text.len() - 6);
            let o = offset.as_bytes();
            let digits = |r: std::ops::Range<usize>| o[r].iter().all(u8::is_ascii_digit);
            if matches!(o[0], b'+' | b'-') && digits(1..3) && o[3] == b':' && digits(4..6) {
                let (hours, minutes): (u32, u32) =
                    (offset[1..3].parse().expect("digits"), offset[4..6].parse().expect("digits"));
                if hours > 23 || minutes > 59 {
                    return syntax("an offset's hours run to 23 and its minutes to 59");
                }
                local
            } else {
                text
            }
        }
        None => text,
    };
    calendar_ms(&format!("{local}Z"))
}

/// A short human form with at most two units: `12d 3h`, `4m 10s`, `250ms`, `0s`.
pub fn format_duration(d: Duration) -> String {
    const UNITS: [(&str, u128); 7] = [
        ("d", 86_400_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("µs", 1_000),
        ("ns", 1),
    ];
    let mut rest = d.as_nanos();
    if rest == 0 {
        return "0s".to_string();
    }
    let mut parts = Vec::with_capacity(2);
    for (name, size) in UNITS {
        if rest >= size {
            parts.push(format!("{}{name}", rest / size));
            rest %= size;
            if parts.len() == 2 {
                break;
            }
        } else if !parts.is_empty() {
            break; // keep the two units adjacent: "1d 3h", never "1d 3s"
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_calendar_text_written_in_place_is_the_formatted_one() {
        let mut rng = crate::rng::stream(5, "calendar-text");
        let samples = (0..20_000).map(|_| rand::RngExt::random_range(&mut rng, 0..400 * 365 * 86_400_000u64));
        for ms in [0, 999, 86_399_999, 86_400_000, 59 * 86_400_000, 790 * 86_400_000].into_iter().chain(samples) {
            let mut out = Vec::new();
            super::write_calendar_text(&mut out, ms);
            assert_eq!(String::from_utf8(out).unwrap(), super::calendar_text(ms), "{ms}");
        }
    }

    use super::*;

    #[test]
    fn formats_two_adjacent_units() {
        assert_eq!(format_duration(Duration::from_secs(86_400 + 3 * 3600 + 5)), "1d 3h");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_secs(86_400 + 5)), "1d");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn a_calendar_date_has_one_spelling_in_utc() {
        assert_eq!(calendar_ms("2018-01-01T00:00:00Z"), Ok(0));
        assert_eq!(calendar_ms("2018-01-02T00:00:01.5Z"), Ok(86_401_500));
        assert_eq!(calendar_ms("2018-01-01T00:00:00.000000001Z"), Ok(0));
        assert_eq!(calendar_ms("9999-12-31T23:59:59Z").map(|ms| ms > 0), Ok(true));
        assert_eq!(calendar_ms("2017-12-31T23:59:59Z"), Err(CalendarError::BeforeEpoch));
        assert_eq!(calendar_ms("0000-02-29T00:00:00Z"), Err(CalendarError::BeforeEpoch));
        for text in [
            "2018-01-01T00:00:00",
            "2018-01-01T00:00:00+00:00",
            "2018-01-01T01:00:00+01:00",
            "2018-01-01t00:00:00z",
            "2018-01-01 00:00:00Z",
            "2018-01-01T00:00:00.Z",
            "2018-01-01T00:00:00.0000000001Z",
            "2018-01-01T00:00:00ZZ",
            "2018-12-31T23:59:60Z",
            "2018-02-29T00:00:00Z",
            "2018-1-01T00:00:00Z",
            "+2018-01-01T00:00:00Z",
            "1900-02-29T00:00:00Z",
        ] {
            assert!(matches!(calendar_ms(text), Err(CalendarError::Syntax(_))), "{text}");
        }
    }

    #[test]
    fn a_date_time_is_read_with_its_zone_ignored_and_its_time_optional() {
        assert_eq!(calendar_ms_zone_ignored("2018-01-01T00:00:00Z"), Ok(0));
        assert_eq!(calendar_ms_zone_ignored("2018-01-01T01:00:00+01:00"), Ok(3_600_000));
        assert_eq!(calendar_ms_zone_ignored("2018-01-01T01:00:00-05:00"), Ok(3_600_000));
        assert_eq!(calendar_ms_zone_ignored("2018-01-01T01:00:00"), Ok(3_600_000));
        assert_eq!(calendar_ms_zone_ignored("2018-01-02"), Ok(86_400_000));
        assert_eq!(calendar_ms_zone_ignored("2018-01-01T00:00:00.5+00:00"), Ok(500));
        assert_eq!(calendar_ms_zone_ignored("2017-12-31T23:00:00+01:00"), Err(CalendarError::BeforeEpoch));
        for text in [
            "2018-01-01T00:00:00+24:00",
            "2018-01-01T00:00:00+01:60",
            "2018-01-01T00:00:00+0100",
            "2018-13-01",
            "x",
            "2018-01-01T00:00:0\u{e9}+01:00",
            "\u{e9}\u{e9}\u{e9}x",
            "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}x",
        ] {
            assert!(matches!(calendar_ms_zone_ignored(text), Err(CalendarError::Syntax(_))), "{text}");
        }
    }

    #[test]
    fn adding_saturates_instead_of_wrapping() {
        assert_eq!(SimTime::MAX + Duration::from_secs(1), SimTime::MAX);
    }
}

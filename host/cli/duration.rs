//! The one parser of every duration flag (`--interval`, `--grace`,
//! `--timeout`, `--fetch-timeout`): a number of seconds (`60`, `1.5`), a
//! number with a unit (`200ms`, `1.5s`, `5m`, `2h`), or humantime's compound
//! forms (`1m 30s`).

use std::time::Duration;

/// Units a single number may carry, longest spelling first so `ms` is not
/// read as `m`.
const UNITS: [(&str, f64); 9] = [
    ("ms", 1e-3),
    ("us", 1e-6),
    ("ns", 1e-9),
    ("sec", 1.0),
    ("min", 60.0),
    ("s", 1.0),
    ("m", 60.0),
    ("h", 3_600.0),
    ("d", 86_400.0),
];

/// Parses a duration flag's value.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let seconds = |number: &str, scale: f64| {
        number
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .map(|n| n * scale)
    };
    let single = seconds(text, 1.0).or_else(|| {
        UNITS.iter().find_map(|(unit, scale)| {
            text.strip_suffix(unit)
                .filter(|number| !number.trim().is_empty())
                .and_then(|number| seconds(number, *scale))
        })
    });
    match single {
        Some(secs) => Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("{text:?} is too long a duration")),
        None => humantime::parse_duration(text).map_err(|_| {
            format!("{text:?} is not a duration; write a number of seconds or one with a unit: 60, 1.5s, 200ms, 5m")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_plain_seconds_units_fractions_and_compounds() {
        for (text, expected) in [
            ("60", Duration::from_secs(60)),
            ("1.5", Duration::from_millis(1_500)),
            ("1.5s", Duration::from_millis(1_500)),
            ("200ms", Duration::from_millis(200)),
            ("5m", Duration::from_secs(300)),
            ("2h", Duration::from_secs(7_200)),
            ("0.5m", Duration::from_secs(30)),
            (" 10 s ", Duration::from_secs(10)),
            ("1m 30s", Duration::from_secs(90)),
            ("0", Duration::ZERO),
        ] {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_duration_saying_what_to_write() {
        for text in ["", "-1", "5x", "ms", "NaN", "inf", "1e400", "five minutes"] {
            let error = parse_duration(text).unwrap_err();
            assert!(error.contains(&format!("{:?}", text.trim())), "{error}");
        }
        assert!(parse_duration("abc").unwrap_err().contains("200ms"));
    }
}

//! Human durations in settings: `14400`, `30m`, `4h`, `1d`, `1h30m`.
//!
//! Used for `max_age` and `absolute_max_age`, from the environment
//! (`SESSION_MAX_AGE=30m`) and from settings files (`max_age = "4h"` or
//! `max_age = 14400`). A plain integer is seconds.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};

/// The accepted forms, for error messages.
pub(crate) const ACCEPTED: &str =
    "use whole seconds (`14400`) or a number with a unit s, m, h or d (`30m`, `4h`, `1d`, `1h30m`)";

/// Parses a duration in whole seconds: `"14400"`, `"30m"`, `"4h"`, `"1d"`, `"1h30m"`.
///
/// The error says what was wrong and lists the accepted forms.
pub(crate) fn parse_secs(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not a duration; {ACCEPTED}");
    if text.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(secs);
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(bad());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit = rest.chars().next().ok_or_else(bad)?;
        let scale = match unit.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        rest = &rest[unit.len_utf8()..];
        total = number
            .checked_mul(scale)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(bad)?;
    }
    Ok(total)
}

/// Deserializes whole seconds from an integer or a duration string.
pub(crate) fn deserialize_secs<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(SecsVisitor)
}

/// Like [`deserialize_secs`], for an optional setting.
pub(crate) fn deserialize_opt_secs<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<u64>, D::Error> {
    deserialize_secs(d).map(Some)
}

/// Like [`deserialize_secs`], where `"none"` (any letter case) or a null
/// means no duration (`max_age = "none"`: a browser-session cookie).
pub(crate) fn deserialize_secs_or_none<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<u64>, D::Error> {
    d.deserialize_any(SecsOrNoneVisitor)
}

struct SecsOrNoneVisitor;

impl<'de> Visitor<'de> for SecsOrNoneVisitor {
    type Value = Option<u64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a duration or \"none\": {ACCEPTED}")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        SecsVisitor.visit_u64(v).map(Some)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        SecsVisitor.visit_i64(v).map(Some)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v.trim().eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        SecsVisitor.visit_str(v).map(Some)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

struct SecsVisitor;

impl Visitor<'_> for SecsVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a duration: {ACCEPTED}")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(format!("{v} is negative; {ACCEPTED}")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        parse_secs(v).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_seconds_and_units() {
        let cases = [
            ("14400", 14_400),
            ("30s", 30),
            ("30m", 1_800),
            ("4h", 14_400),
            ("4H", 14_400),
            ("1d", 86_400),
            ("1h30m", 5_400),
            (" 90 ", 90),
        ];
        for (text, secs) in cases {
            assert_eq!(parse_secs(text), Ok(secs), "{text}");
        }
    }

    #[test]
    fn refuses_anything_else_listing_the_accepted_forms() {
        for text in [
            "",
            "soon",
            "30x",
            "m",
            "1.5h",
            "-5",
            "4h 30m",
            "99999999999999999999d",
        ] {
            let err = parse_secs(text).unwrap_err();
            assert!(
                err.contains("`30m`") && err.contains("seconds"),
                "{text}: {err}"
            );
        }
    }
}

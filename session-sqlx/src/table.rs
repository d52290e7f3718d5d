//! Validation of the configurable table (and schema) names.
//!
//! Names are spliced into SQL text, so only plain identifiers pass: a letter
//! or underscore, then letters, digits and underscores, at most
//! [`MAX_NAME_LEN`] characters in all. Every name is also quoted in the SQL
//! this crate writes, so reserved words such as `user` work and case is kept.

use session_core::Error;

/// The table name a store uses unless told otherwise.
pub const DEFAULT_TABLE: &str = "sessions";

/// The longest accepted table or schema name.
///
/// Shorter than the 63 characters PostgreSQL allows, so that the derived
/// names (`<table>_migrations`, `<table>_expires_idx`) fit as well.
pub const MAX_NAME_LEN: usize = 48;

/// Checks that `name` is a plain SQL identifier; `field` names the option in
/// the error.
#[cfg_attr(
    not(any(feature = "postgres", feature = "sqlite", feature = "mysql")),
    allow(dead_code)
)]
pub(crate) fn validate(field: &'static str, name: &str) -> Result<(), Error> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !first_ok || !rest_ok || name.len() > MAX_NAME_LEN {
        return Err(Error::config(
            field,
            format!(
                "{name:?} is not a plain SQL identifier: use 1 to {MAX_NAME_LEN} ASCII letters, \
                 digits and underscores, starting with a letter or underscore \
                 (pattern ^[A-Za-z_][A-Za-z0-9_]{{0,{}}}$)",
                MAX_NAME_LEN - 1
            ),
        ));
    }
    Ok(())
}

/// Rejects names with a prefix the database reserves for itself.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) fn reject_prefix(field: &'static str, name: &str, prefix: &str) -> Result<(), Error> {
    if name
        .get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    {
        return Err(Error::config(
            field,
            format!("{name:?} starts with `{prefix}`, which the database reserves for itself"),
        ));
    }
    Ok(())
}

/// `name` in double quotes (a PostgreSQL schema). Only for validated names.
#[cfg(feature = "postgres")]
pub(crate) fn dquote(name: &str) -> String {
    format!("\"{name}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_identifiers() {
        for ok in ["sessions", "_s", "S1_x", "user", &"a".repeat(MAX_NAME_LEN)] {
            validate("table", ok).unwrap();
        }
    }

    #[test]
    fn rejects_sql_and_oddities_naming_the_field() {
        for bad in [
            "",
            "1abc",
            "sessions; DROP TABLE users; --",
            "a\"b",
            "a`b",
            "a.b",
            "a b",
            "sessiöns",
            "a-b",
            &"a".repeat(MAX_NAME_LEN + 1),
        ] {
            let err = validate("table", bad).unwrap_err();
            assert!(
                matches!(err, Error::Config { field: "table", .. }),
                "{bad:?}: {err}"
            );
            assert!(err.to_string().contains("`table`"), "{err}");
        }
    }
}

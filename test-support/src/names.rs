//! Names no other test uses, so that tests run in parallel against shared
//! servers: key prefixes, table names, temp dir names.

use std::time::{SystemTime, UNIX_EPOCH};

/// Test tables made by [`table_name`] are stale (left by a run that
/// failed before dropping them) after this many seconds; see
/// [`is_stale_table`].
pub const STALE_AFTER_SECS: u64 = 3600;

/// `n` random bytes as lower-case hex.
pub fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// A Redis key prefix of its own: `test:<32 hex digits>:`.
pub fn key_prefix() -> String {
    format!("test:{}:", random_hex(16))
}

/// `<label>_<12 hex digits>`: a lower-case name for a table, a key prefix
/// or a temp dir, unique per call.
pub fn unique_name(label: &str) -> String {
    format!("{label}_{}", random_hex(6))
}

/// A fresh table name, `ssx_<unix seconds>_<12 hex digits>`: the time in it
/// lets a later run find tables a failed run left behind
/// ([`is_stale_table`]).
pub fn table_name() -> String {
    format!("ssx_{}_{}", unix_secs(), random_hex(6))
}

/// `true` for a [`table_name`] made more than [`STALE_AFTER_SECS`] ago.
pub fn is_stale_table(name: &str) -> bool {
    name.strip_prefix("ssx_")
        .and_then(|rest| rest.split('_').next())
        .and_then(|secs| secs.parse::<u64>().ok())
        .is_some_and(|secs| secs + STALE_AFTER_SECS < unix_secs())
}

/// Seconds since the Unix epoch.
pub fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_fresh_and_shaped() {
        let (a, b) = (key_prefix(), key_prefix());
        assert_ne!(a, b);
        assert!(
            a.starts_with("test:") && a.ends_with(':') && a.len() == 38,
            "{a}"
        );
        let name = unique_name("fault");
        assert!(name.starts_with("fault_") && name.len() == 18, "{name}");
        assert_eq!(name, name.to_ascii_lowercase());
    }

    #[test]
    fn only_old_test_tables_are_stale() {
        assert!(!is_stale_table(&table_name()));
        let old = format!("ssx_{}_abcdef", unix_secs() - STALE_AFTER_SECS - 1);
        assert!(is_stale_table(&old));
        assert!(!is_stale_table("sessions"));
        assert!(!is_stale_table("ssx_notanumber_ab"));
    }
}

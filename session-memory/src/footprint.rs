//! The approximate memory a record costs the store, for the byte budget.
//!
//! A record's footprint is a fixed overhead plus, for each data entry, a
//! per-entry overhead and the bytes of its key and value, plus the bytes of
//! the bound user's name. The session ID is fixed-size and lives inside the
//! fixed overhead. The overheads were measured (resident memory of a
//! process filled with sessions, glibc, `examples/footprint.rs`) so that the
//! tracked total is close to what a full store really costs, small sessions
//! and large ones alike; see [`RECORD_OVERHEAD`].

use session_core::Record;

/// Bytes a record costs besides its data: its hash table slot (the ID and
/// the [`Record`] fields), its expiry index entry, its data map's first
/// node, its share of the user index, the allocator's headers and the
/// tables' spare room.
///
/// Measured (`examples/footprint.rs`): 100,000 typical sessions (3 entries,
/// about 120 bytes of keys, values and user) cost 1.04 KiB each in resident
/// memory, so about 950 bytes besides their data, of which
/// [`ENTRY_OVERHEAD`] per entry; a session of 64 KiB in one entry costs
/// 65.1 KiB, so about 1.1 KiB besides its data. With this figure the
/// tracked total of 100,000 typical sessions (105.6 MiB) is within 2% of
/// the resident memory they add (101.2 MiB), and that of a full default
/// store within 10% (128 MiB tracked: 128 MiB of resident memory for 64 KiB
/// sessions, 139 MiB for typical ones, whose hash tables have more spare
/// room at that size).
pub(crate) const RECORD_OVERHEAD: usize = 800;

/// Bytes each data entry costs besides its key's and value's bytes: the
/// `String` and `Vec` headers in the map's node, the node's spare slots and
/// two allocations' headers and rounding.
pub(crate) const ENTRY_OVERHEAD: usize = 64;

/// The approximate bytes `record` costs the store.
pub(crate) fn footprint(record: &Record) -> usize {
    let data: usize = record
        .data
        .iter()
        .map(|(key, value)| ENTRY_OVERHEAD + key.len() + value.len())
        .sum();
    RECORD_OVERHEAD + data + record.user.as_ref().map_or(0, String::len)
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use session_core::{Data, SessionId};

    use super::*;

    #[test]
    fn the_footprint_counts_every_entry_and_the_user() {
        let mut record = Record::new(SessionId::generate(), Data::new(), SystemTime::now());
        assert_eq!(footprint(&record), RECORD_OVERHEAD);
        record.data.insert("ab".into(), vec![0; 10]);
        record.data.insert("c".into(), Vec::new());
        record.user = Some("user".into());
        assert_eq!(
            footprint(&record),
            RECORD_OVERHEAD + 2 * ENTRY_OVERHEAD + 2 + 10 + 1 + 4
        );
    }
}

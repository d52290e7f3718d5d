//! The approximate memory a record costs the store, for the byte budget.
//!
//! The store keeps each record as its envelope bytes (one allocation), so
//! a record's footprint is a fixed overhead plus the envelope's length.
//! The overhead was measured (resident memory of a process filled with
//! sessions, glibc, `examples/footprint.rs`) so that the tracked total is
//! close to what a full store really costs; see [`RECORD_OVERHEAD`].

/// Bytes a record costs besides its envelope: its hash table slot (the ID
/// and the boxed envelope's pointer and length), its expiry index entry,
/// its share of the user index, the allocator's header and rounding and
/// the tables' spare room.
///
/// Measured (`examples/footprint.rs`): typical sessions (3 entries, about
/// 120 bytes of keys, values and user; a 156-byte envelope) cost 0.28 KiB
/// each in resident memory at 100,000 sessions and 0.32 KiB at 1,000,000
/// (the tables' spare room varies with where they are between two
/// doublings), so 130 to 170 bytes besides the envelope; a session of
/// 64 KiB costs 64.5 KiB.
pub(crate) const RECORD_OVERHEAD: usize = 160;

/// The approximate bytes a record whose envelope is `envelope_len` bytes
/// long costs the store.
pub(crate) fn footprint(envelope_len: usize) -> usize {
    RECORD_OVERHEAD + envelope_len
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use session_core::{codec, Data, Record, SessionId};

    use super::*;

    #[test]
    fn the_footprint_is_the_envelope_plus_the_overhead() {
        let mut record = Record::new(SessionId::generate(), Data::new(), SystemTime::now());
        let empty = codec::encode(&record).unwrap().len();
        assert_eq!(footprint(empty), RECORD_OVERHEAD + empty);
        record.data.insert("ab".into(), vec![0; 10]);
        record.user = Some("user".into());
        let bigger = codec::encode(&record).unwrap().len();
        assert!(bigger >= empty + 2 + 10 + 4, "{empty} -> {bigger}");
        assert_eq!(footprint(bigger), RECORD_OVERHEAD + bigger);
    }
}

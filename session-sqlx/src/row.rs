//! Conversions between records and the columns of the session table.

use std::time::SystemTime;

use session_core::record::{from_unix_ms, unix_ms};
use session_core::{codec, Error, Record, SessionId};

/// Rows removed by one `DELETE` statement of `delete_expired`.
///
/// The work is split into statements of this size so that no statement holds
/// locks on a large part of the table.
pub const DELETE_BATCH: u32 = 1_000;

/// Milliseconds since the Unix epoch as a `BIGINT`, saturating.
pub(crate) fn ms(t: SystemTime) -> i64 {
    i64::try_from(unix_ms(t)).unwrap_or(i64::MAX)
}

/// The app's clock now, as a `BIGINT` of milliseconds.
///
/// Every expiry comparison uses the application's clock, the one that set
/// `expires_at`, never the database's.
pub(crate) fn now_ms() -> i64 {
    ms(SystemTime::now())
}

/// The version as a `BIGINT`: the bits are kept, so every `u64` round trips.
#[allow(clippy::cast_possible_wrap)]
pub(crate) fn version(v: u64) -> i64 {
    v as i64
}

/// The values written by `create`: (key, envelope, expires_at, created_at, version).
pub(crate) fn columns(record: &Record) -> Result<(String, Vec<u8>, i64, i64, i64), Error> {
    Ok((
        record.id.storage_key(),
        codec::encode(record)?,
        ms(record.expires_at),
        ms(record.created_at),
        version(record.version),
    ))
}

/// Decodes a loaded row. The expiry comes from the column, which `touch`
/// moves without rewriting the envelope.
pub(crate) fn decode(id: &SessionId, data: &[u8], expires_at: i64) -> Result<Record, Error> {
    let mut record = codec::decode(id.clone(), data)?;
    record.expires_at = from_unix_ms(u64::try_from(expires_at).unwrap_or(0));
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn versions_and_times_round_trip() {
        for v in [0, 1, i64::MAX as u64, u64::MAX] {
            #[allow(clippy::cast_sign_loss)]
            let back = version(v) as u64;
            assert_eq!(back, v);
        }
        assert_eq!(ms(UNIX_EPOCH + Duration::from_millis(1_234)), 1_234);
        assert_eq!(ms(UNIX_EPOCH + Duration::from_secs(u64::MAX / 2)), i64::MAX);
    }

    #[test]
    fn decode_takes_the_expiry_from_the_column() {
        let r = Record::new(
            SessionId::generate(),
            Default::default(),
            SystemTime::now() + Duration::from_secs(60),
        );
        let (_, data, _, _, _) = columns(&r).unwrap();
        let d = decode(&r.id, &data, 5_000).unwrap();
        assert_eq!(d.expires_at, UNIX_EPOCH + Duration::from_millis(5_000));
        assert_eq!(d.version, 1);
        assert_eq!(d.created_at, r.created_at);
    }
}

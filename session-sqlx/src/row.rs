//! Conversions between records and the columns of the session table.

use std::time::SystemTime;

use session_core::record::{from_unix_ms, unix_ms};
use session_core::{codec, Error, Record, SessionId, SessionInfo};

/// Rows removed by one `DELETE` statement of `delete_expired`.
///
/// The work is split into statements of this size so that no statement holds
/// locks on a large part of the table.
pub const DELETE_BATCH: u32 = 1_000;

/// The longest user identity ([`Record::user`]) the SQL stores accept, in
/// bytes of UTF-8.
///
/// The `user_id` column holds at most this many bytes (`VARBINARY(255)` on
/// MySQL/MariaDB, where a longer value could otherwise be truncated into
/// another user's), and every SQL store keeps the same limit so that an app
/// behaves alike on all of them. Bind a user's stable ID (a number, a UUID)
/// rather than, say, a long e-mail address, or hash a longer identity
/// yourself.
pub const MAX_USER_LEN: usize = 255;

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
pub(crate) fn version(v: u64) -> i64 {
    v as i64
}

/// Checks that `user` fits the `user_id` column: at most [`MAX_USER_LEN`]
/// bytes, and no NUL character (which PostgreSQL cannot store in `TEXT`).
///
/// # Errors
///
/// [`Error::Config`] on the field `user`, saying what to bind instead.
pub(crate) fn check_user(user: &str) -> Result<(), Error> {
    if user.len() > MAX_USER_LEN {
        return Err(Error::config(
            "user",
            format!(
                "a user bound to a session in a SQL store is at most {MAX_USER_LEN} bytes, \
                 this one is {} bytes: bind a shorter stable identifier (such as the user's \
                 numeric ID or a UUID), or a hash of a longer one",
                user.len()
            ),
        ));
    }
    if user.contains('\0') {
        return Err(Error::config(
            "user",
            "a user bound to a session in a SQL store cannot contain a NUL character",
        ));
    }
    Ok(())
}

/// The values of one row, as `create` and `save` write them.
#[derive(Clone)]
pub(crate) struct Columns {
    /// [`SessionId::storage_key`].
    pub(crate) key: String,
    /// The codec envelope.
    pub(crate) data: Vec<u8>,
    pub(crate) expires_at: i64,
    pub(crate) created_at: i64,
    pub(crate) version: i64,
    /// [`Record::user`], checked with [`check_user`].
    pub(crate) user: Option<String>,
}

/// The columns of `record`.
///
/// # Errors
///
/// [`Error::Config`] for a user that does not fit (see [`check_user`]),
/// [`Error::Encode`] when the data cannot be encoded.
pub(crate) fn columns(record: &Record) -> Result<Columns, Error> {
    if let Some(user) = &record.user {
        check_user(user)?;
    }
    Ok(Columns {
        key: record.id.storage_key(),
        data: codec::encode(record)?,
        expires_at: ms(record.expires_at),
        created_at: ms(record.created_at),
        version: version(record.version),
        user: record.user.clone(),
    })
}

/// Decodes a loaded row. The expiry comes from the column, which `touch`
/// moves without rewriting the envelope.
pub(crate) fn decode(id: &SessionId, data: &[u8], expires_at: i64) -> Result<Record, Error> {
    let mut record = codec::decode(id.clone(), data)?;
    record.expires_at = from_unix_ms(u64::try_from(expires_at).unwrap_or(0));
    Ok(record)
}

/// Decodes a row listed by `user_sessions`: the session is named by its
/// stored key (the row holds no ID), the expiry comes from the column.
pub(crate) fn info(key: String, data: &[u8], expires_at: i64) -> Result<SessionInfo, Error> {
    // The envelope decodes into a record, which needs an ID; the row has
    // only the ID's hash, so a placeholder stands in and the key replaces
    // its hash below.
    let placeholder: SessionId = "AAAAAAAAAAAAAAAAAAAAAA".parse()?;
    let mut info = SessionInfo::of(decode(&placeholder, data, expires_at)?);
    info.key = key;
    Ok(info)
}

/// A row listed by `user_sessions`, or `None` for a damaged one: its
/// `data` does not decode ([`Error::Envelope`] / [`Error::Decode`]), so it
/// can never be loaded again. It is skipped (a listing never fails for the
/// whole user because of one bad row) and logged at `warn` with its key;
/// revocation still deletes it, since it goes by the `user_id` column.
///
/// # Errors
///
/// Anything but a decode error of the stored bytes.
pub(crate) fn listed(
    key: String,
    data: &[u8],
    expires_at: i64,
) -> Result<Option<SessionInfo>, Error> {
    match info(key.clone(), data, expires_at) {
        Ok(info) => Ok(Some(info)),
        Err(err @ (Error::Envelope { .. } | Error::Decode(_))) => {
            tracing::warn!(
                key = %key,
                error = &err as &(dyn std::error::Error + 'static),
                "damaged session record left out of a user's session list"
            );
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn versions_and_times_round_trip() {
        for v in [0, 1, i64::MAX as u64, u64::MAX] {
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
        let data = columns(&r).unwrap().data;
        let d = decode(&r.id, &data, 5_000).unwrap();
        assert_eq!(d.expires_at, UNIX_EPOCH + Duration::from_millis(5_000));
        assert_eq!(d.version, 1);
        assert_eq!(d.created_at, r.created_at);
    }

    #[test]
    fn info_names_the_session_by_its_key_with_the_column_expiry() {
        let mut r = Record::new(
            SessionId::generate(),
            [("n".to_owned(), vec![7])].into(),
            SystemTime::now() + Duration::from_secs(60),
        );
        r.user = Some("alice".into());
        let cols = columns(&r).unwrap();
        assert_eq!(cols.user.as_deref(), Some("alice"));
        let info = info(cols.key, &cols.data, 9_000).unwrap();
        assert!(info.is(&r.id));
        assert_eq!(info.expires_at, UNIX_EPOCH + Duration::from_millis(9_000));
        assert_eq!(info.created_at, r.created_at);
        assert_eq!(info.data, r.data);
    }

    #[test]
    fn listing_skips_rows_that_do_not_decode() {
        let r = Record::new(SessionId::generate(), Default::default(), SystemTime::now());
        let good = columns(&r).unwrap();
        assert!(listed(good.key.clone(), &good.data, 1).unwrap().is_some());
        let mut unknown_format = good.data.clone();
        unknown_format[0] = 0xee;
        let mut broken_body = good.data.clone();
        broken_body.truncate(codec::USER_OFFSET);
        broken_body.push(0xc1);
        for bad in [&b""[..], b"\x03\x00", &unknown_format, &broken_body] {
            assert!(
                listed(good.key.clone(), bad, 1).unwrap().is_none(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn users_longer_than_the_column_or_with_nul_are_config_errors() {
        check_user(&"é".repeat(MAX_USER_LEN / 2)).unwrap();
        check_user(&"u".repeat(MAX_USER_LEN)).unwrap();
        check_user("").unwrap();
        for bad in ["u".repeat(MAX_USER_LEN + 1), "é".repeat(128), "a\0b".into()] {
            let err = check_user(&bad).unwrap_err();
            assert!(
                matches!(err, Error::Config { field: "user", .. }),
                "{err:?}"
            );
        }
        let mut r = Record::new(SessionId::generate(), Default::default(), SystemTime::now());
        r.user = Some("u".repeat(MAX_USER_LEN + 1));
        let err = columns(&r).err().expect("a long user is rejected");
        assert!(err.to_string().contains("at most 255 bytes"), "{err}");
    }
}

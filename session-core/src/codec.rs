//! The stored form of a record: a versioned envelope around MessagePack.
//!
//! Layout of format 3, the one this version writes:
//!
//! | bytes | meaning |
//! |---|---|
//! | 0 | format number, `3` |
//! | 1..9 | `expires_at`, milliseconds since the Unix epoch, big-endian `u64` |
//! | 9..17 | `version`, big-endian `u64` |
//! | 17..21 | length `n` of the user identity in bytes, big-endian `u32`; [`UNBOUND`] when the session is bound to nobody |
//! | 21..21+n | the user identity, UTF-8 |
//! | 21+n.. | MessagePack array `[created_at_ms, {key: bin}]`, or `[created_at_ms, {key: bin}, expiry]` for a session with its own [`Expiry`] (`0`: browser session, else the persistent idle lifetime in seconds) |
//!
//! The expiry, the version and the user sit at fixed offsets
//! ([`EXPIRY_OFFSET`], [`VERSION_OFFSET`], [`USER_LEN_OFFSET`],
//! [`USER_OFFSET`]) so that a store can move the expiry in place, check the
//! version and see whom a session is bound to in a server-side script
//! without parsing the data (the Redis store's `touch`, versioned `save`
//! and per-user index).
//!
//! The per-session expiry was added to format 3 as an optional third
//! element of the body, written only when a session has one: the header
//! offsets the scripts read did not move, and a record without it is byte
//! for byte what earlier versions wrote. (A version before it reads a
//! record that has one as damaged, so roll back only after such sessions
//! expired, or accept that remembered users log in again.)
//!
//! Formats 1 and 2 were written only by pre-release builds and are not
//! read: any format number but 3 is [`Error::Envelope`]. The format byte
//! stays so that a later format can be told apart;
//! `tests/fixtures/envelope-v3.bin` pins format 3.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::record::{from_unix_ms, unix_ms, Data};
use crate::{Error, Expiry, Record, SessionId};

/// The format number this version writes.
pub const FORMAT: u8 = 3;
/// Byte offset of the big-endian `u64` expiry (ms since the Unix epoch).
pub const EXPIRY_OFFSET: usize = 1;
/// Byte offset of the big-endian `u64` record version.
pub const VERSION_OFFSET: usize = 9;
/// Byte offset of the big-endian `u32` length of the user identity.
pub const USER_LEN_OFFSET: usize = 17;
/// Byte offset of the user identity, right after its length.
pub const USER_OFFSET: usize = USER_LEN_OFFSET + 4;
/// The user length of a session bound to nobody.
pub const UNBOUND: u32 = u32::MAX;

type DataRef<'a> = std::collections::BTreeMap<&'a str, &'a serde_bytes::Bytes>;
type DataBuf = std::collections::BTreeMap<String, ByteBuf>;

#[derive(Serialize)]
struct BodyRef<'a>(u64, DataRef<'a>);

/// The format-3 body of a session with its own expiry.
#[derive(Serialize)]
struct BodyWithExpiryRef<'a>(u64, DataRef<'a>, u64);

/// The format-3 body, serialised as an array; the expiry is absent for a
/// session that follows the configuration.
#[derive(Deserialize)]
struct Body {
    created_at: u64,
    data: DataBuf,
    #[serde(default)]
    expiry: Option<u64>,
}

/// Encodes a record (everything but its ID) into envelope bytes.
///
/// # Errors
///
/// [`Error::Encode`] if MessagePack serialisation fails, [`Error::TooLarge`]
/// for a user identity of 4 GiB or more.
pub fn encode(record: &Record) -> Result<Vec<u8>, Error> {
    let created_at = unix_ms(record.created_at);
    let data: DataRef<'_> = record
        .data
        .iter()
        .map(|(k, v)| (k.as_str(), serde_bytes::Bytes::new(v)))
        .collect();
    let user = record.user.as_deref().unwrap_or_default();
    let user_len = match &record.user {
        None => UNBOUND,
        Some(u) => u32::try_from(u.len())
            .ok()
            .filter(|&n| n != UNBOUND)
            .ok_or(Error::TooLarge {
                size: u.len(),
                limit: UNBOUND as usize - 1,
            })?,
    };
    let size = USER_OFFSET
        + user.len()
        + 16
        + record
            .data
            .iter()
            .map(|(k, v)| k.len() + v.len() + 4)
            .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.push(FORMAT);
    out.extend_from_slice(&unix_ms(record.expires_at).to_be_bytes());
    out.extend_from_slice(&record.version.to_be_bytes());
    out.extend_from_slice(&user_len.to_be_bytes());
    out.extend_from_slice(user.as_bytes());
    match record.expiry {
        None => rmp_serde::encode::write(&mut out, &BodyRef(created_at, data)),
        Some(expiry) => rmp_serde::encode::write(
            &mut out,
            &BodyWithExpiryRef(created_at, data, expiry.to_code()),
        ),
    }
    .map_err(|e| Error::Encode(Box::new(e)))?;
    Ok(out)
}

/// Decodes envelope bytes written by [`encode`] back into a record.
///
/// # Errors
///
/// [`Error::Envelope`] for bytes that are not a format-3 envelope (formats
/// 1 and 2, written only by pre-release builds, included),
/// [`Error::Decode`] for a corrupt MessagePack body.
pub fn decode(id: SessionId, bytes: &[u8]) -> Result<Record, Error> {
    let truncated = || Error::Envelope {
        reason: "truncated header",
    };
    let expires_ms = read_expiry(bytes);
    let (created_ms, version, data, user, expiry) = match bytes.first() {
        None => return Err(Error::Envelope { reason: "empty" }),
        Some(3) => {
            let version = read_version(bytes).ok_or_else(truncated)?;
            let (user, body) = match read_user(bytes).ok_or_else(truncated)? {
                None => (None, &bytes[USER_OFFSET..]),
                Some(user) => {
                    let user = std::str::from_utf8(user).map_err(|_| Error::Envelope {
                        reason: "user identity is not UTF-8",
                    })?;
                    let body = &bytes[USER_OFFSET + user.len()..];
                    (Some(user.to_owned()), body)
                }
            };
            let body: Body = rmp_serde::from_slice(body).map_err(|e| Error::Decode(Box::new(e)))?;
            (
                body.created_at,
                version,
                body.data,
                user,
                body.expiry.map(Expiry::from_code),
            )
        }
        Some(_) => {
            return Err(Error::Envelope {
                reason: "unknown format number",
            })
        }
    };
    Ok(Record {
        id,
        data: data
            .into_iter()
            .map(|(k, v)| (k, v.into_vec()))
            .collect::<Data>(),
        created_at: from_unix_ms(created_ms),
        expires_at: from_unix_ms(expires_ms.unwrap_or_default()),
        version,
        user,
        expiry,
    })
}

/// Reads the version from the header of format-3 envelope bytes; `None`
/// for another format or a truncated header.
pub fn read_version(bytes: &[u8]) -> Option<u64> {
    if bytes.first() != Some(&FORMAT) {
        return None;
    }
    let raw: [u8; 8] = bytes
        .get(VERSION_OFFSET..VERSION_OFFSET + 8)?
        .try_into()
        .ok()?;
    Some(u64::from_be_bytes(raw))
}

/// Reads the user identity's bytes from the header of format-3 envelope
/// bytes: `Some(None)` for a session bound to nobody, `None` for another
/// format or a truncated header.
pub fn read_user(bytes: &[u8]) -> Option<Option<&[u8]>> {
    if bytes.first() != Some(&FORMAT) {
        return None;
    }
    let raw: [u8; 4] = bytes.get(USER_LEN_OFFSET..USER_OFFSET)?.try_into().ok()?;
    match u32::from_be_bytes(raw) {
        UNBOUND => Some(None),
        n => bytes
            .get(USER_OFFSET..USER_OFFSET.checked_add(usize::try_from(n).ok()?)?)
            .map(Some),
    }
}

/// Reads the expiry (ms since the Unix epoch) from envelope bytes, if present.
pub fn read_expiry(bytes: &[u8]) -> Option<u64> {
    let raw: [u8; 8] = bytes
        .get(EXPIRY_OFFSET..EXPIRY_OFFSET + 8)?
        .try_into()
        .ok()?;
    Some(u64::from_be_bytes(raw))
}

/// Encodes one session value as MessagePack (structs as maps, so fields can
/// be added later).
///
/// # Errors
///
/// [`Error::Encode`] if the value cannot be serialised.
pub fn encode_value<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    rmp_serde::to_vec_named(value).map_err(|e| Error::Encode(Box::new(e)))
}

/// Decodes one session value written by [`encode_value`].
///
/// # Errors
///
/// [`Error::Decode`] if the bytes do not hold a `T`.
pub fn decode_value<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    rmp_serde::from_slice(bytes).map_err(|e| Error::Decode(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// [`fixture_record`], bound to `guest-42`.
    const FIXTURE_V3: &[u8] = include_bytes!("../tests/fixtures/envelope-v3.bin");

    fn fixture_record(id: SessionId) -> Record {
        let mut data = Data::new();
        data.insert("user_id".into(), encode_value(&42u64).unwrap());
        data.insert("email".into(), encode_value("guest@example.com").unwrap());
        data.insert(
            "cart".into(),
            encode_value(&serde_json::json!({"items": [1, 2, 3], "coupon": null})).unwrap(),
        );
        Record {
            id,
            data,
            created_at: UNIX_EPOCH + Duration::from_millis(1_700_000_000_000),
            expires_at: UNIX_EPOCH + Duration::from_millis(1_700_000_014_400),
            version: 7,
            user: None,
            expiry: None,
        }
    }

    #[test]
    fn format_3_fixture_stays_readable() {
        let id = SessionId::generate();
        let record = decode(id.clone(), FIXTURE_V3).unwrap();
        let mut expected = fixture_record(id);
        expected.user = Some("guest-42".into());
        assert_eq!(record, expected);
        assert_eq!(decode_value::<u64>(&record.data["user_id"]).unwrap(), 42);
    }

    /// Issue 17: formats 1 and 2 (pre-release only) are no longer read; a
    /// format-3 envelope under any other format number is an envelope
    /// error, and the header readers see nothing in it.
    #[test]
    fn unknown_formats_are_envelope_errors() {
        for format in [0, 1, 2, 4, 255] {
            let mut bytes = FIXTURE_V3.to_vec();
            bytes[0] = format;
            let err = decode(SessionId::generate(), &bytes).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Envelope {
                        reason: "unknown format number"
                    }
                ),
                "format {format}: {err:?}"
            );
            assert_eq!(read_version(&bytes), None, "format {format}");
            assert_eq!(read_user(&bytes), None, "format {format}");
        }
    }

    #[test]
    fn format_3_layout_is_stable() {
        let mut r = fixture_record(SessionId::generate());
        r.user = Some("guest-42".into());
        assert_eq!(encode(&r).unwrap(), FIXTURE_V3, "format 3 layout changed");
        assert_eq!(read_version(FIXTURE_V3), Some(7));
        assert_eq!(read_expiry(FIXTURE_V3), Some(1_700_000_014_400));
        assert_eq!(read_user(FIXTURE_V3), Some(Some(&b"guest-42"[..])));
        r.user = None;
        assert_eq!(read_user(&encode(&r).unwrap()), Some(None));
        // The empty identity is a user, distinct from none.
        r.user = Some(String::new());
        let bytes = encode(&r).unwrap();
        assert_eq!(read_user(&bytes), Some(Some(&b""[..])));
        assert_eq!(decode(r.id.clone(), &bytes).unwrap(), r);
    }

    /// Issue 16: a session's own expiry rides in the body, after the data;
    /// the header offsets stay where the Redis scripts read them.
    #[test]
    fn expiry_is_stored_without_moving_the_header() {
        let mut r = fixture_record(SessionId::generate());
        r.user = Some("guest-42".into());
        let plain = encode(&r).unwrap();
        for expiry in [
            Expiry::BrowserSession,
            Expiry::Persistent(std::time::Duration::from_secs(30 * 86_400)),
        ] {
            r.expiry = Some(expiry);
            let bytes = encode(&r).unwrap();
            assert_eq!(bytes[..USER_OFFSET + 8], plain[..USER_OFFSET + 8]);
            assert_eq!(read_expiry(&bytes), Some(1_700_000_014_400));
            assert_eq!(read_version(&bytes), Some(7));
            assert_eq!(read_user(&bytes), Some(Some(&b"guest-42"[..])));
            assert_eq!(decode(r.id.clone(), &bytes).unwrap(), r);
        }
    }

    #[test]
    fn round_trip() {
        let r = fixture_record(SessionId::generate());
        assert_eq!(decode(r.id.clone(), &encode(&r).unwrap()).unwrap(), r);
        assert_eq!(read_expiry(&encode(&r).unwrap()), Some(1_700_000_014_400));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let id = SessionId::generate();
        for bad in [
            &b""[..],
            b"\x03aaaaaaaaaaaa",
            // A user longer than the bytes that follow.
            b"\x03\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\0\0\0\x09ab",
            // A user that is not UTF-8.
            b"\x03\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\0\0\0\x01\xff\x92\0\x80",
        ] {
            assert!(decode(id.clone(), bad).is_err(), "{bad:?}");
        }
    }
}

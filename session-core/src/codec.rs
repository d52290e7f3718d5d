//! The stored form of a record: a versioned envelope around MessagePack.
//!
//! Layout of format 2, the one this version writes:
//!
//! | bytes | meaning |
//! |---|---|
//! | 0 | format number, `2` |
//! | 1..9 | `expires_at`, milliseconds since the Unix epoch, big-endian `u64` |
//! | 9..17 | `version`, big-endian `u64` |
//! | 17.. | MessagePack array `[created_at_ms, {key: bin}, user or nil]` (a 2-element array reads as no user) |
//!
//! The expiry and the version sit at fixed offsets ([`EXPIRY_OFFSET`],
//! [`VERSION_OFFSET`]) so that a store can move the expiry in place and
//! check the version in a server-side script without parsing the data (the
//! Redis store's `touch` and versioned `save`).
//!
//! Format 1 (`[1][expires_at][MessagePack [created_at_ms, version, {key: bin}]]`)
//! is still read. Later versions keep reading every format they ever wrote;
//! `tests/fixtures/envelope-v1.bin` and `envelope-v2.bin` pin them.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::record::{from_unix_ms, unix_ms, Data};
use crate::{Error, Record, SessionId};

/// The format number this version writes.
pub const FORMAT: u8 = 2;
/// Byte offset of the big-endian `u64` expiry (ms since the Unix epoch).
pub const EXPIRY_OFFSET: usize = 1;
/// Byte offset of the big-endian `u64` record version (format 2).
pub const VERSION_OFFSET: usize = 9;
const HEADER_V1: usize = EXPIRY_OFFSET + 8;
const HEADER: usize = VERSION_OFFSET + 8;

type DataRef<'a> = std::collections::BTreeMap<&'a str, &'a serde_bytes::Bytes>;
type DataBuf = std::collections::BTreeMap<String, ByteBuf>;

#[derive(Serialize)]
struct BodyRef<'a>(u64, DataRef<'a>, Option<&'a str>);

/// Serialised as an array; fields added later default when absent.
#[derive(Deserialize)]
struct Body {
    created_at: u64,
    data: DataBuf,
    #[serde(default)]
    user: Option<String>,
}

#[derive(Deserialize)]
struct BodyV1(u64, u64, DataBuf);

/// Encodes a record (everything but its ID) into envelope bytes.
///
/// # Errors
///
/// [`Error::Encode`] if MessagePack serialisation fails.
pub fn encode(record: &Record) -> Result<Vec<u8>, Error> {
    let body = BodyRef(
        unix_ms(record.created_at),
        record
            .data
            .iter()
            .map(|(k, v)| (k.as_str(), serde_bytes::Bytes::new(v)))
            .collect(),
        record.user.as_deref(),
    );
    let size = HEADER
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
    rmp_serde::encode::write(&mut out, &body).map_err(Error::Encode)?;
    Ok(out)
}

/// Decodes envelope bytes written by [`encode`] (any format so far) back into a record.
///
/// # Errors
///
/// [`Error::Envelope`] for bytes that are not an envelope of a known format,
/// [`Error::Decode`] for a corrupt MessagePack body.
pub fn decode(id: SessionId, bytes: &[u8]) -> Result<Record, Error> {
    let truncated = Error::Envelope {
        reason: "truncated header",
    };
    let expires_ms = read_expiry(bytes);
    let (created_ms, version, data, user) = match bytes.first() {
        None => return Err(Error::Envelope { reason: "empty" }),
        Some(2) => {
            let version = read_version(bytes).ok_or(truncated)?;
            let body: Body = rmp_serde::from_slice(&bytes[HEADER..]).map_err(Error::Decode)?;
            (body.created_at, version, body.data, body.user)
        }
        Some(1) => {
            let body = bytes.get(HEADER_V1..).ok_or(truncated)?;
            let BodyV1(created, version, data) =
                rmp_serde::from_slice(body).map_err(Error::Decode)?;
            (created, version, data, None)
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
    })
}

/// Reads the version from format-2 envelope bytes, if present.
pub fn read_version(bytes: &[u8]) -> Option<u64> {
    let raw: [u8; 8] = bytes.get(VERSION_OFFSET..HEADER)?.try_into().ok()?;
    Some(u64::from_be_bytes(raw))
}

/// Reads the expiry (ms since the Unix epoch) from envelope bytes, if present.
pub fn read_expiry(bytes: &[u8]) -> Option<u64> {
    let raw: [u8; 8] = bytes.get(EXPIRY_OFFSET..HEADER_V1)?.try_into().ok()?;
    Some(u64::from_be_bytes(raw))
}

/// Encodes one session value as MessagePack (structs as maps, so fields can
/// be added later).
///
/// # Errors
///
/// [`Error::Encode`] if the value cannot be serialised.
pub fn encode_value<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    rmp_serde::to_vec_named(value).map_err(Error::Encode)
}

/// Decodes one session value written by [`encode_value`].
///
/// # Errors
///
/// [`Error::Decode`] if the bytes do not hold a `T`.
pub fn decode_value<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    rmp_serde::from_slice(bytes).map_err(Error::Decode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    const FIXTURE_V1: &[u8] = include_bytes!("../tests/fixtures/envelope-v1.bin");
    const FIXTURE_V2: &[u8] = include_bytes!("../tests/fixtures/envelope-v2.bin");

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
        }
    }

    #[test]
    fn every_format_fixture_stays_readable() {
        for fixture in [FIXTURE_V1, FIXTURE_V2] {
            let id = SessionId::generate();
            let record = decode(id.clone(), fixture).unwrap();
            assert_eq!(record, fixture_record(id));
            assert_eq!(decode_value::<u64>(&record.data["user_id"]).unwrap(), 42);
        }
    }

    #[test]
    fn format_2_header_is_stable_and_user_round_trips() {
        // The fixture predates the user field: it reads as unbound.
        assert_eq!(
            decode(SessionId::generate(), FIXTURE_V2).unwrap().user,
            None
        );
        let mut r = fixture_record(SessionId::generate());
        r.user = Some("42".into());
        assert_eq!(decode(r.id.clone(), &encode(&r).unwrap()).unwrap(), r);
        let bytes = encode(&r).unwrap();
        assert_eq!(
            bytes[..HEADER],
            FIXTURE_V2[..HEADER],
            "header layout changed"
        );
        assert_eq!(read_version(FIXTURE_V2), Some(7));
        assert_eq!(read_expiry(FIXTURE_V2), Some(1_700_000_014_400));
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
            b"\x02aaaaaaaaaaaa",
            b"\x01abc",
            b"\x01\0\0\0\0\0\0\0\0\xc1",
        ] {
            assert!(decode(id.clone(), bad).is_err(), "{bad:?}");
        }
    }
}

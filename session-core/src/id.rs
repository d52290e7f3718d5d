//! Session IDs: 128 random bits from the OS, base64url on the wire.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::TryRngCore as _;
use sha2::{Digest as _, Sha256};

use crate::Error;

/// Number of random bytes in a [`SessionId`] (128 bits).
pub const ID_BYTES: usize = 16;
/// Length of the base64url wire form of a [`SessionId`].
pub const ID_WIRE_LEN: usize = 22;

/// An opaque session identifier: 128 bits from the operating system's CSPRNG.
///
/// The wire form ([`Display`](fmt::Display) / [`FromStr`]) is unpadded base64url.
/// [`Debug`](fmt::Debug) never prints the value, so an ID cannot leak into logs
/// through `{:?}`.
///
/// ```
/// use session_core::SessionId;
///
/// let id = SessionId::generate();
/// let wire = id.to_string();
/// assert_eq!(wire.len(), 22);
/// assert_eq!(wire.parse::<SessionId>().unwrap(), id);
/// assert_eq!(format!("{id:?}"), "SessionId(<redacted>)");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId([u8; ID_BYTES]);

impl SessionId {
    /// Draws a fresh ID from the operating system's random number generator.
    ///
    /// # Panics
    ///
    /// Panics only if the operating system cannot provide randomness at all,
    /// in which case no secure session can be issued.
    pub fn generate() -> Self {
        let mut bytes = [0u8; ID_BYTES];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .expect("the OS random number generator failed");
        Self(bytes)
    }

    /// The raw bytes, for signing.
    pub fn as_bytes(&self) -> &[u8; ID_BYTES] {
        &self.0
    }

    /// The key a store should file the record under: base64url of SHA-256 of the ID.
    ///
    /// A dump of the backend then holds no value that works as a cookie.
    pub fn storage_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.0))
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(<redacted>)")
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; ID_WIRE_LEN];
        let n = URL_SAFE_NO_PAD
            .encode_slice(self.0, &mut buf)
            .map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&buf[..n]).map_err(|_| fmt::Error)?)
    }
}

impl FromStr for SessionId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const BAD: Error = Error::Envelope {
            reason: "a session ID is 22 base64url characters",
        };
        if s.len() != ID_WIRE_LEN {
            return Err(BAD);
        }
        let mut bytes = [0u8; ID_BYTES + 2];
        match URL_SAFE_NO_PAD.decode_slice(s, &mut bytes) {
            Ok(ID_BYTES) => {
                let mut id = [0u8; ID_BYTES];
                id.copy_from_slice(&bytes[..ID_BYTES]);
                Ok(Self(id))
            }
            _ => Err(BAD),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts() {
        let id = SessionId::generate();
        let debug = format!("{id:?} {:#?}", Some(&id));
        assert!(!debug.contains(&id.to_string()));
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn wire_round_trip_and_uniqueness() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_ne!(a, b);
        assert_eq!(a.to_string().parse::<SessionId>().unwrap(), a);
    }

    #[test]
    fn rejects_malformed_wire_forms() {
        for bad in [
            "",
            "short",
            "!!!!!!!!!!!!!!!!!!!!!!",
            "ééééééééééé",
            &"A".repeat(23),
        ] {
            assert!(bad.parse::<SessionId>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn storage_key_is_not_the_id() {
        let id = SessionId::generate();
        assert_ne!(id.storage_key(), id.to_string());
        assert_eq!(id.storage_key(), id.clone().storage_key());
        assert_eq!(id.storage_key().len(), 43);
    }
}

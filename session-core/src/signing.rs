//! The signed session ID: the ID plus an HMAC-SHA256 tag over the cookie name and the ID.
//!
//! Wire form: `<id, 22 base64url chars>.<tag, 43 base64url chars>`.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::id::{ID_BYTES, ID_WIRE_LEN};
use crate::{Secret, SessionConfig, SessionId};

type HmacSha256 = Hmac<Sha256>;

const TAG_BYTES: usize = 32;
const TAG_WIRE_LEN: usize = 43;
/// Length of a signed cookie value.
pub const SIGNED_ID_LEN: usize = ID_WIRE_LEN + 1 + TAG_WIRE_LEN;

/// Signs session IDs into cookie values and verifies them. The first key signs; every key verifies.
///
/// ```
/// use session_core::{IdSigner, SessionConfig, SessionId};
///
/// let config = SessionConfig::builder("current-secret-at-least-32-bytes-long").build()?;
/// let signer = IdSigner::from_config(&config);
/// let id = SessionId::generate();
/// let value = signer.sign(&id);
/// let verified = signer.verify(&value).expect("a value we signed verifies");
/// assert_eq!(verified.id, id);
/// assert!(!verified.reissue);
/// assert!(signer.verify("forged.value").is_none());
/// # Ok::<(), session_core::Error>(())
/// ```
#[derive(Clone)]
pub struct IdSigner {
    /// Keyed MAC states, current key first, each already bound to the cookie name.
    macs: Vec<HmacSha256>,
}

/// A cookie that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The session ID on the cookie.
    pub id: SessionId,
    /// `true` when a fallback key verified it: issue a fresh cookie under the current key.
    pub reissue: bool,
}

impl IdSigner {
    /// Keys for `cookie_name`: `current` signs, `current` and `fallbacks` verify.
    pub fn new<'a>(
        cookie_name: &str,
        current: &'a Secret,
        fallbacks: impl IntoIterator<Item = &'a Secret>,
    ) -> Self {
        let macs = std::iter::once(current)
            .chain(fallbacks)
            .map(|secret| {
                let mut mac = HmacSha256::new_from_slice(secret.expose())
                    .expect("HMAC accepts keys of any length");
                // The cookie name is part of the MAC input, length-prefixed, so a
                // value cannot be moved to another cookie.
                let name_len = u32::try_from(cookie_name.len()).unwrap_or(u32::MAX);
                mac.update(&name_len.to_be_bytes());
                mac.update(cookie_name.as_bytes());
                mac
            })
            .collect();
        Self { macs }
    }

    /// Keys and cookie name from a validated config.
    pub fn from_config(config: &SessionConfig) -> Self {
        Self::new(
            config.session_cookie(),
            config.secret_key(),
            config.fallback_secret_keys(),
        )
    }

    /// The cookie value for `id`, signed with the current key.
    pub fn sign(&self, id: &SessionId) -> String {
        let tag = self.tag(0, id.as_bytes());
        let mut out = String::with_capacity(SIGNED_ID_LEN);
        out.push_str(&id.to_string());
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut out);
        out
    }

    /// Verifies a cookie value in constant time per key. Anything malformed,
    /// tampered with or signed by an unknown key gives `None`; it never panics.
    pub fn verify(&self, value: &str) -> Option<Verified> {
        if value.len() != SIGNED_ID_LEN {
            return None;
        }
        let (id_part, rest) = value.split_at_checked(ID_WIRE_LEN)?;
        let tag_part = rest.strip_prefix('.')?;
        let id: SessionId = id_part.parse().ok()?;
        let mut tag = [0u8; TAG_BYTES + 2];
        if URL_SAFE_NO_PAD.decode_slice(tag_part, &mut tag).ok()? != TAG_BYTES {
            return None;
        }
        let tag = &tag[..TAG_BYTES];
        self.macs.iter().enumerate().find_map(|(i, mac)| {
            let mut mac = mac.clone();
            mac.update(id.as_bytes());
            mac.verify_slice(tag).ok().map(|()| Verified {
                id: id.clone(),
                reissue: i > 0,
            })
        })
    }

    fn tag(&self, key: usize, id: &[u8; ID_BYTES]) -> [u8; TAG_BYTES] {
        let mut mac = self.macs[key].clone();
        mac.update(id);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for IdSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdSigner")
            .field("keys", &self.macs.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secret(s: &str) -> Secret {
        Secret::from(format!("{s}-key-card-test-secret-0123456789"))
    }

    fn cards() -> IdSigner {
        IdSigner::new("session", &secret("a"), [])
    }

    #[test]
    fn signs_and_verifies() {
        let id = SessionId::generate();
        let value = cards().sign(&id);
        assert_eq!(value.len(), SIGNED_ID_LEN);
        assert_eq!(cards().verify(&value).unwrap().id, id);
    }

    #[test]
    fn another_key_or_cookie_name_fails() {
        let value = cards().sign(&SessionId::generate());
        assert!(IdSigner::new("session", &secret("b"), [])
            .verify(&value)
            .is_none());
        assert!(IdSigner::new("other", &secret("a"), [])
            .verify(&value)
            .is_none());
    }

    #[test]
    fn fallback_key_verifies_and_asks_for_reissue() {
        let old = cards();
        let rotated = IdSigner::new("session", &secret("b"), [&secret("a")]);
        let id = SessionId::generate();
        let v = rotated.verify(&old.sign(&id)).unwrap();
        assert_eq!(
            v,
            Verified {
                id: id.clone(),
                reissue: true
            }
        );
        assert!(!rotated.verify(&rotated.sign(&id)).unwrap().reissue);
    }

    #[test]
    fn truncated_extended_and_flipped_tags_fail() {
        let value = cards().sign(&SessionId::generate());
        assert!(cards().verify(&value[..value.len() - 1]).is_none());
        assert!(cards().verify(&format!("{value}A")).is_none());
        let mut bytes = value.into_bytes();
        let last = bytes.len() - 3;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        assert!(cards()
            .verify(std::str::from_utf8(&bytes).unwrap())
            .is_none());
        assert!(cards().verify(&"x".repeat(10 * 1024)).is_none());
        assert!(cards().verify("").is_none());
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_verifies_or_panics(s in ".{0,200}") {
            prop_assert!(cards().verify(&s).is_none());
        }

        #[test]
        fn any_single_character_change_fails(pos in 0usize..SIGNED_ID_LEN, c in "[A-Za-z0-9_.\\-é]") {
            let value = cards().sign(&SessionId::generate());
            let mut chars: Vec<char> = value.chars().collect();
            prop_assume!(chars[pos].to_string() != c);
            chars[pos] = c.chars().next().unwrap();
            let changed: String = chars.into_iter().collect();
            prop_assert!(cards().verify(&changed).is_none());
        }

        #[test]
        fn card_shaped_noise_never_verifies(id in "[A-Za-z0-9_-]{22}", tag in "[A-Za-z0-9_-]{43}") {
            let value = format!("{id}.{tag}");
            prop_assert!(cards().verify(&value).is_none());
        }
    }
}

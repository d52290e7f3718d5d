//! Signing secrets: generated from the OS, redacted in `Debug`, and refused
//! when too short or too uniform to be random.

use std::fmt;

use serde::Deserialize;

use crate::Error;

/// Shortest accepted secret, in bytes.
pub const MIN_SECRET_LEN: usize = 32;
/// Fewest different byte values an accepted secret holds.
///
/// A guard against placeholders (32 × `"a"`, `"password"` or `"changeme"`
/// repeated), not an entropy estimate: a random secret of 32 bytes or more
/// drawn from 16 symbols or more (hex, base64, raw bytes) has fewer than 8
/// different values with a probability below 10⁻⁷ (hex, the worst case),
/// and [`Secret::generate`] never comes near it.
pub const MIN_SECRET_DISTINCT_BYTES: usize = 8;
/// Length of a [`Secret::generate`]d secret, in bytes.
pub const GENERATED_SECRET_LEN: usize = 64;

/// A signing secret. [`Debug`](fmt::Debug) never prints it.
///
/// A config refuses a secret shorter than [`MIN_SECRET_LEN`] bytes or with
/// fewer than [`MIN_SECRET_DISTINCT_BYTES`] different byte values;
/// [`Secret::generate`] draws one that always passes.
///
/// ```
/// use session_core::{Secret, SessionConfig};
///
/// let config = SessionConfig::builder(Secret::generate()).build()?;
/// assert_eq!(config.secret_key().expose().len(), 64);
/// // A placeholder is refused, pointing to `Secret::generate()`:
/// let err = SessionConfig::builder("a".repeat(32)).build().unwrap_err();
/// assert!(err.to_string().contains("Secret::generate()"), "{err}");
/// # Ok::<(), session_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<[u8]>);

impl Secret {
    /// Wraps secret bytes (validated when the config is built).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into().into_boxed_slice())
    }

    /// A fresh secret of [`GENERATED_SECRET_LEN`] (64) bytes from the
    /// operating system's CSPRNG, for apps that keep no key of their own
    /// (sessions then end when the process restarts) or to print one for
    /// the settings.
    ///
    /// # Panics
    ///
    /// Panics only if the operating system cannot provide randomness at all,
    /// in which case no secure key can be made.
    pub fn generate() -> Self {
        use rand::TryRngCore as _;
        let mut bytes = vec![0u8; GENERATED_SECRET_LEN];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .expect("the OS random number generator failed");
        Self::new(bytes)
    }

    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self::new(s.as_bytes())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self::new(s.into_bytes())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::from)
    }
}

pub(crate) fn check_secret(field: &'static str, secret: &Secret) -> Result<(), Error> {
    if secret.expose().len() < MIN_SECRET_LEN {
        return Err(Error::config(
            field,
            format!(
                "is {} bytes; use at least {MIN_SECRET_LEN} random bytes (e.g. `openssl rand -base64 32`)",
                secret.expose().len()
            ),
        ));
    }
    let distinct = distinct_bytes(secret.expose());
    if distinct < MIN_SECRET_DISTINCT_BYTES {
        return Err(Error::config(
            field,
            format!(
                "holds only {distinct} different byte values (at least {MIN_SECRET_DISTINCT_BYTES} needed), \
                 so it looks like a placeholder; use random bytes from `Secret::generate()` \
                 (or `openssl rand -base64 48`)"
            ),
        ));
    }
    Ok(())
}

fn distinct_bytes(bytes: &[u8]) -> usize {
    let mut seen = [false; 256];
    for &b in bytes {
        seen[usize::from(b)] = true;
    }
    seen.iter().filter(|&&s| s).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SessionConfig;

    /// A random-looking hex secret: 16 different values.
    const HEX: &str = "9f3a61c07be24d58a1e0c97f3b26d4e8";

    #[test]
    fn generated_secrets_are_long_distinct_and_accepted() {
        let (a, b) = (Secret::generate(), Secret::generate());
        assert_eq!(a.expose().len(), GENERATED_SECRET_LEN);
        assert_ne!(a, b, "two generated secrets are equal");
        assert!(SessionConfig::builder(a).build().is_ok());
        assert!(!format!("{b:?}").contains(&format!("{:?}", b.expose())));
    }

    #[test]
    fn placeholder_secrets_are_refused_pointing_to_generate() {
        let refused = [
            "a".repeat(32),
            "ab".repeat(16),
            "password".repeat(4),
            "changeme".repeat(4),
            "1234567".repeat(5),
        ];
        for secret in refused {
            let err = SessionConfig::builder(secret.as_str()).build().unwrap_err();
            assert!(err.to_string().contains("Secret::generate()"), "{err}");
            assert!(matches!(
                err,
                Error::Config {
                    field: "secret_key",
                    ..
                }
            ));
            let fallback = SessionConfig::builder(HEX).fallback_secret_keys([secret.as_str()]);
            let err = fallback.build().unwrap_err();
            assert!(matches!(
                err,
                Error::Config {
                    field: "fallback_secret_keys",
                    ..
                }
            ));
        }
        // Eight different values is enough; so is any random hex secret.
        assert!(SessionConfig::builder("12345678".repeat(4)).build().is_ok());
        assert!(SessionConfig::builder(HEX).build().is_ok());
    }
}

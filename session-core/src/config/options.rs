//! The enumerated settings: the cookie's `SameSite` attribute and the renewal policy.

use serde::Deserialize;

use crate::Error;

/// The cookie's `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SameSite {
    /// Sent only on same-site requests.
    Strict,
    /// Sent on same-site requests and top-level navigations (the default).
    #[default]
    Lax,
    /// Sent on every request; requires `https_only`.
    None,
}

impl SameSite {
    /// The attribute value as written in `Set-Cookie`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "Strict",
            Self::Lax => "Lax",
            Self::None => "None",
        }
    }
}

impl std::str::FromStr for SameSite {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "strict" => Ok(Self::Strict),
            "lax" => Ok(Self::Lax),
            "none" => Ok(Self::None),
            _ => Err(Error::config(
                "same_site",
                format!("{s:?} is not one of \"strict\", \"lax\", \"none\""),
            )),
        }
    }
}

/// When the layer renews a session's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Renewal {
    /// Only on requests whose handler uses the session (the default): a
    /// handler that never extracts it costs no store call at all.
    #[default]
    OnUse,
    /// On every request that carries a valid cookie, extracted or not, like
    /// actix-session's `OnEveryRequest`; still at most one renewal per
    /// `refresh_after` window. The layer remembers, in process, when each
    /// session expires, so a request in the window costs no store call.
    EveryRequest,
}

impl std::str::FromStr for Renewal {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "on_use" => Ok(Self::OnUse),
            "every_request" => Ok(Self::EveryRequest),
            _ => Err(Error::config(
                "renewal",
                format!("{s:?} is not one of \"on_use\", \"every_request\""),
            )),
        }
    }
}

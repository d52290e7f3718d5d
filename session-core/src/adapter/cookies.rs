//! Reading the session cookie from `Cookie` headers and writing the
//! `Set-Cookie` values, on bytes and strings so that any HTTP crate can use
//! them.

use std::fmt::Write as _;
use std::time::SystemTime;

use super::max_age_at;
use crate::{IdSigner, SameSite, SessionConfig, SessionId, Verified};

/// What the `Cookie` headers said about the session cookie.
#[derive(Debug, Default, Clone)]
#[non_exhaustive]
pub struct CardRead {
    /// The first session cookie whose value verified, if any.
    pub card: Option<Verified>,
    /// `true` when at least one cookie of the session's name was sent,
    /// whatever its value: a dead cookie the response must clear.
    pub presented: bool,
}

/// The values of every cookie named `name` in one `Cookie` header, in order.
///
/// The header is read as bytes (browsers send UTF-8 in cookie values, which
/// a strict header-to-string conversion refuses), split on `;`, each pair
/// trimmed of optional whitespace and split at its first `=`; a pair
/// without `=` has no name (RFC 6265bis) and never matches. Names compare
/// byte for byte; a value wrapped in double quotes is unwrapped. Nothing
/// here fails or allocates: a malformed or non-ASCII sibling cookie is
/// simply another pair, and never hides the session cookie.
pub(crate) fn cookie_values<'a>(
    header: &'a [u8],
    name: &'a str,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    header.split(|&b| b == b';').filter_map(move |pair| {
        let (n, v) = split_once(trim(pair), b'=')?;
        (trim(n) == name.as_bytes()).then(|| unquote(trim(v)))
    })
}

fn split_once(s: &[u8], at: u8) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|&b| b == at)?;
    Some((&s[..i], &s[i + 1..]))
}

/// Without leading and trailing spaces and tabs (RFC 6265 `OWS`).
fn trim(s: &[u8]) -> &[u8] {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = s.iter().position(|b| !ows(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !ows(b)).map_or(start, |i| i + 1);
    &s[start..end]
}

fn unquote(v: &[u8]) -> &[u8] {
    match v {
        [b'"', inner @ .., b'"'] => inner,
        _ => v,
    }
}

/// Reads the session cookie `name` from the raw values of every `Cookie`
/// header of a request: the first value that verifies wins (several can be
/// sent, e.g. one set for `/` and one for a sub-path). Only that cookie's
/// own value must be ASCII (a signed ID); other cookies are never parsed
/// beyond their names.
///
/// ```
/// use session_core::{adapter::read_card, IdSigner, SessionConfig, SessionId};
///
/// let config = SessionConfig::builder("a-secret-of-at-least-32-bytes-long!!").build()?;
/// let signer = IdSigner::from_config(&config);
/// let id = SessionId::generate();
/// let header = format!("pref=Zürich; session={}", signer.sign(&id));
/// let read = read_card([header.as_bytes()], "session", &signer);
/// assert_eq!(read.card.map(|c| c.id), Some(id));
/// assert!(read.presented);
/// # Ok::<(), session_core::Error>(())
/// ```
pub fn read_card<'a>(
    headers: impl IntoIterator<Item = &'a [u8]>,
    name: &str,
    signer: &IdSigner,
) -> CardRead {
    let mut read = CardRead::default();
    for value in headers.into_iter().flat_map(|h| cookie_values(h, name)) {
        read.presented = true;
        if let Some(card) = std::str::from_utf8(value)
            .ok()
            .and_then(|v| signer.verify(v))
        {
            read.card = Some(card);
            break;
        }
    }
    read
}

/// `name=value` and the attributes every session cookie carries, in the
/// order the `cookie` crate writes them.
fn base(config: &SessionConfig, value: &str) -> String {
    let mut c = format!("{}={value}", config.session_cookie());
    if config.http_only() {
        c.push_str("; HttpOnly");
    }
    c.push_str(match config.same_site() {
        SameSite::Strict => "; SameSite=Strict",
        SameSite::Lax => "; SameSite=Lax",
        SameSite::None => "; SameSite=None",
    });
    if config.secure() {
        c.push_str("; Secure");
    }
    let _ = write!(c, "; Path={}", config.path());
    if let Some(domain) = config.domain() {
        // Browsers ignore a leading dot; the `cookie` crate drops it too.
        let domain = domain.strip_prefix('.').unwrap_or(domain);
        let _ = write!(c, "; Domain={domain}");
    }
    c
}

/// The `Set-Cookie` value for `id`: with a `Max-Age` counting to
/// `expires_at` when `persistent`, else a browser-session cookie without
/// `Max-Age`/`Expires` (the record still expires at `expires_at`).
///
/// Every part was validated by [`SessionConfig`] or is base64url, so the
/// value is always a valid header value.
pub(crate) fn set_cookie(
    config: &SessionConfig,
    signer: &IdSigner,
    id: &SessionId,
    (expires_at, persistent): (SystemTime, bool),
    now: SystemTime,
) -> String {
    let mut cookie = base(config, &signer.sign(id));
    if persistent {
        let secs = max_age_at(expires_at, now).min(i64::MAX as u64);
        let _ = write!(cookie, "; Max-Age={secs}");
    }
    cookie
}

/// The `Set-Cookie` value that removes the session cookie: the same name,
/// path and domain, an empty value, `Max-Age=0` and an `Expires` in 1970.
pub(crate) fn removal_cookie(config: &SessionConfig) -> String {
    base(config, "") + "; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config() -> SessionConfig {
        SessionConfig::builder("0123456789abcdef0123456789abcdef")
            .domain("example.com")
            .https_only(true)
            .build()
            .unwrap()
    }

    fn read(raw: &[u8], cards: &IdSigner) -> CardRead {
        read_card([raw], "session", cards)
    }

    #[test]
    fn set_cookie_carries_every_attribute() {
        let config = config();
        let cards = IdSigner::from_config(&config);
        let now = SystemTime::now();
        let id = SessionId::generate();
        let v = set_cookie(
            &config,
            &cards,
            &id,
            (now + Duration::from_secs(14_400), true),
            now,
        );
        assert_eq!(
            v,
            format!(
                "session={}; HttpOnly; SameSite=Lax; Secure; Path=/; Domain=example.com; Max-Age=14400",
                cards.sign(&id)
            )
        );
        let value = v.split(';').next().unwrap();
        let request = format!("other=1; {value}; x=y");
        assert_eq!(read(request.as_bytes(), &cards).card.unwrap().id, id);
    }

    /// Issue 16: a browser-session cookie has neither `Max-Age` nor
    /// `Expires`, and every other attribute.
    #[test]
    fn browser_session_cookie_has_no_expiry() {
        let config = config();
        let cards = IdSigner::from_config(&config);
        let now = SystemTime::now();
        let expires_at = now + Duration::from_secs(14_400);
        let id = SessionId::generate();
        let v = set_cookie(&config, &cards, &id, (expires_at, false), now);
        assert!(!v.contains("Max-Age") && !v.contains("Expires"), "{v}");
        for part in ["session=", "Path=/", "HttpOnly", "SameSite=Lax", "Secure"] {
            assert!(v.contains(part), "{part} missing from {v}");
        }
    }

    #[test]
    fn removal_cookie_matches_name_path_domain() {
        assert_eq!(
            removal_cookie(&config()),
            "session=; HttpOnly; SameSite=Lax; Secure; Path=/; Domain=example.com; \
             Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
        );
        let plain = SessionConfig::builder("0123456789abcdef0123456789abcdef")
            .http_only(false)
            .same_site(SameSite::Strict)
            .path("/app")
            .build()
            .unwrap();
        assert_eq!(
            removal_cookie(&plain),
            "session=; SameSite=Strict; Path=/app; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }

    #[test]
    fn garbage_headers_yield_no_card() {
        let cards = IdSigner::from_config(&config());
        let long = [b'a'; 8192];
        let raw: [&[u8]; 5] = [b"session", b"session=", b";;;=", b"session=\xff\xfe", &long];
        let read = read_card(raw, "session", &cards);
        assert!(read.card.is_none());
        assert!(
            read.presented,
            "`session=` and `session=\\xff\\xfe` were sent"
        );
    }

    #[test]
    fn values_are_found_by_exact_name_with_whitespace_trimmed() {
        let values = |raw: &'static [u8]| cookie_values(raw, "session").collect::<Vec<_>>();
        assert_eq!(values(b"session=a"), [b"a"]);
        assert_eq!(
            values(b" a=1 ;\tsession = b\t; session=\"c\""),
            [b"b", b"c"]
        );
        assert_eq!(
            values(b"xsession=a; sessionx=b; Session=c; session"),
            [] as [&[u8]; 0]
        );
        assert_eq!(values(b"=session; session=a=b"), [b"a=b"]);
        assert_eq!(values(b""), [] as [&[u8]; 0]);
    }

    /// Issue 14.1: a UTF-8 (non-ASCII) sibling cookie, before or after the
    /// session cookie, never hides it.
    #[test]
    fn a_non_ascii_sibling_never_hides_the_session() {
        let cards = IdSigner::from_config(&config());
        let id = SessionId::generate();
        let card = cards.sign(&id);
        for raw in [
            format!("session={card}; pref=Zürich"),
            format!("pref=Zürich; session={card}"),
            format!("pref=\"Zü;rich; session={card}; =é; x"),
        ] {
            let read = read(raw.as_bytes(), &cards);
            assert_eq!(read.card.map(|c| c.id), Some(id.clone()), "{raw}");
        }
        // Non-ASCII in the session cookie's own value: not a cookie.
        let read = read("session=Zürich".as_bytes(), &cards);
        assert!(read.card.is_none() && read.presented);
    }

    #[test]
    fn the_first_session_cookie_that_verifies_wins() {
        let cards = IdSigner::from_config(&config());
        let (a, b) = (SessionId::generate(), SessionId::generate());
        let (card_a, card_b) = (cards.sign(&a), cards.sign(&b));
        let forged = format!("{}x", &card_a[..card_a.len() - 1]);
        let cases = [
            (format!("session={card_a}; session={card_b}"), &a),
            (format!("session={card_b}; session={card_a}"), &b),
            (format!("session={forged}; other=1; session={card_b}"), &b),
            (format!("session=; session={card_a}"), &a),
        ];
        for (raw, want) in cases {
            let read = read(raw.as_bytes(), &cards);
            assert_eq!(read.card.map(|c| c.id).as_ref(), Some(want), "{raw}");
        }
        // Across several `Cookie` headers too.
        let first = format!("session={forged}");
        let second = format!("session={card_b}");
        let read = read_card([first.as_bytes(), second.as_bytes()], "session", &cards);
        assert_eq!(read.card.unwrap().id, b);
    }

    #[test]
    fn presented_tells_whether_a_session_cookie_was_sent() {
        let cards = IdSigner::from_config(&config());
        assert!(!read(b"other=1; sessions=2", &cards).presented);
        assert!(read(b"other=1", &cards).card.is_none());
        assert!(read(b"other=1; session=forged", &cards).presented);
        assert!(!read_card([], "session", &cards).presented);
    }
}

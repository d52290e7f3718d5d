//! Reading the session cookie from `Cookie` headers and writing `Set-Cookie`.

use std::time::SystemTime;

use cookie::time::{Duration as CookieDuration, OffsetDateTime};
use cookie::{Cookie, SameSite as CookieSameSite};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};
use session_core::{max_age_at, IdSigner, SameSite, SessionConfig, SessionId, Verified};

/// What the `Cookie` headers said about the session cookie.
#[derive(Debug, Default)]
pub(crate) struct CardRead {
    /// The first session cookie whose value verified, if any.
    pub(crate) card: Option<Verified>,
    /// `true` when at least one cookie of the session's name was sent,
    /// whatever its value: a dead cookie the response must clear.
    pub(crate) presented: bool,
}

/// The values of every cookie named `name` in one `Cookie` header, in order.
///
/// The header is read as bytes (browsers send UTF-8 in cookie values, which
/// `HeaderValue::to_str` refuses), split on `;`, each pair trimmed of
/// optional whitespace and split at its first `=`; a pair without `=` has no
/// name (RFC 6265bis) and never matches. Names compare byte for byte; a
/// value wrapped in double quotes is unwrapped. Nothing here fails or
/// allocates: a malformed or non-ASCII sibling cookie is simply another
/// pair, and never hides the session cookie.
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

/// Reads the session cookie from every `Cookie` header: the first value
/// that verifies wins (several can be sent, e.g. one set for `/` and one for
/// a sub-path). Only that cookie's own value must be ASCII (a signed ID); other
/// cookies are never parsed beyond their names.
pub(crate) fn read_card(headers: &HeaderMap, name: &str, cards: &IdSigner) -> CardRead {
    let mut read = CardRead::default();
    for value in headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|h| cookie_values(h.as_bytes(), name))
    {
        read.presented = true;
        if let Some(card) = std::str::from_utf8(value)
            .ok()
            .and_then(|v| cards.verify(v))
        {
            read.card = Some(card);
            break;
        }
    }
    read
}

fn base(config: &SessionConfig, value: String) -> cookie::CookieBuilder<'static> {
    let mut b = Cookie::build((config.session_cookie().to_owned(), value))
        .path(config.path().to_owned())
        .http_only(config.http_only())
        .secure(config.secure())
        .same_site(match config.same_site() {
            SameSite::Strict => CookieSameSite::Strict,
            SameSite::Lax => CookieSameSite::Lax,
            SameSite::None => CookieSameSite::None,
        });
    if let Some(domain) = config.domain() {
        b = b.domain(domain.to_owned());
    }
    b
}

/// Appends the `Set-Cookie` for `id`: with a `Max-Age` counting to
/// `expires_at` when `persistent`, else a browser-session cookie without
/// `Max-Age`/`Expires` (the record still expires at `expires_at`).
pub(crate) fn set_card(
    headers: &mut HeaderMap,
    config: &SessionConfig,
    cards: &IdSigner,
    id: &SessionId,
    (expires_at, persistent): (SystemTime, bool),
    now: SystemTime,
) {
    let mut cookie = base(config, cards.sign(id));
    if persistent {
        let secs = i64::try_from(max_age_at(expires_at, now)).unwrap_or(i64::MAX);
        cookie = cookie.max_age(CookieDuration::seconds(secs));
    }
    append(headers, &cookie.build());
}

/// Appends a removal cookie with the same name, path and domain.
pub(crate) fn remove_card(headers: &mut HeaderMap, config: &SessionConfig) {
    let cookie = base(config, String::new())
        .max_age(CookieDuration::ZERO)
        .expires(OffsetDateTime::UNIX_EPOCH);
    append(headers, &cookie.build());
}

fn append(headers: &mut HeaderMap, cookie: &Cookie<'_>) {
    // Every part was validated by SessionConfig or is base64url, so the header
    // is always valid; a failure would only drop the cookie, never panic.
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        headers.append(SET_COOKIE, value);
        headers.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
    }
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

    #[test]
    fn set_cookie_carries_every_attribute() {
        let config = config();
        let cards = IdSigner::from_config(&config);
        let mut headers = HeaderMap::new();
        let now = SystemTime::now();
        let id = SessionId::generate();
        set_card(
            &mut headers,
            &config,
            &cards,
            &id,
            (now + Duration::from_secs(14_400), true),
            now,
        );
        let v = headers[SET_COOKIE].to_str().unwrap();
        for part in [
            "session=",
            "Max-Age=14400",
            "Path=/",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Domain=example.com",
        ] {
            assert!(v.contains(part), "{part} missing from {v}");
        }
        assert_eq!(headers[http::header::CACHE_CONTROL], "no-store");
        let value = v.split(';').next().unwrap();
        let request = header(format!("other=1; {value}; x=y").as_bytes());
        assert_eq!(read_card(&request, "session", &cards).card.unwrap().id, id);
    }

    /// Issue 16: a browser-session cookie has neither `Max-Age` nor
    /// `Expires`, and every other attribute.
    #[test]
    fn browser_session_cookie_has_no_expiry() {
        let config = config();
        let cards = IdSigner::from_config(&config);
        let mut headers = HeaderMap::new();
        let now = SystemTime::now();
        let expires_at = now + Duration::from_secs(14_400);
        let id = SessionId::generate();
        set_card(&mut headers, &config, &cards, &id, (expires_at, false), now);
        let v = headers[SET_COOKIE].to_str().unwrap();
        assert!(!v.contains("Max-Age") && !v.contains("Expires"), "{v}");
        for part in ["session=", "Path=/", "HttpOnly", "SameSite=Lax", "Secure"] {
            assert!(v.contains(part), "{part} missing from {v}");
        }
    }

    #[test]
    fn removal_cookie_matches_name_path_domain() {
        let mut headers = HeaderMap::new();
        remove_card(&mut headers, &config());
        let v = headers[SET_COOKIE].to_str().unwrap();
        for part in [
            "session=;",
            "Max-Age=0",
            "Path=/",
            "Domain=example.com",
            "1970",
        ] {
            assert!(v.contains(part), "{part} missing from {v}");
        }
    }

    #[test]
    fn garbage_headers_yield_no_card() {
        let config = config();
        let cards = IdSigner::from_config(&config);
        let mut h = HeaderMap::new();
        for raw in [
            &b"session"[..],
            b"session=",
            b";;;=",
            b"session=\xff\xfe",
            &[b'a'; 8192],
        ] {
            if let Ok(v) = HeaderValue::from_bytes(raw) {
                h.append(COOKIE, v);
            }
        }
        let read = read_card(&h, "session", &cards);
        assert!(read.card.is_none());
        assert!(
            read.presented,
            "`session=` and `session=\\xff\\xfe` were sent"
        );
    }

    fn header(raw: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_bytes(raw).unwrap());
        h
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
        let config = config();
        let cards = IdSigner::from_config(&config);
        let id = SessionId::generate();
        let card = cards.sign(&id);
        for raw in [
            format!("session={card}; pref=Zürich"),
            format!("pref=Zürich; session={card}"),
            format!("pref=\"Zü;rich; session={card}; =é; x"),
        ] {
            let read = read_card(&header(raw.as_bytes()), "session", &cards);
            assert_eq!(read.card.map(|c| c.id), Some(id.clone()), "{raw}");
        }
        // Non-ASCII in the session cookie's own value: not a cookie.
        let read = read_card(&header("session=Zürich".as_bytes()), "session", &cards);
        assert!(read.card.is_none() && read.presented);
    }

    #[test]
    fn the_first_session_cookie_that_verifies_wins() {
        let config = config();
        let cards = IdSigner::from_config(&config);
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
            let read = read_card(&header(raw.as_bytes()), "session", &cards);
            assert_eq!(read.card.map(|c| c.id).as_ref(), Some(want), "{raw}");
        }
        // Across several `Cookie` headers too.
        let mut h = header(format!("session={forged}").as_bytes());
        let second = HeaderValue::from_str(&format!("session={card_b}")).unwrap();
        h.append(COOKIE, second);
        assert_eq!(read_card(&h, "session", &cards).card.unwrap().id, b);
    }

    #[test]
    fn presented_tells_whether_a_session_cookie_was_sent() {
        let cards = IdSigner::from_config(&config());
        let read = |raw: &str| read_card(&header(raw.as_bytes()), "session", &cards);
        assert!(!read("other=1; sessions=2").presented);
        assert!(read("other=1").card.is_none());
        assert!(read("other=1; session=forged").presented);
        assert!(!read_card(&HeaderMap::new(), "session", &cards).presented);
    }
}

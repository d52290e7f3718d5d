//! Reading the session cookie from `Cookie` headers and writing `Set-Cookie`.

use std::time::SystemTime;

use cookie::time::{Duration as CookieDuration, OffsetDateTime};
use cookie::{Cookie, SameSite as CookieSameSite};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};
use session_core::{max_age_at, KeyCard, SameSite, SessionConfig, SessionId, Verified};

/// Finds the first session cookie in the `Cookie` headers whose value
/// verifies. Malformed headers and cookies are skipped, never an error.
pub(crate) fn read_card(headers: &HeaderMap, name: &str, cards: &KeyCard) -> Option<Verified> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|c| c.name() == name)
        .find_map(|c| cards.verify(c.value()))
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

/// Appends the `Set-Cookie` for `id`, expiring at `expires_at`.
pub(crate) fn set_card(
    headers: &mut HeaderMap,
    config: &SessionConfig,
    cards: &KeyCard,
    id: &SessionId,
    expires_at: SystemTime,
    now: SystemTime,
) {
    let secs = i64::try_from(max_age_at(expires_at, now)).unwrap_or(i64::MAX);
    let cookie = base(config, cards.sign(id)).max_age(CookieDuration::seconds(secs));
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
        let cards = KeyCard::from_config(&config);
        let mut headers = HeaderMap::new();
        let now = SystemTime::now();
        let id = SessionId::generate();
        set_card(
            &mut headers,
            &config,
            &cards,
            &id,
            now + Duration::from_secs(14_400),
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
        let mut request = HeaderMap::new();
        let value = v.split(';').next().unwrap().to_owned();
        request.insert(
            COOKIE,
            HeaderValue::from_str(&format!("other=1; {value}; x=y")).unwrap(),
        );
        assert_eq!(read_card(&request, "session", &cards).unwrap().id, id);
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
        let cards = KeyCard::from_config(&config);
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
        assert!(read_card(&h, "session", &cards).is_none());
    }
}

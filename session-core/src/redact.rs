//! Masking the password in a store URL before it is shown.

/// `url` with the password (if any, in the user info or as a `password=`
/// query parameter, which PostgreSQL URLs accept) replaced by `***`, for
/// error messages and logs: `redis://:secret@host/0` becomes
/// `redis://:***@host/0`.
///
/// ```
/// assert_eq!(
///     session_core::redact_url("postgres://app:hunter2@db:5432/app"),
///     "postgres://app:***@db:5432/app"
/// );
/// ```
pub fn redact_url(url: &str) -> String {
    let url = redact_userinfo(url);
    let Some((base, query)) = url.split_once('?') else {
        return url;
    };
    let query: Vec<&str> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("password", _)) => "password=***",
            _ => pair,
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let start = scheme_end + 3;
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    match userinfo.find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..start],
            &userinfo[..colon],
            &url[start + at..]
        ),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db?x=1"),
            "postgres://u:***@h:5432/db?x=1"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("mysql://h/db"), "mysql://h/db");
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(redact_url("mysql://a:b:c@h/d@e"), "mysql://a:***@h/d@e");
        assert_eq!(
            redact_url("redis://:secret@h:6379/0"),
            "redis://:***@h:6379/0"
        );
        assert_eq!(
            redact_url("postgres://h/db?user=u&password=pw&sslmode=require"),
            "postgres://h/db?user=u&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("redis+cluster://u:p@a:1,b:2"),
            "redis+cluster://u:***@a:1,b:2"
        );
    }
}

//! Tests of the settings: every source (builder, serde, environment) and every refusal.

use std::fmt;

use super::*;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn field_of(err: Error) -> &'static str {
    match err {
        Error::Config { field, .. } => field,
        other => panic!("not a config error: {other}"),
    }
}

#[test]
fn defaults_match_ravyn() {
    let c = SessionConfig::builder(SECRET).build().unwrap();
    assert_eq!(c.session_cookie(), "session");
    assert_eq!(c.max_age(), Some(Duration::from_secs(14_400)));
    assert_eq!(c.same_site(), SameSite::Lax);
    assert!(!c.https_only() && !c.secure());
    assert!(c.http_only());
    assert_eq!(c.path(), "/");
    assert_eq!(c.domain(), None);
}

#[test]
fn nonsense_is_refused_with_the_field_named() {
    let b = || SessionConfig::builder(SECRET);
    let cases = [
        (SessionConfig::builder("short").build(), "secret_key"),
        (
            b().fallback_secret_keys(["old"]).build(),
            "fallback_secret_keys",
        ),
        (b().max_age(Duration::ZERO).build(), "max_age"),
        (b().same_site(SameSite::None).build(), "same_site"),
        (
            b().session_cookie("__Host-s")
                .domain("example.com")
                .https_only(true)
                .build(),
            "domain",
        ),
        (
            b().session_cookie("__Host-s")
                .path("/app")
                .https_only(true)
                .build(),
            "path",
        ),
        (b().session_cookie("bad name").build(), "session_cookie"),
        (b().path("no-slash").build(), "path"),
        (b().refresh_after(0.0).build(), "refresh_after"),
    ];
    for (result, field) in cases {
        assert_eq!(field_of(result.unwrap_err()), field);
    }
    assert!(b()
        .same_site(SameSite::None)
        .https_only(true)
        .build()
        .is_ok());
    assert!(b().session_cookie("__Host-s").build().unwrap().secure());
}

/// Issue 14.3: browsers match `__Host-` / `__Secure-` in any letter
/// case, so the prefix rules do too.
#[test]
fn cookie_prefixes_apply_in_any_letter_case() {
    let b = || SessionConfig::builder(SECRET);
    for name in ["__Host-s", "__HOST-s", "__host-s", "__hOsT-s"] {
        let with_domain = b().session_cookie(name).domain("example.com").build();
        assert_eq!(field_of(with_domain.unwrap_err()), "domain", "{name}");
        let with_path = b().session_cookie(name).path("/app").build();
        assert_eq!(field_of(with_path.unwrap_err()), "path", "{name}");
        assert!(b().session_cookie(name).build().unwrap().secure(), "{name}");
    }
    for name in ["__Secure-s", "__SECURE-s", "__secure-s"] {
        let config = b().session_cookie(name).domain("example.com").build();
        assert!(config.unwrap().secure(), "{name}");
    }
    for name in ["_Host-s", "__Hosts", "session", "Host-s"] {
        assert!(
            !b().session_cookie(name).build().unwrap().secure(),
            "{name}"
        );
    }
}

/// Builds `builder` under a subscriber that keeps every event's text.
fn warnings_of(builder: SessionConfigBuilder) -> Vec<String> {
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    #[derive(Default)]
    struct Capture(Arc<Mutex<Vec<String>>>);
    struct Text<'a>(&'a mut String);
    impl Visit for Text<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut text = String::new();
            if *event.metadata().level() == Level::WARN {
                text.push_str("WARN");
            }
            event.record(&mut Text(&mut text));
            self.0.lock().unwrap().push(text);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
    let capture = Capture::default();
    let lines = Arc::clone(&capture.0);
    tracing::subscriber::with_default(capture, || builder.build().unwrap());
    let lines = lines.lock().unwrap().clone();
    lines
}

#[test]
fn risky_settings_warn_at_build_time() {
    let b = || SessionConfig::builder(SECRET);
    assert_eq!(warnings_of(b()), Vec::<String>::new(), "the defaults warn");
    assert_eq!(
        warnings_of(b().https_only(true).domain("example.com")).len(),
        0
    );
    for (builder, says) in [
        (b().http_only(false), "http_only = false"),
        (
            b().same_site(SameSite::None).https_only(true),
            "same_site = \"none\"",
        ),
        (b().domain("example.com"), "a domain without https_only"),
    ] {
        let warnings = warnings_of(builder);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("WARN"), "{warnings:?}");
        assert!(warnings[0].contains(says), "{warnings:?}");
        assert!(
            !warnings[0].contains(SECRET),
            "a warning printed the secret"
        );
    }
}

/// Issue 14.3: names outside RFC 6265 token syntax, or over the bound,
/// are refused naming `session_cookie`.
#[test]
fn cookie_names_must_be_short_tokens() {
    let b = || SessionConfig::builder(SECRET);
    let longest = "s".repeat(MAX_COOKIE_NAME_LEN);
    assert!(b().session_cookie(longest.as_str()).build().is_ok());
    let too_long = "s".repeat(MAX_COOKIE_NAME_LEN + 1);
    let err = b().session_cookie(too_long).build().unwrap_err();
    assert!(err.to_string().contains("at most 64 bytes"), "{err}");
    assert_eq!(field_of(err), "session_cookie");
    for bad in [
        "", "a b", "a;b", "a=b", "a,b", "(s)", "s\"", "a/b", "a\\b", "[s]", "{s}", "a?b", "a@b",
        "a:b", "Zürich", "s\t", "s\u{7f}",
    ] {
        let err = b().session_cookie(bad).build().unwrap_err();
        assert_eq!(field_of(err), "session_cookie", "{bad:?}");
    }
    let env = |k: &str| match k {
        "SESSION_SECRET" => Some(SECRET.to_string()),
        "SESSION_COOKIE" => Some("x".repeat(65)),
        _ => None,
    };
    assert_eq!(
        field_of(SessionConfig::from_lookup(env).unwrap_err()),
        "session_cookie"
    );
}

#[test]
fn debug_never_prints_secrets() {
    let c = SessionConfig::builder(SECRET)
        .fallback_secret_keys(["fedcba9876543210fedcba9876543210"])
        .build()
        .unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains(SECRET) && !debug.contains("fedcba"));
    assert!(debug.contains("redacted"));
}

#[test]
fn from_settings_file() {
    let c: SessionConfig = toml::from_str(&format!(
        "secret_key = \"{SECRET}\"\nsession_cookie = \"sid\"\nmax_age = 3600\nsame_site = \"strict\"\nhttps_only = true\n"
    ))
    .unwrap();
    assert_eq!(c.session_cookie(), "sid");
    assert_eq!(c.max_age(), Some(Duration::from_secs(3600)));
    assert_eq!(c.same_site(), SameSite::Strict);
    let err = toml::from_str::<SessionConfig>("secret_key = \"x\"").unwrap_err();
    assert!(err.to_string().contains("secret_key"), "{err}");
}

#[test]
fn from_environment() {
    let env = |k: &str| match k {
        "SESSION_SECRET" => Some(SECRET.to_string()),
        "SESSION_MAX_AGE" => Some("60".into()),
        "SESSION_SAME_SITE" => Some("Strict".into()),
        _ => None,
    };
    let c = SessionConfig::from_lookup(env).unwrap();
    assert_eq!(c.max_age(), Some(Duration::from_secs(60)));
    assert_eq!(c.same_site(), SameSite::Strict);
    assert_eq!(
        field_of(SessionConfig::from_lookup(|_| None).unwrap_err()),
        "secret_key"
    );
    let bad = |k: &str| match k {
        "SESSION_SECRET" => Some(SECRET.to_string()),
        "SESSION_MAX_AGE" => Some("soon".into()),
        _ => None,
    };
    assert_eq!(
        field_of(SessionConfig::from_lookup(bad).unwrap_err()),
        "max_age"
    );
}

fn env_with(extra: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k: &str| match k {
        "SESSION_SECRET" => Some(SECRET.to_string()),
        _ => extra
            .iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.to_string()),
    }
}

#[test]
fn durations_take_units_in_the_environment() {
    let c = SessionConfig::from_lookup(env_with(&[
        ("SESSION_MAX_AGE", "30m"),
        ("SESSION_ABSOLUTE_MAX_AGE", "1d"),
    ]))
    .unwrap();
    assert_eq!(c.max_age(), Some(Duration::from_secs(1_800)));
    assert_eq!(c.absolute_max_age(), Some(Duration::from_secs(86_400)));
    let err = SessionConfig::from_lookup(env_with(&[("SESSION_MAX_AGE", "30 minutes")]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "invalid session configuration: `max_age`: SESSION_MAX_AGE=\"30 minutes\" is not a \
         duration; use whole seconds (`14400`) or a number with a unit s, m, h or d (`30m`, \
         `4h`, `1d`, `1h30m`)"
    );
}

#[test]
fn durations_take_units_in_settings_files() {
    let file =
        |body: &str| toml::from_str::<SessionConfig>(&format!("secret_key = \"{SECRET}\"\n{body}"));
    let c = file("max_age = \"4h\"\nabsolute_max_age = \"1d\"").unwrap();
    assert_eq!(c.max_age(), Some(Duration::from_secs(14_400)));
    assert_eq!(c.absolute_max_age(), Some(Duration::from_secs(86_400)));
    assert_eq!(
        file("max_age = 60").unwrap().max_age(),
        Some(Duration::from_secs(60))
    );
    let err = file("max_age = \"4 hours\"").unwrap_err().to_string();
    assert!(err.contains("max_age") && err.contains("`4h`"), "{err}");
    let err = file("max_age = -5").unwrap_err().to_string();
    assert!(err.contains("negative") && err.contains("`4h`"), "{err}");
}

/// Issue 16: `max_age = none`, the browser-session
/// TTL and the renewal policy, from every source.
#[test]
fn browser_sessions_and_renewal_from_every_source() {
    let c = SessionConfig::builder(SECRET).build().unwrap();
    assert_eq!(c.browser_session_ttl(), Duration::from_secs(14_400));
    assert_eq!(c.renewal(), Renewal::OnUse);
    let c = SessionConfig::builder(SECRET)
        .browser_session()
        .browser_session_ttl(Duration::from_secs(600))
        .renewal(Renewal::EveryRequest)
        .build()
        .unwrap();
    assert_eq!(c.max_age(), None);
    assert_eq!(c.browser_session_ttl(), Duration::from_secs(600));
    assert_eq!(c.renewal(), Renewal::EveryRequest);
    let file =
        |body: &str| toml::from_str::<SessionConfig>(&format!("secret_key = \"{SECRET}\"\n{body}"));
    let c = file("max_age = \"none\"\nbrowser_session_ttl = \"2h\"\nrenewal = \"every_request\"")
        .unwrap();
    assert_eq!(c.max_age(), None);
    assert_eq!(c.browser_session_ttl(), Duration::from_secs(7_200));
    assert_eq!(c.renewal(), Renewal::EveryRequest);
    let json: SessionConfig = serde_json::from_str(&format!(
        "{{\"secret_key\": \"{SECRET}\", \"max_age\": null}}"
    ))
    .unwrap();
    assert_eq!(json.max_age(), None);
    let c = SessionConfig::from_lookup(env_with(&[
        ("SESSION_MAX_AGE", "None"),
        ("SESSION_BROWSER_SESSION_TTL", "30m"),
        ("SESSION_RENEWAL", "every_request"),
    ]))
    .unwrap();
    assert_eq!(c.max_age(), None);
    assert_eq!(c.browser_session_ttl(), Duration::from_secs(1_800));
    assert_eq!(c.renewal(), Renewal::EveryRequest);
    for (env, field) in [
        (
            &[("SESSION_BROWSER_SESSION_TTL", "0")][..],
            "browser_session_ttl",
        ),
        (
            &[("SESSION_BROWSER_SESSION_TTL", "none")],
            "browser_session_ttl",
        ),
        (&[("SESSION_RENEWAL", "always")], "renewal"),
    ] {
        let env: &'static [(&'static str, &'static str)] = env;
        assert_eq!(
            field_of(SessionConfig::from_lookup(env_with(env)).unwrap_err()),
            field
        );
    }
    assert!(file("browser_session_ttl = \"none\"").is_err());
    assert!(file("renewal = \"sometimes\"").is_err());
}

#[test]
fn fallback_secret_keys_have_one_name_and_an_old_alias() {
    const OLD: &str = "fedcba9876543210fedcba9876543210";
    for var in ["SESSION_FALLBACK_SECRET_KEYS", "SESSION_FALLBACK_SECRETS"] {
        let env = move |k: &str| match k {
            "SESSION_SECRET" => Some(SECRET.to_string()),
            k if k == var => Some(format!("{OLD},")),
            _ => None,
        };
        let c = SessionConfig::from_lookup(env).unwrap();
        assert_eq!(c.fallback_secret_keys(), [Secret::from(OLD)], "{var}");
    }
    let c: SessionConfig = toml::from_str(&format!(
        "secret_key = \"{SECRET}\"\nfallback_secret_keys = [\"{OLD}\"]"
    ))
    .unwrap();
    assert_eq!(c.fallback_secret_keys(), [Secret::from(OLD)]);
    #[allow(deprecated)]
    let c = SessionConfig::builder(SECRET)
        .fallback_secret_key(OLD)
        .build()
        .unwrap();
    assert_eq!(c.fallback_secret_keys(), [Secret::from(OLD)]);
}

//! The `keycard` binary against real stores: Redis (`REDIS_URL`, a
//! database of its own), PostgreSQL (`DATABASE_URL`, a throwaway database)
//! and SQLite (a temporary file). Sessions are written in-process through
//! the same `connect(url)`, then every command runs as a separate process.
//! A missing server fails the test, naming how to start it.
// Built without a backend feature, only the inspect and error tests run.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "redis", feature = "postgres")),
    allow(dead_code, unused_imports)
)]

use std::process::Output;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use session_cookie::core::{codec, Data, IdSigner, Record, Secret, SessionId};
use session_cookie::SessionStore;

const SECRET: &str = "keycard-test-secret-0123456789abcdef";
const OLD_SECRET: &str = "keycard-old-secret-0123456789abcdefgh";

/// The binary with a clean environment: no `SESSION_*` of the caller.
fn keycard() -> assert_cmd::Command {
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("keycard");
    for (name, _) in std::env::vars() {
        if name.starts_with("SESSION_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// Runs `keycard --store URL ARGS --json`; its JSON output.
fn json(url: &str, args: &[&str]) -> Value {
    let out = keycard()
        .args(["--store", url, "--json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "keycard {args:?}: {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A failed run: exit status 1 and one line on stderr, `error: …`.
fn one_line_error(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "stdout: {}", text(&out.stdout));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    err
}

fn record(user: Option<&str>, ttl: Duration) -> Record {
    let mut data = Data::new();
    data.insert("visits".into(), codec::encode_value(&7u64).unwrap());
    let mut record = Record::new(SessionId::generate(), data, SystemTime::now() + ttl);
    record.user = user.map(str::to_owned);
    record
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// Every store command on the store at `url`, which only this test uses.
/// `expires_itself`: Redis, whose expired records are not counted or purged.
fn every_command_on(url: &str, expires_itself: bool) {
    let rt = runtime();
    let store = rt
        .block_on(session_cookie::connect(url))
        .unwrap_or_else(|e| panic!("{url}: {}", session_cookie::error_chain(&e)));
    let user = format!("user-{}", &SessionId::generate().storage_key()[..10]);
    let before = json(url, &["count"]);
    let day = Duration::from_secs(86_400);
    let mine: Vec<Record> = (0..3).map(|_| record(Some(&user), day)).collect();
    let unbound = record(None, day);
    let dying: Vec<Record> = (0..2)
        .map(|_| record(Some(&user), Duration::from_millis(50)))
        .collect();
    rt.block_on(async {
        for r in mine.iter().chain([&unbound]).chain(&dying) {
            store.create(r).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    });

    // count
    let after = json(url, &["count"]);
    assert_eq!(
        after["live"].as_u64().unwrap(),
        before["live"].as_u64().unwrap() + 4,
        "{after}"
    );
    let waiting = if expires_itself {
        0
    } else {
        before["expired"].as_u64().unwrap() + 2
    };
    assert_eq!(after["expired"].as_u64().unwrap(), waiting, "{after}");
    assert_eq!(json(url, &["count", "--user", &user])["live"], 3);
    let out = keycard()
        .args(["--store", url, "count", "--user", &user])
        .output()
        .unwrap();
    assert_eq!(
        text(&out.stdout),
        format!("3 live sessions of user {user}\n")
    );

    // sessions: storage keys, never IDs
    let listed = json(url, &["sessions", "--user", &user]);
    let mut keys: Vec<&str> = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    keys.sort_unstable();
    let mut expected: Vec<String> = mine.iter().map(|r| r.id.storage_key()).collect();
    expected.sort();
    assert_eq!(keys, expected);
    let out = keycard()
        .args(["--store", url, "sessions", "--user", &user])
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    for r in &mine {
        assert!(shown.contains(&r.id.storage_key()), "{shown}");
        assert!(
            !shown.contains(&r.id.to_string()),
            "a session ID was printed: {shown}"
        );
    }

    // inspect, with the store: metadata, data only with --data
    let card = IdSigner::new("session", &Secret::from(SECRET), []).sign(&mine[0].id);
    let run = |extra: &[&str]| {
        let out = keycard()
            .env("SESSION_SECRET", SECRET)
            .args(["--store", url, "--json", "inspect", &card])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let seen = run(&[]);
    assert_eq!(seen["storage_key"], mine[0].id.storage_key());
    assert_eq!(seen["session"]["user"], user.as_str());
    assert_eq!(seen["session"]["live"], true);
    assert!(seen["session"]["size"].as_u64().unwrap() > 0, "{seen}");
    assert!(seen["session"].get("data").is_none(), "{seen}");
    assert_eq!(run(&["--data"])["session"]["data"]["visits"], 7);

    // revoke, keeping one by storage key; a key that is none of theirs is refused
    let bogus = SessionId::generate().storage_key();
    let out = keycard()
        .args(["--store", url, "revoke", "--user", &user, "--keep", &bogus])
        .output()
        .unwrap();
    assert!(one_line_error(&out).contains("nothing revoked"));
    assert_eq!(json(url, &["count", "--user", &user])["live"], 3);
    let keep = mine[1].id.storage_key();
    let revoked = json(url, &["revoke", "--user", &user, "--keep", &keep]);
    assert_eq!(revoked["revoked"], 2, "{revoked}");
    let left = json(url, &["sessions", "--user", &user]);
    assert_eq!(left["sessions"].as_array().unwrap().len(), 1, "{left}");
    assert_eq!(left["sessions"][0]["key"], keep.as_str());
    assert_eq!(json(url, &["revoke", "--user", &user])["revoked"], 1);

    // purge-expired, in batches of one
    let purged = json(url, &["purge-expired", "--batch", "1"]);
    assert_eq!(purged["purged"].as_u64().unwrap(), waiting, "{purged}");
    let out = keycard()
        .args(["--store", url, "purge-expired"])
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "purged 0 expired records\n");
    let end = json(url, &["count"]);
    assert_eq!(end["expired"], 0);
    assert_eq!(
        end["live"].as_u64().unwrap(),
        before["live"].as_u64().unwrap() + 1,
        "{end}"
    );

    // migrate
    let migrated = json(url, &["migrate"]);
    assert_eq!(migrated["migrated"], !expires_itself, "{migrated}");
    rt.block_on(store.delete(&unbound.id)).unwrap();
}

#[cfg(feature = "sqlite")]
#[test]
fn every_command_on_sqlite() {
    let dir = std::env::temp_dir().join(format!(
        "keycard-cli-{}-{}",
        std::process::id(),
        &SessionId::generate().storage_key()[..8]
    ));
    std::fs::create_dir_all(&dir).unwrap();
    every_command_on(
        &format!("sqlite://{}", dir.join("sessions.db").display()),
        false,
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(feature = "redis")]
#[test]
fn every_command_on_redis() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    // A database of its own (13), so that counting every session counts
    // only this test's: the URL's path is the database number.
    let base = url.trim_end_matches('/');
    let base = match base.rsplit_once('/') {
        Some((head, db)) if !head.ends_with('/') && db.parse::<u32>().is_ok() => head,
        _ => base,
    };
    let url = format!("{base}/13");
    every_command_on(&url, true);
}

#[cfg(feature = "postgres")]
#[test]
fn every_command_on_postgres() {
    use session_cookie::sqlx::{Connection, PgConnection};
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let name = format!("keycard_cli_{}", std::process::id());
    let rt = runtime();
    let admin = |sql: String| {
        rt.block_on(async {
            let mut conn = PgConnection::connect(&url).await.unwrap_or_else(|e| {
                panic!("PostgreSQL at {url} (start it: docker compose up -d --wait postgres): {e}")
            });
            session_cookie::sqlx::raw_sql(session_cookie::sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
        });
    };
    admin(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    admin(format!("CREATE DATABASE {name}"));
    let (head, _) = url
        .split_once('?')
        .map_or((url.as_str(), ""), |(h, q)| (h, q));
    let (server, _) = head.rsplit_once('/').unwrap();
    every_command_on(&format!("{server}/{name}"), false);
    admin(format!("DROP DATABASE {name} WITH (FORCE)"));
}

#[test]
fn inspect_says_which_key_signed_a_card() {
    let id = SessionId::generate();
    let inspect = |secret: &Secret, card_secrets: (&str, &str)| {
        let card = IdSigner::new("session", secret, []).sign(&id);
        keycard()
            .env("SESSION_SECRET", card_secrets.0)
            .env("SESSION_FALLBACK_SECRET_KEYS", card_secrets.1)
            .args(["inspect", &format!("session={card}; Path=/")])
            .output()
            .unwrap()
    };
    let out = inspect(&Secret::from(SECRET), (SECRET, OLD_SECRET));
    assert!(out.status.success());
    let shown = text(&out.stdout);
    assert!(
        shown.starts_with("valid: signed by the current key"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("storage key: {}", id.storage_key())),
        "{shown}"
    );
    assert!(
        !shown.contains(&id.to_string()),
        "the ID was printed: {shown}"
    );

    let out = inspect(&Secret::from(OLD_SECRET), (SECRET, OLD_SECRET));
    assert!(out.status.success());
    assert!(text(&out.stdout).starts_with("valid: signed by fallback key 1"));

    let out = inspect(&Secret::from(OLD_SECRET), (SECRET, ""));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).starts_with("not valid:"));
}

#[test]
fn errors_are_one_line_and_a_failure_status() {
    let out = keycard().args(["count"]).output().unwrap();
    assert!(one_line_error(&out).contains("pass --store URL or set SESSION_STORE"));
    let out = keycard()
        .env("SESSION_STORE", "ftp://x")
        .args(["count"])
        .output()
        .unwrap();
    assert!(one_line_error(&out).contains("unknown session store `ftp`"));
    let out = keycard().args(["inspect", "x.y"]).output().unwrap();
    assert!(one_line_error(&out).contains("SESSION_SECRET is not set"));
    // A store that cannot be opened: the cause, on the same line.
    #[cfg(feature = "sqlite")]
    let out = keycard()
        .args(["--store", "sqlite:///nonexistent-dir/x.db", "count"])
        .output()
        .unwrap();
    #[cfg(feature = "sqlite")]
    assert!(one_line_error(&out).contains("could not connect"));
}

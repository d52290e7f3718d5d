//! Damaged records (issue 15.1): garbage written straight into a store
//! must not lock a browser out. Every backend whose stored bytes can be
//! reached from outside runs [`damaged_records_end_as_no_session`] through
//! [`damaged_record_suite!`](crate::damaged_record_suite), giving a
//! [`Corrupt`] hook that overwrites one record's bytes. (The memory store
//! holds only bytes it encoded itself, in its own process: nothing outside
//! the process can damage them, so it has no such test.)

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::{Method, StatusCode};
use session_cookie::core::{async_trait, codec, IdSigner, Record, SessionId};
use session_cookie::{SessionConfig, SessionStore};

use crate::{set_cookies, TestApp, SECRET};

/// Writes raw bytes over a stored record, as a bad migration, a disk fault
/// or a hand edit would.
#[async_trait]
pub trait Corrupt: Send + Sync + 'static {
    /// Replaces the stored bytes of `id`'s record with `bytes`, leaving its
    /// expiry, its user binding (SQL `user_id` column, Redis index) and
    /// everything else as they are.
    async fn overwrite(&self, id: &SessionId, bytes: &[u8]);
}

/// A SQL store's rows, damaged in place: `update` is the backend's
/// `UPDATE <table> SET data = <bytes> WHERE id = <storage key>`, taking
/// those two parameters in that order. The expiry and `user_id` columns stay.
#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
#[derive(Debug)]
pub struct RawRows<P> {
    pool: P,
    update: String,
}

#[cfg(any(feature = "postgres", feature = "sqlite", feature = "mysql"))]
impl<P> RawRows<P> {
    /// Rows of the store on `pool`, overwritten with `update`.
    pub fn new(pool: P, update: String) -> Self {
        Self { pool, update }
    }
}

macro_rules! raw_rows {
    ($feature:literal, $pool:ty) => {
        #[cfg(feature = $feature)]
        #[async_trait]
        impl Corrupt for RawRows<$pool> {
            async fn overwrite(&self, id: &SessionId, bytes: &[u8]) {
                use session_cookie::sqlx::{self, AssertSqlSafe};
                sqlx::query(AssertSqlSafe(self.update.clone()))
                    .bind(bytes.to_vec())
                    .bind(id.storage_key())
                    .execute(&self.pool)
                    .await
                    .expect("UPDATE the data column");
            }
        }
    };
}

raw_rows!("postgres", session_cookie::sqlx::postgres::PgPool);
raw_rows!("sqlite", session_cookie::sqlx::sqlite::SqlitePool);
raw_rows!("mysql", session_cookie::sqlx::mysql::MySqlPool);

/// Runs [`damaged_records_end_as_no_session`] as a `#[tokio::test]` per
/// adapter on the `(store, hook)` pair `$factory` evaluates to (a future).
#[macro_export]
macro_rules! damaged_record_suite {
    ($factory:expr) => {
        $crate::damaged_record_suite!(@test damaged_records_end_as_no_session, Axum, $factory);
        $crate::damaged_record_suite!(@test damaged_records_end_as_no_session_on_actix, Actix, $factory);
    };
    (@test $name:ident, $adapter:ident, $factory:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let (store, corrupt): (
                ::std::sync::Arc<dyn ::session_cookie::SessionStore>,
                ::std::sync::Arc<dyn $crate::damage::Corrupt>,
            ) = $factory.await;
            let test = $crate::damage::damaged_records_end_as_no_session(store, corrupt);
            $crate::Adapter::$adapter.run(test).await;
        }
    };
}

/// The hotel's user identity for the demo account.
const USER: &str = "1";

/// Five ways to damage a record: random bytes, an empty value, a truncated
/// envelope, an unknown format number, and a valid header (bound to the
/// user, live) over a broken MessagePack body.
pub fn corruptions() -> Vec<(&'static str, Vec<u8>)> {
    let mut record = Record::new(
        SessionId::generate(),
        [("user_id".to_owned(), vec![1])].into(),
        SystemTime::now() + Duration::from_secs(3600),
    );
    record.user = Some(USER.to_owned());
    let valid = codec::encode(&record).expect("encode");
    let mut random: Vec<u8> = (0..4)
        .flat_map(|_| *SessionId::generate().as_bytes())
        .collect();
    random[0] |= 0x80; // never a format number
    let mut unknown_format = valid.clone();
    unknown_format[0] = 0x09;
    let body = codec::USER_OFFSET + USER.len();
    let mut broken_body = valid[..body].to_vec();
    broken_body.extend_from_slice(&[0x92, 0xc1, 0xff, 0x00]);
    vec![
        ("random bytes", random),
        ("empty value", Vec::new()),
        ("truncated envelope", valid[..12].to_vec()),
        ("unknown format byte", unknown_format),
        ("broken MessagePack body", broken_body),
    ]
}

/// The session ID on a `session=…` pair signed with [`SECRET`].
///
/// # Panics
///
/// When the card does not verify.
pub fn id_of(card: &str) -> SessionId {
    let value = card.split_once('=').map_or(card, |(_, v)| v);
    IdSigner::new("session", &SECRET.into(), [])
        .verify(value)
        .expect("a card this app signed")
        .id
}

/// A damaged record is no session: the request with its card is answered
/// as a cookieless one (never 500; `/login` and `/logout` work), the record
/// is deleted and the card cleared; `/sessions` leaves it out and "log out
/// everywhere" deletes it. For each of [`corruptions`].
///
/// # Panics
///
/// When any of that does not hold.
pub async fn damaged_records_end_as_no_session(
    store: Arc<dyn SessionStore>,
    corrupt: Arc<dyn Corrupt>,
) {
    assert!(
        store.indexes_users(),
        "every backend with bytes indexes users"
    );
    let config = SessionConfig::builder(SECRET).build().expect("config");
    let app = TestApp::hotel(Arc::clone(&store), config).await;
    let damaged = |kind: &'static str, bytes: Vec<u8>| {
        let (app, store, corrupt) = (&app, &store, &corrupt);
        async move {
            let card = app.login_card().await;
            let id = id_of(&card);
            corrupt.overwrite(&id, &bytes).await;
            assert!(
                store.load(&id).await.is_err(),
                "{kind}: the store still reads the damaged record"
            );
            (card, id)
        }
    };
    let gone = |id: SessionId, kind: &'static str, what: &'static str| {
        let store = &store;
        async move {
            assert!(
                matches!(store.load(&id).await, Ok(None)),
                "{kind}: the damaged record was not deleted by {what}"
            );
        }
    };
    for (kind, bytes) in corruptions() {
        // Start from no session of the user.
        store.delete_user_sessions(USER, None).await.expect("reset");

        // Any route with the card: answered as without one, card cleared,
        // record deleted.
        for (method, path, status) in [
            (Method::GET, "/profile", StatusCode::UNAUTHORIZED),
            (Method::POST, "/logout", StatusCode::OK),
        ] {
            let (card, id) = damaged(kind, bytes.clone()).await;
            app.assert_clears(&card, method, path, status).await;
            gone(id, kind, path).await;
        }
        // A new session (anonymous or at login): its card replaces the dead one.
        for path in ["/visits", "/login"] {
            let (card, id) = damaged(kind, bytes.clone()).await;
            let r = match path {
                "/login" => app.login_with(Some(&card)).await,
                _ => app.get_with(path, &card).await,
            };
            assert_eq!(r.status(), StatusCode::OK, "{kind}: {path}");
            let set = set_cookies(r.headers());
            assert!(
                set.len() == 1 && !set[0].contains("Max-Age=0"),
                "{kind}: {set:?}"
            );
            gone(id, kind, path).await;
        }

        // Listing skips it; revocation deletes it; the caller stays.
        store.delete_user_sessions(USER, None).await.expect("reset");
        let keep = app.login_card().await;
        let (_, revoked) = damaged(kind, bytes.clone()).await;
        let r = app.get_with("/sessions", &keep).await;
        assert_eq!(r.status(), StatusCode::OK, "{kind}: /sessions");
        let list: serde_json::Value = r.json().await.expect("JSON");
        let sessions = list["sessions"].as_array().expect("a list");
        assert_eq!(sessions.len(), 1, "{kind}: {list}");
        assert_eq!(sessions[0]["current"], true, "{kind}: {list}");
        let r = app
            .send_with(Method::POST, "/logout-everywhere", keep.as_bytes())
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{kind}: /logout-everywhere");
        gone(revoked, kind, "revocation").await;
        assert_eq!(
            app.get_with("/profile", &keep).await.status(),
            StatusCode::OK,
            "{kind}: the revoking session ended"
        );
    }
}

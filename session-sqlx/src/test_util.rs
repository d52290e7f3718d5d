//! Helpers for the unit tests that check the per-user statements against
//! the test servers (the same ones, and the same URLs, as `tests/`).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use session_core::codec::encode_value;
use session_core::{Data, Record, SessionId, SessionStore};

/// Users in the filled table, each with [`PER_USER`] live sessions.
pub(crate) const USERS: usize = 1_000;
/// Live sessions per user.
pub(crate) const PER_USER: usize = 3;
/// Unbound sessions besides (`user_id` NULL).
pub(crate) const UNBOUND: usize = 1_000;

/// A fresh table name, `ssx_<unix seconds>_<random>` as in `tests/`, so
/// that a table left by a failed run is swept by the next integration run.
pub(crate) fn table_name() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let hex: String = SessionId::generate().as_bytes()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("ssx_{secs}_{hex}")
}

pub(crate) fn user(n: usize) -> String {
    format!("user-{n:04}")
}

fn record(n: usize, user: Option<String>) -> Record {
    let mut data = Data::new();
    data.insert("n".into(), encode_value(&(n as u64)).unwrap());
    let mut r = Record::new(
        SessionId::generate(),
        data,
        SystemTime::now() + Duration::from_secs(3600),
    );
    r.user = user;
    r
}

/// A live, unbound record with one value.
pub(crate) fn live_record() -> Record {
    record(0, None)
}

/// Fills `store` through `create` (8 writers): [`USERS`] users with
/// [`PER_USER`] sessions each, plus [`UNBOUND`] unbound sessions. Returns
/// each user's session IDs.
pub(crate) async fn fill<S: SessionStore + Clone>(store: &S, backend: &str) -> Vec<Vec<SessionId>> {
    let started = Instant::now();
    let mut records: Vec<Record> = (0..USERS * PER_USER)
        .map(|i| record(i, Some(user(i / PER_USER))))
        .collect();
    records.extend((0..UNBOUND).map(|i| record(i, None)));
    let ids: Vec<Vec<SessionId>> = records[..USERS * PER_USER]
        .chunks(PER_USER)
        .map(|c| c.iter().map(|r| r.id.clone()).collect())
        .collect();
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            let mine: Vec<Record> = records.iter().skip(w).step_by(8).cloned().collect();
            tokio::spawn(async move {
                for r in &mine {
                    store.create(r).await.expect("create");
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("a writer failed");
    }
    eprintln!(
        "{backend}: created {} sessions ({USERS} users x {PER_USER}, {UNBOUND} unbound) in {:?}",
        records.len(),
        started.elapsed()
    );
    ids
}

/// Runs `op` `n` times and returns the median duration.
pub(crate) async fn median<F, Fut, T>(n: usize, mut op: F) -> Duration
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        op(i).await;
        times.push(started.elapsed());
    }
    times.sort();
    times[n / 2]
}

/// The values of every `"field": value` in JSON text (strings without
/// their quotes), in order. Enough for `EXPLAIN (FORMAT JSON)` output,
/// which this crate reads without a JSON parser.
pub(crate) fn json_values<'a>(json: &'a str, field: &str) -> Vec<&'a str> {
    let needle = format!("\"{field}\": ");
    json.match_indices(&needle)
        .map(|(at, _)| {
            let rest = &json[at + needle.len()..];
            if let Some(s) = rest.strip_prefix('"') {
                &s[..s.find('"').unwrap_or(s.len())]
            } else {
                let end = rest.find([',', '}', '\n']).unwrap_or(rest.len());
                rest[..end].trim()
            }
        })
        .collect()
}

#[test]
fn json_values_reads_strings_and_numbers() {
    let json = r#"[{"Plan": {"Node Type": "Index Scan", "Index Name": "t_user_idx",
        "Actual Rows": 3, "Plans": [{"Node Type": "Bitmap Index Scan", "Actual Rows": 12}]}}]"#;
    assert_eq!(
        json_values(json, "Node Type"),
        ["Index Scan", "Bitmap Index Scan"]
    );
    assert_eq!(json_values(json, "Index Name"), ["t_user_idx"]);
    assert_eq!(json_values(json, "Actual Rows"), ["3", "12"]);
}

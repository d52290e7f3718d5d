//! The task that sends a store's saves in batches (see `batch.rs` at the
//! crate's root): everything queued since its last statement goes as one
//! `UPDATE … FROM unnest(…)`, one row per save, each with its own version
//! check, and the `RETURNING` list tells which rows were written.
//!
//! One statement at a time, on the store's pool: while it runs, the next
//! batch gathers. A session appears at most once in a statement (a second
//! save of it waits for the next one, so that each keeps its own check).

use std::collections::HashSet;

use sqlx::postgres::PgPool;

use crate::batch::{gather, Job, Outcome, Queue};

/// The most saves in one statement.
const MAX_BATCH: usize = 256;

/// The statements for a table (`qualified`, quoted), without and with the
/// `announced` column (`$1`..`$6`: arrays of the rows' data, expiry,
/// version, user, ID and expected version; `$7`: now, in ms).
pub(crate) fn statements(qualified: &str) -> [String; 2] {
    [String::new(), ", announced = v.version".to_owned()].map(|set| {
        format!(
            "UPDATE {qualified} AS s SET data = v.data, expires_at = v.expires_at, \
             version = v.version, user_id = v.user_id{set} \
             FROM unnest($1::bytea[], $2::int8[], $3::int8[], $4::text[], $5::text[], $6::int8[]) \
             AS v(data, expires_at, version, user_id, id, expected) \
             WHERE s.id = v.id AND s.expires_at > $7 AND s.version = v.expected \
             RETURNING s.id"
        )
    })
}

/// Starts the task on `runtime`; it ends once every
/// [`Batcher`](crate::batch::Batcher) of `jobs` is dropped.
pub(crate) fn spawn(
    runtime: &tokio::runtime::Handle,
    pool: &PgPool,
    qualified: &str,
    queue: Queue,
) {
    runtime.spawn(run(pool.clone(), statements(qualified), queue));
}

/// Takes what is queued, sends it, answers each save; until the queue
/// closes.
async fn run(pool: PgPool, [plain, marked]: [String; 2], mut queue: Queue) {
    let mut next: Vec<Job> = Vec::new();
    loop {
        let mut queued = std::mem::take(&mut next);
        if !gather(&mut queue.jobs, &mut queued, MAX_BATCH).await {
            return;
        }
        // One row per session and statement; the rest waits its turn.
        let mut seen = HashSet::new();
        let (mut batches, mut later): ([Vec<Job>; 2], Vec<Job>) = Default::default();
        for job in queued {
            match seen.insert(job.columns.key.clone()) {
                true => batches[usize::from(job.marked)].push(job),
                false => later.push(job),
            }
        }
        next = later;
        let [unmarked, marked_jobs] = batches;
        for (sql, batch) in [(&plain, unmarked), (&marked, marked_jobs)] {
            if !batch.is_empty() {
                queue.sent(batch.len());
                send(&pool, sql, batch).await;
            }
        }
    }
}

/// One statement for `batch`, and each save's outcome.
async fn send(pool: &PgPool, sql: &str, batch: Vec<Job>) {
    let column = |f: fn(&Job) -> i64| batch.iter().map(f).collect::<Vec<i64>>();
    let data: Vec<&[u8]> = batch.iter().map(|j| j.columns.data.as_slice()).collect();
    let users: Vec<Option<&str>> = batch.iter().map(|j| j.columns.user.as_deref()).collect();
    let ids: Vec<&str> = batch.iter().map(|j| j.columns.key.as_str()).collect();
    let written = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
        .bind(data)
        .bind(column(|j| j.columns.expires_at))
        .bind(column(|j| j.columns.version))
        .bind(users)
        .bind(ids)
        .bind(column(|j| j.expected))
        .bind(crate::row::now_ms())
        .fetch_all(pool)
        .await;
    match written {
        Ok(written) => {
            let written: HashSet<String> = written.into_iter().collect();
            for job in batch {
                let outcome = match written.contains(&job.columns.key) {
                    true => Outcome::Saved,
                    false => Outcome::NotSaved,
                };
                let _ = job.reply.send(outcome);
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, saves = batch.len(), "a batch of session saves failed; each is made alone");
            for job in batch {
                let _ = job.reply.send(Outcome::Alone);
            }
        }
    }
}

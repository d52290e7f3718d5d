//! sqlx's generic API for every driver this crate supports, with the
//! driver's bounds stated once.
//!
//! Generic sqlx code needs a bound per column type (`i64: Encode<'_, DB>`,
//! `Vec<u8>: Decode<'_, DB>`, …) and one saying a connection runs
//! statements, at every use. [`Exec`] states them once, in a blanket impl
//! that each supported driver satisfies, and hands the generic code what
//! it cannot name itself: a statement with its [`Param`]s bound, the pool
//! or a connection as an [`Executor`], and the columns of a row. With
//! those, the store runs `.execute(…)`, `.fetch_optional(…)` and
//! `.fetch_all(…)` as sqlx code for one driver would.

use std::sync::Arc;

use sqlx::query::Query;
use sqlx::{
    AssertSqlSafe, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row as _,
    Type,
};

/// A value for one placeholder of a statement.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    /// Text, such as a storage key.
    Text(&'a str),
    /// Bytes, such as an envelope.
    Bytes(&'a [u8]),
    /// A `BIGINT`: times, versions, counts.
    Int(i64),
    /// Nullable text: the user where the column is text.
    OptText(Option<&'a str>),
    /// Nullable bytes: the user where the column is bytes (MySQL's
    /// `VARBINARY`).
    OptBytes(Option<&'a [u8]>),
}

/// A statement ready to run, as [`Exec::query`] binds it.
pub(crate) type Bound<DB> = Query<'static, DB, <DB as Database>::Arguments>;

/// What the store needs of a sqlx driver (see the module doc).
pub trait Exec: Database<Arguments: IntoArguments<Self>> {
    /// `sql` with `params` bound in order.
    fn query(sql: &Arc<str>, params: &[Param<'_>]) -> Bound<Self>;

    /// The pool as an executor: each statement on a pooled connection.
    fn on_pool(pool: &Pool<Self>) -> impl Executor<'_, Database = Self>;

    /// `conn` as an executor (holding a lock or a transaction).
    fn on(conn: &mut Self::Connection) -> impl Executor<'_, Database = Self>;

    /// Column `i` of `row` as a `BIGINT`.
    fn int(row: &Self::Row, i: usize) -> Result<i64, sqlx::Error>;

    /// Column `i` of `row` as bytes.
    fn bytes(row: &Self::Row, i: usize) -> Result<Vec<u8>, sqlx::Error>;

    /// Column `i` of `row` as text.
    fn text(row: &Self::Row, i: usize) -> Result<String, sqlx::Error>;
}

impl<DB> Exec for DB
where
    DB: Database<Arguments: IntoArguments<DB>>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB> + Decode<'t, DB>,
    for<'t, 'a> &'a str: Encode<'t, DB> + Type<DB>,
    for<'t, 'a> &'a [u8]: Encode<'t, DB> + Type<DB>,
    for<'a> Option<&'a str>: Encode<'a, DB>,
    for<'a> Option<&'a [u8]>: Encode<'a, DB>,
    for<'r> Vec<u8>: Decode<'r, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    fn query(sql: &Arc<str>, params: &[Param<'_>]) -> Bound<DB> {
        // An encoding error is kept in the query and surfaces when it runs.
        let query = sqlx::query(AssertSqlSafe(Arc::clone(sql)));
        params.iter().fold(query, |query, param| match *param {
            Param::Text(v) => query.bind(v),
            Param::Bytes(v) => query.bind(v),
            Param::Int(v) => query.bind(v),
            Param::OptText(v) => query.bind(v),
            Param::OptBytes(v) => query.bind(v),
        })
    }

    fn on_pool(pool: &Pool<DB>) -> impl Executor<'_, Database = DB> {
        pool
    }

    fn on(conn: &mut DB::Connection) -> impl Executor<'_, Database = DB> {
        conn
    }

    fn int(row: &DB::Row, i: usize) -> Result<i64, sqlx::Error> {
        row.try_get(i)
    }

    fn bytes(row: &DB::Row, i: usize) -> Result<Vec<u8>, sqlx::Error> {
        row.try_get(i)
    }

    fn text(row: &DB::Row, i: usize) -> Result<String, sqlx::Error> {
        row.try_get(i)
    }
}

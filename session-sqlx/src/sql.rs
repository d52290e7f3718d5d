//! The SQL text of one session table: its quoted names and every statement
//! the store runs on it, written once with the dialect's quoting and
//! placeholders and prepared when the store is built.

use std::sync::Arc;

use crate::dialect::Dialect;

/// The validated names of a session table, quoted for SQL.
#[derive(Debug)]
pub struct Names {
    /// The schema, unquoted, where the store takes one (PostgreSQL).
    pub(crate) schema: Option<String>,
    /// The table, unquoted.
    pub(crate) table: String,
    /// `"schema"."table"`, or the quoted table alone.
    pub(crate) qualified: String,
    /// `<table>_migrations`, qualified alike.
    pub(crate) migrations: String,
    /// `<table>_expires_idx`, quoted (an index lives in its table's schema).
    pub(crate) index: String,
    /// `<table>_user_idx`, quoted.
    pub(crate) user_index: String,
}

impl Names {
    /// The names of `table` (in `schema`, if any), quoted the way of `DB`.
    pub(crate) fn new<DB: Dialect>(schema: Option<String>, table: String) -> Self {
        let q = |name: &str| format!("{q}{name}{q}", q = DB::QUOTE);
        let qualify = |name: &str| match &schema {
            Some(schema) => format!("{}.{}", q(schema), q(name)),
            None => q(name),
        };
        Self {
            qualified: qualify(&table),
            migrations: qualify(&format!("{table}_migrations")),
            index: q(&format!("{table}_expires_idx")),
            user_index: q(&format!("{table}_user_idx")),
            schema,
            table,
        }
    }

    /// How the migration log names the table: qualified where there is a
    /// schema, bare otherwise.
    pub(crate) fn label(&self) -> &str {
        match self.schema {
            Some(_) => &self.qualified,
            None => &self.table,
        }
    }
}

/// Every statement the store runs, for one table.
#[derive(Debug)]
pub(crate) struct Statements {
    /// The upsert that replaces only an expired row, or (MySQL) the plain
    /// `INSERT`.
    pub(crate) create: Arc<str>,
    /// After a duplicate key on the plain `INSERT`: deletes the ID if its
    /// row has expired. `None` where `create` is an upsert.
    pub(crate) purge_expired_id: Option<Arc<str>>,
    /// `create` as a write the store announces itself (it sets the
    /// dialect's `ANNOUNCED` column, so the trigger stays silent), where
    /// the dialect has a near cache (PostgreSQL).
    pub(crate) create_announced: Option<Arc<str>>,
    pub(crate) load: Arc<str>,
    pub(crate) save: Arc<str>,
    /// `save` as a write the store announces itself, where the dialect has
    /// a near cache (PostgreSQL).
    pub(crate) save_announced: Option<Arc<str>>,
    /// Whether a live row holds the ID, after a save that wrote nothing.
    pub(crate) live: Arc<str>,
    pub(crate) touch: Arc<str>,
    pub(crate) delete: Arc<str>,
    pub(crate) delete_expired: Arc<str>,
    /// `COUNT(*)` of the live rows and of the expired ones (parameter 1:
    /// now), through the expiry index.
    pub(crate) count_live: Arc<str>,
    pub(crate) count_expired: Arc<str>,
    // The per-user statements all find their rows through the
    // (user_id, expires_at) index; expired rows are left to the cleanup,
    // so a revocation counts only the live sessions it ended.
    pub(crate) user_sessions: Arc<str>,
    pub(crate) count_user_sessions: Arc<str>,
    pub(crate) delete_user_sessions: Arc<str>,
    pub(crate) delete_user_sessions_but: Arc<str>,
}

impl Statements {
    /// The statements on `t` (a qualified, quoted name) in `DB`'s dialect.
    pub(crate) fn new<DB: Dialect>(t: &str) -> Self {
        let [p1, p2, p3, p4, p5, p6, p7] = std::array::from_fn(|i| DB::param(i + 1));
        let columns = "id, data, expires_at, created_at, version, user_id";
        let values = format!("{p1}, {p2}, {p3}, {p4}, {p5}, {p6}");
        let upsert = |announced: &str| {
            let (column, value, set) = match announced {
                "" => (String::new(), String::new(), String::new()),
                a => (
                    format!(", {a}"),
                    format!(", {p5}"),
                    format!(", {a} = EXCLUDED.{a}"),
                ),
            };
            format!(
                "INSERT INTO {t} AS s ({columns}{column}) VALUES ({values}{value}) \
                 ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, \
                 expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at, \
                 version = EXCLUDED.version, user_id = EXCLUDED.user_id{set} \
                 WHERE s.expires_at <= {p7}"
            )
        };
        let (create, purge_expired_id) = if DB::UPSERT {
            (upsert(""), None)
        } else {
            let purge = format!("DELETE FROM {t} WHERE id = {p1} AND expires_at <= {p2}");
            let insert = format!("INSERT INTO {t} ({columns}) VALUES ({values})");
            (insert, Some(purge.into()))
        };
        let save = |announced: &str| {
            let set = match announced {
                "" => String::new(),
                a => format!(", {a} = {p3}"),
            };
            format!(
                "UPDATE {t} SET data = {p1}, expires_at = {p2}, version = {p3}, \
                 user_id = {p4}{set} WHERE id = {p5} AND expires_at > {p6} AND version = {p7}"
            )
        };
        let live = |what: &str| format!("{what} FROM {t} WHERE id = {p1} AND expires_at > {p2}");
        let of_user =
            |what: &str| format!("{what} FROM {t} WHERE user_id = {p1} AND expires_at > {p2}");
        Self {
            create: create.into(),
            create_announced: DB::ANNOUNCED.map(|a| upsert(a).into()),
            purge_expired_id,
            load: live("SELECT data, expires_at").into(),
            save: save("").into(),
            save_announced: DB::ANNOUNCED.map(|a| save(a).into()),
            live: live("SELECT version").into(),
            touch: format!(
                "UPDATE {t} SET expires_at = {p1} WHERE id = {p2} AND expires_at > {p3}"
            )
            .into(),
            delete: format!("DELETE FROM {t} WHERE id = {p1}").into(),
            delete_expired: DB::delete_expired(t).into(),
            count_live: format!("SELECT COUNT(*) FROM {t} WHERE expires_at > {p1}").into(),
            count_expired: format!("SELECT COUNT(*) FROM {t} WHERE expires_at <= {p1}").into(),
            user_sessions: of_user("SELECT id, data, expires_at").into(),
            count_user_sessions: of_user("SELECT COUNT(*)").into(),
            delete_user_sessions: of_user("DELETE").into(),
            delete_user_sessions_but: format!("{} AND id <> {p3}", of_user("DELETE")).into(),
        }
    }
}

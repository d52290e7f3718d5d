//! session-sqlx: work in progress.

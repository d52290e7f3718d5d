//! session-cookie: work in progress.

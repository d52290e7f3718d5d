//! session-redis: work in progress.

//! `keycard`: the operator's tool for keycard-sessions.
//!
//! It opens the store named by a URL, exactly as the application's
//! `session_cookie::connect` does (`--store URL`, or `SESSION_STORE` from
//! the environment), and acts on it:
//!
//! ```text
//! keycard count [--user U]                 live sessions (of one user)
//! keycard sessions --user U                that user's sessions: storage key, created, expires
//! keycard revoke --user U [--keep KEY]     log a user out everywhere (but the session KEY)
//! keycard purge-expired [--batch N]        remove expired records in batches, with progress
//! keycard migrate                          create or upgrade the SQL table
//! keycard inspect CARD [--data]            check a cookie with SESSION_SECRET; with a store, its metadata
//! ```
//!
//! `--json` prints one JSON document for scripts. Errors are one line on
//! stderr (`error: …`) and a non-zero exit status. Sessions are named by
//! their storage key (a hash of the ID): no command prints a session ID.
//!
//! Run with: cargo run -p keycard -- --help

mod commands;
mod inspect;
mod time;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Operate keycard-sessions stores: count, list, revoke and purge
/// sessions, run the SQL migrations, inspect a session cookie.
#[derive(Debug, Parser)]
#[command(name = "keycard", version)]
struct Cli {
    /// The session store, as the app's SESSION_STORE: memory, redis://…,
    /// rediss://…, redis+cluster://…, redis+sentinel://…, postgres://…,
    /// sqlite://…, mysql://…
    #[arg(long, global = true, env = "SESSION_STORE", hide_env_values = true)]
    store: Option<String>,

    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// How many live sessions the store holds (or one user holds).
    Count {
        /// Count only this user's sessions (needs a store with a per-user index).
        #[arg(long, allow_hyphen_values = true)]
        user: Option<String>,
    },
    /// A user's live sessions, by storage key (never by ID).
    Sessions {
        /// The user the sessions are bound to.
        #[arg(long, allow_hyphen_values = true)]
        user: String,
    },
    /// Log a user out everywhere: delete their sessions.
    Revoke {
        /// The user whose sessions end.
        #[arg(long, allow_hyphen_values = true)]
        user: String,
        /// Keep this session (a storage key, as `keycard sessions` lists it;
        /// base64url, so it may start with `-`).
        #[arg(long, value_name = "STORAGE_KEY", allow_hyphen_values = true)]
        keep: Option<String>,
    },
    /// Remove expired records now, in batches; safe while the app serves.
    PurgeExpired {
        /// Records removed per statement.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
        batch: u32,
    },
    /// Create or upgrade the SQL session table (idempotent), for deploy pipelines.
    Migrate,
    /// Check a session cookie with SESSION_SECRET (and SESSION_FALLBACK_SECRET_KEYS);
    /// with a store, show its session's metadata.
    Inspect {
        /// The cookie value (`NAME=VALUE` and a trailing `; …` are accepted too).
        #[arg(allow_hyphen_values = true)]
        card: String,
        /// Also print the session's data.
        #[arg(long)]
        data: bool,
    },
}

/// What went wrong, as one line.
type Failure = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", session_cookie::error_chain(&*err));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let out = commands::Output { json: cli.json };
    let store = match cli.store.as_deref() {
        Some(url) => Some(commands::open(url).await?),
        None => None,
    };
    let need = || {
        store.as_deref().ok_or(
            "no session store: pass --store URL or set SESSION_STORE (memory, redis://…, \
             postgres://…, sqlite://…, mysql://…)",
        )
    };
    match cli.command {
        Command::Inspect { card, data } => {
            return inspect::run(&out, store.as_deref(), &card, data).await;
        }
        Command::Count { user } => commands::count(&out, need()?, user.as_deref()).await?,
        Command::Sessions { user } => commands::sessions(&out, need()?, &user).await?,
        Command::Revoke { user, keep } => {
            commands::revoke(&out, need()?, &user, keep.as_deref()).await?;
        }
        Command::PurgeExpired { batch } => commands::purge(&out, need()?, batch).await?,
        Command::Migrate => commands::migrated(&out, need()?),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command};

    /// Storage keys and cookies are base64url, users anything: a value
    /// that starts with `-` is a value, not an unknown flag (a usage error).
    #[test]
    fn values_may_start_with_a_hyphen() {
        let cli = Cli::try_parse_from(["keycard", "revoke", "--user", "-ada", "--keep", "-Xk9"])
            .expect("parses");
        assert!(matches!(
            cli.command,
            Command::Revoke { ref user, keep: Some(ref keep) } if user == "-ada" && keep == "-Xk9"
        ));
        for args in [
            &["keycard", "count", "--user", "-bob"][..],
            &["keycard", "sessions", "--user", "-bob"],
            &["keycard", "inspect", "-abc.def"],
        ] {
            assert!(Cli::try_parse_from(args).is_ok(), "{args:?}");
        }
    }
}

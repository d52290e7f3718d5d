//! Finding the shared test servers: `REDIS_URL`, `DATABASE_URL` and
//! `MYSQL_URL` at run time (never at build time), with the local defaults.
//! A server that does not answer is a test failure naming how to start it,
//! never a skip.

use std::fmt::Display;

/// A shared server the tests find through an environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// Redis: `REDIS_URL`, default `redis://127.0.0.1:6379`.
    Redis,
    /// PostgreSQL: `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`.
    Postgres,
    /// MariaDB or MySQL: `MYSQL_URL`, default `mysql://root@127.0.0.1:3306/test`.
    MariaDb,
}

impl Server {
    /// The environment variable holding its URL.
    pub fn var(self) -> &'static str {
        match self {
            Self::Redis => "REDIS_URL",
            Self::Postgres => "DATABASE_URL",
            Self::MariaDb => "MYSQL_URL",
        }
    }

    /// The URL of the local server the tests use when the variable is unset.
    pub fn default_url(self) -> &'static str {
        match self {
            Self::Redis => "redis://127.0.0.1:6379",
            Self::Postgres => "postgres://postgres@127.0.0.1:5432/test",
            Self::MariaDb => "mysql://root@127.0.0.1:3306/test",
        }
    }

    /// The URL from [`var`](Self::var), else [`default_url`](Self::default_url).
    pub fn url(self) -> String {
        std::env::var(self.var()).unwrap_or_else(|_| self.default_url().to_owned())
    }

    /// What it is called in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Redis => "Redis",
            Self::Postgres => "PostgreSQL",
            Self::MariaDb => "MariaDB/MySQL",
        }
    }

    /// How to get one running: the docker compose service, the variable,
    /// `scripts/test.sh`, and the Debian package of the server.
    pub fn how_to_start(self) -> String {
        let (service, package) = match self {
            Self::Redis => ("redis", "redis-server"),
            Self::Postgres => ("postgres", "postgresql"),
            Self::MariaDb => ("mariadb", "mariadb-server"),
        };
        format!(
            "start it with `docker compose up -d --wait {service}` (from the repository root), \
             point {} at a running server, or run `scripts/test.sh`, which starts a throwaway \
             one from the installed binaries (Debian: apt-get install {package})",
            self.var()
        )
    }

    /// Fails the test: the server at `url` did not answer (`error`).
    ///
    /// # Panics
    ///
    /// Always: that is the point.
    pub fn unreachable(self, url: &str, error: impl Display) -> ! {
        panic!(
            "{} is not reachable at {url} ({error}): {}",
            self.name(),
            self.how_to_start()
        )
    }
}

/// `REDIS_URL`, default `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    Server::Redis.url()
}

/// `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`.
pub fn database_url() -> String {
    Server::Postgres.url()
}

/// `MYSQL_URL`, default `mysql://root@127.0.0.1:3306/test`.
pub fn mysql_url() -> String {
    Server::MariaDb.url()
}

/// `url` with `params` (`name=value&…`) added to its query.
pub fn with_params(url: &str, params: &str) -> String {
    let join = if url.contains('?') { '&' } else { '?' };
    format!("{url}{join}{params}")
}

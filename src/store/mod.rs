//! Stage: **store** — the database that holds every received event and every run: SQLite (one
//! file, WAL mode; the default, one replica) or PostgreSQL (several replicas), chosen by the URL.
//!
//! One codebase for both: [`Db`] holds a [`Pool`] of either backend and every query runs through
//! [`with_pool!`](crate::with_pool), which compiles the same sqlx call once per backend. The SQL is
//! shared (placeholders are `$1`, which SQLite accepts too); where the dialects differ (the clock,
//! JSON, locking) [`Backend`] gives each its own text. Each backend has its own migrations
//! (`migrations/sqlite`, `migrations/postgres`, the same versions), tracked in their own table,
//! `_triaged_migrations`, because apalis keeps its own migrations in sqlx's default table (SQLite)
//! or schema `apalis` (PostgreSQL) and the two migrators would otherwise reject each other.
//! Times are stored as RFC 3339 UTC text with milliseconds on both, made by the database's clock.
//!
//! This module never talks to Intercom or the LLM; it only reads and writes rows.

pub mod actions;
pub mod conversations;
pub mod events;
pub mod leases;
pub mod mcp_calls;
mod open;
pub mod retention;
pub mod runs;
pub mod sessions;
pub mod stats;
pub mod tokens;
mod tx;
pub mod usage;

use sqlx::{PgPool, SqlitePool};

/// The commit durability setting, defined with the rest of the settings.
pub use crate::config::Durability;

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a `TRIAGED_DATABASE_URL` names (`postgres://` or `postgresql://`; else SQLite).
    pub fn of_url(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }

    /// SQL for the current time as the text this store keeps (`2026-12-03T08:40:52.123Z`).
    /// PostgreSQL's `triaged_now()` is defined by its first migration; it reads the clock at each
    /// call, like SQLite's `'now'`, not at the start of the transaction.
    pub(crate) const fn now(self) -> &'static str {
        match self {
            Self::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            Self::Postgres => "triaged_now()",
        }
    }

    /// SQL for the time `seconds` ago (negative: from now on), in the same text form.
    pub(crate) fn ago(self, seconds: f64) -> String {
        match self {
            Self::Sqlite => format!(
                "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '{:+.3} seconds')",
                -seconds
            ),
            Self::Postgres => format!("triaged_ago({seconds:.3})"),
        }
    }

    /// SQL for today's midnight (UTC), in the same text form.
    pub(crate) fn today(self) -> &'static str {
        match self {
            Self::Sqlite => "strftime('%Y-%m-%dT00:00:00.000Z', 'now')",
            Self::Postgres => "triaged_today()",
        }
    }
}

/// The connection pool of the configured backend.
#[derive(Debug, Clone)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the pool of `$db` (a [`Db`]), whichever backend it is. The
/// body is compiled once per backend, so any sqlx call generic over the database fits, e.g.
/// `with_pool!(db, |p| sqlx::query_scalar("SELECT 1").fetch_one(p).await)`; the SQL must suit
/// both databases (branch on [`Db::backend`] where it cannot).
#[macro_export]
macro_rules! with_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db.pool() {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

pub(crate) use crate::with_tx;
pub use open::redact;
pub use tx::Tx;
pub(crate) use tx::{ROWS_PER_STATEMENT, param_list, value_rows};

/// Errors from the store edge.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid database URL {url:?}: {source}")]
    Url { url: String, source: sqlx::Error },
    #[error("cannot open database {url:?}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("no database at {path} (`triaged migrate` or `triaged serve` creates it)")]
    Missing { path: String },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// The database handle shared by every stage.
#[derive(Debug, Clone)]
pub struct Db {
    pool: Pool,
}

impl Db {
    /// The pool, for [`with_pool!`](crate::with_pool) and the queue.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite pool, for code that reads with SQLite's own SQL on a SQLite database. Tests
    /// should query through [`with_pool!`](crate::with_pool) instead: the CI matrix runs them on
    /// PostgreSQL too (`TRIAGED_TEST_BACKEND=postgres`), where this is an error.
    pub fn sqlite(&self) -> Result<&SqlitePool, sqlx::Error> {
        match &self.pool {
            Pool::Sqlite(pool) => Ok(pool),
            Pool::Postgres(_) => Err(sqlx::Error::Configuration(
                "this needs a SQLite database; TRIAGED_DATABASE_URL is PostgreSQL".into(),
            )),
        }
    }

    /// A cheap query proving the database answers (used by `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, |p| sqlx::query("SELECT 1")
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        with_pool!(self, |p| p.close().await);
    }
}

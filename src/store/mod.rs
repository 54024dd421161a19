//! Stage: **store** — the SQLite database that holds every received event and every run.
//!
//! One file (WAL mode) holds both our tables and apalis's queue tables. Our migrations
//! (`migrations/`) are tracked in their own table, `_triaged_migrations`, because apalis uses sqlx's
//! default `_sqlx_migrations` for its own and the two migrators would otherwise reject each other.
//!
//! This module never talks to Intercom or the LLM; it only reads and writes rows.

pub mod actions;
pub mod conversations;
pub mod events;
pub mod leases;
pub mod mcp_calls;
pub mod retention;
pub mod runs;
pub mod sessions;
pub mod stats;
pub mod tokens;
pub mod usage;

use std::{str::FromStr, time::Duration};

use sqlx::{
    Sqlite, SqlitePool, Transaction,
    migrate::Migrator,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

/// The commit durability setting, defined with the rest of the settings.
pub use crate::config::Durability;

/// Our schema, embedded in the binary.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The table our migrator records applied versions in (apalis owns `_sqlx_migrations`).
const MIGRATIONS_TABLE: &str = "_triaged_migrations";

/// How long a connection waits for SQLite's single writer lock before giving up.
/// Generous: a webhook insert that waits is better than one that fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections in the pool. SQLite serialises writers anyway; a few readers may run beside them.
const MAX_CONNECTIONS: u32 = 8;

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
    pool: SqlitePool,
}

impl Db {
    /// Opens (creating if missing) the SQLite database at `url` (`sqlite://PATH`).
    pub async fn open(url: &str, durability: Durability) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|source| StoreError::Url {
                url: url.to_owned(),
                source,
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                Durability::Normal => SqliteSynchronous::Normal,
                Durability::Full => SqliteSynchronous::Full,
            })
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                url: url.to_owned(),
                source,
            })?;
        Ok(Self { pool })
    }

    /// Opens the existing database at `url` read-only, for commands that only read: it never
    /// creates, migrates or writes anything (no `-wal`/`-shm` file either), so it works on a
    /// read-only directory or file. A WAL database that was closed cleanly has no `-shm` file, and
    /// SQLite cannot read it without creating one; where that cannot be created the file is read
    /// as immutable (nobody is writing to it: a writer would have left its `-wal` and `-shm`).
    pub async fn open_read_only(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|source| StoreError::Url {
                url: url.to_owned(),
                source,
            })?
            .read_only(true)
            .create_if_missing(false)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("temp_store", "memory");
        let path = options.get_filename().to_owned();
        if !path.is_file() {
            return Err(StoreError::Missing {
                path: path.display().to_string(),
            });
        }
        let connect = |options: SqliteConnectOptions| async move {
            let pool = SqlitePoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .connect_with(options)
                .await?;
            // The first read is what needs the `-shm` file; make it here.
            sqlx::query("SELECT count(*) FROM sqlite_master")
                .execute(&pool)
                .await?;
            Ok::<_, sqlx::Error>(pool)
        };
        let pool = match connect(options.clone()).await {
            Ok(pool) => Ok(pool),
            Err(_) if !wal_file(&path).exists() => connect(options.immutable(true)).await,
            Err(e) => Err(e),
        }
        .map_err(|source| StoreError::Open {
            url: url.to_owned(),
            source,
        })?;
        Ok(Self { pool })
    }

    /// Applies our migrations and apalis's queue migrations. Idempotent.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut ours = Migrator::with_migrations(MIGRATOR.iter().cloned().collect());
        ours.dangerous_set_table_name(MIGRATIONS_TABLE);
        ours.run(&self.pool).await?;
        apalis_sqlite::SqliteStorage::migrations()
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// The underlying pool, for the queue and for the modules of this stage.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Begins a transaction that takes SQLite's write lock at once (`BEGIN IMMEDIATE`).
    ///
    /// Every transaction that writes must use this: a deferred transaction that reads first and
    /// writes later fails at once with `SQLITE_BUSY` (no busy wait) when another connection wrote
    /// in between, which in WAL mode happens all the time under load.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// A cheap query proving the database answers (used by `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The write-ahead log beside the database file `path` (`PATH-wal`).
fn wal_file(path: &std::path::Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    std::path::PathBuf::from(name)
}

/// The current time as the RFC 3339 text this store uses.
pub(crate) const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

//! Opening and migrating the database, one way per backend.

use std::{str::FromStr, time::Duration};

use sqlx::{
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{Backend, Db, Durability, Pool, StoreError};

/// Our schema on SQLite, embedded in the binary. These files are released: never edit one (sqlx
/// keeps each one's checksum in the database and refuses to run when a file changed).
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");

/// The same schema on PostgreSQL: the same versions, written in its dialect.
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// The table our migrator records applied versions in (apalis owns `_sqlx_migrations`).
const MIGRATIONS_TABLE: &str = "_triaged_migrations";

/// How long a connection waits for SQLite's single writer lock before giving up.
/// Generous: a webhook insert that waits is better than one that fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections in the pool. SQLite serialises writers anyway; a few readers may run beside them.
const MAX_CONNECTIONS: u32 = 8;

/// PostgreSQL connections per process: the workers, the webhook writer, the janitor and the
/// console, with room to spare; N replicas use N times this (PostgreSQL allows 100 by default).
const PG_MAX_CONNECTIONS: u32 = 16;

/// How long a command that only reads waits for a PostgreSQL server that refuses connections
/// (sqlx retries a refused connection until this runs out; the daemon waits longer).
const PG_READ_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Db {
    /// Opens the database at `url`: a SQLite file (`sqlite://PATH`, created if missing) or a
    /// PostgreSQL database (`postgres://…`, which must exist).
    pub async fn open(url: &str, durability: Durability) -> Result<Self, StoreError> {
        match Backend::of_url(url) {
            Backend::Sqlite => open_sqlite(url, durability).await,
            Backend::Postgres => open_postgres(url, PgPoolOptions::new()).await,
        }
    }

    /// Opens the existing database at `url` read-only, for commands that only read: it never
    /// creates, migrates or writes anything. On SQLite no `-wal`/`-shm` file appears either, so it
    /// works on a read-only directory or file: a WAL database that was closed cleanly has no `-shm`
    /// file, and SQLite cannot read it without creating one; where that cannot be created the file
    /// is read as immutable (nobody is writing to it: a writer would have left its `-wal` and
    /// `-shm`). On PostgreSQL every session is read-only (`default_transaction_read_only`).
    pub async fn open_read_only(url: &str) -> Result<Self, StoreError> {
        match Backend::of_url(url) {
            Backend::Sqlite => open_sqlite_read_only(url).await,
            Backend::Postgres => {
                let options = pg_options(url)?.options([("default_transaction_read_only", "on")]);
                let pool = PgPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(PG_READ_CONNECT_TIMEOUT)
                    .connect_with(options)
                    .await
                    .map_err(|source| StoreError::Open {
                        url: redact(url),
                        source,
                    })?;
                Ok(Self {
                    pool: Pool::Postgres(pool),
                })
            }
        }
    }

    /// Applies our migrations and apalis's queue migrations. Idempotent; on PostgreSQL several
    /// processes may run it at once (sqlx serialises them with an advisory lock).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                ours(&SQLITE_MIGRATIONS).run(pool).await?;
                apalis_sqlite::SqliteStorage::migrations().run(pool).await?;
            }
            Pool::Postgres(pool) => {
                ours(&POSTGRES_MIGRATIONS).run(pool).await?;
                apalis_postgres::PostgresStorage::migrations()
                    .run(pool)
                    .await?;
            }
        }
        Ok(())
    }
}

/// A copy of `migrator` that records into [`MIGRATIONS_TABLE`].
fn ours(migrator: &Migrator) -> Migrator {
    let mut ours = Migrator::with_migrations(migrator.iter().cloned().collect());
    ours.dangerous_set_table_name(MIGRATIONS_TABLE);
    ours
}

/// `url` with its password (if any) replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        _ => url.to_owned(),
    }
}

/// The connection options of `url`, every session asking for `client_min_messages=warning`: the
/// migrations' `IF NOT EXISTS` statements raise a NOTICE on every start ("schema apalis already
/// exists, skipping"), which sqlx logs at INFO, ahead of a CLI command's one-line error and in the
/// daemon's logs. Warnings and errors still arrive.
fn pg_options(url: &str) -> Result<PgConnectOptions, StoreError> {
    PgConnectOptions::from_str(url)
        .map(|options| options.options([("client_min_messages", "warning")]))
        .map_err(|source| StoreError::Url {
            url: redact(url),
            source,
        })
}

async fn open_postgres(url: &str, pool: PgPoolOptions) -> Result<Db, StoreError> {
    let pool = pool
        .max_connections(PG_MAX_CONNECTIONS)
        .connect_with(pg_options(url)?)
        .await
        .map_err(|source| StoreError::Open {
            url: redact(url),
            source,
        })?;
    Ok(Db {
        pool: Pool::Postgres(pool),
    })
}

async fn open_sqlite(url: &str, durability: Durability) -> Result<Db, StoreError> {
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
    Ok(Db {
        pool: Pool::Sqlite(pool),
    })
}

async fn open_sqlite_read_only(url: &str) -> Result<Db, StoreError> {
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
    Ok(Db {
        pool: Pool::Sqlite(pool),
    })
}

/// The write-ahead log beside the database file `path` (`PATH-wal`).
fn wal_file(path: &std::path::Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    std::path::PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://triaged:s3cret@db:5432/triaged?sslmode=require"),
            "postgres://triaged:***@db:5432/triaged?sslmode=require"
        );
        assert_eq!(
            redact("postgres://postgres@db/x"),
            "postgres://postgres@db/x"
        );
        assert_eq!(redact("sqlite://triaged.db"), "sqlite://triaged.db");
    }
}

//! The PostgreSQL backend: `triaged migrate` and the read commands on a real server, the store's
//! operations giving the same answers on both backends, and released SQLite databases upgrading.
//!
//! The server is `TRIAGED_TEST_POSTGRES_URL` (default: the local one, trust authentication). Each
//! test creates its own database with a random name and drops it when done. No server is a
//! failure, never a skip: `.ci/run` makes sure one is reachable.

mod claims;
mod cluster;
mod migrate;
mod read_commands;
mod replicas;
mod rolling;
mod serve;
mod service;
mod store;

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{Connection, PgConnection};

/// Where the tests' PostgreSQL server is, unless `TRIAGED_TEST_POSTGRES_URL` says otherwise.
const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The server the tests create their databases on.
pub fn server_url() -> String {
    std::env::var("TRIAGED_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned())
}

/// `url` with its database name replaced by `database` (query parameters kept).
fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or_default();
    let mut out = format!("{scheme}://{authority}/{database}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

async fn admin_connection(server: &str) -> PgConnection {
    match PgConnection::connect(server).await {
        Ok(conn) => conn,
        Err(e) => panic!(
            "PostgreSQL is not reachable at {server}: {e}. The PostgreSQL tests need a server: \
             start one, or point TRIAGED_TEST_POSTGRES_URL at one (.ci/run does this)"
        ),
    }
}

/// A fresh, empty database on the test server, dropped (with its connections) when this value is.
#[derive(Debug)]
pub struct TestPg {
    /// The database's URL, for `TRIAGED_DATABASE_URL`.
    pub url: String,
    server: String,
    name: String,
}

impl TestPg {
    /// Creates the database; panics (naming the variable) when no server answers.
    pub async fn new() -> Self {
        let server = server_url();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!(
            "triaged_test_{}_{nanos}_{}",
            std::process::id(),
            fastrand::u32(..)
        );
        let mut admin = admin_connection(&server).await;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {server}: {e}"));
        let _ = admin.close().await;
        Self {
            url: with_database(&server, &name),
            server,
            name,
        }
    }

    /// [`TestPg::new`] from synchronous code (it may run inside a test's runtime).
    pub fn new_blocking() -> Self {
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to create the test database")
                .block_on(Self::new())
        })
        .join()
        .expect("the test database was created")
    }

    /// A connection to this database, for seeding and checking rows.
    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.url))
    }
}

impl Drop for TestPg {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot block on itself: use a thread.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            runtime.block_on(async move {
                let mut admin = admin_connection(&server).await;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .map(|_| ())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) && !std::thread::panicking() {
            panic!("could not drop the test database {}", self.name);
        }
    }
}

#[test]
fn the_database_name_replaces_only_the_path() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
        "postgres://postgres@127.0.0.1:5432/t1"
    );
    assert_eq!(
        with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
        "postgres://u:p@h/t2?sslmode=disable"
    );
    assert_eq!(with_database("postgresql://h", "t3"), "postgresql://h/t3");
}

/// `triaged ARGS…` in `dir` on the database at `url`, with no inherited database or config setting.
pub fn triaged(dir: &std::path::Path, url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_triaged"))
        .args(args)
        .current_dir(dir)
        .env_remove("TRIAGED_CONFIG")
        .env("TRIAGED_DATABASE_URL", url)
        .env("TRIAGED_LOG_FORMAT", "text")
        .output()
        .expect("run triaged")
}

/// `out`'s stdout, after checking that the command succeeded.
pub fn success(what: &str, out: &std::process::Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

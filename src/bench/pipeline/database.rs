//! The PostgreSQL database of `bench pipeline --database-url`: empty when the benchmark starts (so
//! every run measures the same thing, and a user's data is never touched), and emptied again of
//! everything the benchmark made when it ends, so the same database serves the next run.
//!
//! Empty means: no table, view or sequence and no function outside PostgreSQL's own schemas,
//! except what an extension brings. Everything found there after the run was made by it (our
//! migrations and apalis's: the tables in `public`, the `apalis` schema, the `hstore` extension).

use anyhow::Context;
use sqlx::{Connection, PgConnection};

use crate::store::redact;

/// Schemas that belong to PostgreSQL itself.
const SYSTEM: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

/// An object is an extension's when `pg_depend` says so.
const EXTENSION_FREE: &str = "NOT EXISTS (SELECT 1 FROM pg_depend d \
     WHERE d.objid = {oid} AND d.deptype = 'e')";

/// An empty database the benchmark may use, and what was there before it did.
#[derive(Debug)]
pub struct Fresh {
    url: String,
    schemas: Vec<String>,
    extensions: Vec<String>,
}

impl Fresh {
    /// Checks that the database at `url` exists and is empty; a clear error otherwise.
    pub async fn claim(url: &str) -> anyhow::Result<Self> {
        let mut conn = connect(url).await?;
        let found = user_objects(&mut conn).await?;
        if !found.is_empty() {
            anyhow::bail!(
                "--database-url {} is not empty (it holds {}{}): the benchmark runs only on an \
                 empty database, so that reruns compare and nobody's data is touched; it drops \
                 what it made when it ends. Create one (`createdb triaged_bench`), or, if an \
                 interrupted benchmark left this one behind, recreate it (`dropdb` then `createdb`)",
                redact(url),
                found.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
                if found.len() > 3 { ", …" } else { "" }
            );
        }
        let fresh = Self {
            url: url.to_owned(),
            schemas: names(&mut conn, "SELECT nspname FROM pg_namespace").await?,
            extensions: names(&mut conn, "SELECT extname FROM pg_extension").await?,
        };
        let _ = conn.close().await;
        Ok(fresh)
    }

    /// Drops everything the benchmark made (the daemons must have stopped), leaving the database
    /// as empty as it was.
    pub async fn clear(self) -> anyhow::Result<()> {
        let mut conn = connect(&self.url).await?;
        let mut statements = Vec::new();
        for schema in names(&mut conn, "SELECT nspname FROM pg_namespace").await? {
            if !self.schemas.contains(&schema) {
                statements.push(format!("DROP SCHEMA {} CASCADE", quote(&schema)));
            }
        }
        for extension in names(&mut conn, "SELECT extname FROM pg_extension").await? {
            if !self.extensions.contains(&extension) {
                statements.push(format!("DROP EXTENSION {} CASCADE", quote(&extension)));
            }
        }
        let mut tx = conn.begin().await?;
        for statement in statements {
            sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                .execute(&mut *tx)
                .await
                .with_context(|| statement.clone())?;
        }
        // What is left outside the new schemas: our tables and functions in `public`.
        let tables = names(
            &mut tx,
            &format!(
                "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p') AND {SYSTEM} AND {}",
                EXTENSION_FREE.replace("{oid}", "c.oid")
            ),
        )
        .await?;
        if !tables.is_empty() {
            let statement = format!("DROP TABLE IF EXISTS {} CASCADE", tables.join(", "));
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&mut *tx)
                .await
                .context("dropping the benchmark's tables")?;
        }
        for function in names(
            &mut tx,
            &format!(
                "SELECT p.oid::regprocedure::text FROM pg_proc p \
                 JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {SYSTEM} AND {}",
                EXTENSION_FREE.replace("{oid}", "p.oid")
            ),
        )
        .await?
        {
            let statement = format!("DROP FUNCTION IF EXISTS {function} CASCADE");
            sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                .execute(&mut *tx)
                .await
                .with_context(|| statement.clone())?;
        }
        let left = user_objects(&mut tx).await?;
        anyhow::ensure!(
            left.is_empty(),
            "clearing the benchmark's database left {}",
            left.join(", ")
        );
        tx.commit().await?;
        let _ = conn.close().await;
        Ok(())
    }
}

async fn connect(url: &str) -> anyhow::Result<PgConnection> {
    PgConnection::connect(url)
        .await
        .with_context(|| format!("--database-url {}", redact(url)))
}

/// Tables, views, sequences and functions outside PostgreSQL's schemas and not an extension's.
async fn user_objects(conn: &mut PgConnection) -> anyhow::Result<Vec<String>> {
    names(
        conn,
        &format!(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {SYSTEM} AND {} \
             UNION ALL \
             SELECT p.oid::regprocedure::text FROM pg_proc p \
             JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {SYSTEM} AND {} \
             ORDER BY 1",
            EXTENSION_FREE.replace("{oid}", "c.oid"),
            EXTENSION_FREE.replace("{oid}", "p.oid")
        ),
    )
    .await
}

async fn names(conn: &mut PgConnection, sql: &str) -> anyhow::Result<Vec<String>> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(conn)
        .await
        .context("reading the benchmark database's catalogue")
}

/// `name` as a quoted SQL identifier.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

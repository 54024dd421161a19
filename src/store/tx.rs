//! Write transactions on either backend, and the per-conversation lock that makes one process's
//! read-decide-write on a conversation exclusive.

use sqlx::{Postgres, Sqlite, Transaction};

use super::{Backend, Db};

/// An open write transaction ([`Db::begin_write`]).
#[derive(Debug)]
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$conn` bound to the connection of `$tx` (a `&mut Tx`), whichever backend it
/// is; like [`with_pool!`](crate::with_pool), the body is compiled once per backend. Inside, pass
/// `&mut *$conn` to each query.
#[macro_export]
macro_rules! with_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match &mut *$tx {
            $crate::store::Tx::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::store::Tx::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}

impl Tx {
    /// Which database this transaction is on.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(t) => t.commit().await,
            Self::Postgres(t) => t.commit().await,
        }
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(t) => t.rollback().await,
            Self::Postgres(t) => t.rollback().await,
        }
    }

    /// Makes this transaction the only one working on `conversation_id` until it ends.
    ///
    /// SQLite needs nothing: [`Db::begin_write`] holds its single writer lock for the whole
    /// transaction. PostgreSQL takes a transaction-scoped advisory lock on the conversation
    /// (released at commit or rollback, so a crashed process never leaves it held, and no pooled
    /// connection stays pinned), which serialises exactly what SQLite's writer lock serialised:
    /// the claim, the run's final transaction and the release, across every replica.
    pub async fn lock_conversation(&mut self, conversation_id: &str) -> Result<(), sqlx::Error> {
        if let Self::Postgres(t) = self {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(format!("triaged.conversation:{conversation_id}"))
                .execute(&mut **t)
                .await?;
        }
        Ok(())
    }

    /// Like [`Tx::lock_conversation`], for any other named critical section (`what:key`).
    pub async fn lock(&mut self, name: &str) -> Result<(), sqlx::Error> {
        if let Self::Postgres(t) = self {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(name)
                .execute(&mut **t)
                .await?;
        }
        Ok(())
    }

    /// Takes the lock `name` if no other transaction holds it; `false` when one does (the caller
    /// skips its work this time). Always `true` on SQLite (one writer at a time anyway).
    pub async fn try_lock(&mut self, name: &str) -> Result<bool, sqlx::Error> {
        match self {
            Self::Sqlite(_) => Ok(true),
            Self::Postgres(t) => {
                sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))")
                    .bind(name)
                    .fetch_one(&mut **t)
                    .await
            }
        }
    }
}

impl Db {
    /// Begins a write transaction.
    ///
    /// SQLite: takes the write lock at once (`BEGIN IMMEDIATE`). Every transaction that writes
    /// must use this: a deferred transaction that reads first and writes later fails at once with
    /// `SQLITE_BUSY` (no busy wait) when another connection wrote in between, which in WAL mode
    /// happens all the time under load. PostgreSQL: READ COMMITTED; transactions that decide
    /// from what they read take a lock first ([`Tx::lock_conversation`]).
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self.pool() {
            super::Pool::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            super::Pool::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }
}

/// Rows one multi-row statement takes at most (a `VALUES` list, an `IN (…)` list): with ten
/// parameters a row, far below SQLite's 32,766 parameters and PostgreSQL's 65,535.
pub(crate) const ROWS_PER_STATEMENT: usize = 256;

/// `$1, $2, …, $n`: the parameters of an `IN (…)` list (both backends number them so).
pub(crate) fn param_list(n: usize) -> String {
    value_rows(n, 1).replace(['(', ')'], "")
}

/// `($1, …, $cols), ($cols + 1, …), …`: the parameters of a `VALUES` list of `rows` rows.
pub(crate) fn value_rows(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|row| {
            let params: Vec<String> = (1..=cols).map(|c| format!("${}", row * cols + c)).collect();
            format!("({})", params.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn parameters_are_numbered_in_the_order_they_appear() {
        assert_eq!(super::value_rows(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(super::param_list(3), "$1, $2, $3");
        assert_eq!(super::param_list(0), "");
    }
}

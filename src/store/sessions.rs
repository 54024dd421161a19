//! Console sessions (`ui_sessions`): a `ui` token, or a trusted proxy's header, exchanged for a
//! random cookie. Only the cookie's SHA-256 is stored, with the session's CSRF token and expiry.
//! Whether the token behind a session is still valid is checked on every request by the console
//! (a revoked or expired token ends its sessions at once).

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use super::{Db, StoreError, with_pool};

/// A signed-in console user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Session {
    /// The token that opened it (`None`: a trusted proxy header).
    pub token_name: Option<String>,
    /// Who is signed in, for the page header.
    pub subject: String,
    /// Every state-changing form of this session must carry it.
    pub csrf: String,
    pub expires_at: String,
}

fn random() -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        StoreError::Sql(sqlx::Error::Protocol(format!(
            "no system randomness for a session: {e}"
        )))
    })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn hash(cookie: &str) -> String {
    hex::encode(Sha256::digest(cookie.as_bytes()))
}

impl Db {
    /// Opens a session for `ttl`; returns the cookie value (never stored) and the session.
    pub async fn create_session(
        &self,
        token_name: Option<&str>,
        subject: &str,
        ttl: Duration,
    ) -> Result<(String, Session), StoreError> {
        let cookie = random()?;
        let csrf = random()?;
        let sql = format!(
            "INSERT INTO ui_sessions (id_hash, token_name, subject, csrf, expires_at) \
             VALUES ($1, $2, $3, $4, {}) RETURNING expires_at",
            self.backend().ago(-(ttl.as_secs() as f64))
        );
        let expires_at: String =
            with_pool!(self, |p| sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(hash(&cookie))
                .bind(token_name)
                .bind(subject)
                .bind(&csrf)
                .fetch_one(p)
                .await)?;
        Ok((
            cookie,
            Session {
                token_name: token_name.map(str::to_owned),
                subject: subject.to_owned(),
                csrf,
                expires_at,
            },
        ))
    }

    /// The unexpired session of this cookie, if any.
    pub async fn session(&self, cookie: &str) -> Result<Option<Session>, StoreError> {
        let sql = format!(
            "SELECT token_name, subject, csrf, expires_at FROM ui_sessions \
             WHERE id_hash = $1 AND expires_at > {}",
            self.backend().now()
        );
        Ok(with_pool!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql
        ))
        .bind(hash(cookie))
        .fetch_optional(p)
        .await)?)
    }

    /// Ends the session of this cookie (logout, or its token was revoked).
    pub async fn end_session(&self, cookie: &str) -> Result<(), StoreError> {
        with_pool!(self, |p| sqlx::query(
            "DELETE FROM ui_sessions WHERE id_hash = $1"
        )
        .bind(hash(cookie))
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }
}

//! `triaged migrate` on a fresh PostgreSQL database and a fresh SQLite file, and a SQLite database
//! made by the released migrations upgrading cleanly (Acceptance 5 of issue 12).

use std::path::Path;

use sqlx::{Connection, SqliteConnection};

use super::{TestPg, success, triaged};

/// The versions of the migration files in `migrations/<backend>`.
fn versions(backend: &str) -> Vec<i64> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut versions: Vec<i64> = std::fs::read_dir(&dir)
        .expect("migrations dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .map(|n| {
            n.split('_')
                .next()
                .unwrap()
                .parse()
                .expect("a numbered migration")
        })
        .collect();
    versions.sort_unstable();
    versions
}

/// Our tables (not apalis's, not sqlx's), sorted.
const TABLES: [&str; 10] = [
    "actions",
    "conversation_leases",
    "conversations",
    "mcp_calls",
    "run_steps",
    "runs",
    "tokens",
    "ui_sessions",
    "webhook_events",
    "_triaged_migrations",
];

#[test]
fn both_backends_have_the_same_migration_versions() {
    let sqlite = versions("sqlite");
    assert!(sqlite.len() >= 7, "{sqlite:?}");
    assert_eq!(sqlite, versions("postgres"));
}

#[tokio::test]
async fn migrate_builds_the_schema_on_a_fresh_postgres_database_and_again_changes_nothing() {
    let pg = TestPg::new().await;
    let dir = tempfile::tempdir().unwrap();
    for round in 1..=2 {
        let out = success(
            &format!("migrate #{round}"),
            &triaged(dir.path(), &pg.url, &["migrate"]),
        );
        assert!(
            out.starts_with("migrations applied to postgres://"),
            "{out}"
        );
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no file is made for a PostgreSQL database"
    );
    let mut conn = pg.connect().await;
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _triaged_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let want: Vec<(i64, bool)> = versions("postgres")
        .into_iter()
        .map(|v| (v, true))
        .collect();
    assert_eq!(applied, want);
    let mut tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    tables.sort();
    let mut want: Vec<String> = TABLES.iter().map(|t| (*t).to_owned()).collect();
    want.sort();
    assert_eq!(tables, want, "our tables, in the public schema");
    let queue: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_schema = 'apalis' AND table_name IN ('jobs', 'workers')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(queue, 2, "apalis's queue tables live in their own schema");
}

#[tokio::test]
async fn migrate_creates_a_fresh_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fresh.db");
    let url = format!("sqlite://{}", file.display());
    success("migrate", &triaged(dir.path(), &url, &["migrate"]));
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let applied: Vec<i64> = sqlx::query_scalar(
        "SELECT version FROM _triaged_migrations WHERE success ORDER BY version",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(applied, versions("sqlite"));
}

#[tokio::test]
async fn a_sqlite_database_made_by_the_released_migrations_upgrades_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("released.db").display());
    let dump = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/released-0007.sql"),
    )
    .unwrap();
    let released: Vec<(i64, Vec<u8>)> = {
        let mut conn = SqliteConnection::connect(&format!("{url}?mode=rwc"))
            .await
            .unwrap();
        // The dump lists tables by name, `runs` (and its rows) before `webhook_events`.
        sqlx::raw_sql("PRAGMA foreign_keys = OFF")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(dump))
            .execute(&mut conn)
            .await
            .unwrap();
        // Two open runs of one event, as two attempts taken up at once could leave before 0009
        // made it impossible: the upgrade keeps the newer open and closes the older.
        for _ in 0..2 {
            sqlx::query(
                "INSERT INTO runs (event_id, conversation_id, topic, status, attempts) \
                 SELECT id, conversation_id, topic, 'retrying', 1 FROM webhook_events LIMIT 1",
            )
            .execute(&mut conn)
            .await
            .unwrap();
        }
        sqlx::query_as("SELECT version, checksum FROM _triaged_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap()
    };
    assert_eq!(
        released.len(),
        7,
        "the fixture holds the released 0001-0007"
    );

    success("migrate", &triaged(dir.path(), &url, &["migrate"]));

    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let after: Vec<(i64, Vec<u8>, bool)> = sqlx::query_as(
        "SELECT version, checksum, success FROM _triaged_migrations ORDER BY version",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        after.iter().map(|(v, ..)| *v).collect::<Vec<_>>(),
        versions("sqlite")
    );
    assert!(after.iter().all(|(.., ok)| *ok), "{after:?}");
    for ((version, checksum), (v, c, _)) in released.iter().zip(&after) {
        assert_eq!(
            (version, checksum),
            (v, c),
            "released migration {version} kept its checksum"
        );
    }
    let open: Vec<(i64, String, Option<String>)> =
        sqlx::query_as("SELECT id, status, reason FROM runs WHERE outcome IS NULL OR reason = 'superseded' ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        open.iter()
            .map(|(_, s, r)| (s.as_str(), r.as_deref()))
            .collect::<Vec<_>>(),
        [("failed", Some("superseded")), ("retrying", None)],
        "{open:?}"
    );
    drop(conn);
    let runs = success(
        "runs list",
        &triaged(dir.path(), &url, &["runs", "list", "--json"]),
    );
    let runs: serde_json::Value = serde_json::from_str(&runs).unwrap();
    let replied = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["outcome"] == "replied")
        .unwrap_or_else(|| panic!("the released run is listed: {runs}"));
    assert_eq!(replied["conversation_id"], "4242");
    let events = success(
        "events list",
        &triaged(dir.path(), &url, &["events", "list"]),
    );
    assert!(events.contains("conversation.user.replied"), "{events}");
}

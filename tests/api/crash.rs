//! The crash-safety harness: a burst of customer messages across many conversations while the
//! daemon (a child process) is SIGKILLed and restarted several times; then every accepted event
//! must have its reply, and no conversation two. The sandbox lives in the test process, so its
//! state survives the kills, as Intercom's would.

use std::time::{Duration, Instant};

use triaged::sandbox::{DEMO_ACCESS_TOKEN, Sandbox, SandboxConfig};

use crate::{daemon::Daemon, helpers::SECRET};

const MESSAGES: usize = 300;
const KILLS: usize = 5;
const CONTACTS: [&str; 3] = [
    "6762f1261bb69f9f21930001",
    "6762f1261bb69f9f21930002",
    "6762f1261bb69f9f21930003",
];

const ACK: &str = r#"name: ack
description: Acknowledge every new conversation once.
priority: 1
mode: live
trigger:
  topics: [conversation.user.created]
steps:
  - reply: "Thanks, we got your message and will get back to you."
"#;

async fn start_daemon(
    db: &std::path::Path,
    playbooks: &str,
    listen: &str,
    sandbox: &str,
) -> Daemon {
    Daemon::start_with(
        &["serve"],
        db,
        &[
            ("TRIAGED_LISTEN", listen),
            ("TRIAGED_PLAYBOOKS", playbooks),
            ("TRIAGED_WORKERS", "4"),
            ("TRIAGED_HEARTBEAT", "1s"),
            ("TRIAGED_RETRY_DELAY", "200ms"),
            ("INTERCOM_BASE_URL", sandbox),
            ("INTERCOM_ACCESS_TOKEN", DEMO_ACCESS_TOKEN),
            ("RUST_LOG", "info,triaged::ingest=warn"),
        ],
    )
    .await
}

#[tokio::test]
async fn sigkills_during_a_burst_lose_no_accepted_message_and_double_no_reply() {
    triaged::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("triaged.db");
    let playbooks = dir.path().join("playbooks");
    std::fs::create_dir_all(&playbooks).unwrap();
    std::fs::write(playbooks.join("ack.yaml"), ACK).unwrap();
    let playbooks = playbooks.display().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");

    let mut config = SandboxConfig::demo("127.0.0.1:0".parse().unwrap());
    config.client_secret = SECRET.to_owned();
    config.webhook_url = Some(format!("http://{listen}/webhooks/intercom"));
    config.rate_limit = 100_000;
    let sandbox = Sandbox::start(config).await.unwrap();
    let base = sandbox.base_url();

    let started = Instant::now();
    let mut daemon = Some(start_daemon(&db, &playbooks, &listen, &base).await);
    let watch = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let mut unfinished_at_kills = 0i64;
    let mut conversations = Vec::with_capacity(MESSAGES);
    let per_round = MESSAGES / (KILLS + 1);
    for i in 0..MESSAGES {
        let contact = CONTACTS[i % CONTACTS.len()];
        let id = sandbox
            .customer_says(None, contact, &format!("Message {i}: please help"))
            .await
            .unwrap();
        conversations.push(id);
        if (i + 1) % per_round == 0 && (i + 1) / per_round <= KILLS {
            // The round's notifications are accepted and their runs are working: kill now.
            sandbox.flush_webhooks().await;
            let open: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events WHERE status = 'queued'")
                    .fetch_one(&watch)
                    .await
                    .unwrap();
            unfinished_at_kills += open;
            if let Some(d) = daemon.take() {
                d.kill().await;
            }
            daemon = Some(start_daemon(&db, &playbooks, &listen, &base).await);
        }
    }
    sandbox.flush_webhooks().await;

    // The daemon is another process: wait for it to finish by reading its database, bounded.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        sandbox.flush_webhooks().await;
        let open: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events WHERE status = 'queued'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} events still queued after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drained = started.elapsed();

    let accepted: Vec<String> = sqlx::query_scalar(
        "SELECT conversation_id FROM webhook_events WHERE topic = 'conversation.user.created'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let bot = sandbox.bot_admin_id();
    let replies = |id: &str| {
        sandbox.conversation(id).unwrap()["conversation_parts"]["conversation_parts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| {
                p["part_type"] == "comment" && p["author"]["id"].as_str() == Some(bot.as_str())
            })
            .count()
    };
    let lost: Vec<&String> = accepted.iter().filter(|id| replies(id) == 0).collect();
    let doubled: Vec<&String> = conversations.iter().filter(|id| replies(id) > 1).collect();
    let stats = sandbox.stats();
    eprintln!(
        "crash harness: {MESSAGES} messages, {KILLS} SIGKILLs, {} accepted, {} not delivered while \
         the daemon was down, lost {}, doubled {}, drained in {:.1}s",
        accepted.len(),
        MESSAGES - accepted.len(),
        lost.len(),
        doubled.len(),
        drained.as_secs_f64()
    );
    let _ = stats;
    assert_eq!(
        accepted.len(),
        MESSAGES,
        "every customer message reached the daemon"
    );
    eprintln!(
        "crash harness: {unfinished_at_kills} accepted events were still queued or running at the kills"
    );
    assert!(
        unfinished_at_kills > 0,
        "the kills interrupted work in progress"
    );
    assert!(lost.is_empty(), "accepted but never answered: {lost:?}");
    assert!(doubled.is_empty(), "answered twice: {doubled:?}");
    if let Some(d) = daemon {
        assert_eq!(d.terminate().await, Some(0));
    }
}

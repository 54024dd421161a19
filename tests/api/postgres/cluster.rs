//! What the multi-replica tests share: `triaged serve` replicas on one PostgreSQL database with a
//! test-side sandbox as their Intercom and the scripted model of the crash harness (a note, then
//! the reply), forwarding a webhook to one replica, and the end-state checks (every accepted event
//! processed or coalesced, every customer message answered exactly once).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use axum::{body::Bytes, http::HeaderMap};
use sqlx::PgPool;
use triaged::sandbox::{DEMO_ACCESS_TOKEN, Sandbox};

use super::TestPg;
use crate::{
    crash::{ANSWER, answered, model},
    daemon::{Daemon, TestDb},
    llm_stub::LlmStub,
};

/// A fresh database, the `answer` playbook and the scripted model, for replicas to share.
pub struct Fixture {
    pub pg: TestPg,
    pub playbooks: String,
    pub llm: String,
    _dir: tempfile::TempDir,
    _stub: LlmStub,
}

impl Fixture {
    pub async fn new() -> Self {
        triaged::install_crypto_provider();
        let pg = TestPg::new().await;
        let dir = tempfile::tempdir().unwrap();
        let playbooks = dir.path().join("playbooks");
        std::fs::create_dir_all(&playbooks).unwrap();
        std::fs::write(playbooks.join("answer.yaml"), ANSWER).unwrap();
        let (in_flight, mut mid_run) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move { while mid_run.recv().await.is_some() {} });
        let stub = LlmStub::start().await;
        stub.push([model(in_flight)]);
        Self {
            pg,
            playbooks: playbooks.display().to_string(),
            llm: stub.base_url(),
            _dir: dir,
            _stub: stub,
        }
    }

    /// A connection pool to the shared database, for the checks.
    pub async fn watch(&self) -> PgPool {
        PgPool::connect(&self.pg.url).await.unwrap()
    }

    /// Starts one replica on `listen` with `sandbox` as its Intercom, plus `env`; returns once it
    /// listens.
    pub async fn replica(&self, listen: &str, sandbox: &str, env: &[(&str, &str)]) -> Daemon {
        let db = TestDb::at(&self.pg.url, self._dir.path());
        let mut all = vec![
            ("TRIAGED_LISTEN", listen),
            ("TRIAGED_PLAYBOOKS", self.playbooks.as_str()),
            ("TRIAGED_WORKERS", "2"),
            ("TRIAGED_HEARTBEAT", "1s"),
            ("TRIAGED_RETRY_DELAY", "200ms"),
            ("TRIAGED_LEASE_TTL", "3s"),
            ("INTERCOM_BASE_URL", sandbox),
            ("INTERCOM_ACCESS_TOKEN", DEMO_ACCESS_TOKEN),
            ("TRIAGED_LLM_BASE_URL", self.llm.as_str()),
            ("TRIAGED_LLM_API_KEY", "scripted"),
            ("TRIAGED_LLM_MODEL", "scripted-model"),
            ("RUST_LOG", "info,triaged::ingest=warn"),
        ];
        all.extend_from_slice(env);
        Daemon::start_with(&["serve"], &db, &all).await
    }
}

/// A free `127.0.0.1:PORT` for a replica to listen on (and to listen on again after a restart).
pub fn free_port() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// Posts the webhook `body` (its content type and signature from `headers`) to the replica at
/// `target`, once; whether it answered 2xx, or what went wrong.
pub async fn forward(
    client: &reqwest::Client,
    target: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(), String> {
    let mut request = client.post(format!("http://{target}/webhooks/intercom"));
    for name in ["content-type", "x-hub-signature"] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            request = request.header(name, v);
        }
    }
    match request.body(body).send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("answered {}", response.status())),
        Err(error) => Err(format!("{error:?}")),
    }
}

pub async fn count(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// Waits (flushing the sandbox's deliveries) until no event is queued; how long since `started`.
pub async fn wait_until_drained(
    sandbox: &Sandbox,
    watch: &PgPool,
    started: Instant,
    patience: Duration,
) -> Duration {
    let deadline = Instant::now() + patience;
    loop {
        sandbox.flush_webhooks().await;
        let open = count(
            watch,
            "SELECT COUNT(*) FROM webhook_events WHERE status = 'queued'",
        )
        .await;
        if open == 0 {
            return started.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "{open} events still queued after {patience:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The end state of customer messages `ask-I-1` … `ask-I-LAST` in each conversation.
#[derive(Debug)]
pub struct Outcome {
    /// `conversation.user.*` events stored.
    pub accepted: i64,
    /// Of those, not `processed` or `coalesced`.
    pub not_done: i64,
    /// Processed events with no run.
    pub without_run: Vec<i64>,
    /// Runs beyond the first on an event: the conversation model's follow-up run when the customer
    /// wrote after its run's snapshot (answered exactly once all the same).
    pub follow_ups: i64,
    pub replies: usize,
    /// Conversations whose newest message got no answer.
    pub lost: Vec<(String, Vec<u32>)>,
    /// The events and runs of the first lost conversation, to say why.
    pub lost_story: String,
    /// Conversations with a message answered twice (or out of order).
    pub doubled: Vec<(String, Vec<u32>)>,
    /// Writes made twice (one idempotency key, two `done` actions).
    pub doubled_writes: i64,
    /// Pairs of runs of one conversation that overlapped in time.
    pub overlapping: usize,
}

impl Outcome {
    /// `conversations`: each conversation's id and the number of its newest customer message.
    pub async fn of(watch: &PgPool, sandbox: &Sandbox, conversations: &[(String, u32)]) -> Self {
        let accepted = count(
            watch,
            "SELECT COUNT(*) FROM webhook_events WHERE topic LIKE 'conversation.user.%'",
        )
        .await;
        let not_done = count(
            watch,
            "SELECT COUNT(*) FROM webhook_events WHERE topic LIKE 'conversation.user.%' \
             AND status NOT IN ('processed', 'coalesced')",
        )
        .await;
        let runs_per_event: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT e.id, COUNT(r.id) FROM webhook_events e \
             LEFT JOIN runs r ON r.event_id = e.id AND r.status NOT IN ('coalesced') \
             WHERE e.status = 'processed' AND e.topic LIKE 'conversation.user.%' GROUP BY e.id",
        )
        .fetch_all(watch)
        .await
        .unwrap();
        let without_run = runs_per_event
            .iter()
            .filter(|(_, n)| *n == 0)
            .map(|(id, _)| *id)
            .collect();
        let follow_ups = runs_per_event.iter().map(|(_, n)| (n - 1).max(0)).sum();
        let doubled_writes = count(
            watch,
            "SELECT COUNT(*) FROM (SELECT idempotency_key FROM actions WHERE status = 'done' \
             GROUP BY idempotency_key HAVING COUNT(*) > 1) d",
        )
        .await;
        let spans: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT conversation_id, started_at, finished_at FROM runs \
             WHERE status NOT IN ('coalesced') AND finished_at IS NOT NULL \
             ORDER BY conversation_id, started_at",
        )
        .fetch_all(watch)
        .await
        .unwrap();
        let mut by_conversation: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
        for (c, s, f) in &spans {
            by_conversation.entry(c).or_default().push((s, f));
        }
        let overlapping = by_conversation
            .values()
            .map(|runs| runs.windows(2).filter(|w| w[1].0 < w[0].1).count())
            .sum();
        let tallies: Vec<(String, u32, Vec<u32>)> = conversations
            .iter()
            .map(|(id, last)| (id.clone(), *last, answered(sandbox, id)))
            .collect();
        let replies = tallies.iter().map(|(_, _, a)| a.len()).sum();
        let lost: Vec<(String, Vec<u32>)> = tallies
            .iter()
            .filter(|(_, last, a)| a.last() != Some(last))
            .map(|(id, _, a)| (id.clone(), a.clone()))
            .collect();
        let doubled = tallies
            .iter()
            .filter(|(_, _, a)| !a.windows(2).all(|w| w[0] < w[1]))
            .map(|(id, _, a)| (id.clone(), a.clone()))
            .collect();
        let lost_story = match lost.first() {
            Some((id, _)) => story(watch, id).await,
            None => String::new(),
        };
        Self {
            lost_story,
            accepted,
            not_done,
            without_run,
            follow_ups,
            replies,
            lost,
            doubled,
            doubled_writes,
            overlapping,
        }
    }

    /// Nothing lost, nothing answered or written twice, no two runs of a conversation at once,
    /// every event done and `expected` of them.
    pub fn assert_all_answered_once(&self, expected: i64) {
        assert_eq!(self.accepted, expected, "no event lost");
        assert_eq!(self.not_done, 0, "events neither processed nor coalesced");
        assert!(
            self.lost.is_empty(),
            "a customer message never answered: {:?}\n{}",
            self.lost,
            self.lost_story
        );
        assert!(
            self.doubled.is_empty(),
            "a customer message answered twice: {:?}",
            self.doubled
        );
        assert!(
            self.without_run.is_empty(),
            "processed events without a run: {:?}",
            self.without_run
        );
        assert_eq!(self.doubled_writes, 0, "writes made twice");
        assert_eq!(self.overlapping, 0, "runs of one conversation overlapped");
    }
}

/// A conversation's events and runs, one a line, in order.
async fn story(watch: &PgPool, conversation: &str) -> String {
    let lines: Vec<String> = sqlx::query_scalar(
        "SELECT line FROM ( \
           SELECT 1 AS part, id, concat_ws(' ', '  event', id, status, 'received', received_at, \
             'processed', processed_at, 'coalesced into', coalesced_into) AS line \
           FROM webhook_events WHERE conversation_id = $1 AND topic LIKE 'conversation.user.%' \
           UNION ALL \
           SELECT 2, id, concat_ws(' ', '  run', id, 'of event', event_id, status, outcome, reason, \
             started_at, finished_at, 'snapshot', snapshot_part_id) \
           FROM runs WHERE conversation_id = $1) l ORDER BY part, id",
    )
    .bind(conversation)
    .fetch_all(watch)
    .await
    .unwrap();
    format!("conversation {conversation}:\n{}", lines.join("\n"))
}

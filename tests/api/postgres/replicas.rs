//! The multi-replica harness (issue 12 Build 7): one sandbox as the shared Intercom, three
//! `triaged serve` processes on one PostgreSQL database behind a round-robin relay (a Service),
//! 300 customer messages over 100 conversations to an agent playbook that writes twice per run.
//! Meanwhile one replica is SIGKILLed and restarted, and another is SIGSTOPped until every lease
//! it held has expired, then SIGCONTed. Afterwards: no event lost, every accepted event processed
//! (with its run) or coalesced, every customer message answered exactly once, no write doubled,
//! no two runs of one conversation overlapping, and the replicas together within Intercom's
//! per-app budget (the sandbox's, tight here) with few or no 429s; the figures are printed.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use sqlx::PgPool;
use triaged::sandbox::{DEMO_ACCESS_TOKEN, Sandbox, SandboxConfig};

use super::TestPg;
use crate::{
    crash::{ANSWER, model},
    daemon::{Daemon, TestDb},
    helpers::SECRET,
    llm_stub::LlmStub,
};

const CONVERSATIONS: usize = 100;
const MESSAGES: u32 = 3;
const REPLICAS: usize = 3;
/// The sandbox's budget: requests per window, shared by the replicas.
const RATE_LIMIT: u32 = 60;
const RATE_WINDOW: Duration = Duration::from_secs(2);
const CONTACTS: [&str; 3] = [
    "6762f1261bb69f9f21930001",
    "6762f1261bb69f9f21930002",
    "6762f1261bb69f9f21930003",
];

/// The Service in front of the replicas: each webhook goes to the next replica in turn; one that
/// refuses or does not answer within a second (killed, frozen) is skipped for the next.
#[derive(Clone)]
struct Relay {
    targets: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    client: reqwest::Client,
}

async fn relay(State(r): State<Relay>, headers: HeaderMap, body: Bytes) -> StatusCode {
    for _ in 0..r.targets.len() * 2 {
        let target = &r.targets[r.next.fetch_add(1, Ordering::Relaxed) % r.targets.len()];
        let mut request = r.client.post(format!("http://{target}/webhooks/intercom"));
        for name in ["content-type", "x-hub-signature"] {
            if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
                request = request.header(name, v);
            }
        }
        if let Ok(response) = request.body(body.clone()).send().await
            && response.status().is_success()
        {
            return StatusCode::OK;
        }
    }
    StatusCode::BAD_GATEWAY
}

async fn start_relay(targets: Vec<String>) -> String {
    let state = Relay {
        targets: Arc::new(targets),
        next: Arc::default(),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .unwrap(),
    };
    let app = Router::new()
        .route("/webhooks/intercom", post(relay))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/webhooks/intercom")
}

fn free_port() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

async fn replica(db: &TestDb, listen: &str, playbooks: &str, sandbox: &str, llm: &str) -> Daemon {
    Daemon::start_with(
        &["serve"],
        db,
        &[
            ("TRIAGED_LISTEN", listen),
            ("TRIAGED_PLAYBOOKS", playbooks),
            ("TRIAGED_WORKERS", "2"),
            ("TRIAGED_HEARTBEAT", "1s"),
            ("TRIAGED_RETRY_DELAY", "200ms"),
            ("TRIAGED_LEASE_TTL", "3s"),
            ("INTERCOM_BASE_URL", sandbox),
            ("INTERCOM_ACCESS_TOKEN", DEMO_ACCESS_TOKEN),
            ("TRIAGED_LLM_BASE_URL", llm),
            ("TRIAGED_LLM_API_KEY", "scripted"),
            ("TRIAGED_LLM_MODEL", "scripted-model"),
            ("RUST_LOG", "info,triaged::ingest=warn"),
        ],
    )
    .await
}

/// Which customer message (`K` of `ask-I-K`) each bot reply of a conversation answered, in order.
fn answered(sandbox: &Sandbox, id: &str) -> Vec<u32> {
    let bot = sandbox.bot_admin_id();
    sandbox.conversation(id).unwrap()["conversation_parts"]["conversation_parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["part_type"] == "comment" && p["author"]["id"].as_str() == Some(bot.as_str()))
        .map(|p| {
            let body = p["body"].as_str().unwrap_or_default();
            body.rsplit('-')
                .next()
                .and_then(|k| k.trim_end_matches("</p>").trim().parse().ok())
                .unwrap_or(0)
        })
        .collect()
}

async fn count(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_through_a_sigkill_and_a_sigstop_lose_nothing_and_double_nothing() {
    triaged::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let pg = TestDb::postgres(TestPg::new().await, dir.path());
    let playbooks = dir.path().join("playbooks");
    std::fs::create_dir_all(&playbooks).unwrap();
    std::fs::write(playbooks.join("answer.yaml"), ANSWER).unwrap();
    let playbooks = playbooks.display().to_string();

    let (in_flight, mut mid_run) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move { while mid_run.recv().await.is_some() {} });
    let stub = LlmStub::start().await;
    stub.push([model(in_flight)]);
    let llm = stub.base_url();
    let listens: Vec<String> = (0..REPLICAS).map(|_| free_port()).collect();
    let mut config = SandboxConfig::demo("127.0.0.1:0".parse().unwrap());
    config.client_secret = SECRET.into();
    config.webhook_url = Some(start_relay(listens.clone()).await);
    // Intercom's budget is per app, shared by every replica: a tight one here (the harness
    // averages about 25 requests a second, with bursts above this).
    config.rate_limit = RATE_LIMIT;
    config.rate_window = RATE_WINDOW;
    config.redeliver_after = Some(Duration::from_secs(2));
    let sandbox = Arc::new(Sandbox::start(config).await.unwrap());
    let base = sandbox.base_url();

    let started = Instant::now();
    let mut replicas = Vec::new();
    for listen in &listens {
        replicas.push(Some(replica(&pg, listen, &playbooks, &base, &llm).await));
    }
    let watch = PgPool::connect(&pg.url).await.unwrap();

    let mut conversations: Vec<String> = Vec::with_capacity(CONVERSATIONS);
    let mut running_at_kill = 0;
    let mut leases_of_frozen = 0;
    for round in 1..=MESSAGES {
        for i in 0..CONVERSATIONS {
            let contact = CONTACTS[i % CONTACTS.len()];
            let text = format!("ask-{i}-{round}: message {round}");
            let existing = conversations.get(i).cloned();
            let id = sandbox
                .customer_says(existing.as_deref(), contact, &text)
                .await
                .unwrap();
            if existing.is_none() {
                conversations.push(id);
            }
            if round == 1 && i == CONVERSATIONS / 3 {
                // Replica 0 dies mid-work (SIGKILL) and comes back.
                sandbox.flush_webhooks().await;
                running_at_kill =
                    count(&watch, "SELECT COUNT(*) FROM runs WHERE status = 'running'").await;
                replicas[0].take().unwrap().kill().await;
                replicas[0] = Some(replica(&pg, &listens[0], &playbooks, &base, &llm).await);
            }
            if round == 2 && i == CONVERSATIONS / 3 {
                // Replica 1 freezes (SIGSTOP) until every lease it held has expired, then thaws.
                sandbox.flush_webhooks().await;
                let frozen = replicas[1].as_ref().unwrap();
                frozen.pause();
                let pid = frozen.pid();
                let owned = format!("%-{pid}-%");
                leases_of_frozen = sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM conversation_leases WHERE owner LIKE $1",
                )
                .bind(&owned)
                .fetch_one(&watch)
                .await
                .unwrap();
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let live: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM conversation_leases WHERE owner LIKE $1 \
                         AND expires_at > (extract(epoch from clock_timestamp()) * 1000)::bigint",
                    )
                    .bind(&owned)
                    .fetch_one(&watch)
                    .await
                    .unwrap();
                    let orphaned: i64 = count(
                        &watch,
                        "SELECT COUNT(*) FROM apalis.workers w JOIN apalis.jobs j \
                         ON j.lock_by = w.id WHERE j.status IN ('Queued', 'Running') \
                         AND w.last_seen < now() - interval '3 seconds'",
                    )
                    .await;
                    if live == 0 && orphaned == 0 {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "the frozen replica's leases never expired"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                frozen.resume();
            }
        }
    }

    // Bounded wait until nothing is queued (the replicas are other processes).
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        sandbox.flush_webhooks().await;
        let open = count(
            &watch,
            "SELECT COUNT(*) FROM webhook_events WHERE status = 'queued'",
        )
        .await;
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} events still queued after 240 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drained = started.elapsed();
    // Quiet now: what the replicas sent per window, whatever the bursts.

    let accepted = count(
        &watch,
        "SELECT COUNT(*) FROM webhook_events WHERE topic LIKE 'conversation.user.%'",
    )
    .await;
    let not_done = count(
        &watch,
        "SELECT COUNT(*) FROM webhook_events WHERE topic LIKE 'conversation.user.%' \
         AND status NOT IN ('processed', 'coalesced')",
    )
    .await;
    // Every processed event has a run that ended. An event can have a second one: the follow-up
    // run the conversation model starts on it when the customer wrote after its run's snapshot
    // (answered exactly once all the same, which the replies below check).
    let runs_per_event: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT e.id, COUNT(r.id) FROM webhook_events e \
         LEFT JOIN runs r ON r.event_id = e.id AND r.status NOT IN ('coalesced') \
         WHERE e.status = 'processed' AND e.topic LIKE 'conversation.user.%' GROUP BY e.id",
    )
    .fetch_all(&watch)
    .await
    .unwrap();
    let without_run: Vec<&(i64, i64)> = runs_per_event.iter().filter(|(_, n)| *n == 0).collect();
    let follow_ups: i64 = runs_per_event.iter().map(|(_, n)| (n - 1).max(0)).sum();
    let doubled_writes = count(
        &watch,
        "SELECT COUNT(*) FROM (SELECT idempotency_key FROM actions WHERE status = 'done' \
         GROUP BY idempotency_key HAVING COUNT(*) > 1) d",
    )
    .await;
    // Runs of one conversation never overlap in time.
    let spans: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT conversation_id, started_at, finished_at FROM runs \
         WHERE status NOT IN ('coalesced') AND finished_at IS NOT NULL \
         ORDER BY conversation_id, started_at",
    )
    .fetch_all(&watch)
    .await
    .unwrap();
    let mut by_conversation: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for (c, s, f) in &spans {
        by_conversation.entry(c).or_default().push((s, f));
    }
    let overlapping: usize = by_conversation
        .values()
        .map(|runs| runs.windows(2).filter(|w| w[1].0 < w[0].1).count())
        .sum();

    let tallies: Vec<(String, Vec<u32>)> = conversations
        .iter()
        .map(|id| (id.clone(), answered(&sandbox, id)))
        .collect();
    let replies: usize = tallies.iter().map(|(_, a)| a.len()).sum();
    let lost: Vec<&(String, Vec<u32>)> = tallies
        .iter()
        .filter(|(_, a)| a.last() != Some(&MESSAGES))
        .collect();
    let doubled: Vec<&(String, Vec<u32>)> = tallies
        .iter()
        .filter(|(_, a)| !a.windows(2).all(|w| w[0] < w[1]))
        .collect();
    let stats = sandbox.stats();
    eprintln!(
        "replica harness: {REPLICAS} replicas on PostgreSQL, {CONVERSATIONS} conversations, {} \
         customer messages, {accepted} accepted; SIGKILL with {running_at_kill} runs running, \
         SIGSTOP holding {leases_of_frozen} leases; {replies} bot replies; lost {}, answered \
         twice {}, events not processed {not_done}, processed events without a run {}, follow-up runs {follow_ups}, \
         doubled writes {doubled_writes}, overlapping runs {overlapping}; {} Intercom requests \
         ({} throttled, peak {} per window); drained in {:.1}s",
        CONVERSATIONS * MESSAGES as usize,
        lost.len(),
        doubled.len(),
        without_run.len(),
        stats.requests,
        stats.throttled,
        stats.peak_window_requests,
        drained.as_secs_f64()
    );
    assert_eq!(
        accepted,
        (CONVERSATIONS * MESSAGES as usize) as i64,
        "no event lost"
    );
    assert_eq!(not_done, 0);
    assert!(
        lost.is_empty(),
        "a customer message never answered: {lost:?}"
    );
    assert!(
        doubled.is_empty(),
        "a customer message answered twice: {doubled:?}"
    );
    assert!(without_run.is_empty(), "{without_run:?}");
    assert_eq!(doubled_writes, 0);
    assert_eq!(overlapping, 0, "runs of one conversation overlapped");
    // Each replica's limiter follows Intercom's `X-RateLimit-Remaining`, which counts every
    // replica's calls: together they overshoot by at most the calls already in flight.
    let in_flight_bound = u64::from(RATE_LIMIT) + (REPLICAS * 2 * 2) as u64;
    assert!(
        stats.peak_window_requests <= in_flight_bound,
        "peak {} requests in a window of {RATE_LIMIT}",
        stats.peak_window_requests
    );
    assert!(
        stats.throttled * 20 <= stats.requests,
        "{} of {} requests throttled",
        stats.throttled,
        stats.requests
    );
    for r in replicas.into_iter().flatten() {
        assert_eq!(r.terminate().await, Some(0));
    }
}

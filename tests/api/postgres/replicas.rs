//! The multi-replica harness (issue 12 Build 7): one sandbox as the shared Intercom, three
//! `triaged serve` processes on one PostgreSQL database behind a round-robin relay (a Service),
//! 300 customer messages over 100 conversations to an agent playbook that writes twice per run.
//! Meanwhile one replica is SIGKILLed and restarted, and another is SIGSTOPped until every lease
//! it held has expired, then SIGCONTed. Afterwards: no event lost, every accepted event processed
//! (with its run) or coalesced, every customer message answered exactly once, no write doubled,
//! no two runs of one conversation overlapping, and the replicas together within Intercom's
//! per-app budget (the sandbox's, tight here) with few or no 429s; the figures are printed.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use triaged::sandbox::{Sandbox, SandboxConfig};

use super::cluster::{Fixture, Outcome, count, forward, free_port, wait_until_drained};
use crate::{crash::CONTACTS, helpers::SECRET};

const CONVERSATIONS: usize = 100;
const MESSAGES: u32 = 3;
const REPLICAS: usize = 3;
/// The sandbox's budget: requests per window, shared by the replicas.
const RATE_LIMIT: u32 = 60;
const RATE_WINDOW: Duration = Duration::from_secs(2);

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
        if forward(&r.client, target, &headers, body.clone())
            .await
            .is_ok()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_through_a_sigkill_and_a_sigstop_lose_nothing_and_double_nothing() {
    let fixture = Fixture::new().await;
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
        replicas.push(Some(fixture.replica(listen, &base, &[]).await));
    }
    let watch = fixture.watch().await;

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
                replicas[0] = Some(fixture.replica(&listens[0], &base, &[]).await);
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

    let drained = wait_until_drained(&sandbox, &watch, started, Duration::from_secs(240)).await;
    // Quiet now: what the replicas sent per window, whatever the bursts.
    let newest: Vec<(String, u32)> = conversations
        .iter()
        .map(|id| (id.clone(), MESSAGES))
        .collect();
    let outcome = Outcome::of(&watch, &sandbox, &newest).await;
    let stats = sandbox.stats();
    eprintln!(
        "replica harness: {REPLICAS} replicas on PostgreSQL, {CONVERSATIONS} conversations, {} \
         customer messages, {} accepted; SIGKILL with {running_at_kill} runs running, \
         SIGSTOP holding {leases_of_frozen} leases; {} bot replies; lost {}, answered \
         twice {}, events not processed {}, processed events without a run {}, follow-up runs {}, \
         doubled writes {}, overlapping runs {}; {} Intercom requests \
         ({} throttled, peak {} per window); drained in {:.1}s",
        CONVERSATIONS * MESSAGES as usize,
        outcome.accepted,
        outcome.replies,
        outcome.lost.len(),
        outcome.doubled.len(),
        outcome.not_done,
        outcome.without_run.len(),
        outcome.follow_ups,
        outcome.doubled_writes,
        outcome.overlapping,
        stats.requests,
        stats.throttled,
        stats.peak_window_requests,
        drained.as_secs_f64()
    );
    outcome.assert_all_answered_once((CONVERSATIONS * MESSAGES as usize) as i64);
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

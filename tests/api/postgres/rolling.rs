//! Issue 12, acceptance 3: a rolling restart under a steady webhook stream refuses no webhook.
//!
//! Three `triaged serve` replicas on one PostgreSQL database behind a [`Service`] that routes only
//! to replicas whose `/readyz` answered 200 at its last probe. Customers write to the sandbox at a
//! steady rate (each message a signed webhook through the Service). Each replica in turn gets
//! SIGTERM right after a probe round (so the Service keeps routing to it until the next one, as
//! kubelet's signal and the endpoints' update race in Kubernetes), must answer `/readyz` 503 from
//! then on and keep storing the webhooks that reach it until it exits 0 within its grace
//! (`TRIAGED_SHUTDOWN_DELAY` keeps it up until the Service has stopped routing there); then it
//! starts again on the same database and rejoins once ready. Afterwards: every webhook got a 2xx
//! (no refusal, no connection error, nothing retried), every accepted event is processed with a
//! run or coalesced, every customer message answered exactly once, no write doubled.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::watch;
use triaged::sandbox::{Sandbox, SandboxConfig};

use super::{
    cluster::{Fixture, Outcome, free_port, wait_until_drained},
    service::{PROBE_EVERY, PROPAGATION, Service},
};
use crate::{crash::CONTACTS, helpers::SECRET};

const REPLICAS: usize = 3;
const CONVERSATIONS: usize = 10;
/// One customer message this often: 20 webhooks a second, plus the bot's own echoes.
const EVERY: Duration = Duration::from_millis(50);
/// Customer messages sent before the first SIGTERM (a second's worth).
const LEAD: u64 = 20;
/// And after the last replica rejoined.
const TAIL: u64 = 10;
const GRACE: Duration = Duration::from_secs(5);
/// `TRIAGED_SHUTDOWN_DELAY`: longer than the Service takes to stop routing to a replica that
/// answers 503 (a probe period plus the propagation).
const DELAY: &str = "700ms";

/// The customers: one message every [`EVERY`] over [`CONVERSATIONS`] conversations (`ask-I-K`),
/// until `stop`; `sent` counts them. Returns each conversation's id and its newest message.
fn customers(
    sandbox: Arc<Sandbox>,
    sent: watch::Sender<u64>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<(String, u32)>> {
    tokio::spawn(async move {
        let mut conversations: Vec<(String, u32)> = Vec::new();
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n = 0usize;
        while !stop.load(Ordering::SeqCst) {
            tick.tick().await;
            let i = n % CONVERSATIONS;
            let k = (n / CONVERSATIONS) as u32 + 1;
            let text = format!("ask-{i}-{k}: message {k}");
            let existing = conversations.get(i).map(|(id, _)| id.clone());
            let id = sandbox
                .customer_says(existing.as_deref(), CONTACTS[i % CONTACTS.len()], &text)
                .await
                .unwrap();
            match conversations.get_mut(i) {
                Some(c) => c.1 = k,
                None => conversations.push((id, k)),
            }
            n += 1;
            sent.send_modify(|s| *s += 1);
        }
        conversations
    })
}

/// Waits until `sent` reaches `at_least`.
async fn sent_reaches(sent: &watch::Sender<u64>, at_least: u64) {
    let mut rx = sent.subscribe();
    tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|n| *n >= at_least))
        .await
        .expect("the customers keep writing")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_a_steady_stream_refuses_no_webhook() {
    let fixture = Fixture::new().await;
    let listens: Vec<String> = (0..REPLICAS).map(|_| free_port()).collect();
    let (service, webhook_url) = Service::start(listens.clone()).await;
    let mut config = SandboxConfig::demo("127.0.0.1:0".parse().unwrap());
    config.client_secret = SECRET.into();
    config.webhook_url = Some(webhook_url);
    // One attempt per notification: a refusal stays a failure here.
    config.redeliver_after = None;
    let sandbox = Arc::new(Sandbox::start(config).await.unwrap());
    let base = sandbox.base_url();
    let grace = format!("{}s", GRACE.as_secs());
    let env = [
        ("TRIAGED_SHUTDOWN_GRACE", grace.as_str()),
        ("TRIAGED_SHUTDOWN_DELAY", DELAY),
        // A customer writes about ten times in a few seconds here; the loop guard would hand the
        // conversation to a human after five bot replies.
        ("TRIAGED_MAX_BOT_REPLIES_PER_HOUR", "100"),
        // Nothing is killed here: the defaults, so a loaded machine's late heartbeat is no
        // orphan recovery, and a job a stopped worker left claimed would wait 20 s and more.
        ("TRIAGED_HEARTBEAT", "10s"),
        ("TRIAGED_LEASE_TTL", "60s"),
    ];

    let watch = fixture.watch().await;
    let started = Instant::now();
    let mut replicas = Vec::new();
    for (i, listen) in listens.iter().enumerate() {
        replicas.push(Some(fixture.replica(listen, &base, &env).await));
        service.wait_ready(i, true, Duration::from_secs(10)).await;
    }

    let sent = watch::Sender::new(0u64);
    let stop = Arc::new(AtomicBool::new(false));
    let customers = customers(sandbox.clone(), sent.clone(), stop.clone());
    sent_reaches(&sent, LEAD).await;

    // The rolling update, one replica at a time.
    let mut drains = Vec::new();
    for i in 0..REPLICAS {
        // Just after a probe round: the Service routes here for about one more probe period, plus
        // the propagation.
        service.next_round().await;
        let mut daemon = replicas[i].take().unwrap();
        let worker = format!("%-{}-%", daemon.pid());
        service.sigterm(i);
        let signalled = Instant::now();
        daemon.send_sigterm();
        daemon
            .wait_for_message(triaged::app::DRAINING_MESSAGE, 1)
            .await;
        service.draining(i);
        let code = daemon.wait_exit().await;
        let drain = signalled.elapsed();
        // Jobs the stopped replica's worker still holds wait for orphan recovery (two heartbeats).
        let stranded: Vec<(String, String)> = sqlx::query_as(
            "SELECT j.id::text, j.status FROM apalis.jobs j JOIN apalis.workers w ON j.lock_by = w.id \
             WHERE j.status IN ('Queued', 'Running') AND w.id LIKE $1",
        )
        .bind(&worker)
        .fetch_all(&watch)
        .await
        .unwrap();
        service.restarting(i);
        replicas[i] = Some(fixture.replica(&listens[i], &base, &env).await);
        service.wait_ready(i, true, Duration::from_secs(10)).await;
        let unready_after = service.endpoints[i]
            .unready_at
            .lock()
            .unwrap()
            .map(|at| at.saturating_duration_since(signalled));
        drains.push((i, code, drain, unready_after, signalled.elapsed(), stranded));
    }
    let rolled = sent.borrow().to_owned();
    sent_reaches(&sent, rolled + TAIL).await;
    stop.store(true, Ordering::SeqCst);
    let conversations = customers.await.unwrap();
    let messages = *sent.borrow();
    let stream = started.elapsed();
    let drained = wait_until_drained(&sandbox, &watch, started, Duration::from_secs(60)).await;
    let outcome = Outcome::of(&watch, &sandbox, &conversations).await;
    let stats = sandbox.stats();

    let received = service.received.load(Ordering::SeqCst);
    let refused = service.refused.lock().unwrap().clone();
    let no_endpoint = service.no_endpoint.load(Ordering::SeqCst);
    let accepted: Vec<u64> = service
        .endpoints
        .iter()
        .map(|e| e.accepted.load(Ordering::SeqCst))
        .collect();
    let while_draining: Vec<u64> = service
        .endpoints
        .iter()
        .map(|e| e.routed_while_draining.load(Ordering::SeqCst))
        .collect();
    let ready_while_draining = service.ready_while_draining.lock().unwrap().clone();
    eprintln!(
        "rolling restart: {REPLICAS} replicas on PostgreSQL behind a Service probing /readyz every \
         {PROBE_EVERY:?} (followed {PROPAGATION:?} later); {messages} customer messages over {CONVERSATIONS} conversations in \
         {:.1}s; {received} webhooks at the Service, {} accepted (per replica {accepted:?}, routed \
         to a draining one {while_draining:?}), {} refused, {no_endpoint} with no ready replica; \
         sandbox: {} delivered, {} failed; {} events accepted, {} bot replies, follow-up runs {}; \
         drains (replica, exit, drain, routing stopped after, back ready after): {drains:?}; \
         everything processed {:.1}s after the start",
        stream.as_secs_f64(),
        accepted.iter().sum::<u64>(),
        refused.len(),
        stats.webhooks_delivered,
        stats.webhooks_failed,
        outcome.accepted,
        outcome.replies,
        outcome.follow_ups,
        drained.as_secs_f64(),
    );
    assert!(refused.is_empty(), "webhooks refused: {refused:?}");
    assert_eq!(no_endpoint, 0, "webhooks found no ready replica");
    assert_eq!(accepted.iter().sum::<u64>(), received);
    assert_eq!(stats.webhooks_failed, 0);
    assert_eq!(stats.webhooks_delivered, received);
    assert!(
        ready_while_draining.is_empty(),
        "/readyz answered 200 after the replica said it drains: {ready_while_draining:?}"
    );
    // The window between SIGTERM and the Service's next probe was used: the draining replicas
    // stored webhooks routed to them.
    assert!(
        while_draining.iter().sum::<u64>() > 0,
        "no webhook reached a draining replica: the test did not test the drain"
    );
    for (i, code, drain, routed_until, _, stranded) in &drains {
        // What refusals come from: a replica gone while the Service still routes to it.
        assert!(
            routed_until.is_some_and(|until| until < *drain),
            "replica {i} exited {drain:?} after SIGTERM; the Service routed to it until {routed_until:?}"
        );
        assert!(
            stranded.is_empty(),
            "replica {i} left jobs locked: {stranded:?}"
        );
        assert_eq!(*code, Some(0), "replica {i} exit code");
        assert!(*drain < GRACE, "replica {i} drained in {drain:?}");
    }
    outcome.assert_all_answered_once(messages as i64);
    for r in replicas.into_iter().flatten() {
        assert_eq!(r.terminate().await, Some(0));
    }
}

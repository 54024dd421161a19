//! The crash-safety harness: customers across many conversations write twice (half of them the
//! second time while the bot's first run is in flight) to an agent playbook that writes twice per
//! run (a note, then the reply), while the daemon (a child process) is SIGKILLed and restarted
//! several times; then every customer message must have been answered exactly once, counted in
//! the sandbox. The sandbox lives in the test process, so its state survives the kills, as
//! Intercom's would. Runs on either backend (the CI matrix runs it on PostgreSQL too).

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use triaged::{
    sandbox::{DEMO_ACCESS_TOKEN, Sandbox, SandboxConfig},
    store::Db,
    with_pool,
};

use crate::{
    daemon::{Daemon, TestDb},
    helpers::SECRET,
    llm_stub::{LlmStub, Turn},
};

const CONVERSATIONS: usize = 60;
const KILLS: usize = 5;
pub(crate) const CONTACTS: [&str; 3] = [
    "6762f1261bb69f9f21930001",
    "6762f1261bb69f9f21930002",
    "6762f1261bb69f9f21930003",
];

/// Two writes per run: an internal note, then the reply.
pub(crate) const ANSWER: &str = r#"name: answer
description: Note what the customer asked, then answer it.
priority: 1
mode: live
trigger:
  topics: [conversation.user.created, conversation.user.replied]
steps:
  - agent:
      instructions: Add a note, then answer the customer's newest message in one reply.
      tools: [add_note, reply_to_conversation]
fallback:
  - note: "could not answer: {{failure.reason}}"
"#;

/// The scripted model: notes the newest customer message of the snapshot (`ask-I-K`), then
/// replies `answer q-I-K`; tells the test (`in_flight`) when a run first asks about a
/// conversation, so it can write again while the run is in flight.
pub(crate) fn model(in_flight: tokio::sync::mpsc::UnboundedSender<String>) -> Turn {
    Turn::Forever(Box::new(Turn::Dynamic(Arc::new(move |request: &Value| {
        let messages = request["messages"].as_array().cloned().unwrap_or_default();
        let system = crate::llm_stub::conversation_message(request).to_owned();
        let conversation = crate::llm_stub::conversation_of(request);
        let newest = system
            .match_indices("ask-")
            .last()
            .map(|(at, _)| {
                system[at + 4..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '-')
                    .collect::<String>()
            })
            .unwrap_or_default();
        let last_call = messages
            .iter()
            .rev()
            .find_map(|m| m["tool_calls"][0]["function"]["name"].as_str())
            .map(str::to_owned);
        match last_call.as_deref() {
            None => {
                let _ = in_flight.send(conversation.clone());
                Turn::tool(
                    "add_note",
                    json!({"conversation_id": conversation, "body": format!("noted q-{newest}")}),
                )
            }
            Some("add_note") => Turn::tool(
                "reply_to_conversation",
                json!({"conversation_id": conversation, "body": format!("answer q-{newest}")}),
            ),
            Some(_) => Turn::Text("done".into()),
        }
    }))))
}

/// Which customer message (`K` of `ask-I-K`) each bot reply of a conversation answered, in order.
pub(crate) fn answered(sandbox: &Sandbox, id: &str) -> Vec<u32> {
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

async fn start_daemon(
    db: &TestDb,
    playbooks: &str,
    listen: &str,
    sandbox: &str,
    llm: &str,
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
            // A killed run's lease expires this long after its last renewal.
            ("TRIAGED_LEASE_TTL", "2s"),
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

async fn count(watch: &Db, sql: &'static str) -> i64 {
    with_pool!(watch, |p| sqlx::query_scalar(sql).fetch_one(p).await).unwrap()
}

/// What one conversation looks like in the sandbox afterwards.
#[derive(Debug, Default)]
struct Tally {
    /// Which customer message (`K` of `ask-I-K`) each bot reply answered, in order.
    answered: Vec<u32>,
}

impl Tally {
    fn of(sandbox: &Sandbox, id: &str) -> Self {
        Self {
            answered: answered(sandbox, id),
        }
    }

    /// Replies needed: one per message, except when the first answer already saw the second.
    fn needed(&self) -> usize {
        if self.answered.first() == Some(&2) {
            1
        } else {
            2
        }
    }

    /// Every customer message answered exactly once: the answers name messages in strictly
    /// increasing order and the last one names the second message.
    fn exactly_once(&self) -> bool {
        self.answered.windows(2).all(|w| w[0] < w[1]) && self.answered.last() == Some(&2)
    }
}

#[tokio::test]
async fn sigkills_while_customers_write_twice_lose_no_message_and_answer_each_exactly_once() {
    triaged::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path()).await;
    let playbooks = dir.path().join("playbooks");
    std::fs::create_dir_all(&playbooks).unwrap();
    std::fs::write(playbooks.join("answer.yaml"), ANSWER).unwrap();
    let playbooks = playbooks.display().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");

    let (in_flight_tx, mut in_flight) = tokio::sync::mpsc::unbounded_channel();
    let stub = LlmStub::start().await;
    stub.push([model(in_flight_tx)]);
    let llm = stub.base_url();
    let mut config = SandboxConfig::demo("127.0.0.1:0".parse().unwrap());
    config.client_secret = SECRET.into();
    config.webhook_url = Some(format!("http://{listen}/webhooks/intercom"));
    config.rate_limit = 100_000;
    // A message written while the daemon is down reaches it on Intercom's one redelivery
    // (a minute later in Intercom; sooner here).
    config.redeliver_after = Some(Duration::from_secs(2));
    let sandbox = Arc::new(Sandbox::start(config).await.unwrap());
    let base = sandbox.base_url();

    // Conversations and the index of their customer; which ones got their second message.
    let index: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let second_sent: Arc<Mutex<HashSet<String>>> = Arc::default();
    let in_flight_seconds = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // How many run attempts have asked the model so far.
    let (asked_tx, mut asked) = tokio::sync::watch::channel(0usize);
    // Half the conversations (even indexes) get their second message while their first run is in
    // flight: the model has been asked, nothing is written yet.
    let writer = {
        let (sandbox, index, second_sent, counter) = (
            sandbox.clone(),
            index.clone(),
            second_sent.clone(),
            in_flight_seconds.clone(),
        );
        tokio::spawn(async move {
            while let Some(id) = in_flight.recv().await {
                asked_tx.send_modify(|n| *n += 1);
                let Some(i) = index.lock().unwrap().get(&id).copied() else {
                    continue;
                };
                if i % 2 != 0 || !second_sent.lock().unwrap().insert(id.clone()) {
                    continue;
                }
                let contact = CONTACTS[i % CONTACTS.len()];
                sandbox
                    .customer_says(Some(&id), contact, &format!("ask-{i}-2: one more thing"))
                    .await
                    .unwrap();
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        })
    };

    let started = Instant::now();
    let mut daemon = Some(start_daemon(&db, &playbooks, &listen, &base, &llm).await);
    let mut asked_before = *asked.borrow();
    let watch = db.watch().await;
    let mut unfinished_at_kills = 0i64;
    let mut conversations = Vec::with_capacity(CONVERSATIONS);
    let per_round = CONVERSATIONS / (KILLS + 1);
    for i in 0..CONVERSATIONS {
        let contact = CONTACTS[i % CONTACTS.len()];
        let id = sandbox
            .customer_says(None, contact, &format!("ask-{i}-1: please help"))
            .await
            .unwrap();
        index.lock().unwrap().insert(id.clone(), i);
        conversations.push(id);
        if (i + 1) % per_round == 0 && (i + 1) / per_round <= KILLS {
            // The round's notifications are accepted and this daemon's runs are working (one has
            // asked the model at least): kill now.
            sandbox.flush_webhooks().await;
            tokio::time::timeout(
                crate::helpers::PATIENCE,
                asked.wait_for(|n| *n > asked_before),
            )
            .await
            .expect("a run of this daemon asks the model")
            .unwrap();
            let open = count(
                &watch,
                "SELECT COUNT(*) FROM webhook_events WHERE status = 'queued'",
            )
            .await;
            unfinished_at_kills += open;
            if let Some(d) = daemon.take() {
                d.kill().await;
            }
            daemon = Some(start_daemon(&db, &playbooks, &listen, &base, &llm).await);
            asked_before = *asked.borrow();
        }
    }
    // Everyone else writes again now, whatever their first run is doing.
    for (i, id) in conversations.iter().enumerate() {
        if second_sent.lock().unwrap().insert(id.clone()) {
            let contact = CONTACTS[i % CONTACTS.len()];
            sandbox
                .customer_says(Some(id), contact, &format!("ask-{i}-2: one more thing"))
                .await
                .unwrap();
        }
    }

    // The daemon is another process: wait for it to finish by reading its database, bounded.
    let deadline = Instant::now() + Duration::from_secs(180);
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
            "{open} events still queued after 180 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drained = started.elapsed();
    writer.abort();

    let accepted = count(
        &watch,
        "SELECT COUNT(*) FROM webhook_events WHERE topic LIKE 'conversation.user.%'",
    )
    .await;
    let failed = count(
        &watch,
        "SELECT COUNT(*) FROM webhook_events WHERE status = 'failed'",
    )
    .await;
    let tallies: Vec<(String, Tally)> = conversations
        .iter()
        .map(|id| (id.clone(), Tally::of(&sandbox, id)))
        .collect();
    let replies: usize = tallies.iter().map(|(_, t)| t.answered.len()).sum();
    let needed: usize = tallies.iter().map(|(_, t)| t.needed()).sum();
    let two = tallies
        .iter()
        .filter(|(_, t)| t.answered.len() == 2)
        .count();
    let one = tallies
        .iter()
        .filter(|(_, t)| t.answered.len() == 1)
        .count();
    let lost: Vec<&(String, Tally)> = tallies
        .iter()
        .filter(|(_, t)| t.answered.last() != Some(&2))
        .collect();
    let doubled: Vec<&(String, Tally)> = tallies
        .iter()
        .filter(|(_, t)| !t.answered.windows(2).all(|w| w[0] < w[1]))
        .collect();
    let in_flight_seconds = in_flight_seconds.load(std::sync::atomic::Ordering::SeqCst);
    eprintln!(
        "crash harness: {CONVERSATIONS} conversations, {} customer messages ({in_flight_seconds} \
         sent while the first run was in flight), {KILLS} SIGKILLs, {accepted} accepted, \
         {unfinished_at_kills} queued or running at the kills; {replies} bot replies for {needed} \
         needed ({two} conversations answered twice, {one} once because the first answer saw \
         both messages), lost {}, doubled {}, failed events {failed}, drained in {:.1}s",
        CONVERSATIONS * 2,
        lost.len(),
        doubled.len(),
        drained.as_secs_f64()
    );
    assert_eq!(
        accepted,
        i64::try_from(CONVERSATIONS * 2).unwrap(),
        "every customer message reached the daemon"
    );
    assert!(
        unfinished_at_kills > 0,
        "the kills interrupted work in progress"
    );
    assert!(in_flight_seconds > 0, "some second messages came mid-run");
    for (id, tally) in lost.iter().chain(&doubled) {
        // What the daemon recorded, for the failure message.
        let events: Vec<(i64, String, String, Option<i64>)> =
            with_pool!(watch, |p| sqlx::query_as(
                "SELECT id, topic, status, coalesced_into FROM webhook_events \
                 WHERE conversation_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(p)
            .await)
            .unwrap();
        let runs: Vec<(i64, i64, String, Option<String>)> = with_pool!(watch, |p| sqlx::query_as(
            "SELECT id, event_id, status, reason FROM runs \
             WHERE conversation_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(p)
        .await)
        .unwrap();
        let actions: Vec<(i64, String, String)> = with_pool!(watch, |p| sqlx::query_as(
            "SELECT run_id, tool, status FROM actions WHERE conversation_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(p)
        .await)
        .unwrap();
        eprintln!(
            "conversation {id}: answers {:?}\n  events {events:?}\n  runs {runs:?}\n  \
             writes {actions:?}",
            tally.answered
        );
    }
    assert!(
        lost.is_empty(),
        "a customer message never answered: {lost:?}"
    );
    assert!(
        doubled.is_empty(),
        "a customer message answered twice: {doubled:?}"
    );
    assert!(tallies.iter().all(|(_, t)| t.exactly_once()), "{tallies:?}");
    assert_eq!(
        replies, needed,
        "bot replies = customer messages that needed one"
    );
    let failures: Vec<(i64, String, Option<String>, Option<String>)> =
        with_pool!(watch, |p| sqlx::query_as(
            "SELECT e.id, e.conversation_id, r.reason, r.last_error FROM webhook_events e \
             LEFT JOIN runs r ON r.event_id = e.id WHERE e.status = 'failed' ORDER BY e.id",
        )
        .fetch_all(p)
        .await)
        .unwrap();
    assert_eq!(failed, 0, "no event ended failed: {failures:?}");
    if let Some(d) = daemon {
        assert_eq!(d.terminate().await, Some(0));
    }
}

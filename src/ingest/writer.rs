//! Group commit for the webhook path: one task writes every received notification.
//!
//! Request handlers send what they want stored over a channel and wait for the answer; the writer
//! takes whatever has queued up (up to `MAX_BATCH`, 512), inserts it all (events and their jobs) in
//! ONE transaction, commits once, and then answers each request. With `synchronous = FULL` that is
//! one fsync per batch instead of one per webhook, and webhook writers never contend for SQLite's
//! write lock (whose busy handler sleeps with back-off). The 200 still goes out only after the
//! commit that holds the event. The transaction is a few multi-row statements whatever the batch
//! size (not three per webhook): on PostgreSQL each statement is a round trip, and on a busy
//! machine a round trip waits for a CPU twice, which made the acks' tail.

use std::time::Duration;

use axum::body::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::{
    queue::{self, QueueError},
    store::{
        Db,
        events::{self, EventStatus, Inserted, NewEvent},
    },
};

/// Most requests committed in one transaction.
const MAX_BATCH: usize = 512;

/// Requests that may wait for the writer before handlers wait to send (back-pressure).
const CHANNEL: usize = 4096;

/// What to store for one delivery.
#[derive(Debug, Clone)]
pub struct StoreRequest {
    pub dedupe_key: String,
    pub notification_id: Option<String>,
    pub topic: Option<String>,
    pub app_id: Option<String>,
    pub conversation_id: Option<String>,
    pub created_at: Option<i64>,
    pub delivery_attempts: Option<i64>,
    pub status: EventStatus,
    pub parse_error: Option<String>,
    /// Enqueue a job for the event (after this delay) when it is new.
    pub enqueue_after: Option<Duration>,
    pub raw_body: Bytes,
}

/// The stored event: new or a redelivery of one already stored.
pub type Stored = Inserted;

type Reply = oneshot::Sender<Result<Stored, String>>;

/// The handle request handlers use.
#[derive(Debug, Clone)]
pub struct Writer {
    tx: mpsc::Sender<(StoreRequest, Reply)>,
}

impl Writer {
    /// Starts the writer task; it ends once every handle is dropped and the queue is written.
    /// `wake` is signalled after each commit that queued a job due now.
    pub fn spawn(db: Db, wake: queue::Wake) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let task = tokio::spawn(run(db, rx, wake));
        (Self { tx }, task)
    }

    /// Stores one delivery; resolves after the commit that holds it.
    pub async fn store(&self, request: StoreRequest) -> Result<Stored, String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((request, reply))
            .await
            .map_err(|_| "the writer has stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the writer dropped the request".to_owned())?
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<(StoreRequest, Reply)>, wake: queue::Wake) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        metrics::histogram!("triaged_ingest_batch_size").record(batch.len() as f64);
        match write_batch(&db, &batch).await {
            Ok(results) => {
                if batch.iter().zip(&results).any(|((r, _), inserted)| {
                    r.enqueue_after == Some(Duration::ZERO) && matches!(inserted, Inserted::New(_))
                }) {
                    wake.wake();
                }
                for ((_, reply), result) in batch.drain(..).zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            Err(error) if batch.len() > 1 => {
                // One bad request must not fail the others: write them one by one.
                tracing::warn!(%error, size = batch.len(), "batch failed; writing one by one");
                for (request, reply) in batch.drain(..) {
                    let result = write_batch(&db, std::slice::from_ref(&(request, dummy())))
                        .await
                        .map(|mut r| r.remove(0))
                        .map_err(|e| e.to_string());
                    let _ = reply.send(result);
                }
                wake.wake();
            }
            Err(error) => {
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
        }
    }
}

/// A reply channel nobody listens to, for re-using [`write_batch`] on a single request.
fn dummy() -> Reply {
    oneshot::channel().0
}

async fn write_batch(db: &Db, batch: &[(StoreRequest, Reply)]) -> Result<Vec<Stored>, QueueError> {
    let events: Vec<NewEvent<'_>> = batch
        .iter()
        .map(|(r, _)| NewEvent {
            dedupe_key: &r.dedupe_key,
            notification_id: r.notification_id.as_deref(),
            topic: r.topic.as_deref(),
            app_id: r.app_id.as_deref(),
            conversation_id: r.conversation_id.as_deref(),
            created_at: r.created_at,
            delivery_attempts: r.delivery_attempts,
            status: r.status,
            parse_error: r.parse_error.as_deref(),
            raw_body: &r.raw_body,
        })
        .collect();
    let mut tx = db.begin_write().await?;
    // A handful of statements per batch whatever its size: on a busy machine each round trip to
    // the database waits for the CPU twice (the server's turn, then ours).
    let results = events::insert_many(&mut tx, &events).await?;
    let jobs: Vec<(i64, u32, Duration)> = batch
        .iter()
        .zip(&results)
        .filter_map(|((r, _), inserted)| match (inserted, r.enqueue_after) {
            (Inserted::New(id), Some(delay)) => Some((*id, 1, delay)),
            _ => None,
        })
        .collect();
    queue::enqueue_many(&mut tx, &jobs).await?;
    tx.commit().await?;
    Ok(results)
}

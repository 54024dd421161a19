//! A Kubernetes Service as the rolling-restart test needs it: an endpoints controller (a background
//! task) probes every replica's `/readyz` every [`PROBE_EVERY`], and what a probe saw takes effect
//! [`PROPAGATION`] later (kube-proxy's and the ingress's sync); each webhook goes, once, to the next
//! replica in turn that is routable. Nothing is retried: a replica that refuses, drops the
//! connection or answers non-2xx is a refusal, counted and answered 502 to the sender, as Intercom
//! would see it.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use tokio::sync::watch;

use super::cluster::forward;

/// How often the endpoints controller probes each replica.
pub const PROBE_EVERY: Duration = Duration::from_millis(100);
/// How long after a probe the routing follows what it saw.
pub const PROPAGATION: Duration = Duration::from_millis(300);

/// Whether a replica is routed to, and the probe results on their way.
#[derive(Default)]
struct Routing {
    ready: bool,
    pending: VecDeque<(Instant, bool)>,
}

/// What the Service knows of one replica, and what it saw of it.
#[derive(Default)]
pub struct Endpoint {
    routing: Mutex<Routing>,
    /// Webhooks it answered 2xx.
    pub accepted: AtomicU64,
    /// Webhooks routed to it after the test sent it SIGTERM (and before it was started again).
    pub routed_while_draining: AtomicU64,
    /// Set by the test just before SIGTERM.
    sigterm_at: Mutex<Option<Instant>>,
    /// Set by the test once the replica logged that it drains: `/readyz` must answer 503 since.
    draining_at: Mutex<Option<Instant>>,
    /// When the Service stopped routing to it after SIGTERM.
    pub unready_at: Mutex<Option<Instant>>,
}

pub struct Service {
    targets: Vec<String>,
    pub endpoints: Vec<Endpoint>,
    next: AtomicUsize,
    /// Every webhook that reached the Service.
    pub received: AtomicU64,
    /// Webhooks that found no ready replica.
    pub no_endpoint: AtomicU64,
    /// Refusals: which replica, and what it did.
    pub refused: Mutex<Vec<(usize, String)>>,
    /// Probes that started after a replica said it drains and still got 200.
    pub ready_while_draining: Mutex<Vec<usize>>,
    /// Counts the controller's probe rounds.
    rounds: watch::Sender<u64>,
    client: reqwest::Client,
}

impl Service {
    /// Starts the Service and its endpoints controller in front of `targets` (`host:port`);
    /// returns it and the webhook URL to give the sandbox.
    pub async fn start(targets: Vec<String>) -> (Arc<Self>, String) {
        let service = Arc::new(Self {
            endpoints: targets.iter().map(|_| Endpoint::default()).collect(),
            targets,
            next: AtomicUsize::default(),
            received: AtomicU64::default(),
            no_endpoint: AtomicU64::default(),
            refused: Mutex::default(),
            ready_while_draining: Mutex::default(),
            rounds: watch::Sender::new(0),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
        });
        tokio::spawn(controller(service.clone()));
        let app = Router::new()
            .route("/webhooks/intercom", post(route))
            .with_state(service.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (service, format!("http://{addr}/webhooks/intercom"))
    }

    /// Kubelet is about to send SIGTERM to replica `i`.
    pub fn sigterm(&self, i: usize) {
        *self.endpoints[i].unready_at.lock().unwrap() = None;
        *self.endpoints[i].sigterm_at.lock().unwrap() = Some(Instant::now());
    }

    /// Replica `i` logged that it drains.
    pub fn draining(&self, i: usize) {
        *self.endpoints[i].draining_at.lock().unwrap() = Some(Instant::now());
    }

    /// Replica `i` is about to be started again.
    pub fn restarting(&self, i: usize) {
        let endpoint = &self.endpoints[i];
        *endpoint.sigterm_at.lock().unwrap() = None;
        *endpoint.draining_at.lock().unwrap() = None;
    }

    /// Whether the Service routes to replica `i` now.
    pub fn is_ready(&self, i: usize) -> bool {
        let endpoint = &self.endpoints[i];
        let mut routing = endpoint.routing.lock().unwrap();
        let now = Instant::now();
        while let Some(&(at, ready)) = routing.pending.front()
            && at <= now
        {
            routing.pending.pop_front();
            if routing.ready && !ready {
                endpoint.unready_at.lock().unwrap().get_or_insert(at);
            }
            routing.ready = ready;
        }
        routing.ready
    }

    /// Waits until the controller has finished a probe round that started after this call.
    pub async fn next_round(&self) {
        let mut rounds = self.rounds.subscribe();
        let now = *rounds.borrow_and_update();
        let wait = rounds.wait_for(|r| *r >= now + 2);
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .expect("the endpoints controller probes")
            .unwrap();
    }

    /// Waits until the Service routes to replica `i` (`ready`) or not.
    pub async fn wait_ready(&self, i: usize, ready: bool, patience: Duration) {
        let deadline = Instant::now() + patience;
        while self.is_ready(i) != ready {
            assert!(
                Instant::now() < deadline,
                "replica {i} not seen ready={ready} within {patience:?}"
            );
            self.next_round().await;
        }
    }
}

/// The endpoints controller: a replica is routed to while its last probe answered 200.
async fn controller(service: Arc<Service>) {
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for (i, target) in service.targets.iter().enumerate() {
            let endpoint = &service.endpoints[i];
            let started = Instant::now();
            let ok = service
                .client
                .get(format!("http://{target}/readyz"))
                .timeout(Duration::from_millis(500))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK);
            let draining_at = *endpoint.draining_at.lock().unwrap();
            if ok && draining_at.is_some_and(|at| started > at) {
                service.ready_while_draining.lock().unwrap().push(i);
            }
            let effective = Instant::now() + PROPAGATION;
            endpoint
                .routing
                .lock()
                .unwrap()
                .pending
                .push_back((effective, ok));
        }
        service.rounds.send_modify(|r| *r += 1);
    }
}

/// One webhook to the next ready replica, once.
async fn route(State(service): State<Arc<Service>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    service.received.fetch_add(1, Ordering::SeqCst);
    let n = service.targets.len();
    let start = service.next.fetch_add(1, Ordering::SeqCst);
    let Some(i) = (start..start + n)
        .map(|k| k % n)
        .find(|&i| service.is_ready(i))
    else {
        service.no_endpoint.fetch_add(1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    let endpoint = &service.endpoints[i];
    if endpoint.sigterm_at.lock().unwrap().is_some() {
        endpoint
            .routed_while_draining
            .fetch_add(1, Ordering::SeqCst);
    }
    match forward(&service.client, &service.targets[i], &headers, body).await {
        Ok(()) => {
            endpoint.accepted.fetch_add(1, Ordering::SeqCst);
            StatusCode::OK
        }
        Err(what) => {
            service.refused.lock().unwrap().push((i, what));
            StatusCode::BAD_GATEWAY
        }
    }
}

//! `triaged bench webhooks`: a load generator for the webhook receiver of a running daemon.
//!
//! Sends unique, correctly signed notifications and prints throughput and acknowledgement latency
//! (p50/p99/max). Two modes: closed loop (`--rate 0`: `--concurrency` senders as fast as answers
//! come back, for peak throughput) and open loop (`--rate N`: N requests per second on a fixed
//! schedule whatever the answers do, for latency under a given load). Never part of the daemon.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use anyhow::Context;
use tokio::{sync::Mutex, time::Instant};

use crate::ingest::signature;

/// Arguments of `triaged bench webhooks`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Base URL of the daemon (`http://` or `https://`); notifications go to its
    /// `/webhooks/intercom`, or to the URL itself when it already ends so.
    #[arg(long, default_value = "http://127.0.0.1:8080", value_parser = parse_base_url)]
    pub url: String,
    /// The client secret the daemon verifies with.
    #[arg(long, env = "INTERCOM_CLIENT_SECRET", hide_env_values = true)]
    pub secret: String,
    /// Notifications to send.
    #[arg(long, default_value_t = 10_000)]
    pub count: usize,
    /// Requests per second (open loop); 0 sends as fast as the daemon answers (closed loop).
    #[arg(long, default_value_t = 0)]
    pub rate: u32,
    /// Concurrent senders in closed-loop mode.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
}

/// `--url`: an absolute `http(s)://HOST[:PORT]` URL.
fn parse_base_url(s: &str) -> Result<String, String> {
    match reqwest::Url::parse(s) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(s.to_owned()),
        Ok(_) => Err(format!("{s:?} is not an http(s) URL")),
        Err(e) => Err(format!("{s:?} is not a URL: {e}")),
    }
}

/// Runs the benchmark and prints its figures; an error when not one notification was accepted
/// (the daemon is not there, or the secret is wrong), so a script notices.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .context("HTTP client")?;
    let url = webhook_url(&args.url);
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let bodies: Vec<(Vec<u8>, String)> = (0..args.count)
        .map(|i| {
            let body = serde_json::json!({
                "type": "notification_event",
                "id": format!("notif_bench_{run_id}_{i}"),
                "topic": "conversation.user.replied",
                "app_id": "bench",
                "created_at": 1_734_537_561,
                "delivery_attempts": 1,
                "data": {"type": "notification_event_data",
                         "item": {"type": "conversation", "id": format!("{}", i % 500)}}
            })
            .to_string()
            .into_bytes();
            let sig = signature::sign(args.secret.as_bytes(), &body);
            (body, sig)
        })
        .collect();
    let bodies = Arc::new(bodies);
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(args.count)));
    let failures = Arc::new(Mutex::new(BTreeMap::new()));
    let started = Instant::now();

    let mut tasks = tokio::task::JoinSet::new();
    if args.rate == 0 {
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for _ in 0..args.concurrency.max(1) {
            let (client, url, bodies, latencies, failures, next) = (
                client.clone(),
                url.clone(),
                bodies.clone(),
                latencies.clone(),
                failures.clone(),
                next.clone(),
            );
            tasks.spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((body, sig)) = bodies.get(i) else {
                        return;
                    };
                    let took = send(&client, &url, body, sig).await;
                    record(took, &latencies, &failures).await;
                }
            });
        }
    } else {
        let interval = Duration::from_secs_f64(1.0 / f64::from(args.rate));
        for i in 0..args.count {
            tokio::time::sleep_until(started + interval.mul_f64(i as f64)).await;
            let (client, url, bodies, latencies, failures) = (
                client.clone(),
                url.clone(),
                bodies.clone(),
                latencies.clone(),
                failures.clone(),
            );
            tasks.spawn(async move {
                let (body, sig) = &bodies[i];
                let took = send(&client, &url, body, sig).await;
                record(took, &latencies, &failures).await;
            });
        }
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed();

    let mut latencies = latencies.lock().await.clone();
    latencies.sort_unstable();
    let failures = failures.lock().await.clone();
    let failed: usize = failures.values().sum();
    let why = failures
        .iter()
        .map(|(reason, n)| format!("{reason} × {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let pct = |p: f64| -> Duration {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "mode: {}",
        if args.rate == 0 {
            format!("closed loop, {} senders", args.concurrency)
        } else {
            format!("open loop, {} req/s offered", args.rate)
        }
    );
    println!(
        "sent: {}  accepted (200): {}  failed: {failed}{}  in {:.2}s",
        args.count,
        latencies.len(),
        if why.is_empty() {
            String::new()
        } else {
            format!(" ({why})")
        },
        elapsed.as_secs_f64()
    );
    println!(
        "throughput: {:.0} accepted/s",
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "ack latency: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    if latencies.is_empty() && args.count > 0 {
        anyhow::bail!(
            "no notification was accepted ({why}): is a daemon listening at {url} with this \
             INTERCOM_CLIENT_SECRET?"
        );
    }
    Ok(())
}

/// Where the notifications go: `base/webhooks/intercom`, or `base` itself when it is already the
/// receiver's URL (as Intercom's webhook settings show it).
fn webhook_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/webhooks/intercom") {
        base.to_owned()
    } else {
        format!("{base}/webhooks/intercom")
    }
}

/// Sends one notification: how long its 200 took, or why it failed (the status the daemon
/// answered, or what stopped the request).
async fn send(
    client: &reqwest::Client,
    url: &str,
    body: &[u8],
    sig: &str,
) -> Result<Duration, String> {
    let start = Instant::now();
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header(signature::HEADER, sig)
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| {
            if e.is_connect() {
                "no connection".to_owned()
            } else if e.is_timeout() {
                "timed out".to_owned()
            } else {
                "request failed".to_owned()
            }
        })?;
    match response.status() {
        reqwest::StatusCode::OK => Ok(start.elapsed()),
        status => Err(status.to_string()),
    }
}

async fn record(
    took: Result<Duration, String>,
    latencies: &Mutex<Vec<Duration>>,
    failures: &Mutex<BTreeMap<String, usize>>,
) {
    match took {
        Ok(d) => latencies.lock().await.push(d),
        Err(reason) => *failures.lock().await.entry(reason).or_default() += 1,
    }
}

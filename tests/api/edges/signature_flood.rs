//! A flood of badly signed webhooks (anyone on the internet can send them) cannot flood the logs:
//! the warning is rate-limited and says how many it stands for, while the metric counts every one.

use crate::daemon::{Daemon, TestDb};

const FLOOD: usize = 400;

#[tokio::test]
async fn a_flood_of_bad_signatures_leaves_few_log_lines_and_an_exact_metric_count() {
    triaged::install_crypto_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = TestDb::new(dir.path()).await;
    let daemon = Daemon::start(&db, &[]).await;
    let client = reqwest::Client::new();
    let url = daemon.url("/webhooks/intercom");
    for i in 0..FLOOD {
        let status = client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-hub-signature", format!("sha1={:040x}", i))
            .body(format!(
                r#"{{"type":"notification_event","id":"flood_{i}"}}"#
            ))
            .send()
            .await
            .expect("post")
            .status();
        assert_eq!(status, 401);
    }
    let metrics = client
        .get(daemon.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let count = metrics
        .lines()
        .find(|l| {
            l.starts_with("triaged_webhooks_total{") && l.contains(r#"outcome="bad_signature""#)
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<usize>().ok());
    assert_eq!(count, Some(FLOOD), "{metrics}");

    let lines = daemon.terminate_collecting().await;
    let warnings: Vec<_> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "webhook refused")
        .collect();
    assert!(
        !warnings.is_empty() && warnings.len() <= 3,
        "{} warnings for {FLOOD} refusals",
        warnings.len()
    );
    assert_eq!(
        warnings[0]["fields"]["reason"], "bad_signature",
        "{:?}",
        warnings[0]
    );
}

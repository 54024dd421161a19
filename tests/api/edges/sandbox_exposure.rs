//! The sandbox's control API has no authentication (and can be told to POST anywhere): binding it
//! beyond loopback is allowed, but warned about at start-up.

use serde_json::Value;

use crate::daemon::{Daemon, TestDb};

const WARNING: &str = "the Intercom sandbox listens beyond loopback";

fn warnings(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|l| {
            l["level"] == "WARN"
                && l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(WARNING))
        })
        .collect()
}

#[tokio::test]
async fn a_sandbox_bound_beyond_loopback_warns_at_start_up_and_one_on_loopback_does_not() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Listens on every interface for the moment it takes to start (no traffic is sent to it).
    let db = TestDb::new(dir.path()).await;
    let exposed = Daemon::start(&db, &[("SANDBOX_LISTEN", "0.0.0.0:0")]).await;
    let found = warnings(&exposed.startup);
    let found: Vec<Value> = found.into_iter().cloned().collect();
    exposed.terminate().await;
    assert_eq!(found.len(), 1, "one warning: {found:?}");
    assert!(
        found[0]["fields"]["addr"]
            .as_str()
            .is_some_and(|a| a.starts_with("0.0.0.0:")),
        "{:?}",
        found[0]
    );

    let loopback = Daemon::start(&db, &[]).await;
    assert!(
        warnings(&loopback.startup).is_empty(),
        "{:?}",
        loopback.startup
    );
    loopback.terminate().await;
}

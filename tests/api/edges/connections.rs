//! The public port does not let a connection linger: an idle keep-alive connection is closed after
//! `TRIAGED_IDLE_TIMEOUT`, and a request whose body stops arriving (a truncated chunked upload) is
//! answered 408 after `TRIAGED_REQUEST_TIMEOUT` instead of waiting for ever.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{PATIENCE, SECRET, spawn_app_with, test_config};

/// Reads until the peer closes or `PATIENCE` passes; what arrived, and whether it closed.
async fn read_until_closed(stream: &mut TcpStream) -> (String, bool) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(PATIENCE, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&seen).into_owned(), closed)
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(&dir, &[SECRET]);
    config.http.idle_timeout = Duration::from_secs(1);
    let app = spawn_app_with(dir, config).await;
    let mut stream = TcpStream::connect(app.app.addr()).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: keep-alive\r\n\r\n")
        .await
        .expect("send");
    let (answer, closed) = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        closed,
        "the idle connection was still open after {PATIENCE:?}"
    );
}

#[tokio::test]
async fn a_truncated_chunked_body_is_answered_408_within_the_request_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(&dir, &[SECRET]);
    config.http.request_timeout = Duration::from_secs(1);
    let app = spawn_app_with(dir, config).await;
    let mut stream = TcpStream::connect(app.app.addr()).await.expect("connect");
    stream
        .write_all(
            b"POST /webhooks/intercom HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
              transfer-encoding: chunked\r\nx-hub-signature: sha1=00\r\n\r\n10\r\n{\"type\":\"notif",
        )
        .await
        .expect("send");
    // The sender stops here, mid-chunk, and keeps the connection open.
    let (answer, closed) = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(closed, "the connection was left open");
    let events = app.app.db().list_events(None, 10).await.expect("events");
    assert!(
        events.is_empty(),
        "nothing was stored from a body that never arrived"
    );
}

#[tokio::test]
async fn with_a_metrics_address_metrics_are_served_there_and_not_on_the_public_port() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(&dir, &[SECRET]);
    config.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let app = spawn_app_with(dir, config).await;
    let metrics_addr = app.app.metrics_addr().expect("a metrics address");
    assert_ne!(metrics_addr, app.app.addr());
    let client = reqwest::Client::new();
    let public = client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("public port");
    assert_eq!(public.status(), 404);
    let private = client
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .expect("metrics port");
    assert_eq!(private.status(), 200);
    assert!(private.text().await.expect("text").contains("triaged_"));
    // The rest of the public port is unchanged.
    let health = client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
}

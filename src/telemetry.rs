//! Logs and metrics.
//!
//! Logs go to stderr through `tracing`: JSON in production, readable text on a terminal.
//! Metrics use the `metrics` facade with a Prometheus recorder rendered at `GET /metrics`; the
//! recorder is process-wide by the facade's design, so it is installed once and shared.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::LogFormat;

/// Latency buckets (seconds) for webhook acknowledgement: Intercom wants answers within 500 ms.
const ACK_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// How often the recorder drains histogram samples into its summaries (`run_upkeep`), so memory
/// stays bounded when nobody scrapes `/metrics`.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the log subscriber (`RUST_LOG` filters; default `info`). Safe to call more than once.
pub fn init_logging(format: LogFormat) {
    init_logging_with(format, "info");
}

/// [`init_logging`] with another default filter when `RUST_LOG` is unset (`playbook test` prints
/// its own report and keeps the daemons it starts quiet with `off`).
pub fn init_logging_with(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Json => registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init(),
        // Colours only for a person at a terminal (and not when `NO_COLOR` is set): a file, a
        // pipe or a log collector gets plain text.
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_ansi(colours_wanted())
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
}

/// Whether text logs may use ANSI colours: stderr is a terminal and `NO_COLOR` is unset or empty.
fn colours_wanted() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The process's Prometheus handle, installing the recorder on first use.
pub fn metrics() -> &'static PrometheusHandle {
    METRICS.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("triaged_webhook_ack_seconds".to_owned()),
                ACK_BUCKETS,
            )
            .map(PrometheusBuilder::build_recorder);
        match recorder {
            Ok(recorder) => {
                let handle = recorder.handle();
                // Another recorder may exist when triaged is embedded; ours still renders.
                let _ = metrics::set_global_recorder(recorder);
                handle
            }
            Err(_) => unreachable!("the bucket list is not empty"),
        }
    })
}

/// Runs the recorder's upkeep every few seconds until `shutdown` (without it, histogram samples
/// pile up until the next scrape).
pub async fn upkeep(shutdown: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(UPKEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => metrics().run_upkeep(),
        }
    }
}

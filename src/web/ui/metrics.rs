//! Figures the console reads from the process's own Prometheus recorder (since start).

/// The webhook acknowledgement p99 (seconds, the upper bound of its histogram bucket).
pub fn ack_p99_seconds() -> Option<f64> {
    p99_of(
        &crate::telemetry::metrics().render(),
        "triaged_webhook_ack_seconds",
    )
}

/// The 0.99 quantile's bucket bound of histogram `name` in Prometheus text `text`.
fn p99_of(text: &str, name: &str) -> Option<f64> {
    let prefix = format!("{name}_bucket{{");
    let mut buckets: Vec<(f64, f64)> = text
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let count: f64 = l.rsplit(' ').next()?.parse().ok()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    buckets
        .iter()
        .find(|(_, count)| *count >= total * 0.99)
        .map(|(le, _)| *le)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_p99_is_the_first_bucket_holding_99_percent() {
        let text = "x_bucket{le=\"0.001\"} 50\nx_bucket{le=\"0.01\"} 99\nx_bucket{le=\"0.1\"} 100\n\
                    x_bucket{le=\"+Inf\"} 100\n";
        assert_eq!(p99_of(text, "x"), Some(0.01));
        assert_eq!(p99_of("", "x"), None);
    }
}

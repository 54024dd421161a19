//! Range checks of `serve`'s numbers and durations, done once at start-up: a value that parses
//! but cannot work (`TRIAGED_WORKERS=99999999999`, `TRIAGED_MAX_BODY_BYTES=0`, a zero poll
//! interval) is refused with one line naming the variable and the allowed range, instead of a
//! daemon that starts and then answers every webhook 413 or spins on its database.

use std::{fmt::Display, time::Duration};

use super::{ConfigError, args::ServeArgs};

/// Why each bound is what it is; one row per setting, checked in this order.
struct Range<T> {
    var: &'static str,
    value: T,
    min: T,
    max: T,
}

impl<T: PartialOrd + Copy> Range<T> {
    fn check(self, show: impl Fn(T) -> String) -> Result<(), ConfigError> {
        if self.value >= self.min && self.value <= self.max {
            return Ok(());
        }
        Err(ConfigError::Invalid {
            var: self.var,
            message: format!(
                "{} is out of range (allowed: {} to {})",
                show(self.value),
                show(self.min),
                show(self.max)
            ),
        })
    }
}

fn number<T: Display>(n: T) -> String {
    n.to_string()
}

fn duration(d: Duration) -> String {
    if d.is_zero() {
        "0s".to_owned()
    } else {
        humantime::format_duration(d).to_string()
    }
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The most concurrent runs one process takes: each holds a model request and a few Intercom
/// calls; past this, the Intercom rate limit and the database (one writer) are the bound anyway.
pub const MAX_WORKERS: usize = 256;
/// The smallest webhook body limit: Intercom's smallest notification (a ping) is ~300 bytes and a
/// real one several KiB, so anything below 4 KiB would refuse real traffic.
pub const MIN_BODY_BYTES: usize = 4 * 1024;
/// The largest webhook body limit: a notification carries one conversation, never this much.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Checks every numeric and duration setting of `serve` against its range.
pub(super) fn check_serve(args: &ServeArgs) -> Result<(), ConfigError> {
    Range {
        var: "TRIAGED_WORKERS",
        value: args.workers,
        min: 0,
        max: MAX_WORKERS,
    }
    .check(number)?;
    Range {
        var: "TRIAGED_MAX_BODY_BYTES",
        value: args.max_body_bytes,
        min: MIN_BODY_BYTES,
        max: MAX_BODY_BYTES,
    }
    .check(number)?;
    if let Some(max_attempts) = args.max_attempts {
        Range {
            var: "TRIAGED_MAX_ATTEMPTS",
            value: max_attempts,
            min: 1,
            max: 1000,
        }
        .check(number)?;
    }
    Range {
        var: "TRIAGED_MAX_BOT_REPLIES_PER_HOUR",
        value: args.max_bot_replies_per_hour,
        min: 1,
        max: 10_000,
    }
    .check(number)?;
    Range {
        var: "TRIAGED_MAX_CONNECTIONS",
        value: args.max_connections,
        min: 1,
        max: 1_000_000,
    }
    .check(number)?;
    let durations = [
        (
            "TRIAGED_REQUEST_TIMEOUT",
            args.request_timeout,
            secs(1),
            secs(600),
        ),
        (
            "TRIAGED_IDLE_TIMEOUT",
            args.idle_timeout,
            secs(1),
            secs(3600),
        ),
        // An idle worker polls this often: 0 spins on the database, a minute delays every run.
        (
            "TRIAGED_POLL_INTERVAL",
            args.poll_interval,
            Duration::from_millis(1),
            secs(60),
        ),
        // Jobs of a worker silent for two heartbeats run again elsewhere.
        ("TRIAGED_HEARTBEAT", args.heartbeat, secs(1), secs(600)),
        // Runs renew their lease every third of it.
        ("TRIAGED_LEASE_TTL", args.lease_ttl, secs(1), secs(3600)),
        (
            "TRIAGED_DEBOUNCE",
            args.debounce,
            Duration::ZERO,
            secs(3600),
        ),
        (
            "TRIAGED_SHUTDOWN_GRACE",
            args.shutdown_grace,
            Duration::ZERO,
            secs(3600),
        ),
        // 0: a transient failure takes the fallback at once.
        (
            "TRIAGED_RETRY_FOR",
            args.retry_for,
            Duration::ZERO,
            secs(7 * 24 * 3600),
        ),
        (
            "TRIAGED_RETRY_DELAY",
            args.retry_delay,
            Duration::ZERO,
            secs(600),
        ),
        (
            "TRIAGED_JOB_HOLD",
            args.job_hold,
            Duration::ZERO,
            secs(3600),
        ),
    ];
    for (var, value, min, max) in durations {
        Range {
            var,
            value,
            min,
            max,
        }
        .check(duration)?;
    }
    if args.shutdown_delay > args.shutdown_grace {
        return Err(ConfigError::Invalid {
            var: "TRIAGED_SHUTDOWN_DELAY",
            message: format!(
                "{} is longer than TRIAGED_SHUTDOWN_GRACE ({}): the drain, this delay included, \
                 ends when the grace runs out",
                duration(args.shutdown_delay),
                duration(args.shutdown_grace)
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::validated::ServeArgsParser;
    use super::*;

    fn defaults() -> ServeArgs {
        <ServeArgsParser as clap::Parser>::parse_from(["triaged"]).serve
    }

    #[test]
    fn the_defaults_are_in_range() {
        assert!(check_serve(&defaults()).is_ok());
    }

    #[test]
    fn an_out_of_range_value_is_one_line_naming_the_variable_and_the_range() {
        let mut args = defaults();
        args.workers = 99_999_999_999;
        let error = check_serve(&args).err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("TRIAGED_WORKERS: 99999999999 is out of range (allowed: 0 to 256)")
        );
        let mut args = defaults();
        args.poll_interval = Duration::ZERO;
        let error = check_serve(&args).err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("TRIAGED_POLL_INTERVAL: 0s is out of range (allowed: 1ms to 1m)")
        );
    }

    #[test]
    fn the_shutdown_delay_fits_in_the_grace() {
        let mut args = defaults();
        args.shutdown_delay = Duration::from_secs(10);
        assert!(check_serve(&args).is_ok(), "equal to the default grace");
        args.shutdown_delay = Duration::from_secs(11);
        let error = check_serve(&args).err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some(
                "TRIAGED_SHUTDOWN_DELAY: 11s is longer than TRIAGED_SHUTDOWN_GRACE (10s): the \
                 drain, this delay included, ends when the grace runs out"
            )
        );
    }
}

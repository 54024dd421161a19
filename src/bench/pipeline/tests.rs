//! Unit tests of the pipeline benchmark's pure parts.

use super::{figures::percentile, *};

#[test]
fn the_live_copy_sets_or_adds_the_mode() {
    assert_eq!(
        with_live_mode("name: a\nmode: draft\nsteps: []\n"),
        "name: a\nmode: live\nsteps: []\n"
    );
    assert_eq!(
        with_live_mode("name: a\ndescription: |\n  mode: draft in text\n"),
        "name: a\ndescription: |\n  mode: draft in text\nmode: live\n"
    );
}

#[test]
fn percentiles_take_the_nearest_rank() {
    let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
    assert_eq!(percentile(&v, 0.50), Duration::from_millis(50));
    assert_eq!(percentile(&v, 0.99), Duration::from_millis(99));
    assert_eq!(percentile(&[], 0.5), Duration::ZERO);
}

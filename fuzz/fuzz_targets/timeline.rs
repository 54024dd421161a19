//! Timeline rendering: any conversation JSON that deserializes renders within its cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use triaged::{intercom::models::Conversation, tools::timeline};

fuzz_target!(|data: &[u8]| {
    let Ok(conversation) = serde_json::from_slice::<Conversation>(data) else {
        return;
    };
    let directory = timeline::Directory::default();
    for cap in [256, 4096, timeline::DEFAULT_CAP] {
        let _ = timeline::render(&conversation, &directory, None, cap);
    }
    let _ = timeline::list_line(&conversation, &directory);
});

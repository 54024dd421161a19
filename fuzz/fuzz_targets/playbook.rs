//! Playbook YAML load + compile: any text gives a playbook or diagnostics, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match triaged::playbook::parse_str(text, std::path::Path::new("fuzz.yaml")) {
        Ok(_) => {}
        Err(diagnostics) => assert!(!diagnostics.is_empty()),
    }
});

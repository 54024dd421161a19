//! A webhook body and its `X-Hub-Signature` as anyone on the internet can send them: the
//! signature check and the envelope parse never panic, and a body signed with the secret verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use triaged::ingest::{envelope::Notification, signature};

fuzz_target!(|data: &[u8]| {
    // First line: the header; the rest: the body.
    let (header, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&b""[..], data),
    };
    let secrets = [SecretString::from("fuzz-secret")];
    let _ = signature::verify(&secrets, Some(header), body);
    let signed = signature::sign(b"fuzz-secret", body);
    assert!(signature::verify(&secrets, Some(signed.as_bytes()), body).is_ok());
    if let Ok(notification) = Notification::parse(body) {
        let _ = notification.conversation_id();
        let _ = notification.topic.is_ping();
    }
});

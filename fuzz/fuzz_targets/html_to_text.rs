//! HTML to text (every REST body the model reads) and text to reply HTML: never panic; the reply
//! HTML of any text has no tag the text did not earn (only p, br and allowed links).
#![no_main]

use libfuzzer_sys::fuzz_target;
use triaged::tools::{html, reply_html};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = html::to_text(text);
    let links = reply_html::ReplyLinks::default();
    let out = reply_html::to_html(text, &links);
    let mut rest = out.as_str();
    while let Some(lt) = rest.find('<') {
        let tag = &rest[lt..];
        assert!(
            ["<p>", "</p>", "<br>", "<a href=\"", "</a>"]
                .iter()
                .any(|t| tag.starts_with(t)),
            "unexpected tag in {out:?}"
        );
        rest = &rest[lt + 1..];
    }
    let _ = html::to_text(&out);
});

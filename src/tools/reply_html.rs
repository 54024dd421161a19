//! A reply is text, not HTML: what the model (or a playbook) writes is turned into the HTML
//! Intercom shows the customer. Blank lines separate paragraphs (`<p>`), single line breaks become
//! `<br>`, `http(s)` URLs whose host is an allowed domain become plain links, and everything else
//! is escaped: markup the model wrote (a `<script>`, an `<a href>` of its own choosing, an
//! `<img>`) reaches the customer as the characters it typed. Pure; never fails.

use std::sync::Arc;

/// The domains reply links may point to (a domain allows its subdomains too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyLinks {
    domains: Arc<[String]>,
}

/// Intercom's hosted help centers (`https://intercom.help/WORKSPACE/…`): the default.
pub const DEFAULT_LINK_DOMAIN: &str = "intercom.help";

impl Default for ReplyLinks {
    fn default() -> Self {
        Self::new([DEFAULT_LINK_DOMAIN])
    }
}

impl ReplyLinks {
    /// These domains (lower-cased; a leading `*.` or `.` is dropped).
    pub fn new<S: AsRef<str>>(domains: impl IntoIterator<Item = S>) -> Self {
        let domains: Vec<String> = domains
            .into_iter()
            .map(|d| {
                let d = d.as_ref().trim().to_ascii_lowercase();
                d.trim_start_matches("*.")
                    .trim_start_matches('.')
                    .to_owned()
            })
            .filter(|d| !d.is_empty())
            .collect();
        Self {
            domains: domains.into(),
        }
    }

    /// No links at all: every URL stays text.
    pub fn none() -> Self {
        Self::new(Vec::<String>::new())
    }

    /// Whether a link to `url` may be shown as a link.
    pub fn allows(&self, url: &str) -> bool {
        host(url).is_some_and(|host| {
            self.domains.iter().any(|d| {
                host == *d
                    || host
                        .strip_suffix(d.as_str())
                        .is_some_and(|rest| rest.ends_with('.'))
            })
        })
    }
}

/// The host of an `http(s)://` URL, lower-cased; none for any other scheme or for an authority
/// with credentials (`https://intercom.help@evil.example/` is evil.example's).
fn host(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains(['@', '\\', '%']) {
        return None;
    }
    let host = authority.split(':').next().unwrap_or_default();
    let host = host.strip_suffix('.').unwrap_or(host);
    (!host.is_empty()).then(|| host.to_owned())
}

/// The Intercom HTML of a reply written as text.
pub fn to_html(text: &str, links: &ReplyLinks) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(text.len() + 16);
    let mut paragraph: Vec<&str> = Vec::new();
    let flush = |paragraph: &mut Vec<&str>, out: &mut String| {
        if paragraph.is_empty() {
            return;
        }
        out.push_str("<p>");
        for (i, line) in paragraph.iter().enumerate() {
            if i > 0 {
                out.push_str("<br>");
            }
            line_html(line, links, out);
        }
        out.push_str("</p>");
        paragraph.clear();
    };
    for line in text.split('\n') {
        let line = line.trim_end();
        if line.trim().is_empty() {
            flush(&mut paragraph, &mut out);
        } else {
            paragraph.push(line);
        }
    }
    flush(&mut paragraph, &mut out);
    out
}

/// One line: allowed URLs as links, the rest escaped.
fn line_html(line: &str, links: &ReplyLinks, out: &mut String) {
    let mut finder = linkify::LinkFinder::new();
    finder.kinds(&[linkify::LinkKind::Url]);
    for span in finder.spans(line) {
        let text = span.as_str();
        match span.kind() {
            Some(linkify::LinkKind::Url) if links.allows(text) => {
                out.push_str("<a href=\"");
                html_escape::encode_double_quoted_attribute_to_string(text, out);
                out.push_str("\">");
                html_escape::encode_text_to_string(text, out);
                out.push_str("</a>");
            }
            _ => {
                html_escape::encode_text_to_string(text, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_and_line_breaks_become_html_and_markup_is_escaped() {
        let html = to_html(
            "Hi Jane,\r\n\r\nsee <b>this</b> & that\nthanks\n\n\n",
            &ReplyLinks::default(),
        );
        assert_eq!(
            html,
            "<p>Hi Jane,</p><p>see &lt;b&gt;this&lt;/b&gt; &amp; that<br>thanks</p>"
        );
    }

    #[test]
    fn only_links_to_allowed_domains_become_links() {
        let links = ReplyLinks::new(["help.example.com"]);
        let html = to_html(
            "Read https://help.example.com/a?b=1&c=2. Or https://docs.help.example.com/x, \
             not https://evil.example/help.example.com nor https://help.example.com@evil.example/ \
             nor https://nothelp.example.com/",
            &links,
        );
        assert_eq!(
            html,
            "<p>Read <a href=\"https://help.example.com/a?b=1&amp;c=2\">https://help.example.com/a?b=1&amp;c=2</a>. \
             Or <a href=\"https://docs.help.example.com/x\">https://docs.help.example.com/x</a>, \
             not https://evil.example/help.example.com nor https://help.example.com@evil.example/ \
             nor https://nothelp.example.com/</p>"
        );
        assert!(ReplyLinks::default().allows("https://intercom.help/acme/en/articles/1"));
        assert!(!ReplyLinks::none().allows("https://intercom.help/acme"));
        assert!(!ReplyLinks::default().allows("javascript:alert(1)//intercom.help"));
    }
}

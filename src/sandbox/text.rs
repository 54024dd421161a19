//! Pure text helpers: HTML → plain text (Intercom's `display_as=plaintext` and 2.15+ webhook
//! bodies), and the word splitting search uses. No I/O.

/// Renders Intercom-style HTML as plain text: paragraphs and `<br>` become line breaks, links
/// become `label (url)`, tags are dropped and the common entities decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let mut pending_href: Option<String> = None;
    while let Some(start) = rest.find('<') {
        out.push_str(&decode(&rest[..start]));
        let after = &rest[start..];
        let Some(end) = after.find('>') else {
            out.push_str(&decode(after));
            rest = "";
            break;
        };
        let tag = &after[1..end];
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let closing = tag.starts_with('/');
        match (name.as_str(), closing) {
            ("br", _) => out.push('\n'),
            ("p" | "div" | "li" | "h1" | "h2" | "h3", true) => out.push('\n'),
            ("a", false) => pending_href = attribute(tag, "href"),
            ("a", true) => {
                if let Some(href) = pending_href.take() {
                    out.push_str(&format!(" ({href})"));
                }
            }
            _ => {}
        }
        rest = &after[end + 1..];
    }
    out.push_str(&decode(rest));
    out.trim().to_owned()
}

/// The value of `name="…"` in a tag's text.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(decode(&tag[start..start + len]))
}

fn decode(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

/// Lower-cased words (letters and digits) of a text, for single-word matching.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_become_lines_and_entities_are_decoded() {
        assert_eq!(
            html_to_text("<p>Hello &amp; welcome</p><p>Line&nbsp;two<br>three</p>"),
            "Hello & welcome\nLine two\nthree"
        );
    }

    #[test]
    fn links_render_as_label_then_url() {
        assert_eq!(
            html_to_text(r#"<p>See <a href="https://x.test/a?b=1&amp;c=2">the guide</a>.</p>"#),
            "See the guide (https://x.test/a?b=1&c=2)."
        );
    }

    #[test]
    fn plain_text_passes_through() {
        assert_eq!(html_to_text("no tags here"), "no tags here");
    }

    #[test]
    fn words_split_on_punctuation_and_lowercase() {
        let w: Vec<String> = words("Checkout returns a 500-error!").collect();
        assert_eq!(w, ["checkout", "returns", "a", "500", "error"]);
    }
}

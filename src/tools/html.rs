//! HTML to plain text for a model: REST bodies are HTML (API_FACTS §9). Block tags become line
//! breaks, links keep their URL, every HTML5 entity is decoded, everything else is dropped. Pure; never
//! fails on malformed markup.

/// Plain text of an HTML fragment, with runs of blank lines collapsed.
pub fn to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&decode(&rest[..lt]));
        let Some(gt) = rest[lt..].find('>') else {
            out.push_str(&decode(&rest[lt..]));
            rest = "";
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match name.as_str() {
            "br" | "p" | "div" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "ul" | "ol"
            | "blockquote" | "pre" => out.push('\n'),
            "li" if !tag.starts_with('/') => out.push_str("\n- "),
            "a" if !tag.starts_with('/') => {
                if let Some(href) = attribute(tag, "href") {
                    out.push_str(&format!("[{href}] "));
                }
            }
            "img" => {
                if let Some(src) = attribute(tag, "src") {
                    out.push_str(&format!("[image {src}]"));
                }
            }
            _ => {}
        }
        rest = &rest[lt + gt + 1..];
    }
    out.push_str(&decode(rest));
    collapse(&out)
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let at = lower.find(&format!("{name}="))? + name.len() + 1;
    let value = &tag[at..];
    let (quote, value) = match value.chars().next()? {
        q @ ('"' | '\'') => (q, &value[1..]),
        _ => (' ', value),
    };
    Some(value.split(quote).next().unwrap_or_default().to_owned())
}

/// Every HTML5 character reference (named, decimal, hex); a no-break space becomes a space.
/// html-escape rather than a hand-written table: the named references number over 2,000.
fn decode(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    html_escape::decode_html_entities(text).replace('\u{a0}', " ")
}

/// Trims each line and keeps at most one blank line between paragraphs.
fn collapse(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_links_and_entities_survive_as_text() {
        let html = "<p>Hi <b>Jane</b>,</p><p>see <a href=\"https://x.io/a\">the guide</a> &amp; reply&nbsp;&#8212; thanks</p><ul><li>one</li><li>two</li></ul>";
        assert_eq!(
            to_text(html),
            "Hi Jane,\n\nsee [https://x.io/a] the guide & reply — thanks\n\n- one\n- two"
        );
    }

    #[test]
    fn every_named_entity_is_decoded_not_only_six() {
        assert_eq!(
            to_text("caf&eacute; &mdash; wait&hellip; it&rsquo;s &copy; &euro;5 &lt;3 &#x1F600;"),
            "café — wait… it’s © €5 <3 😀"
        );
    }

    #[test]
    fn broken_markup_and_plain_text_pass_through() {
        assert_eq!(
            to_text("a < b and c &unknown; d"),
            "a < b and c &unknown; d"
        );
        assert_eq!(to_text("plain\n\n\n\ntext"), "plain\n\ntext");
        assert_eq!(to_text("<p unclosed"), "<p unclosed");
    }
}

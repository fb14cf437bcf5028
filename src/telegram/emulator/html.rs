//! Telegram's HTML parse mode: the plain text a user sees and its entities, or Telegram's refusal.
//!
//! Refusing what Telegram refuses (an unknown tag, an unclosed one, a stray `<`) is the point: a bot
//! that forgets to escape user input must fail here as it would in production.

use serde_json::{Value, json};

/// A message text as Telegram stores it: plain text plus entities with UTF-16 offsets.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Formatted {
    pub text: String,
    pub entities: Vec<Value>,
}

impl Formatted {
    pub fn plain(text: &str) -> Self {
        Self { text: text.to_owned(), entities: Vec::new() }
    }

    /// UTF-16 code units, the unit of Telegram's offsets and length limits.
    pub fn len_utf16(&self) -> usize {
        self.text.encode_utf16().count()
    }
}

struct Open {
    tag: String,
    entity: Value,
    start: usize,
}

/// Parses `html` the way the Bot API does with `parse_mode=HTML`; the error is Telegram's description.
pub(super) fn parse(html: &str) -> Result<Formatted, String> {
    let mut out = Formatted::default();
    let mut offset = 0;
    let mut open: Vec<Open> = Vec::new();
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        let at = html.len() - rest.len();
        match c {
            '<' => {
                let end = rest.find('>').ok_or_else(|| refuse(format!("Unclosed start tag at byte offset {at}")))?;
                let inside = &rest[1..end];
                rest = &rest[end + 1..];
                if let Some(name) = inside.strip_prefix('/') {
                    close(&mut open, &mut out, name.trim(), offset, at)?;
                } else {
                    open.push(Open { tag: tag_name(inside), entity: start_tag(inside, at)?, start: offset });
                }
            }
            '&' => {
                let (decoded, used) = entity(rest).unwrap_or(('&', 1));
                out.text.push(decoded);
                offset += decoded.len_utf16();
                rest = &rest[used..];
            }
            _ => {
                out.text.push(c);
                offset += c.len_utf16();
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if let Some(unclosed) = open.last() {
        return Err(refuse(format!("Can't find end tag corresponding to start tag \"{}\"", unclosed.tag)));
    }
    // Telegram lists entities by offset, an outer entity before the inner ones that start with it.
    out.entities.sort_by_key(|e| (number(e, "offset"), std::cmp::Reverse(number(e, "length"))));
    Ok(out)
}

fn refuse(reason: String) -> String {
    format!("Bad Request: can't parse entities: {reason}")
}

fn number(entity: &Value, key: &str) -> u64 {
    entity.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn tag_name(inside: &str) -> String {
    inside.split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or("").to_ascii_lowercase()
}

/// The entity a start tag opens, without offset and length yet.
fn start_tag(inside: &str, at: usize) -> Result<Value, String> {
    let name = tag_name(inside);
    let kind = match name.as_str() {
        "b" | "strong" => "bold",
        "i" | "em" => "italic",
        "u" | "ins" => "underline",
        "s" | "strike" | "del" => "strikethrough",
        "tg-spoiler" => "spoiler",
        "span" if attribute(inside, "class").as_deref() == Some("tg-spoiler") => "spoiler",
        "code" => "code",
        "pre" => "pre",
        "blockquote" if inside.contains("expandable") => "expandable_blockquote",
        "blockquote" => "blockquote",
        "a" => {
            let url = attribute(inside, "href").unwrap_or_default();
            return Ok(json!({"type": "text_link", "url": url}));
        }
        "tg-emoji" => {
            let id = attribute(inside, "emoji-id").unwrap_or_default();
            return Ok(json!({"type": "custom_emoji", "custom_emoji_id": id}));
        }
        _ => return Err(refuse(format!("Unsupported start tag \"{name}\" at byte offset {at}"))),
    };
    let mut entity = json!({ "type": kind });
    if name == "code"
        && let Some(language) = attribute(inside, "class").and_then(|c| c.strip_prefix("language-").map(str::to_owned))
    {
        entity["language"] = Value::String(language);
    }
    Ok(entity)
}

fn close(open: &mut Vec<Open>, out: &mut Formatted, name: &str, offset: usize, at: usize) -> Result<(), String> {
    let name = name.to_ascii_lowercase();
    let Some(top) = open.pop() else {
        return Err(refuse(format!("Unexpected end tag at byte offset {at}")));
    };
    if top.tag != name {
        return Err(refuse(format!(
            "Unmatched end tag at byte offset {at}, expected \"</{}>\", found \"</{name}>\"",
            top.tag
        )));
    }
    let mut entity = top.entity;
    // `<pre><code class="language-x">` is one pre entity with a language, not two entities.
    if let (Some(language), Some(parent)) = (entity.get("language").cloned(), open.last_mut())
        && parent.tag == "pre"
    {
        parent.entity["language"] = language;
        return Ok(());
    }
    if let Some(map) = entity.as_object_mut()
        && map.get("type").and_then(Value::as_str) == Some("code")
    {
        map.remove("language");
    }
    let length = offset - top.start;
    if length > 0 {
        entity["offset"] = json!(top.start);
        entity["length"] = json!(length);
        out.entities.push(entity);
    }
    Ok(())
}

/// The value of `name="value"` (or single-quoted) inside a start tag.
fn attribute(inside: &str, name: &str) -> Option<String> {
    let pos = inside.find(&format!("{name}="))?;
    let value = &inside[pos + name.len() + 1..];
    let quote = value.chars().next().filter(|q| *q == '"' || *q == '\'')?;
    let value = &value[1..];
    let end = value.find(quote)?;
    Some(unescape(&value[..end]))
}

fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '&'
            && let Some((decoded, used)) = entity(rest)
        {
            out.push(decoded);
            rest = &rest[used..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// Decodes the HTML entity at the start of `text` (which starts with `&`): the character and the
/// bytes it used. Telegram knows the named entities `lt`, `gt`, `amp`, `quot` and numeric ones;
/// anything else stays as literal text.
fn entity(text: &str) -> Option<(char, usize)> {
    let end = text.find(';').filter(|end| *end <= 10)?;
    let name = &text[1..end];
    let decoded = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((decoded, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_become_entities_with_utf16_offsets() {
        let parsed = parse("Привет, <b>Анна 👋</b> &lt;3 <i>x</i>").unwrap();
        assert_eq!(parsed.text, "Привет, Анна 👋 <3 x");
        assert_eq!(
            parsed.entities,
            vec![
                json!({"type": "bold", "offset": 8, "length": 7}),
                json!({"type": "italic", "offset": 19, "length": 1}),
            ]
        );
    }

    #[test]
    fn links_and_pre_with_language() {
        let parsed =
            parse(r#"<a href="https://e.x/?a=1&amp;b=2">go</a> <pre><code class="language-rust">x</code></pre>"#)
                .unwrap();
        assert_eq!(parsed.text, "go x");
        assert_eq!(
            parsed.entities,
            vec![
                json!({"type": "text_link", "url": "https://e.x/?a=1&b=2", "offset": 0, "length": 2}),
                json!({"type": "pre", "language": "rust", "offset": 3, "length": 1}),
            ]
        );
    }

    #[test]
    fn unescaped_user_text_is_refused_like_telegram_does() {
        let err = parse("Hello <script>").unwrap_err();
        assert_eq!(err, "Bad Request: can't parse entities: Unsupported start tag \"script\" at byte offset 6");
        assert!(parse("a < b").unwrap_err().contains("Unclosed start tag"));
        assert!(parse("<b>x").unwrap_err().contains("Can't find end tag corresponding to start tag \"b\""));
        assert!(parse("<b>x</i>").unwrap_err().contains("Unmatched end tag"));
        assert_eq!(parse("fish & chips").unwrap().text, "fish & chips");
    }
}

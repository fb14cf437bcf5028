//! YAML for `-o yaml` that YAML 1.1 readers (PyYAML, Ansible) read back as the same strings.
//!
//! serde_yaml_ng quotes only what YAML 1.2 would misread, and has no setting for more; so values go
//! through its `Value` and are written here, where a string is left plain only when no reader of either
//! version could take it for anything else (`yes`, `off`, `No`, `~`, `12:30`, `0755`, dates, `.inf`…).

use serde::Serialize;
use serde_yaml_ng::Value;

/// `data` as a block-style YAML document, laid out as serde_yaml_ng lays it out.
pub fn to_string<T: Serialize>(data: &T) -> Result<String, serde_yaml_ng::Error> {
    let mut out = String::new();
    block(&serde_yaml_ng::to_value(data)?, 0, &mut out);
    Ok(out)
}

/// Writes `value` from the start of a line, its entries at `indent`.
fn block(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Mapping(map) if !map.is_empty() => {
            for (key, value) in map {
                pad(indent, out);
                inline(key, out);
                out.push(':');
                after_key(value, indent, out);
            }
        }
        Value::Sequence(items) if !items.is_empty() => {
            for item in items {
                pad(indent, out);
                out.push('-');
                after_dash(item, indent, out);
            }
        }
        Value::Tagged(tagged) => {
            pad(indent, out);
            out.push_str(&tagged.tag.to_string());
            after_key(&tagged.value, indent, out);
        }
        scalar => {
            pad(indent, out);
            inline(scalar, out);
            out.push('\n');
        }
    }
}

/// What follows `key:`: a scalar on the same line, a mapping indented below, a sequence below at the key's indent.
fn after_key(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Mapping(map) if !map.is_empty() => {
            out.push('\n');
            block(value, indent + 2, out);
        }
        Value::Sequence(items) if !items.is_empty() => {
            out.push('\n');
            block(value, indent, out);
        }
        Value::Tagged(tagged) => {
            out.push(' ');
            out.push_str(&tagged.tag.to_string());
            after_key(&tagged.value, indent, out);
        }
        scalar => {
            out.push(' ');
            inline(scalar, out);
            out.push('\n');
        }
    }
}

/// What follows `-`: a collection starts on the dash's line (`- name: x`), indented past it.
fn after_dash(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Mapping(map) if !map.is_empty() => compact(value, indent + 2, out),
        Value::Sequence(items) if !items.is_empty() => compact(value, indent + 2, out),
        other => after_key(other, indent + 2, out),
    }
}

fn compact(value: &Value, indent: usize, out: &mut String) {
    let mut inner = String::new();
    block(value, indent, &mut inner);
    out.push(' ');
    out.push_str(&inner[indent..]);
}

/// A value on one line: a scalar, an empty collection, or a tagged scalar.
fn inline(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => string(s, out),
        Value::Sequence(_) => out.push_str("[]"),
        Value::Mapping(_) => out.push_str("{}"),
        Value::Tagged(tagged) => {
            out.push_str(&tagged.tag.to_string());
            out.push(' ');
            inline(&tagged.value, out);
        }
    }
}

fn pad(indent: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A string plain when that is unambiguous, otherwise double-quoted with escapes.
fn string(s: &str, out: &mut String) {
    if plain_is_safe(s) {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            // Controls, and the characters YAML 1.1 counts as line breaks or not printable.
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}') => {
                out.push_str(&format!("\\u{:04X}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The words YAML 1.1 reads as booleans or null, in any case (1.1 lists only some casings; quoting
/// the rest too costs nothing).
const WORDS: [&str; 9] = ["y", "n", "yes", "no", "on", "off", "true", "false", "null"];

/// Plain only when the string starts with a letter, `_` or `/` (so no number, date, time, `~`, `.inf`,
/// indicator or sign can begin it), holds only letters, digits and `_ . / @ + -` and inner spaces (so no
/// `: `, ` #` or flow character), and is none of the [`WORDS`].
fn plain_is_safe(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else { return false };
    (first.is_alphabetic() || first == '_' || first == '/')
        && chars.all(|c| c.is_alphanumeric() || " _./@+-".contains(c))
        && !s.ends_with(' ')
        && !WORDS.iter().any(|word| s.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn yaml<T: Serialize>(data: &T) -> String {
        to_string(data).unwrap()
    }

    #[test]
    fn words_and_numbers_a_yaml_1_1_reader_would_mistake_are_quoted() {
        let mistaken = [
            "yes",
            "Yes",
            "YES",
            "no",
            "No",
            "NO",
            "y",
            "Y",
            "n",
            "N",
            "on",
            "On",
            "off",
            "OFF",
            "true",
            "False",
            "null",
            "Null",
            "~",
            "",
            "12:30",
            "190:20:30",
            "0755",
            "0o17",
            "0x1F",
            "1_000",
            "1e3",
            "-1",
            "+1",
            ".5",
            ".inf",
            "-.inf",
            ".NaN",
            "2026-12-03",
            "2026-12-03T15:00:00Z",
            "=",
            "<<",
            "1.0",
        ];
        for word in mistaken {
            let text = yaml(&BTreeMap::from([("v", word)]));
            let quoted = format!("v: {}\n", serde_json::to_string(word).unwrap());
            assert_eq!(text, quoted, "{word:?}");
        }
    }

    #[test]
    fn ordinary_words_stay_plain() {
        for word in [
            "acme",
            "Europe/Moscow",
            "/var/lib/botctl",
            "botctl:0.1.0x",
            "a_bot",
            "tenant create",
            "Барбершоп",
            "yesterday",
        ] {
            let text = yaml(&BTreeMap::from([("v", word)]));
            let plain = !word.contains(':');
            assert_eq!(text == format!("v: {word}\n"), plain, "{word:?}: {text}");
        }
    }

    #[test]
    fn syntax_characters_and_controls_are_quoted_and_escaped() {
        for (raw, shown) in [
            ("a: b", r#""a: b""#),
            ("a #b", r#""a #b""#),
            ("- x", r#""- x""#),
            ("trailing ", r#""trailing ""#),
            ("line\nbreak", r#""line\nbreak""#),
            ("say \"hi\" \\ bye", r#""say \"hi\" \\ bye""#),
            ("bell\u{7}", r#""bell\u0007""#),
            ("sep\u{2028}x", r#""sep\u2028x""#),
            ("[flow]", r#""[flow]""#),
            ("*alias", r#""*alias""#),
        ] {
            assert_eq!(yaml(&BTreeMap::from([("v", raw)])), format!("v: {shown}\n"), "{raw:?}");
        }
    }

    #[test]
    fn layout_matches_serde_yaml_ng_for_nested_data() {
        #[derive(Serialize)]
        struct Item {
            name: &'static str,
            count: u32,
            tags: Vec<&'static str>,
            none: Option<u8>,
            empty: Vec<u8>,
        }
        #[derive(Serialize)]
        struct Doc {
            items: Vec<Item>,
            nested: BTreeMap<&'static str, BTreeMap<&'static str, f64>>,
            matrix: Vec<Vec<u8>>,
            flag: bool,
        }
        let doc = Doc {
            items: vec![
                Item { name: "acme", count: 2, tags: vec!["a", "b"], none: None, empty: vec![] },
                Item { name: "beta", count: 0, tags: vec![], none: Some(1), empty: vec![] },
            ],
            nested: BTreeMap::from([("limits", BTreeMap::from([("cpus", 0.5)]))]),
            matrix: vec![vec![1, 2], vec![3]],
            flag: true,
        };
        assert_eq!(yaml(&doc), serde_yaml_ng::to_string(&doc).unwrap());
    }

    #[test]
    fn enums_with_data_keep_their_tags() {
        #[derive(Serialize)]
        enum Change {
            Set { to: &'static str },
            Cleared,
        }
        let text = yaml(&vec![Change::Set { to: "off" }, Change::Cleared]);
        assert_eq!(text, "- !Set\n    to: \"off\"\n- Cleared\n");
        let back: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(back, serde_yaml_ng::to_value(vec![Change::Set { to: "off" }, Change::Cleared]).unwrap());
    }
}

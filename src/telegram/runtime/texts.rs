//! The texts catalogue machinery every bot speaks with: a bot declares its texts (`texts!`) as keys
//! with Russian and English defaults compiled in; a catalogue lays overrides (a tenant's own wording)
//! over them, and renders with placeholders filled and user-supplied values HTML-escaped.
//!
//! A text is one of five kinds (`Kind`): a message in Telegram HTML, or plain text for a fragment that
//! code puts into other texts (a date, "tomorrow"), a pop-up alert, a button label or a command
//! description. Each key declares its placeholders here; both locales and every override must use
//! exactly those, so a handler never renders a text that expects a value it does not pass.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use arc_swap::ArcSwap;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use crate::locale::Locale;

/// What a text is used for, which decides its format and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A message: Telegram HTML with only `<b>`, `<i>`, `<u>`, `<s>`, `<code>` and `<a href>`.
    Html,
    /// Plain text, one line, that code puts into another text or onto a button: a date, a duration.
    Fragment,
    /// A pop-up answer to a pressed button (answerCallbackQuery): plain, no placeholders, ≤ 200 characters.
    Alert,
    /// A button label, a day or month name: plain, one line, no placeholders, ≤ 64 bytes.
    Label,
    /// A command description for setMyCommands: plain, one line, no placeholders, ≤ 256 characters.
    Command,
}

/// One text of a bot's catalogue. Implemented by `texts!`, which declares a bot's texts; `key()` is a
/// text's name in the YAML files (and in a tenant's overrides).
pub trait TextKey: Copy + Eq + std::hash::Hash + fmt::Debug + Send + Sync + 'static {
    /// Every text, in declaration order (`ALL[t.index()] == t`).
    const ALL: &'static [Self];
    /// Labels of reply-keyboard buttons. Pressing one sends its label as a message, and handlers tell
    /// the buttons apart by that text, so no two of them may read the same.
    const REPLY_BUTTONS: &'static [Self];
    fn index(self) -> usize;
    fn key(self) -> &'static str;
    fn from_key(key: &str) -> Option<Self>;
    fn kind(self) -> Kind;
    /// The placeholders the text uses (each of them, in every locale and override), which `render`
    /// expects values for.
    fn params(self) -> &'static [&'static str];
    /// Whether an override may reword it.
    fn editable(self) -> bool;
    /// The defaults of a locale as compiled into the binary: one flat YAML map.
    fn embedded_yaml(locale: Locale) -> &'static str;
    /// The defaults of a locale, parsed once per process.
    fn defaults(locale: Locale) -> &'static Catalog<Self>;
}

/// Declares a bot's texts: where its defaults are, which texts may be overridden, which are reply
/// buttons, then each text's variant, kind, key and placeholders, in catalogue order. Makes the `Text`
/// enum and its `TextKey`.
#[macro_export]
macro_rules! texts {
    (
        yaml: $yaml:path,
        editable: $editable:path,
        reply_buttons: $buttons:expr;
        $($variant:ident: $kind:ident = $key:literal $({ $($param:ident),+ })?;)+
    ) => {
        /// One text of the catalogue; `key()` is its name in the YAML files.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Text {
            $($variant,)+
        }

        impl Text {
            /// Every text, in declaration order (`ALL[i] as usize == i`).
            pub const ALL: &'static [Text] = &[$(Text::$variant,)+];

            pub fn key(self) -> &'static str {
                match self {
                    $(Text::$variant => $key,)+
                }
            }

            pub fn from_key(key: &str) -> Option<Text> {
                match key {
                    $($key => Some(Text::$variant),)+
                    _ => None,
                }
            }

            pub fn kind(self) -> $crate::telegram::runtime::texts::Kind {
                match self {
                    $(Text::$variant => $crate::telegram::runtime::texts::Kind::$kind,)+
                }
            }

            pub fn params(self) -> &'static [&'static str] {
                match self {
                    $(Text::$variant => &[$($(stringify!($param)),+)?],)+
                }
            }
        }

        impl $crate::telegram::runtime::texts::TextKey for Text {
            const ALL: &'static [Text] = Text::ALL;
            const REPLY_BUTTONS: &'static [Text] = $buttons;

            fn index(self) -> usize {
                self as usize
            }

            fn key(self) -> &'static str {
                Text::key(self)
            }

            fn from_key(key: &str) -> Option<Text> {
                Text::from_key(key)
            }

            fn kind(self) -> $crate::telegram::runtime::texts::Kind {
                Text::kind(self)
            }

            fn params(self) -> &'static [&'static str] {
                Text::params(self)
            }

            fn editable(self) -> bool {
                $editable(self)
            }

            fn embedded_yaml(locale: $crate::locale::Locale) -> &'static str {
                $yaml(locale)
            }

            fn defaults(locale: $crate::locale::Locale) -> &'static $crate::telegram::runtime::texts::Catalog<Text> {
                use $crate::telegram::runtime::texts::Catalog;
                // Compile-time constants shared by every chat: parsed once per process rather than
                // threaded through as state.
                static RU: std::sync::LazyLock<Catalog<Text>> =
                    std::sync::LazyLock::new(|| Catalog::embedded($crate::locale::Locale::Ru));
                static EN: std::sync::LazyLock<Catalog<Text>> =
                    std::sync::LazyLock::new(|| Catalog::embedded($crate::locale::Locale::En));
                match locale {
                    $crate::locale::Locale::Ru => &RU,
                    $crate::locale::Locale::En => &EN,
                }
            }
        }

        /// Every bot's catalogue is checked alike: both embedded files parse, with every key declared
        /// here and nothing else.
        #[cfg(test)]
        #[test]
        fn embedded_texts_parse_completely_in_both_locales() {
            for locale in [$crate::locale::Locale::Ru, $crate::locale::Locale::En] {
                let catalog = $crate::telegram::runtime::texts::Catalog::<Text>::parse_embedded(locale)
                    .unwrap_or_else(|e| panic!("{locale}: {e:?}"));
                assert_eq!(catalog.locale(), locale);
            }
        }
    };
}

// Telegram's limits: a message holds 4096 characters, a callback answer 200, a command description 256.
// Button labels have no documented limit; 64 bytes keeps them readable on a phone.
pub(crate) const MAX_MESSAGE_CHARS: usize = 4096;
pub(crate) const MAX_ALERT_CHARS: usize = 200;
pub(crate) const MAX_COMMAND_CHARS: usize = 256;
pub(crate) const MAX_LABEL_BYTES: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error("cannot parse the embedded {locale} texts")]
    Parse {
        locale: Locale,
        #[source]
        source: serde_yaml_ng::Error,
    },
    #[error("unknown text key `{key}`")]
    UnknownKey { key: String },
    #[error("the {locale} texts lack `{key}`")]
    MissingKey { locale: Locale, key: &'static str },
    #[error("text `{key}` is given twice")]
    DuplicateKey { key: &'static str },
    #[error("text `{key}` must use the placeholders {expected}, but uses {found}")]
    Placeholders { key: &'static str, expected: String, found: String },
    #[error("text `{key}` is not valid Telegram HTML: {detail}")]
    Html { key: &'static str, detail: String },
    /// Braces, emptiness, length, line breaks or markup where plain text belongs.
    #[error("text `{key}` {detail}")]
    Invalid { key: &'static str, detail: String },
}

/// One locale's texts of a bot, defaults or overrides laid over them.
#[derive(Debug, Clone)]
pub struct Catalog<T> {
    locale: Locale,
    /// Indexed by `TextKey::index`; always one entry per `T::ALL`.
    entries: Vec<Entry>,
    texts: PhantomData<fn() -> T>,
}

/// A text split into lines of literal text and placeholders, ready to render.
#[derive(Debug, Clone)]
struct Entry {
    /// The text with `{{`/`}}` undone: what a text without placeholders shows.
    raw: String,
    lines: Vec<Vec<Piece>>,
}

#[derive(Debug, Clone)]
enum Piece {
    Literal(String),
    Param(String),
}

impl<T: TextKey> Catalog<T> {
    /// The built-in texts of a locale.
    pub fn defaults(locale: Locale) -> &'static Catalog<T> {
        T::defaults(locale)
    }

    /// This catalogue with a tenant's own wording for some keys. Each override must name a known key,
    /// use the same placeholders as the default and follow its kind's format; the first fault is the
    /// error and nothing is applied.
    pub fn with_overrides(&self, overrides: &[(String, String)]) -> Result<Catalog<T>, TextError> {
        let mut catalog = self.clone();
        let mut seen = HashSet::new();
        for (key, source) in overrides {
            let text =
                T::from_key(key).filter(|t| t.editable()).ok_or_else(|| TextError::UnknownKey { key: key.clone() })?;
            if !seen.insert(text) {
                return Err(TextError::DuplicateKey { key: text.key() });
            }
            catalog.entries[text.index()] = Entry::compile(text, source)?;
        }
        catalog.check_reply_buttons()?;
        Ok(catalog)
    }

    pub fn locale(&self) -> Locale {
        self.locale
    }

    /// The text as Telegram HTML, with each `{name}` replaced by its HTML-escaped value. A line whose
    /// placeholders all get empty values is left out (an unset address leaves no bare "📍"), and the
    /// blank lines around it collapse into one. A placeholder without a value renders as empty and is
    /// logged: it is a bug in the caller, which tests catch, not a reason to fail a reply.
    pub fn render(&self, text: T, params: &[(&str, &str)]) -> String {
        self.fill(text, params, true)
    }

    /// The text as plain text with values as given, for the plain kinds: a fragment that goes into
    /// another text as a value (and is escaped there), or a label with a number. An HTML text's markup
    /// would come out as written.
    pub fn render_plain(&self, text: T, params: &[(&str, &str)]) -> String {
        self.fill(text, params, false)
    }

    /// The form of a counted fragment that agrees with `n` in this language ("через 1 час",
    /// "через 2 часа", "через 5 часов"), as plain text with `{n}` filled in. `forms` are the one, few
    /// and many variants, such as `Text::IN_HOURS`.
    pub fn render_count(&self, forms: [T; 3], n: u64) -> String {
        let [one, few, many] = forms;
        let form = match plural(self.locale, n) {
            Plural::One => one,
            Plural::Few => few,
            Plural::Many => many,
        };
        self.render_plain(form, &[("n", &n.to_string())])
    }

    /// The text as written, for button labels and other texts without placeholders or markup.
    pub fn raw(&self, text: T) -> &str {
        &self.entries[text.index()].raw
    }

    /// The defaults compiled in; for `TextKey::defaults`, which keeps them.
    pub fn embedded(locale: Locale) -> Catalog<T> {
        Catalog::parse_embedded(locale).unwrap_or_else(|e| {
            // Unreachable in a tested build (the tests parse both files); the keys at least say what
            // each reply was meant to be.
            tracing::error!(error = %e, "the embedded texts are broken; showing text keys instead");
            Catalog::keys_only(locale)
        })
    }

    pub(crate) fn parse_embedded(locale: Locale) -> Result<Catalog<T>, TextError> {
        Catalog::from_yaml(locale, T::embedded_yaml(locale))
    }

    /// A complete catalogue from a YAML map: every key present, none unknown, each valid.
    pub(crate) fn from_yaml(locale: Locale, yaml: &str) -> Result<Catalog<T>, TextError> {
        let map = deserialize(yaml).map_err(|source| TextError::Parse { locale, source })?;
        if let Some(key) = map.keys().find(|key| T::from_key(key).is_none()) {
            return Err(TextError::UnknownKey { key: key.clone() });
        }
        let entries = T::ALL
            .iter()
            .map(|&text| {
                let source = map.get(text.key()).ok_or(TextError::MissingKey { locale, key: text.key() })?;
                Entry::compile(text, source)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let catalog = Catalog { locale, entries, texts: PhantomData };
        catalog.check_reply_buttons()?;
        Ok(catalog)
    }

    /// Whether `source` would be accepted as the business's wording for `text` (by `with_overrides`, with
    /// this catalogue's other texts as they are): the admin panel checks an edit before saving it.
    pub fn check(&self, text: T, source: &str) -> Result<(), TextError> {
        self.with_overrides(&[(text.key().to_string(), source.to_string())]).map(drop)
    }

    pub(crate) fn keys_only(locale: Locale) -> Catalog<T> {
        let entries = T::ALL
            .iter()
            .map(|text| Entry {
                raw: text.key().to_string(),
                lines: vec![vec![Piece::Literal(text.key().to_string())]],
            })
            .collect();
        Catalog { locale, entries, texts: PhantomData }
    }

    /// The placeholders the text, as this catalogue has it, uses.
    #[cfg(test)]
    pub(crate) fn placeholders(&self, text: T) -> BTreeSet<&str> {
        self.entries[text.index()].lines.iter().flatten().filter_map(Piece::param).collect()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn check_reply_buttons(&self) -> Result<(), TextError> {
        for (i, &text) in T::REPLY_BUTTONS.iter().enumerate() {
            if let Some(&twin) = T::REPLY_BUTTONS[..i].iter().find(|&&other| self.raw(other) == self.raw(text)) {
                let detail = format!("reads the same as `{}`, so the bot could not tell the buttons apart", twin.key());
                return Err(TextError::Invalid { key: text.key(), detail });
            }
        }
        Ok(())
    }

    fn fill(&self, text: T, params: &[(&str, &str)], html: bool) -> String {
        // A plain text's own characters need escaping too once it goes out as HTML.
        let escape_literals = html && text.kind() != Kind::Html;
        let push = |out: &mut String, s: &str, escape: bool| {
            if escape {
                out.push_str(&escape_html(s));
            } else {
                out.push_str(s);
            }
        };
        let mut lines = Vec::new();
        for line in &self.entries[text.index()].lines {
            let mut rendered = String::new();
            let (mut has_param, mut has_value) = (false, false);
            for piece in line {
                match piece {
                    Piece::Literal(s) => push(&mut rendered, s, escape_literals),
                    Piece::Param(name) => {
                        has_param = true;
                        let value = match params.iter().find(|(k, _)| *k == name.as_str()) {
                            Some((_, value)) => *value,
                            None => {
                                tracing::warn!(key = text.key(), placeholder = %name, "no value for a placeholder");
                                ""
                            }
                        };
                        has_value |= !value.trim().is_empty();
                        push(&mut rendered, value, html);
                    }
                }
            }
            if !has_param || has_value {
                lines.push(rendered);
            }
        }
        join_lines(&lines)
    }
}

/// Joins lines, leaving out blank lines at either end and keeping one of each run of blank lines.
fn join_lines(lines: &[String]) -> String {
    let mut out = String::new();
    let mut blank_before = false;
    for line in lines {
        if line.trim().is_empty() {
            blank_before = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_before { "\n\n" } else { "\n" });
        }
        blank_before = false;
        out.push_str(line);
    }
    out
}

/// The catalogue a running bot speaks with: overrides over the defaults (a tenant's wording), replaced
/// whole when they change (an admin saves or resets a text), so the next message already uses it.
pub struct LiveCatalog<T>(ArcSwap<Catalog<T>>);

impl<T: TextKey> LiveCatalog<T> {
    pub fn new(catalog: Catalog<T>) -> Arc<LiveCatalog<T>> {
        Arc::new(LiveCatalog(ArcSwap::from_pointee(catalog)))
    }

    pub fn get(&self) -> Arc<Catalog<T>> {
        self.0.load_full()
    }

    pub fn replace(&self, catalog: Catalog<T>) {
        self.0.store(Arc::new(catalog));
    }
}

#[allow(clippy::disallowed_methods)] // the embedded defaults are compiled in, not operator files
pub(crate) fn deserialize(yaml: &str) -> Result<BTreeMap<String, String>, serde_yaml_ng::Error> {
    serde_yaml_ng::from_str::<Texts>(yaml).map(|texts| texts.0)
}

/// A texts file's map. A plain map would keep the last of two equal keys without a word, so that an
/// edit to the first one would silently change nothing.
struct Texts(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Texts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(TextsVisitor)
    }
}

struct TextsVisitor;

impl<'de> Visitor<'de> for TextsVisitor {
    type Value = Texts;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map from text keys to texts")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Texts, A::Error> {
        let mut texts = BTreeMap::new();
        while let Some((key, text)) = map.next_entry::<String, String>()? {
            if texts.contains_key(&key) {
                return Err(de::Error::custom(format_args!("`{key}` is given twice")));
            }
            texts.insert(key, text);
        }
        Ok(Texts(texts))
    }
}

impl Entry {
    /// Checks a text against its key's placeholders and kind, and splits it for rendering. Surrounding
    /// whitespace is dropped: YAML block scalars and database values often end in a newline.
    fn compile<T: TextKey>(text: T, source: &str) -> Result<Entry, TextError> {
        let key = text.key();
        let invalid = |detail: &str| TextError::Invalid { key, detail: detail.to_string() };
        let source = source.trim();
        if source.is_empty() {
            return Err(invalid("is empty"));
        }
        let lines = source.lines().map(pieces).collect::<Result<Vec<_>, _>>().map_err(|e| invalid(&e))?;

        let found: BTreeSet<&str> = lines.iter().flatten().filter_map(Piece::param).collect();
        let expected: BTreeSet<&str> = text.params().iter().copied().collect();
        if found != expected {
            return Err(TextError::Placeholders { key, expected: list(&expected), found: list(&found) });
        }

        let kind = text.kind();
        if kind == Kind::Html {
            let html = |detail: String| TextError::Html { key, detail };
            check_html(source).map_err(html)?;
            // A line left out for lack of values must not take half of a tag pair with it.
            let with_params =
                source.lines().zip(&lines).filter(|(_, pieces)| pieces.iter().any(|p| p.param().is_some()));
            for (line, _) in with_params {
                check_html(line).map_err(|detail| {
                    html(format!(
                        "{detail} on the line `{line}`: a line with placeholders must close the tags it opens"
                    ))
                })?;
            }
        } else {
            if source.contains(['<', '>']) {
                return Err(invalid("is plain text, so it cannot contain `<` or `>`"));
            }
            if kind != Kind::Alert && lines.len() > 1 {
                return Err(invalid("must be one line"));
            }
        }
        let chars = source.chars().count();
        let limit = match kind {
            Kind::Html => Some((chars, MAX_MESSAGE_CHARS, "characters")),
            Kind::Alert => Some((chars, MAX_ALERT_CHARS, "characters")),
            Kind::Command => Some((chars, MAX_COMMAND_CHARS, "characters")),
            Kind::Label => Some((source.len(), MAX_LABEL_BYTES, "bytes")),
            Kind::Fragment => None,
        };
        if let Some((length, max, unit)) = limit
            && length > max
        {
            return Err(invalid(&format!("is longer than Telegram allows here ({max} {unit})")));
        }

        let raw = lines
            .iter()
            .map(|line| {
                let source = |piece: &Piece| match piece {
                    Piece::Literal(s) => s.clone(),
                    Piece::Param(name) => format!("{{{name}}}"),
                };
                line.iter().map(source).collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n");
        Ok(Entry { raw, lines })
    }
}

/// Whether `source` is a valid text for `text`, whether or not it may be overridden.
#[cfg(test)]
pub(crate) fn compile_check<T: TextKey>(text: T, source: &str) -> Result<(), TextError> {
    Entry::compile(text, source).map(drop)
}

impl Piece {
    fn param(&self) -> Option<&str> {
        match self {
            Piece::Param(name) => Some(name),
            Piece::Literal(_) => None,
        }
    }
}

/// Splits one line into literal text and `{name}` placeholders; `{{` and `}}` are literal braces.
fn pieces(line: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) if c.is_ascii_alphanumeric() || c == '_' => name.push(c),
                        _ => {
                            let detail =
                                "has a `{` that does not start a placeholder such as {name}; write `{{` for a brace";
                            return Err(detail.to_string());
                        }
                    }
                }
                if name.is_empty() {
                    return Err("has an empty placeholder `{}`".to_string());
                }
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Param(name));
            }
            '}' => return Err("has a `}` that closes no placeholder; write `}}` for a brace".to_string()),
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

/// `{a}, {b}` or `none`, for error messages.
fn list(names: &BTreeSet<&str>) -> String {
    if names.is_empty() {
        return "none".to_string();
    }
    names.iter().map(|name| format!("{{{name}}}")).collect::<Vec<_>>().join(", ")
}

/// Checks text against the HTML subset this bot sends: `<b>`, `<i>`, `<u>`, `<s>`, `<code>` and `<a href="…">`,
/// balanced and nested the way Telegram accepts, and `&`, `<`, `>` only as entities outside tags.
pub(crate) fn check_html(text: &str) -> Result<(), String> {
    let mut open: Vec<&str> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(['<', '>', '&']) {
        let tail = &rest[at..];
        if tail.starts_with('>') {
            return Err("a bare `>`: write &gt;".to_string());
        }
        if let Some(after) = tail.strip_prefix('&') {
            let entity = after.split_once(';').map(|(name, _)| name).filter(|name| is_entity(name));
            let Some(name) = entity else {
                return Err(
                    "a bare `&`: write &amp; (Telegram knows only &amp; &lt; &gt; &quot; and &#NN;)".to_string()
                );
            };
            rest = &tail[name.len() + 2..];
            continue;
        }
        let Some(end) = tail.find('>') else {
            return Err("a `<` that starts no tag: write &lt;".to_string());
        };
        let tag = &tail[1..end];
        if let Some(name) = tag.strip_prefix('/') {
            match open.pop() {
                Some(top) if top == name => {}
                Some(top) => return Err(format!("</{name}> where </{top}> is due")),
                None => return Err(format!("</{name}> closes no tag")),
            }
        } else {
            let name = tag_name(tag)?;
            if open.contains(&"code") {
                return Err(format!("<{name}> inside <code>, which holds plain text only"));
            }
            if name == "a" && open.contains(&"a") {
                return Err("a link inside a link".to_string());
            }
            if name == "code" && open.contains(&"a") {
                return Err("<code> inside a link".to_string());
            }
            open.push(name);
        }
        rest = &tail[end + 1..];
    }
    match open.last() {
        Some(top) => Err(format!("<{top}> is not closed")),
        None => Ok(()),
    }
}

/// The name of an allowed opening tag; a link takes exactly one double-quoted, non-empty href.
fn tag_name(tag: &str) -> Result<&'static str, String> {
    match tag {
        "b" => Ok("b"),
        "i" => Ok("i"),
        "u" => Ok("u"),
        "s" => Ok("s"),
        "code" => Ok("code"),
        _ if tag.starts_with("a ") => {
            let href = tag[2..].trim().strip_prefix("href=\"").and_then(|v| v.strip_suffix('"'));
            match href {
                Some(url) if !url.is_empty() && !url.contains('"') => Ok("a"),
                _ => Err(format!("<{tag}>: write a link as <a href=\"…\">")),
            }
        }
        _ => Err(format!("<{tag}> is not allowed: use <b>, <i>, <u>, <s>, <code> or <a href=\"…\">")),
    }
}

fn is_entity(name: &str) -> bool {
    let numeric =
        |digits: &str, radix: u32| !digits.is_empty() && digits.len() <= 7 && digits.chars().all(|c| c.is_digit(radix));
    match name.strip_prefix('#') {
        Some(code) => match code.strip_prefix(['x', 'X']) {
            Some(hex) => numeric(hex, 16),
            None => numeric(code, 10),
        },
        None => matches!(name, "amp" | "lt" | "gt" | "quot"),
    }
}

/// Escapes text for Telegram HTML: `&`, `<` and `>`, and `"` so that the result is also safe inside
/// an attribute such as a link's href.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

enum Plural {
    One,
    Few,
    Many,
}

/// CLDR's cardinal rules for integers: Russian 1, 21, 101 → one; 2–4, 22–24 → few; the rest many.
/// English has only one and other, which the catalogue writes as its `many` form.
fn plural(locale: Locale, n: u64) -> Plural {
    match locale {
        Locale::Ru => match (n % 10, n % 100) {
            (1, h) if h != 11 => Plural::One,
            (2..=4, h) if !(12..=14).contains(&h) => Plural::Few,
            _ => Plural::Many,
        },
        Locale::En if n == 1 => Plural::One,
        Locale::En => Plural::Many,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_html_escapes_the_four_specials() {
        assert_eq!(escape_html(r#"<a href="x">&</a>"#), "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
    }

    #[test]
    fn html_is_checked_against_what_telegram_accepts() {
        assert!(check_html("<b>a</b> &amp; <a href=\"https://x\">l</a>").is_ok());
        assert!(check_html("<b>a").is_err());
        assert!(check_html("a & b").is_err());
        assert!(check_html("<script>").is_err());
        assert!(check_html("<code><b>x</b></code>").is_err());
    }
}

//! `BotToken`: a Telegram bot token that never reaches output, logs or errors.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// `<bot id>:<secret>`, as BotFather issues it. `Display` and `Debug` show only the bot id.
#[derive(Clone, PartialEq, Eq)]
pub struct BotToken {
    token: String,
    bot_id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this is not a Telegram bot token: expected `<bot id>:<secret>` as BotFather gives it \
     (digits, a colon, then 30-50 letters, digits, `_` or `-`)"
)]
pub struct TokenShapeError;

impl FromStr for BotToken {
    type Err = TokenShapeError;

    fn from_str(s: &str) -> Result<Self, TokenShapeError> {
        let s = s.trim();
        let (id, secret) = s.split_once(':').ok_or(TokenShapeError)?;
        let id_ok = (5..=15).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit());
        let secret_ok = (30..=50).contains(&secret.len())
            && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !id_ok || !secret_ok {
            return Err(TokenShapeError);
        }
        let bot_id = id.parse().map_err(|_| TokenShapeError)?;
        Ok(Self { token: s.to_string(), bot_id })
    }
}

impl BotToken {
    /// The bot's numeric id, which is public (it is the part before the colon).
    pub fn bot_id(&self) -> i64 {
        self.bot_id
    }

    /// A short, stable fingerprint for telling tokens apart without showing them.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.token.as_bytes());
        digest[..6].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The secret itself, for the Bot API request and the tenant's container only.
    pub fn expose(&self) -> &str {
        &self.token
    }
}

impl fmt::Display for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:***", self.bot_id)
    }
}

impl fmt::Debug for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BotToken({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

    #[test]
    fn valid_tokens_parse_and_never_display_the_secret() {
        let token: BotToken = TOKEN.parse().unwrap();
        assert_eq!(token.bot_id(), 123_456_789);
        assert_eq!(token.to_string(), "123456789:***");
        assert!(!format!("{token:?}").contains("AAHd"));
        assert_eq!(token.fingerprint().len(), 12);
        assert_eq!(token.expose(), TOKEN);
    }

    #[test]
    fn malformed_tokens_are_refused_without_echoing_them() {
        for bad in [
            "",
            "abc",
            "123456789",
            "123456789:",
            "12:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
            "123456789:short",
            "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PAL sa",
            "x23456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        ] {
            let err = bad.parse::<BotToken>().unwrap_err().to_string();
            assert!(bad.len() < 12 || !err.contains(bad), "{err}");
        }
    }

    #[test]
    fn fingerprints_differ_between_tokens() {
        let a: BotToken = TOKEN.parse().unwrap();
        let b: BotToken = "123456789:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw".parse().unwrap();
        assert_ne!(a.fingerprint(), b.fingerprint());
    }
}

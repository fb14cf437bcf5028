//! A snapshot of the process environment, taken once: the only place botctl reads variables.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The environment as botctl sees it; tests build one from pairs instead of mutating the process.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    #[allow(clippy::disallowed_methods)] // this is the one sanctioned reader of the environment
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self { vars: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }

    /// A variable's value; set-but-empty counts as unset, as most Unix tools treat it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    pub fn path(&self, name: &str) -> Option<PathBuf> {
        self.get(name).map(PathBuf::from)
    }

    /// `$XDG_CONFIG_HOME`, or `~/.config` as the XDG base-directory spec defaults it.
    pub fn config_home(&self) -> Option<PathBuf> {
        self.path("XDG_CONFIG_HOME").or_else(|| Some(self.path("HOME")?.join(".config")))
    }

    /// `$XDG_DATA_HOME`, or `~/.local/share` as the XDG base-directory spec defaults it.
    pub fn data_home(&self) -> Option<PathBuf> {
        self.path("XDG_DATA_HOME").or_else(|| Some(self.path("HOME")?.join(".local/share")))
    }
}

//! Where a tenant's archives are, and which of them retention keeps.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use serde::Serialize;

/// Milliseconds, so two backups within a second do not collide; UTC, so names sort by time.
const STAMP: &str = "%Y%m%dT%H%M%S%3fZ";

/// `<slug>-<UTC time>.tar.zst`.
pub fn archive_name(slug: &str, created_at: DateTime<Utc>) -> String {
    format!("{slug}-{}.tar.zst", created_at.format(STAMP))
}

/// An archive found on disk.
#[derive(Debug, Clone, Serialize)]
pub struct Stored {
    pub path: PathBuf,
    pub created_at: DateTime<Utc>,
    pub size: u64,
}

/// A tenant's archives in `dir` (files named by [`archive_name`]), newest first. A missing directory
/// has none; other files are not archives and are left alone.
pub fn list(dir: &Path, slug: &str) -> std::io::Result<Vec<Stored>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut stored = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let stamp = name.strip_prefix(slug).and_then(|n| n.strip_prefix('-')).and_then(|n| n.strip_suffix(".tar.zst"));
        let Some(created_at) = stamp.and_then(|s| NaiveDateTime::parse_from_str(s, STAMP).ok()) else { continue };
        stored.push(Stored { path: entry.path(), created_at: created_at.and_utc(), size: entry.metadata()?.len() });
    }
    stored.sort_by_key(|s| std::cmp::Reverse(s.created_at));
    Ok(stored)
}

/// What retention keeps: the newest `last`, and those younger than `within`. With neither, all.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep {
    pub last: Option<usize>,
    pub within: Option<TimeDelta>,
}

/// The archives `keep` lets go, from `stored` newest first. The newest is always kept.
pub fn prune<'a>(stored: &'a [Stored], keep: &Keep, now: DateTime<Utc>) -> Vec<&'a Stored> {
    if keep.last.is_none() && keep.within.is_none() {
        return Vec::new();
    }
    stored
        .iter()
        .enumerate()
        .filter(|(i, s)| {
            let by_count = keep.last.is_some_and(|n| *i < n.max(1));
            let by_age = keep.within.is_some_and(|d| now - s.created_at < d);
            !(*i == 0 || by_count || by_age)
        })
        .map(|(_, s)| s)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days_ago: i64) -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2030, 1, 31, 3, 0, 0).unwrap() - TimeDelta::days(days_ago)
    }

    #[test]
    fn names_sort_and_parse_back_and_other_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        for days in [3, 1, 2] {
            std::fs::write(dir.path().join(archive_name("acme", at(days))), b"x").unwrap();
        }
        std::fs::write(dir.path().join("acme-notes.txt"), b"x").unwrap();
        std::fs::write(dir.path().join(archive_name("acme_two", at(0))), b"x").unwrap();
        let found: Vec<DateTime<Utc>> = list(dir.path(), "acme").unwrap().into_iter().map(|s| s.created_at).collect();
        assert_eq!(found, [at(1), at(2), at(3)]);
        assert!(list(&dir.path().join("missing"), "acme").unwrap().is_empty());
    }

    #[test]
    fn retention_keeps_the_newest_n_or_those_within_the_age() {
        let stored: Vec<Stored> =
            (0..6).map(|d| Stored { path: format!("{d}").into(), created_at: at(d), size: 1 }).collect();
        let pruned = |keep: Keep| prune(&stored, &keep, at(0)).iter().map(|s| s.created_at).collect::<Vec<_>>();
        assert_eq!(pruned(Keep { last: Some(3), within: None }), [at(3), at(4), at(5)]);
        assert_eq!(pruned(Keep { last: None, within: Some(TimeDelta::days(2)) }), [at(2), at(3), at(4), at(5)]);
        assert_eq!(pruned(Keep { last: Some(1), within: Some(TimeDelta::days(4)) }), [at(4), at(5)]);
        assert_eq!(pruned(Keep { last: Some(0), within: None }).len(), 5, "the newest always stays");
        assert!(pruned(Keep::default()).is_empty());
    }
}

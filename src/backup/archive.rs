//! Writing and reading one archive. Tables are held in memory while an archive is written or read: a
//! tar entry needs its size up front, and a tenant's data is megabytes, not gigabytes.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::manifest::{FORMAT, Manifest, TableFile, sha256};

const MANIFEST: &str = "manifest.json";
const MANIFEST_SUM: &str = "manifest.sha256";
/// zstd's default level: most of the gain for little time.
const LEVEL: i32 = 3;

/// Why an archive was refused: the file, and the check that failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{path}: cannot read it: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a complete zstd-compressed tar (truncated or not a botctl archive): {detail}")]
    Damaged { path: PathBuf, detail: String },
    #[error("{path}: not a botctl backup archive: it has no {MANIFEST}")]
    Foreign { path: PathBuf },
    #[error("{path}: {check} failed: {detail}")]
    Check { path: PathBuf, check: &'static str, detail: String },
}

/// An archive's contents, checked.
#[derive(Debug)]
pub struct Archive {
    pub manifest: Manifest,
    /// Each table's CSV, by table name.
    pub tables: BTreeMap<String, Vec<u8>>,
    /// Of the archive file itself, as the control plane records it.
    pub sha256: String,
}

/// Where an archive went.
#[derive(Debug, Clone)]
pub struct Written {
    pub path: PathBuf,
    pub size: u64,
    /// Of the archive file itself.
    pub sha256: String,
}

/// Writes `manifest` and its tables' CSV (each `(table, rows, csv)`, in load order) as
/// `dir/name`: first under a hidden temporary name, synced, then renamed, and the directory synced,
/// so a crash leaves either nothing or the whole archive. The directory is made owner-only when
/// missing; the archive is owner-only.
pub fn write(
    dir: &Path,
    name: &str,
    mut manifest: Manifest,
    tables: Vec<(String, u64, Vec<u8>)>,
) -> std::io::Result<Written> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let path = dir.join(name);
    let partial = dir.join(format!(".{name}.partial"));
    let result = (|| {
        let file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&partial)?;
        let mut encoder = zstd::Encoder::new(file, LEVEL)?;
        // zstd's own checksum of everything: a flipped byte anywhere, tar padding included, fails to read.
        encoder.include_checksum(true)?;
        let mut tar = tar::Builder::new(encoder);
        manifest.format = FORMAT;
        manifest.tables.clear();
        for (table, rows, csv) in &tables {
            let file = format!("tables/{table}.csv");
            append(&mut tar, &file, csv)?;
            manifest.tables.push(TableFile {
                table: table.clone(),
                file,
                rows: *rows,
                bytes: csv.len() as u64,
                sha256: sha256(csv),
            });
        }
        let json = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
        append(&mut tar, MANIFEST, &json)?;
        append(&mut tar, MANIFEST_SUM, format!("{}  {MANIFEST}\n", sha256(&json)).as_bytes())?;
        let file = tar.into_inner()?.finish()?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&partial, &path)?;
        File::open(dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    let bytes = std::fs::read(&path)?;
    Ok(Written { path, size: bytes.len() as u64, sha256: sha256(&bytes) })
}

fn append<W: Write>(tar: &mut tar::Builder<W>, name: &str, data: &[u8]) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, name, data)
}

/// Reads an archive and checks everything it says about itself: the manifest's checksum, each table's
/// presence, size, sha256 and row count. Nothing it holds is trusted before that.
pub fn read(path: &Path) -> Result<Archive, ArchiveError> {
    let io = |source| ArchiveError::Io { path: path.to_path_buf(), source };
    let damaged = |e: std::io::Error| ArchiveError::Damaged { path: path.to_path_buf(), detail: e.to_string() };
    let check = |check, detail: String| ArchiveError::Check { path: path.to_path_buf(), check, detail };
    // Read whole, so that the file's own sha256 comes from the same bytes as its contents.
    let bytes = std::fs::read(path).map_err(io)?;
    let mut entries = BTreeMap::new();
    let mut tar = tar::Archive::new(zstd::Decoder::new(bytes.as_slice()).map_err(io)?);
    for entry in tar.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let name = entry.path().map_err(damaged)?.to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(damaged)?;
        entries.insert(name, data);
    }
    // Through to the end of the zstd frame, where its checksum is checked: tar stops reading at its
    // end-of-archive blocks, and a change past them would otherwise go unseen.
    std::io::copy(&mut tar.into_inner(), &mut std::io::sink()).map_err(damaged)?;
    let json = entries.remove(MANIFEST).ok_or_else(|| ArchiveError::Foreign { path: path.to_path_buf() })?;
    let sum = entries.remove(MANIFEST_SUM).ok_or_else(|| check("manifest checksum", format!("no {MANIFEST_SUM}")))?;
    let expected = String::from_utf8_lossy(&sum).split_whitespace().next().unwrap_or_default().to_string();
    if sha256(&json) != expected {
        return Err(check("manifest checksum", format!("{MANIFEST} does not match {MANIFEST_SUM}")));
    }
    let manifest: Manifest =
        serde_json::from_slice(&json).map_err(|e| check("manifest", format!("{MANIFEST} is not readable: {e}")))?;
    if manifest.format != FORMAT {
        return Err(check("format", format!("archive format {} is not this botctl's ({FORMAT})", manifest.format)));
    }
    let mut tables = BTreeMap::new();
    for t in &manifest.tables {
        let data = entries.remove(&t.file).ok_or_else(|| check("contents", format!("{} is missing", t.file)))?;
        if data.len() as u64 != t.bytes || sha256(&data) != t.sha256 {
            return Err(check("table checksum", format!("{} does not match its sha256 in the manifest", t.file)));
        }
        let rows = count_rows(&data).map_err(|e| check("table rows", format!("{}: {e}", t.file)))?;
        if rows != t.rows {
            return Err(check("table rows", format!("{} holds {rows} rows, the manifest says {}", t.file, t.rows)));
        }
        tables.insert(t.table.clone(), data);
    }
    if let Some(extra) = entries.keys().next() {
        return Err(check("contents", format!("{extra} is not in the manifest")));
    }
    Ok(Archive { manifest, tables, sha256: sha256(&bytes) })
}

/// Records in PostgreSQL's CSV, header line excluded; quoted fields may hold line breaks.
fn count_rows(csv: &[u8]) -> Result<u64, csv::Error> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(csv);
    let mut record = csv::ByteRecord::new();
    let mut rows = 0;
    while reader.read_byte_record(&mut record)? {
        rows += 1;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT,
            tenant: "acme".into(),
            display_name: "Acme".into(),
            schema_version: 6,
            botctl_version: "0.1.0".into(),
            created_at: chrono::Utc::now(),
            tables: Vec::new(),
        }
    }

    fn tables() -> Vec<(String, u64, Vec<u8>)> {
        vec![
            ("services".into(), 2, b"id,name\n1,Cut\n2,\"Shave,\nand more\"\n".to_vec()),
            ("bookings".into(), 0, b"id,service_id\n".to_vec()),
        ]
    }

    #[test]
    fn an_archive_reads_back_as_written_and_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("acme");
        let written = write(&target, "acme-1.tar.zst", manifest(), tables()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&written.path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(std::fs::read_dir(&target).unwrap().count(), 1, "no temporary file is left");
        let archive = read(&written.path).unwrap();
        assert_eq!(archive.manifest.tables.len(), 2);
        assert_eq!(archive.manifest.rows(), 2);
        assert_eq!(archive.tables["services"], tables()[0].2);
    }

    #[test]
    fn a_flipped_byte_anywhere_is_refused_unless_the_contents_are_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let written = write(dir.path(), "a.tar.zst", manifest(), tables()).unwrap();
        let bytes = std::fs::read(&written.path).unwrap();
        let original = read(&written.path).unwrap();
        let path = dir.path().join("flipped.tar.zst");
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x01;
            std::fs::write(&path, &flipped).unwrap();
            // A few bits of zstd's frame header (such as the window size) change nothing that is read.
            if let Ok(archive) = read(&path) {
                assert_eq!(archive.tables, original.tables, "a flip at byte {at} changed the contents unnoticed");
                assert_eq!(archive.manifest, original.manifest, "a flip at byte {at} changed the manifest unnoticed");
            }
        }
    }

    #[test]
    fn a_flipped_byte_a_truncated_file_a_wrong_row_count_an_edited_manifest_and_a_foreign_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let written = write(dir.path(), "a.tar.zst", manifest(), tables()).unwrap();
        let bytes = std::fs::read(&written.path).unwrap();

        let mut flipped = bytes.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x20;
        let path = dir.path().join("flipped.tar.zst");
        std::fs::write(&path, &flipped).unwrap();
        let error = read(&path).unwrap_err().to_string();
        assert!(error.starts_with(&path.display().to_string()), "{error}");

        let path = dir.path().join("truncated.tar.zst");
        std::fs::write(&path, &bytes[..bytes.len() - 40]).unwrap();
        assert!(matches!(read(&path), Err(ArchiveError::Damaged { .. })), "{:?}", read(&path));

        let mut wrong = tables();
        wrong[0].1 = 3;
        let written = write(dir.path(), "wrong.tar.zst", manifest(), wrong).unwrap();
        let error = read(&written.path).unwrap_err().to_string();
        assert!(error.contains("table rows failed") && error.contains("holds 2 rows"), "{error}");

        // A manifest edited after the fact: its sha256 no longer matches.
        let path = dir.path().join("edited.tar.zst");
        let mut tar = tar::Builder::new(zstd::Encoder::new(File::create(&path).unwrap(), 3).unwrap());
        let mut edited = manifest();
        edited.tables.push(TableFile {
            table: "t".into(),
            file: "tables/t.csv".into(),
            rows: 0,
            bytes: 2,
            sha256: sha256(b"a\n"),
        });
        let json = serde_json::to_vec(&edited).unwrap();
        append(&mut tar, "tables/t.csv", b"a\n").unwrap();
        append(&mut tar, MANIFEST, &json).unwrap();
        append(&mut tar, MANIFEST_SUM, format!("{}  {MANIFEST}\n", sha256(b"the original")).as_bytes()).unwrap();
        tar.into_inner().unwrap().finish().unwrap();
        let error = read(&path).unwrap_err().to_string();
        assert!(error.contains("manifest checksum failed"), "{error}");

        let path = dir.path().join("foreign.tar.zst");
        let mut tar = tar::Builder::new(zstd::Encoder::new(File::create(&path).unwrap(), 3).unwrap());
        append(&mut tar, "hello.txt", b"hi").unwrap();
        tar.into_inner().unwrap().finish().unwrap();
        assert!(matches!(read(&path), Err(ArchiveError::Foreign { .. })));
    }
}

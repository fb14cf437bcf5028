//! The tenant image, built from the running botctl binary `FROM scratch`, so that an engine that has no
//! images and cannot pull still builds it. TLS roots (webpki-roots) and time zones (chrono-tz) are
//! compiled in; a static binary needs nothing else, a dynamically linked one brings its loader and the
//! shared libraries this very process runs with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use super::{Engine, ImageInfo};
use crate::progress::Progress;

/// Where the binary lives in the image.
pub const BINARY: &str = "/usr/local/bin/botctl";
/// The image's user: `nobody`, so a tenant's bot never runs as root.
const USER: &str = "65534:65534";

/// What `image build` made.
#[derive(Debug, Serialize)]
pub struct Built {
    pub tag: String,
    #[serde(flatten)]
    pub image: ImageInfo,
    /// Image path → host path of every file the image holds.
    pub files: BTreeMap<String, PathBuf>,
}

/// Builds `tag` from the running binary. Building again replaces the tag; the old image stays until
/// no container uses it.
pub async fn build(engine: &Engine, tag: &str, progress: &dyn Progress) -> anyhow::Result<Built> {
    let exe = std::env::current_exe().context("cannot locate the running botctl binary")?;
    progress.set_message("packing the binary");
    let context = tokio::task::spawn_blocking(move || context(&exe)).await??;
    progress.set_message("building the image");
    let image = engine.build_image(tag, context.tar, progress).await?;
    Ok(Built { tag: tag.to_string(), image, files: context.files })
}

/// The build context: a Dockerfile and the files the image holds, as a tar archive.
struct BuildContext {
    tar: Vec<u8>,
    /// Image path → host path, for the report.
    files: BTreeMap<String, PathBuf>,
}

/// The context for the binary at `exe`, which must be the running process's own (its libraries are read
/// from `/proc/self/maps`).
fn context(exe: &Path) -> anyhow::Result<BuildContext> {
    let binary = std::fs::read(exe).with_context(|| format!("cannot read the botctl binary {}", exe.display()))?;
    let elf = goblin::elf::Elf::parse(&binary).with_context(|| format!("{} is not an ELF binary", exe.display()))?;
    let mut files = BTreeMap::from([(BINARY.to_string(), exe.to_path_buf())]);
    if let Some(interpreter) = elf.interpreter {
        // The loader must sit where the binary names it; its file is wherever that name leads on this host.
        let host = std::fs::canonicalize(interpreter)
            .with_context(|| format!("cannot find the binary's loader {interpreter}"))?;
        files.insert(interpreter.to_string(), host.clone());
        let maps = std::fs::read_to_string("/proc/self/maps").context("cannot read /proc/self/maps")?;
        for library in loaded_libraries(&maps, exe).into_iter().filter(|l| *l != host) {
            files.insert(library.display().to_string(), library);
        }
    }
    let library_dirs: Vec<String> = files
        .keys()
        .filter(|path| path.as_str() != BINARY)
        .filter_map(|path| Path::new(path).parent().map(|dir| dir.display().to_string()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // As the repository's Dockerfile builds it from source.
    let mut dockerfile = format!("FROM scratch\nCOPY rootfs/ /\nUSER {USER}\n");
    if !library_dirs.is_empty() {
        // No ld.so.cache in the image: the loader is told where the libraries are.
        dockerfile.push_str(&format!("ENV LD_LIBRARY_PATH={}\n", library_dirs.join(":")));
    }
    dockerfile.push_str(&format!("ENTRYPOINT [\"{BINARY}\"]\nCMD [\"serve\"]\n"));

    let mut tar = tar::Builder::new(Vec::new());
    append(&mut tar, "Dockerfile", dockerfile.as_bytes(), 0o644)?;
    for (inside, host) in &files {
        let library;
        let bytes: &[u8] = if host == exe {
            &binary
        } else {
            library = std::fs::read(host).with_context(|| format!("cannot read {}", host.display()))?;
            &library
        };
        append(&mut tar, &format!("rootfs{inside}"), bytes, 0o755)?;
    }
    Ok(BuildContext { tar: tar.into_inner().context("cannot finish the build context")?, files })
}

fn append(tar: &mut tar::Builder<Vec<u8>>, path: &str, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(mode);
    header.set_cksum();
    tar.append_data(&mut header, path, bytes).with_context(|| format!("cannot add {path} to the build context"))
}

/// The shared objects mapped into this process, the binary itself aside.
fn loaded_libraries(maps: &str, exe: &Path) -> Vec<PathBuf> {
    let mut libraries: Vec<PathBuf> = maps
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .filter(|path| path.starts_with('/') && path.contains(".so"))
        .map(PathBuf::from)
        .filter(|path| path != exe)
        .collect();
    libraries.sort();
    libraries.dedup();
    libraries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libraries_come_from_the_maps_once_each_and_never_the_binary() {
        let maps = "\
55d0-55d1 r--p 00000000 08:01 1 /usr/local/bin/botctl
7f00-7f01 r--p 00000000 08:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6
7f01-7f02 r-xp 00001000 08:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6
7f02-7f03 rw-p 00000000 00:00 0
7f03-7f04 r--p 00000000 08:01 3 /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
7ffc-7ffd r-xp 00000000 00:00 0 [vdso]
";
        assert_eq!(
            loaded_libraries(maps, Path::new("/usr/local/bin/botctl")),
            [
                PathBuf::from("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
                PathBuf::from("/usr/lib/x86_64-linux-gnu/libc.so.6")
            ]
        );
    }

    #[test]
    fn the_context_holds_a_dockerfile_the_binary_and_what_it_loads() {
        let exe = std::env::current_exe().unwrap();
        let context = context(&exe).unwrap();
        let mut archive = tar::Archive::new(context.tar.as_slice());
        let mut names = Vec::new();
        let mut dockerfile = String::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            if name == "Dockerfile" {
                std::io::Read::read_to_string(&mut entry, &mut dockerfile).unwrap();
            }
            names.push(name);
        }
        assert!(dockerfile.starts_with("FROM scratch\n"), "{dockerfile}");
        assert!(dockerfile.contains("USER 65534:65534"), "{dockerfile}");
        assert!(names.contains(&format!("rootfs{BINARY}")), "{names:?}");
        let elf = goblin::elf::Elf::parse(&std::fs::read(&exe).unwrap()).unwrap().interpreter.map(str::to_string);
        match elf {
            Some(interpreter) => {
                assert!(names.contains(&format!("rootfs{interpreter}")), "{names:?}");
                assert!(names.iter().any(|n| n.contains("libc.so")), "{names:?}");
                assert!(dockerfile.contains("LD_LIBRARY_PATH="), "{dockerfile}");
            }
            // A static binary is all there is.
            None => assert_eq!(names.len(), 2, "{names:?}"),
        }
    }
}

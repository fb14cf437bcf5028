//! Rebuilds when migrations change, and decides which environment-dependent tests run: the
//! `needs_docker` tests when a Docker engine socket is present, or always when BOTCTL_REQUIRE_DOCKER=1
//! (CI), so that a missing engine there fails instead of being skipped; the terminal tests when tmux is
//! on PATH.
#![allow(clippy::disallowed_methods)] // build scripts learn about the machine from the environment

fn main() {
    // sqlx's `migrate!` embeds the migration files but cannot tell cargo when one is added.
    println!("cargo::rerun-if-changed=migrations");
    println!("cargo::rustc-check-cfg=cfg(docker_engine)");
    println!("cargo::rerun-if-env-changed=BOTCTL_REQUIRE_DOCKER");
    println!("cargo::rerun-if-env-changed=DOCKER_HOST");
    let required = std::env::var("BOTCTL_REQUIRE_DOCKER").is_ok_and(|v| v == "1");
    let local_socket = std::path::Path::new("/var/run/docker.sock").exists();
    let remote = std::env::var("DOCKER_HOST").is_ok_and(|v| !v.is_empty());
    if required || local_socket || remote {
        println!("cargo::rustc-cfg=docker_engine");
    }

    // The terminal tests drive prompts through tmux; CI installs it.
    println!("cargo::rustc-check-cfg=cfg(tmux)");
    println!("cargo::rerun-if-env-changed=PATH");
    let on_path =
        std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("tmux").is_file()));
    if on_path {
        println!("cargo::rustc-cfg=tmux");
    }
}

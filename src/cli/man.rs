use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, CommandFactory};

use super::Cli;
use crate::ui::Ui;

/// Prints the botctl(1) man page, or writes one page per command into a directory.
///
/// For example: `botctl man --dir /usr/local/share/man/man1`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Writes botctl.1 and a page per subcommand (botctl-init.1, …) into this directory.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn exec(args: &ManArgs, ui: &Ui) -> anyhow::Result<()> {
    let command = Cli::command();
    match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .with_context(|| format!("cannot write man pages to {}", dir.display()))?;
            ui.status("Wrote", format_args!("man pages to {}", dir.display()));
            Ok(())
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command).render(&mut page)?;
            ui.raw(&page)
        }
    }
}

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;
use crate::ui::Ui;

/// Prints a shell completion script (generated copies live in the repository's completions/ folder).
///
/// For example: `botctl completions bash > /etc/bash_completion.d/botctl`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

pub fn exec(args: &CompletionsArgs, ui: &Ui) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "botctl", &mut script);
    ui.raw(&script)
}

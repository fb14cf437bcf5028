
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'botctl' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'botctl'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'botctl' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Prints nothing but results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Prints nothing but results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Prints more about what happens; repeat for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Prints more about what happens; repeat for more detail')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answers yes to confirmations; required for destructive commands when not on a terminal')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answers yes to confirmations; required for destructive commands when not on a terminal')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draws progress bars or spinners')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Creates or upgrades the control-plane schema `botctl` (safe to run again: it then does nothing)')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Checks PostgreSQL, the control schema, Docker, the tenant image and the Telegram Bot API')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Inspects botctl''s configuration')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Prints a shell completion script (generated copies live in the repository''s completions/ folder)')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Prints the botctl(1) man page, or writes one page per command into a directory')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'botctl;init' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Prints nothing but results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Prints nothing but results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Prints more about what happens; repeat for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Prints more about what happens; repeat for more detail')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answers yes to confirmations; required for destructive commands when not on a terminal')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answers yes to confirmations; required for destructive commands when not on a terminal')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draws progress bars or spinners')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'botctl;doctor' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Prints nothing but results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Prints nothing but results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Prints more about what happens; repeat for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Prints more about what happens; repeat for more detail')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answers yes to confirmations; required for destructive commands when not on a terminal')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answers yes to confirmations; required for destructive commands when not on a terminal')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draws progress bars or spinners')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'botctl;config' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Prints nothing but results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Prints nothing but results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Prints more about what happens; repeat for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Prints more about what happens; repeat for more detail')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answers yes to confirmations; required for destructive commands when not on a terminal')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answers yes to confirmations; required for destructive commands when not on a terminal')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draws progress bars or spinners')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Prints every effective setting, where it came from, and secrets redacted')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'botctl;config;show' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Prints nothing but results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Prints nothing but results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Prints more about what happens; repeat for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Prints more about what happens; repeat for more detail')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answers yes to confirmations; required for destructive commands when not on a terminal')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answers yes to confirmations; required for destructive commands when not on a terminal')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draws progress bars or spinners')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'botctl;config;help' {
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Prints every effective setting, where it came from, and secrets redacted')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'botctl;config;help;show' {
            break
        }
        'botctl;config;help;help' {
            break
        }
        'botctl;completions' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Prints nothing but results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Prints nothing but results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Prints more about what happens; repeat for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Prints more about what happens; repeat for more detail')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answers yes to confirmations; required for destructive commands when not on a terminal')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answers yes to confirmations; required for destructive commands when not on a terminal')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draws progress bars or spinners')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'botctl;man' {
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Writes botctl.1 and a page per subcommand (botctl-init.1, …) into this directory')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Prints nothing but results and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Prints nothing but results and errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Prints more about what happens; repeat for more detail')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Prints more about what happens; repeat for more detail')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answers yes to confirmations; required for destructive commands when not on a terminal')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answers yes to confirmations; required for destructive commands when not on a terminal')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never draws progress bars or spinners')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'botctl;help' {
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Creates or upgrades the control-plane schema `botctl` (safe to run again: it then does nothing)')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Checks PostgreSQL, the control schema, Docker, the tenant image and the Telegram Bot API')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Inspects botctl''s configuration')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Prints a shell completion script (generated copies live in the repository''s completions/ folder)')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Prints the botctl(1) man page, or writes one page per command into a directory')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'botctl;help;init' {
            break
        }
        'botctl;help;doctor' {
            break
        }
        'botctl;help;config' {
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Prints every effective setting, where it came from, and secrets redacted')
            break
        }
        'botctl;help;config;show' {
            break
        }
        'botctl;help;completions' {
            break
        }
        'botctl;help;man' {
            break
        }
        'botctl;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}

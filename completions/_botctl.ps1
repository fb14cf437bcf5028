
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
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Checks PostgreSQL, the control schema, the connection budget, whether the tenant schemas fit Citus, Docker, the tenant image, the tenants'' containers and the Telegram Bot API')
            [CompletionResult]::new('tenant', 'tenant', [CompletionResultType]::ParameterValue, 'Creates, lists, shows, changes and deletes tenants (one bot, one schema and role each)')
            [CompletionResult]::new('server', 'server', [CompletionResultType]::ParameterValue, 'The PostgreSQL servers tenant schemas live on: `main` (botctl''s own) and those added here')
            [CompletionResult]::new('migrate', 'migrate', [CompletionResultType]::ParameterValue, 'Applies pending tenant-schema migrations, several tenants at once, each under its own lock')
            [CompletionResult]::new('backup', 'backup', [CompletionResultType]::ParameterValue, 'Backs up tenants: each one''s schema, as of one instant, into DEST/<tenant>/<tenant>-<UTC time>.tar.zst')
            [CompletionResult]::new('restore', 'restore', [CompletionResultType]::ParameterValue, 'Restores a tenant from a backup archive, as one transaction: a failure anywhere leaves the live tenant exactly as it was')
            [CompletionResult]::new('events', 'events', [CompletionResultType]::ParameterValue, 'Shows what operators did (who, when, what; never secrets), oldest first')
            [CompletionResult]::new('billing', 'billing', [CompletionResultType]::ParameterValue, 'Manages subscriptions and money: plans, each tenant''s paid period, manual payments, refunds and the ledger')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'Shows the whole platform with nothing configured: botctl''s local PostgreSQL, the Bot API emulator, a demo tenant, its bot, and a customer booking, moving and cancelling a visit')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Runs one tenant''s bot until SIGTERM or Ctrl-C (inside the tenant''s container, configured by its environment; the same settings work as flags)')
            [CompletionResult]::new('platform', 'platform', [CompletionResultType]::ParameterValue, 'The platform''s own daemon: the subscription clock, its notices, and the bots it stops and starts')
            [CompletionResult]::new('health', 'health', [CompletionResultType]::ParameterValue, 'Asks a running `botctl serve` whether it is healthy; exits 0 when it is, 1 when not (Docker''s healthcheck)')
            [CompletionResult]::new('logs', 'logs', [CompletionResultType]::ParameterValue, 'Prints a tenant''s bot output (both streams) from its container; with -f, follows it across restarts')
            [CompletionResult]::new('image', 'image', [CompletionResultType]::ParameterValue, 'The tenant image that every tenant''s container runs')
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
            [CompletionResult]::new('--fix', '--fix', [CompletionResultType]::ParameterName, 'Removes containers that belong to no tenant and starts tenants marked running whose bot is not, then checks again. Asks first on a terminal; elsewhere it needs --yes')
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
        'botctl;tenant' {
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
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Creates a tenant: checks the token with Telegram, then makes its role, schema and seed data in one transaction')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Lists tenants')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Shows everything known about one tenant (the token only as its bot id and fingerprint)')
            [CompletionResult]::new('update', 'update', [CompletionResultType]::ParameterValue, 'Changes a tenant''s display name, owners, time zone, locale, token or container limits; every change is recorded as an event')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Deletes a tenant: takes a final backup, removes its container, drops its schema with all its data and its role; its events remain')
            [CompletionResult]::new('start', 'start', [CompletionResultType]::ParameterValue, 'Starts the tenant''s bot in its container (making the container first if there is none, with a new database password) and waits until it is healthy')
            [CompletionResult]::new('stop', 'stop', [CompletionResultType]::ParameterValue, 'Stops the tenant''s container (SIGTERM, then 10 s); `start` runs it again')
            [CompletionResult]::new('restart', 'restart', [CompletionResultType]::ParameterValue, 'Stops and starts the tenant''s container, waiting until it is healthy again')
            [CompletionResult]::new('upgrade', 'upgrade', [CompletionResultType]::ParameterValue, 'Moves tenants to another image: migrates each schema, stops the old bot, starts the new one and waits until it is healthy, or rolls back to the old image')
            [CompletionResult]::new('move', 'move', [CompletionResultType]::ParameterValue, 'Moves a tenant''s schema to another PostgreSQL server, or every tenant off one (--all-from)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'botctl;tenant;create' {
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'The bot''s token from @BotFather')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'Reads the bot''s token from this file')
            [CompletionResult]::new('--display-name', '--display-name', [CompletionResultType]::ParameterName, 'The business''s name as customers see it [create''s default: the template''s]')
            [CompletionResult]::new('--admin', '--admin', [CompletionResultType]::ParameterName, 'Telegram user ids of the business''s owners, comma-separated (`update` replaces them all)')
            [CompletionResult]::new('--timezone', '--timezone', [CompletionResultType]::ParameterName, 'The business''s IANA time zone, e.g. Europe/Moscow [create''s default: tenant_defaults.timezone]')
            [CompletionResult]::new('--locale', '--locale', [CompletionResultType]::ParameterName, 'The language of the bot''s texts [create''s default: a template file''s own, else tenant_defaults.locale]')
            [CompletionResult]::new('--template', '--template', [CompletionResultType]::ParameterName, 'A built-in template (barbershop, beauty_salon, clinic) or a YAML file')
            [CompletionResult]::new('--memory-mb', '--memory-mb', [CompletionResultType]::ParameterName, 'Memory limit of the tenant''s container in MiB (at least 16), or `default` for runtime.memory_mb')
            [CompletionResult]::new('--cpus', '--cpus', [CompletionResultType]::ParameterName, 'CPU limit of the tenant''s container, e.g. 0.5, or `default` for runtime.cpus')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Puts its schema on this PostgreSQL server (`botctl server list`) [default: the one with the most room]')
            [CompletionResult]::new('--plan', '--plan', [CompletionResultType]::ParameterName, 'Begins paid on this plan: needs the payment''s --amount and --reference, credited from now')
            [CompletionResult]::new('--amount', '--amount', [CompletionResultType]::ParameterName, 'The amount received for --plan, e.g. 799RUB (its price in that currency)')
            [CompletionResult]::new('--reference', '--reference', [CompletionResultType]::ParameterName, 'The payment''s reference for --plan (an invoice or transfer number), unique per payment')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)')
            [CompletionResult]::new('--no-start', '--no-start', [CompletionResultType]::ParameterName, 'Leaves the tenant stopped instead of starting its container (`tenant start` starts it)')
            [CompletionResult]::new('--trial', '--trial', [CompletionResultType]::ParameterName, 'Begins with a free trial of billing.trial (7 days unless configured), ending in grace like a paid period')
            [CompletionResult]::new('--any-amount', '--any-amount', [CompletionResultType]::ParameterName, 'Records an --amount other than the plan''s price (a discount, a negotiated price); only with --plan')
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
        'botctl;tenant;list' {
            [CompletionResult]::new('--status', '--status', [CompletionResultType]::ParameterName, 'Shows only tenants with this status (deleted tenants appear only when asked for)')
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
        'botctl;tenant;show' {
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
        'botctl;tenant;update' {
            [CompletionResult]::new('--display-name', '--display-name', [CompletionResultType]::ParameterName, 'The business''s name as customers see it [create''s default: the template''s]')
            [CompletionResult]::new('--admin', '--admin', [CompletionResultType]::ParameterName, 'Telegram user ids of the business''s owners, comma-separated (`update` replaces them all)')
            [CompletionResult]::new('--timezone', '--timezone', [CompletionResultType]::ParameterName, 'The business''s IANA time zone, e.g. Europe/Moscow [create''s default: tenant_defaults.timezone]')
            [CompletionResult]::new('--locale', '--locale', [CompletionResultType]::ParameterName, 'The language of the bot''s texts [create''s default: a template file''s own, else tenant_defaults.locale]')
            [CompletionResult]::new('--memory-mb', '--memory-mb', [CompletionResultType]::ParameterName, 'Memory limit of the tenant''s container in MiB (at least 16), or `default` for runtime.memory_mb')
            [CompletionResult]::new('--cpus', '--cpus', [CompletionResultType]::ParameterName, 'CPU limit of the tenant''s container, e.g. 0.5, or `default` for runtime.cpus')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'The bot''s token from @BotFather')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'Reads the bot''s token from this file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Accepts a token of a different bot than the tenant''s current one')
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
        'botctl;tenant;delete' {
            [CompletionResult]::new('--dest', '--dest', [CompletionResultType]::ParameterName, 'The backup directory, holding one directory per tenant [default: backup.dir]')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'Fails a tenant whose table another session holds for this long, naming the table (e.g. 30s, 2m) [default: backup.lock_timeout]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)')
            [CompletionResult]::new('--no-backup', '--no-backup', [CompletionResultType]::ParameterName, 'Deletes without taking a final backup first')
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
        'botctl;tenant;start' {
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
        'botctl;tenant;stop' {
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
        'botctl;tenant;restart' {
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
        'botctl;tenant;upgrade' {
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'How many tenants to work on at once on each PostgreSQL server: a fleet on 4 servers works on up to 4 × this many at once, and no server on more than this')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'How many tenants to work on at once on each PostgreSQL server: a fleet on 4 servers works on up to 4 × this many at once, and no server on more than this')
            [CompletionResult]::new('--image', '--image', [CompletionResultType]::ParameterName, 'The image to move to [default: docker.image]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Works on every tenant')
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
        'botctl;tenant;move' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'The server to move to (with --all-from: instead of placing each tenant where a new one would go)')
            [CompletionResult]::new('--all-from', '--all-from', [CompletionResultType]::ParameterName, 'Moves every tenant off this server, marking it draining first')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'With --all-from: how many tenants move at once')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'With --all-from: how many tenants move at once')
            [CompletionResult]::new('--dest', '--dest', [CompletionResultType]::ParameterName, 'The backup directory, holding one directory per tenant [default: backup.dir]')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'Fails a tenant whose table another session holds for this long, naming the table (e.g. 30s, 2m) [default: backup.lock_timeout]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Moves onto a server that is draining')
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
        'botctl;tenant;help' {
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Creates a tenant: checks the token with Telegram, then makes its role, schema and seed data in one transaction')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Lists tenants')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Shows everything known about one tenant (the token only as its bot id and fingerprint)')
            [CompletionResult]::new('update', 'update', [CompletionResultType]::ParameterValue, 'Changes a tenant''s display name, owners, time zone, locale, token or container limits; every change is recorded as an event')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Deletes a tenant: takes a final backup, removes its container, drops its schema with all its data and its role; its events remain')
            [CompletionResult]::new('start', 'start', [CompletionResultType]::ParameterValue, 'Starts the tenant''s bot in its container (making the container first if there is none, with a new database password) and waits until it is healthy')
            [CompletionResult]::new('stop', 'stop', [CompletionResultType]::ParameterValue, 'Stops the tenant''s container (SIGTERM, then 10 s); `start` runs it again')
            [CompletionResult]::new('restart', 'restart', [CompletionResultType]::ParameterValue, 'Stops and starts the tenant''s container, waiting until it is healthy again')
            [CompletionResult]::new('upgrade', 'upgrade', [CompletionResultType]::ParameterValue, 'Moves tenants to another image: migrates each schema, stops the old bot, starts the new one and waits until it is healthy, or rolls back to the old image')
            [CompletionResult]::new('move', 'move', [CompletionResultType]::ParameterValue, 'Moves a tenant''s schema to another PostgreSQL server, or every tenant off one (--all-from)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'botctl;tenant;help;create' {
            break
        }
        'botctl;tenant;help;list' {
            break
        }
        'botctl;tenant;help;show' {
            break
        }
        'botctl;tenant;help;update' {
            break
        }
        'botctl;tenant;help;delete' {
            break
        }
        'botctl;tenant;help;start' {
            break
        }
        'botctl;tenant;help;stop' {
            break
        }
        'botctl;tenant;help;restart' {
            break
        }
        'botctl;tenant;help;upgrade' {
            break
        }
        'botctl;tenant;help;move' {
            break
        }
        'botctl;tenant;help;help' {
            break
        }
        'botctl;server' {
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
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Adds a PostgreSQL server for tenants, or changes the capacity or container host of one already added with the same URL')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Lists the servers: tenants, capacity, draining, PostgreSQL version and whether each answers now')
            [CompletionResult]::new('drain', 'drain', [CompletionResultType]::ParameterValue, 'Stops placing new tenants on a server (its tenants stay; `tenant move --all-from` moves them)')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Forgets a server that holds no live tenant (nothing on the server itself is touched)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'botctl;server;add' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'An administrator''s URL, postgres://USER:PASSWORD@HOST:PORT/DATABASE (stored for botctl, shown redacted)')
            [CompletionResult]::new('--url-file', '--url-file', [CompletionResultType]::ParameterName, 'Reads the URL from this file, keeping its password out of the process list and shell history')
            [CompletionResult]::new('--capacity', '--capacity', [CompletionResultType]::ParameterName, 'How many tenants placement puts on it [default for a new server: 2000]')
            [CompletionResult]::new('--container-host', '--container-host', [CompletionResultType]::ParameterName, 'How tenant containers reach it when not at the URL''s host: HOST, HOST:PORT or a socket directory')
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
        'botctl;server;list' {
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
        'botctl;server;drain' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)')
            [CompletionResult]::new('--undo', '--undo', [CompletionResultType]::ParameterName, 'Lets placement put new tenants on it again')
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
        'botctl;server;remove' {
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
        'botctl;server;help' {
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Adds a PostgreSQL server for tenants, or changes the capacity or container host of one already added with the same URL')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Lists the servers: tenants, capacity, draining, PostgreSQL version and whether each answers now')
            [CompletionResult]::new('drain', 'drain', [CompletionResultType]::ParameterValue, 'Stops placing new tenants on a server (its tenants stay; `tenant move --all-from` moves them)')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Forgets a server that holds no live tenant (nothing on the server itself is touched)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'botctl;server;help;add' {
            break
        }
        'botctl;server;help;list' {
            break
        }
        'botctl;server;help;drain' {
            break
        }
        'botctl;server;help;remove' {
            break
        }
        'botctl;server;help;help' {
            break
        }
        'botctl;migrate' {
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'How many tenants to work on at once on each PostgreSQL server: a fleet on 4 servers works on up to 4 × this many at once, and no server on more than this')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'How many tenants to work on at once on each PostgreSQL server: a fleet on 4 servers works on up to 4 × this many at once, and no server on more than this')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'Fails a tenant whose table another session holds for this long, naming the table (e.g. 30s, 2m) [default: backup.lock_timeout]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Works on every tenant')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Shows what would be applied without applying it')
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
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Shows each tenant''s schema version and how many migrations it is missing')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'botctl;migrate;status' {
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
        'botctl;migrate;help' {
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Shows each tenant''s schema version and how many migrations it is missing')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'botctl;migrate;help;status' {
            break
        }
        'botctl;migrate;help;help' {
            break
        }
        'botctl;backup' {
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'How many tenants to work on at once on each PostgreSQL server: a fleet on 4 servers works on up to 4 × this many at once, and no server on more than this')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'How many tenants to work on at once on each PostgreSQL server: a fleet on 4 servers works on up to 4 × this many at once, and no server on more than this')
            [CompletionResult]::new('--dest', '--dest', [CompletionResultType]::ParameterName, 'The backup directory, holding one directory per tenant [default: backup.dir]')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'Fails a tenant whose table another session holds for this long, naming the table (e.g. 30s, 2m) [default: backup.lock_timeout]')
            [CompletionResult]::new('--keep', '--keep', [CompletionResultType]::ParameterName, 'Keeps each tenant''s newest N archives (at least 1) and deletes older ones')
            [CompletionResult]::new('--keep-days', '--keep-days', [CompletionResultType]::ParameterName, 'Keeps each tenant''s archives younger than D days (with --keep, an archive either keeps stays)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Works on every tenant')
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
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Lists the archives in the backup directory, newest first')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Checks archives: that each is a complete archive, that its manifest and every table match their sha256 and row counts, and that the file is the one the control plane recorded when it was written')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'botctl;backup;list' {
            [CompletionResult]::new('--dest', '--dest', [CompletionResultType]::ParameterName, 'The backup directory, holding one directory per tenant [default: backup.dir]')
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
        'botctl;backup;verify' {
            [CompletionResult]::new('--dest', '--dest', [CompletionResultType]::ParameterName, 'The backup directory, holding one directory per tenant [default: backup.dir]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Checks every archive in the backup directory')
            [CompletionResult]::new('--deep', '--deep', [CompletionResultType]::ParameterName, 'Also loads each archive into a scratch schema and drops it again')
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
        'botctl;backup;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Lists the archives in the backup directory, newest first')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Checks archives: that each is a complete archive, that its manifest and every table match their sha256 and row counts, and that the file is the one the control plane recorded when it was written')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'botctl;backup;help;list' {
            break
        }
        'botctl;backup;help;verify' {
            break
        }
        'botctl;backup;help;help' {
            break
        }
        'botctl;restore' {
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'The archive (see `botctl backup list`)')
            [CompletionResult]::new('--as', '--as', [CompletionResultType]::ParameterName, 'Restores into a new tenant of this name instead, created stopped; it needs a bot of its own (--token or --token-file), as a bot serves one tenant')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Puts the --as tenant''s schema on this PostgreSQL server (`botctl server list`) [default: the one with the most room]')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'The bot''s token from @BotFather')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'Reads the bot''s token from this file')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'Fails a tenant whose table another session holds for this long, naming the table (e.g. 30s, 2m) [default: backup.lock_timeout]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replaces a tenant that has customers or bookings')
            [CompletionResult]::new('--no-keep', '--no-keep', [CompletionResultType]::ParameterName, 'Drops the replaced schema instead of keeping it')
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
        'botctl;events' {
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'How many of the newest events to show')
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
        'botctl;billing' {
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
            [CompletionResult]::new('plans', 'plans', [CompletionResultType]::ParameterValue, 'Lists the plans with their days and prices (disabled ones too)')
            [CompletionResult]::new('plan', 'plan', [CompletionResultType]::ParameterValue, 'Creates, changes, disables or enables a plan')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Shows a tenant''s subscription (state, paid period, grace, plan) and its payments')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Lists subscriptions, those ending first on top (cancelled ones only when asked for by --state)')
            [CompletionResult]::new('credit', 'credit', [CompletionResultType]::ParameterValue, 'Records a manual payment and credits its days: from the paid period''s end, or from now if it has ended (in grace, suspended) or never began (complimentary, which becomes active)')
            [CompletionResult]::new('refund', 'refund', [CompletionResultType]::ParameterValue, 'Refunds a payment: takes its days back from the tenant''s paid period (the platform''s clock then decides the state) and records the revocation. Refunding a payment twice changes nothing')
            [CompletionResult]::new('extend-trial', 'extend-trial', [CompletionResultType]::ParameterValue, 'Extends a tenant''s trial: its end moves --days later, recorded in the ledger as a `trial` row')
            [CompletionResult]::new('ledger', 'ledger', [CompletionResultType]::ParameterValue, 'Prints the ledger: every trial, credit and revocation with the period before and after, oldest first, for one tenant (live or deleted) or all')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'botctl;billing;plans' {
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
        'botctl;billing;plan' {
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
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Creates a plan or changes one; what is not given keeps its value. Prices are set per currency: `--price 150XTR` adds or changes the Stars price and keeps the ruble one')
            [CompletionResult]::new('disable', 'disable', [CompletionResultType]::ParameterValue, 'A plan by its code. `disable` stops selling it (payments that name it keep their meaning) and confirms on a terminal, needing --yes elsewhere; `enable` sells it again')
            [CompletionResult]::new('enable', 'enable', [CompletionResultType]::ParameterValue, 'A plan by its code. `disable` stops selling it (payments that name it keep their meaning) and confirms on a terminal, needing --yes elsewhere; `enable` sells it again')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'botctl;billing;plan;set' {
            [CompletionResult]::new('--days', '--days', [CompletionResultType]::ParameterName, 'The days one payment for the plan credits (1-3660); required for a new plan')
            [CompletionResult]::new('--price', '--price', [CompletionResultType]::ParameterName, 'A price with its currency, e.g. 299RUB, 799.50RUB or 150XTR; repeat for each currency')
            [CompletionResult]::new('--remove-price', '--remove-price', [CompletionResultType]::ParameterName, 'Stops selling the plan in this currency (RUB or XTR); repeatable')
            [CompletionResult]::new('--name-ru', '--name-ru', [CompletionResultType]::ParameterName, 'The plan''s name in Russian [a new plan''s default: its code]')
            [CompletionResult]::new('--name-en', '--name-en', [CompletionResultType]::ParameterName, 'The plan''s name in English [a new plan''s default: its code]')
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
        'botctl;billing;plan;disable' {
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
        'botctl;billing;plan;enable' {
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
        'botctl;billing;plan;help' {
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Creates a plan or changes one; what is not given keeps its value. Prices are set per currency: `--price 150XTR` adds or changes the Stars price and keeps the ruble one')
            [CompletionResult]::new('disable', 'disable', [CompletionResultType]::ParameterValue, 'A plan by its code. `disable` stops selling it (payments that name it keep their meaning) and confirms on a terminal, needing --yes elsewhere; `enable` sells it again')
            [CompletionResult]::new('enable', 'enable', [CompletionResultType]::ParameterValue, 'A plan by its code. `disable` stops selling it (payments that name it keep their meaning) and confirms on a terminal, needing --yes elsewhere; `enable` sells it again')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'botctl;billing;plan;help;set' {
            break
        }
        'botctl;billing;plan;help;disable' {
            break
        }
        'botctl;billing;plan;help;enable' {
            break
        }
        'botctl;billing;plan;help;help' {
            break
        }
        'botctl;billing;show' {
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
        'botctl;billing;list' {
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Only subscriptions in this state (trial, active, grace, suspended, complimentary, cancelled); repeatable')
            [CompletionResult]::new('--expiring', '--expiring', [CompletionResultType]::ParameterName, 'Only those whose trial, paid period or grace ends within this span, e.g. 7d or 36h')
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
        'botctl;billing;credit' {
            [CompletionResult]::new('--plan', '--plan', [CompletionResultType]::ParameterName, 'The plan paid for: its days are credited, and the amount must be its price in that currency')
            [CompletionResult]::new('--days', '--days', [CompletionResultType]::ParameterName, 'The days paid for, without a plan (1-3660)')
            [CompletionResult]::new('--amount', '--amount', [CompletionResultType]::ParameterName, 'The amount received with its currency, e.g. 799RUB, 799.50RUB or 150XTR')
            [CompletionResult]::new('--reference', '--reference', [CompletionResultType]::ParameterName, 'The payment''s own reference (an invoice or transfer number): a payment is credited once per reference')
            [CompletionResult]::new('--note', '--note', [CompletionResultType]::ParameterName, 'A note kept with the payment')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)')
            [CompletionResult]::new('--any-amount', '--any-amount', [CompletionResultType]::ParameterName, 'Records an amount other than the plan''s price (a discount, a negotiated price); only with --plan')
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
        'botctl;billing;refund' {
            [CompletionResult]::new('--provider', '--provider', [CompletionResultType]::ParameterName, 'The provider that took the payment')
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
        'botctl;billing;extend-trial' {
            [CompletionResult]::new('--days', '--days', [CompletionResultType]::ParameterName, 'The days to add to the trial (1-90)')
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
        'botctl;billing;ledger' {
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only rows from this date (2026-12-01, UTC midnight) or RFC 3339 time on')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)')
            [CompletionResult]::new('--csv', '--csv', [CompletionResultType]::ParameterName, 'Prints CSV with a header (amounts as decimals with their currency) for accounting, instead of -o''s format')
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
        'botctl;billing;help' {
            [CompletionResult]::new('plans', 'plans', [CompletionResultType]::ParameterValue, 'Lists the plans with their days and prices (disabled ones too)')
            [CompletionResult]::new('plan', 'plan', [CompletionResultType]::ParameterValue, 'Creates, changes, disables or enables a plan')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Shows a tenant''s subscription (state, paid period, grace, plan) and its payments')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Lists subscriptions, those ending first on top (cancelled ones only when asked for by --state)')
            [CompletionResult]::new('credit', 'credit', [CompletionResultType]::ParameterValue, 'Records a manual payment and credits its days: from the paid period''s end, or from now if it has ended (in grace, suspended) or never began (complimentary, which becomes active)')
            [CompletionResult]::new('refund', 'refund', [CompletionResultType]::ParameterValue, 'Refunds a payment: takes its days back from the tenant''s paid period (the platform''s clock then decides the state) and records the revocation. Refunding a payment twice changes nothing')
            [CompletionResult]::new('extend-trial', 'extend-trial', [CompletionResultType]::ParameterValue, 'Extends a tenant''s trial: its end moves --days later, recorded in the ledger as a `trial` row')
            [CompletionResult]::new('ledger', 'ledger', [CompletionResultType]::ParameterValue, 'Prints the ledger: every trial, credit and revocation with the period before and after, oldest first, for one tenant (live or deleted) or all')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'botctl;billing;help;plans' {
            break
        }
        'botctl;billing;help;plan' {
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Creates a plan or changes one; what is not given keeps its value. Prices are set per currency: `--price 150XTR` adds or changes the Stars price and keeps the ruble one')
            [CompletionResult]::new('disable', 'disable', [CompletionResultType]::ParameterValue, 'A plan by its code. `disable` stops selling it (payments that name it keep their meaning) and confirms on a terminal, needing --yes elsewhere; `enable` sells it again')
            [CompletionResult]::new('enable', 'enable', [CompletionResultType]::ParameterValue, 'A plan by its code. `disable` stops selling it (payments that name it keep their meaning) and confirms on a terminal, needing --yes elsewhere; `enable` sells it again')
            break
        }
        'botctl;billing;help;plan;set' {
            break
        }
        'botctl;billing;help;plan;disable' {
            break
        }
        'botctl;billing;help;plan;enable' {
            break
        }
        'botctl;billing;help;show' {
            break
        }
        'botctl;billing;help;list' {
            break
        }
        'botctl;billing;help;credit' {
            break
        }
        'botctl;billing;help;refund' {
            break
        }
        'botctl;billing;help;extend-trial' {
            break
        }
        'botctl;billing;help;ledger' {
            break
        }
        'botctl;billing;help;help' {
            break
        }
        'botctl;demo' {
            [CompletionResult]::new('--locale', '--locale', [CompletionResultType]::ParameterName, 'The language of the demo bot')
            [CompletionResult]::new('--template', '--template', [CompletionResultType]::ParameterName, 'The business template of the demo tenant')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)')
            [CompletionResult]::new('--keep', '--keep', [CompletionResultType]::ParameterName, 'Keeps the bot and the emulator running afterwards, and says how to talk to them')
            [CompletionResult]::new('--platform', '--platform', [CompletionResultType]::ParameterName, 'Plays the whole business instead: the platform daemon and its sales bot, a buyer paying through the YooKassa emulator for a bot that then runs in its own container (needs Docker), and a customer booking through it')
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
        'botctl;serve' {
            [CompletionResult]::new('--tenant', '--tenant', [CompletionResultType]::ParameterName, 'The tenant''s name, for logs')
            [CompletionResult]::new('--tenant-database-url', '--tenant-database-url', [CompletionResultType]::ParameterName, 'The tenant''s own database role: postgres://tenant_NAME:PASSWORD@HOST:PORT/DATABASE')
            [CompletionResult]::new('--database-password-file', '--database-password-file', [CompletionResultType]::ParameterName, 'Reads the database role''s password from this file (a Swarm secret), in place of the URL''s')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'The bot''s token')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'Reads the bot''s token from this file (a Docker secret, for example)')
            [CompletionResult]::new('--http-addr', '--http-addr', [CompletionResultType]::ParameterName, 'Where /healthz and /metrics listen')
            [CompletionResult]::new('--outbox-rescan', '--outbox-rescan', [CompletionResultType]::ParameterName, 'How often the outbox looks for messages another process queued (the bot''s own are sent at once)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
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
        'botctl;platform' {
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
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Runs the platform daemon until SIGTERM or Ctrl-C. One instance acts per installation (a lock in PostgreSQL); others wait as standbys and take over when it dies. /healthz and /metrics listen on `platform.listen`')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'botctl;platform;serve' {
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
        'botctl;platform;help' {
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Runs the platform daemon until SIGTERM or Ctrl-C. One instance acts per installation (a lock in PostgreSQL); others wait as standbys and take over when it dies. /healthz and /metrics listen on `platform.listen`')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'botctl;platform;help;serve' {
            break
        }
        'botctl;platform;help;help' {
            break
        }
        'botctl;health' {
            [CompletionResult]::new('--http-addr', '--http-addr', [CompletionResultType]::ParameterName, 'The daemon''s health listener')
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
        'botctl;logs' {
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only lines newer than this: a duration back from now (10m, 2h) or an RFC 3339 time')
            [CompletionResult]::new('--tail', '--tail', [CompletionResultType]::ParameterName, 'Only this many lines back from the end')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Reads settings from this YAML file instead of the standard places')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Prints results as a table for people, or as JSON or YAML for scripts')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Keeps printing lines as they come, across restarts of the container, until Ctrl-C')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Keeps printing lines as they come, across restarts of the container, until Ctrl-C')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Starts every line with its time')
            [CompletionResult]::new('--timestamps', '--timestamps', [CompletionResultType]::ParameterName, 'Starts every line with its time')
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
        'botctl;image' {
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
            [CompletionResult]::new('build', 'build', [CompletionResultType]::ParameterValue, 'Builds the tenant image from this botctl binary, without pulling anything')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'botctl;image;build' {
            [CompletionResult]::new('--tag', '--tag', [CompletionResultType]::ParameterName, 'The image tag [default: docker.image, botctl:<version>]')
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
        'botctl;image;help' {
            [CompletionResult]::new('build', 'build', [CompletionResultType]::ParameterValue, 'Builds the tenant image from this botctl binary, without pulling anything')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'botctl;image;help;build' {
            break
        }
        'botctl;image;help;help' {
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
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Checks PostgreSQL, the control schema, the connection budget, whether the tenant schemas fit Citus, Docker, the tenant image, the tenants'' containers and the Telegram Bot API')
            [CompletionResult]::new('tenant', 'tenant', [CompletionResultType]::ParameterValue, 'Creates, lists, shows, changes and deletes tenants (one bot, one schema and role each)')
            [CompletionResult]::new('server', 'server', [CompletionResultType]::ParameterValue, 'The PostgreSQL servers tenant schemas live on: `main` (botctl''s own) and those added here')
            [CompletionResult]::new('migrate', 'migrate', [CompletionResultType]::ParameterValue, 'Applies pending tenant-schema migrations, several tenants at once, each under its own lock')
            [CompletionResult]::new('backup', 'backup', [CompletionResultType]::ParameterValue, 'Backs up tenants: each one''s schema, as of one instant, into DEST/<tenant>/<tenant>-<UTC time>.tar.zst')
            [CompletionResult]::new('restore', 'restore', [CompletionResultType]::ParameterValue, 'Restores a tenant from a backup archive, as one transaction: a failure anywhere leaves the live tenant exactly as it was')
            [CompletionResult]::new('events', 'events', [CompletionResultType]::ParameterValue, 'Shows what operators did (who, when, what; never secrets), oldest first')
            [CompletionResult]::new('billing', 'billing', [CompletionResultType]::ParameterValue, 'Manages subscriptions and money: plans, each tenant''s paid period, manual payments, refunds and the ledger')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'Shows the whole platform with nothing configured: botctl''s local PostgreSQL, the Bot API emulator, a demo tenant, its bot, and a customer booking, moving and cancelling a visit')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Runs one tenant''s bot until SIGTERM or Ctrl-C (inside the tenant''s container, configured by its environment; the same settings work as flags)')
            [CompletionResult]::new('platform', 'platform', [CompletionResultType]::ParameterValue, 'The platform''s own daemon: the subscription clock, its notices, and the bots it stops and starts')
            [CompletionResult]::new('health', 'health', [CompletionResultType]::ParameterValue, 'Asks a running `botctl serve` whether it is healthy; exits 0 when it is, 1 when not (Docker''s healthcheck)')
            [CompletionResult]::new('logs', 'logs', [CompletionResultType]::ParameterValue, 'Prints a tenant''s bot output (both streams) from its container; with -f, follows it across restarts')
            [CompletionResult]::new('image', 'image', [CompletionResultType]::ParameterValue, 'The tenant image that every tenant''s container runs')
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
        'botctl;help;tenant' {
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Creates a tenant: checks the token with Telegram, then makes its role, schema and seed data in one transaction')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Lists tenants')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Shows everything known about one tenant (the token only as its bot id and fingerprint)')
            [CompletionResult]::new('update', 'update', [CompletionResultType]::ParameterValue, 'Changes a tenant''s display name, owners, time zone, locale, token or container limits; every change is recorded as an event')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Deletes a tenant: takes a final backup, removes its container, drops its schema with all its data and its role; its events remain')
            [CompletionResult]::new('start', 'start', [CompletionResultType]::ParameterValue, 'Starts the tenant''s bot in its container (making the container first if there is none, with a new database password) and waits until it is healthy')
            [CompletionResult]::new('stop', 'stop', [CompletionResultType]::ParameterValue, 'Stops the tenant''s container (SIGTERM, then 10 s); `start` runs it again')
            [CompletionResult]::new('restart', 'restart', [CompletionResultType]::ParameterValue, 'Stops and starts the tenant''s container, waiting until it is healthy again')
            [CompletionResult]::new('upgrade', 'upgrade', [CompletionResultType]::ParameterValue, 'Moves tenants to another image: migrates each schema, stops the old bot, starts the new one and waits until it is healthy, or rolls back to the old image')
            [CompletionResult]::new('move', 'move', [CompletionResultType]::ParameterValue, 'Moves a tenant''s schema to another PostgreSQL server, or every tenant off one (--all-from)')
            break
        }
        'botctl;help;tenant;create' {
            break
        }
        'botctl;help;tenant;list' {
            break
        }
        'botctl;help;tenant;show' {
            break
        }
        'botctl;help;tenant;update' {
            break
        }
        'botctl;help;tenant;delete' {
            break
        }
        'botctl;help;tenant;start' {
            break
        }
        'botctl;help;tenant;stop' {
            break
        }
        'botctl;help;tenant;restart' {
            break
        }
        'botctl;help;tenant;upgrade' {
            break
        }
        'botctl;help;tenant;move' {
            break
        }
        'botctl;help;server' {
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Adds a PostgreSQL server for tenants, or changes the capacity or container host of one already added with the same URL')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Lists the servers: tenants, capacity, draining, PostgreSQL version and whether each answers now')
            [CompletionResult]::new('drain', 'drain', [CompletionResultType]::ParameterValue, 'Stops placing new tenants on a server (its tenants stay; `tenant move --all-from` moves them)')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Forgets a server that holds no live tenant (nothing on the server itself is touched)')
            break
        }
        'botctl;help;server;add' {
            break
        }
        'botctl;help;server;list' {
            break
        }
        'botctl;help;server;drain' {
            break
        }
        'botctl;help;server;remove' {
            break
        }
        'botctl;help;migrate' {
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Shows each tenant''s schema version and how many migrations it is missing')
            break
        }
        'botctl;help;migrate;status' {
            break
        }
        'botctl;help;backup' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Lists the archives in the backup directory, newest first')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Checks archives: that each is a complete archive, that its manifest and every table match their sha256 and row counts, and that the file is the one the control plane recorded when it was written')
            break
        }
        'botctl;help;backup;list' {
            break
        }
        'botctl;help;backup;verify' {
            break
        }
        'botctl;help;restore' {
            break
        }
        'botctl;help;events' {
            break
        }
        'botctl;help;billing' {
            [CompletionResult]::new('plans', 'plans', [CompletionResultType]::ParameterValue, 'Lists the plans with their days and prices (disabled ones too)')
            [CompletionResult]::new('plan', 'plan', [CompletionResultType]::ParameterValue, 'Creates, changes, disables or enables a plan')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Shows a tenant''s subscription (state, paid period, grace, plan) and its payments')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Lists subscriptions, those ending first on top (cancelled ones only when asked for by --state)')
            [CompletionResult]::new('credit', 'credit', [CompletionResultType]::ParameterValue, 'Records a manual payment and credits its days: from the paid period''s end, or from now if it has ended (in grace, suspended) or never began (complimentary, which becomes active)')
            [CompletionResult]::new('refund', 'refund', [CompletionResultType]::ParameterValue, 'Refunds a payment: takes its days back from the tenant''s paid period (the platform''s clock then decides the state) and records the revocation. Refunding a payment twice changes nothing')
            [CompletionResult]::new('extend-trial', 'extend-trial', [CompletionResultType]::ParameterValue, 'Extends a tenant''s trial: its end moves --days later, recorded in the ledger as a `trial` row')
            [CompletionResult]::new('ledger', 'ledger', [CompletionResultType]::ParameterValue, 'Prints the ledger: every trial, credit and revocation with the period before and after, oldest first, for one tenant (live or deleted) or all')
            break
        }
        'botctl;help;billing;plans' {
            break
        }
        'botctl;help;billing;plan' {
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Creates a plan or changes one; what is not given keeps its value. Prices are set per currency: `--price 150XTR` adds or changes the Stars price and keeps the ruble one')
            [CompletionResult]::new('disable', 'disable', [CompletionResultType]::ParameterValue, 'A plan by its code. `disable` stops selling it (payments that name it keep their meaning) and confirms on a terminal, needing --yes elsewhere; `enable` sells it again')
            [CompletionResult]::new('enable', 'enable', [CompletionResultType]::ParameterValue, 'A plan by its code. `disable` stops selling it (payments that name it keep their meaning) and confirms on a terminal, needing --yes elsewhere; `enable` sells it again')
            break
        }
        'botctl;help;billing;plan;set' {
            break
        }
        'botctl;help;billing;plan;disable' {
            break
        }
        'botctl;help;billing;plan;enable' {
            break
        }
        'botctl;help;billing;show' {
            break
        }
        'botctl;help;billing;list' {
            break
        }
        'botctl;help;billing;credit' {
            break
        }
        'botctl;help;billing;refund' {
            break
        }
        'botctl;help;billing;extend-trial' {
            break
        }
        'botctl;help;billing;ledger' {
            break
        }
        'botctl;help;demo' {
            break
        }
        'botctl;help;serve' {
            break
        }
        'botctl;help;platform' {
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Runs the platform daemon until SIGTERM or Ctrl-C. One instance acts per installation (a lock in PostgreSQL); others wait as standbys and take over when it dies. /healthz and /metrics listen on `platform.listen`')
            break
        }
        'botctl;help;platform;serve' {
            break
        }
        'botctl;help;health' {
            break
        }
        'botctl;help;logs' {
            break
        }
        'botctl;help;image' {
            [CompletionResult]::new('build', 'build', [CompletionResultType]::ParameterValue, 'Builds the tenant image from this botctl binary, without pulling anything')
            break
        }
        'botctl;help;image;build' {
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

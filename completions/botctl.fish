# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_botctl_global_optspecs
    string join \n config= database-url= data-dir= o/output= q/quiet v/verbose y/yes no-progress color= log-format= h/help V/version
end

function __fish_botctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_botctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_botctl_using_subcommand
    set -l cmd (__fish_botctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c botctl -n "__fish_botctl_needs_command" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_needs_command" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_needs_command" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_needs_command" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_needs_command" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_needs_command" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_needs_command" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_needs_command" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_needs_command" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_needs_command" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_needs_command" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_needs_command" -f -a "init" -d 'Creates or upgrades the control-plane schema `botctl` (safe to run again: it then does nothing)'
complete -c botctl -n "__fish_botctl_needs_command" -f -a "doctor" -d 'Checks PostgreSQL, the control schema, the connection budget, whether the tenant schemas fit Citus, Docker, the tenant image, the tenants\' containers and the Telegram Bot API'
complete -c botctl -n "__fish_botctl_needs_command" -f -a "tenant" -d 'Creates, lists, shows, changes and deletes tenants (one bot, one schema and role each)'
complete -c botctl -n "__fish_botctl_needs_command" -f -a "server" -d 'The PostgreSQL servers tenant schemas live on: `main` (botctl\'s own) and those added here'
complete -c botctl -n "__fish_botctl_needs_command" -f -a "migrate" -d 'Applies pending tenant-schema migrations, several tenants at once, each under its own lock'
complete -c botctl -n "__fish_botctl_needs_command" -f -a "backup" -d 'Backs up tenants: each one\'s schema, as of one instant, into DEST/<tenant>/<tenant>-<UTC time>.tar.zst'
complete -c botctl -n "__fish_botctl_needs_command" -f -a "restore" -d 'Restores a tenant from a backup archive, as one transaction: a failure anywhere leaves the live tenant exactly as it was'
complete -c botctl -n "__fish_botctl_needs_command" -f -a "events" -d 'Shows what operators did (who, when, what; never secrets), oldest first'
complete -c botctl -n "__fish_botctl_needs_command" -f -a "billing" -d 'Manages subscriptions and money: plans, each tenant\'s paid period, manual payments, refunds and the ledger'
complete -c botctl -n "__fish_botctl_needs_command" -f -a "demo" -d 'Shows the whole platform with nothing configured: botctl\'s local PostgreSQL, the Bot API emulator, a demo tenant, its bot, and a customer booking, moving and cancelling a visit'
complete -c botctl -n "__fish_botctl_needs_command" -f -a "serve" -d 'Runs one tenant\'s bot until SIGTERM or Ctrl-C (inside the tenant\'s container, configured by its environment; the same settings work as flags)'
complete -c botctl -n "__fish_botctl_needs_command" -f -a "platform" -d 'The platform\'s own daemon: the subscription clock, its notices, and the bots it stops and starts'
complete -c botctl -n "__fish_botctl_needs_command" -f -a "health" -d 'Asks a running `botctl serve` whether it is healthy; exits 0 when it is, 1 when not (Docker\'s healthcheck)'
complete -c botctl -n "__fish_botctl_needs_command" -f -a "logs" -d 'Prints a tenant\'s bot output (both streams) from its container; with -f, follows it across restarts'
complete -c botctl -n "__fish_botctl_needs_command" -f -a "image" -d 'The tenant image that every tenant\'s container runs'
complete -c botctl -n "__fish_botctl_needs_command" -f -a "config" -d 'Inspects botctl\'s configuration'
complete -c botctl -n "__fish_botctl_needs_command" -f -a "completions" -d 'Prints a shell completion script (generated copies live in the repository\'s completions/ folder)'
complete -c botctl -n "__fish_botctl_needs_command" -f -a "man" -d 'Prints the botctl(1) man page, or writes one page per command into a directory'
complete -c botctl -n "__fish_botctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c botctl -n "__fish_botctl_using_subcommand init" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand init" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand init" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand init" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand init" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand init" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand init" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand init" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand init" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand init" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand init" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand doctor" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand doctor" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand doctor" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand doctor" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand doctor" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand doctor" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand doctor" -l fix -d 'Removes containers that belong to no tenant and starts tenants marked running whose bot is not, then checks again. Asks first on a terminal; elsewhere it needs --yes'
complete -c botctl -n "__fish_botctl_using_subcommand doctor" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand doctor" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand doctor" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand doctor" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -f -a "create" -d 'Creates a tenant: checks the token with Telegram, then makes its role, schema and seed data in one transaction'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -f -a "list" -d 'Lists tenants'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -f -a "show" -d 'Shows everything known about one tenant (the token only as its bot id and fingerprint)'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -f -a "update" -d 'Changes a tenant\'s display name, owners, time zone, locale, token or container limits; every change is recorded as an event'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -f -a "delete" -d 'Deletes a tenant: takes a final backup, removes its container, drops its schema with all its data and its role; its events remain'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -f -a "start" -d 'Starts the tenant\'s bot in its container (making the container first if there is none, with a new database password) and waits until it is healthy'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -f -a "stop" -d 'Stops the tenant\'s container (SIGTERM, then 10 s); `start` runs it again'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -f -a "restart" -d 'Stops and starts the tenant\'s container, waiting until it is healthy again'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -f -a "upgrade" -d 'Moves tenants to another image: migrates each schema, stops the old bot, starts the new one and waits until it is healthy, or rolls back to the old image'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -f -a "move" -d 'Moves a tenant\'s schema to another PostgreSQL server, or every tenant off one (--all-from)'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and not __fish_seen_subcommand_from create list show update delete start stop restart upgrade move help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l token -d 'The bot\'s token from @BotFather' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l token-file -d 'Reads the bot\'s token from this file' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l display-name -d 'The business\'s name as customers see it [create\'s default: the template\'s]' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l admin -d 'Telegram user ids of the business\'s owners, comma-separated (`update` replaces them all)' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l timezone -d 'The business\'s IANA time zone, e.g. Europe/Moscow [create\'s default: tenant_defaults.timezone]' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l locale -d 'The language of the bot\'s texts [create\'s default: a template file\'s own, else tenant_defaults.locale]' -r -f -a "ru\t'Russian'
en\t'English'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l template -d 'A built-in template (barbershop, beauty_salon, clinic) or a YAML file' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l memory-mb -d 'Memory limit of the tenant\'s container in MiB (at least 16), or `default` for runtime.memory_mb' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l cpus -d 'CPU limit of the tenant\'s container, e.g. 0.5, or `default` for runtime.cpus' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l server -d 'Puts its schema on this PostgreSQL server (`botctl server list`) [default: the one with the most room]' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l plan -d 'Begins paid on this plan: needs the payment\'s --amount and --reference, credited from now' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l amount -d 'The amount received for --plan, e.g. 799RUB (its price in that currency)' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l reference -d 'The payment\'s reference for --plan (an invoice or transfer number), unique per payment' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l no-start -d 'Leaves the tenant stopped instead of starting its container (`tenant start` starts it)'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l trial -d 'Begins with a free trial of billing.trial (7 days unless configured), ending in grace like a paid period'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l any-amount -d 'Records an --amount other than the plan\'s price (a discount, a negotiated price); only with --plan'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from list" -l status -d 'Shows only tenants with this status (deleted tenants appear only when asked for)' -r -f -a "stopped\t''
running\t''
deleting\t''
deleted\t''"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from list" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from list" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from list" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from list" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from list" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from list" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from list" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from list" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from show" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from show" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from show" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from show" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from show" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from show" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from show" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from show" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from show" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from update" -l display-name -d 'The business\'s name as customers see it [create\'s default: the template\'s]' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from update" -l admin -d 'Telegram user ids of the business\'s owners, comma-separated (`update` replaces them all)' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from update" -l timezone -d 'The business\'s IANA time zone, e.g. Europe/Moscow [create\'s default: tenant_defaults.timezone]' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from update" -l locale -d 'The language of the bot\'s texts [create\'s default: a template file\'s own, else tenant_defaults.locale]' -r -f -a "ru\t'Russian'
en\t'English'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from update" -l memory-mb -d 'Memory limit of the tenant\'s container in MiB (at least 16), or `default` for runtime.memory_mb' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from update" -l cpus -d 'CPU limit of the tenant\'s container, e.g. 0.5, or `default` for runtime.cpus' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from update" -l token -d 'The bot\'s token from @BotFather' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from update" -l token-file -d 'Reads the bot\'s token from this file' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from update" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from update" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from update" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from update" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from update" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from update" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from update" -l force -d 'Accepts a token of a different bot than the tenant\'s current one'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from update" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from update" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from update" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from update" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from update" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from update" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from delete" -l dest -d 'The backup directory, holding one directory per tenant [default: backup.dir]' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from delete" -l lock-timeout -d 'Fails a tenant whose table another session holds for this long, naming the table (e.g. 30s, 2m) [default: backup.lock_timeout]' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from delete" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from delete" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from delete" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from delete" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from delete" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from delete" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from delete" -l no-backup -d 'Deletes without taking a final backup first'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from delete" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from delete" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from delete" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from delete" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from delete" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from start" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from start" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from start" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from start" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from start" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from start" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from start" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from start" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from start" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from start" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from start" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from stop" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from stop" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from stop" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from stop" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from stop" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from stop" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from stop" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from stop" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from stop" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from stop" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from stop" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from stop" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from restart" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from restart" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from restart" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from restart" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from restart" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from restart" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from restart" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from restart" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from restart" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from restart" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from restart" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from restart" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from upgrade" -s j -l jobs -d 'How many tenants to work on at once on each PostgreSQL server: a fleet on 4 servers works on up to 4 × this many at once, and no server on more than this' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from upgrade" -l image -d 'The image to move to [default: docker.image]' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from upgrade" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from upgrade" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from upgrade" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from upgrade" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from upgrade" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from upgrade" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from upgrade" -l all -d 'Works on every tenant'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from upgrade" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from upgrade" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from upgrade" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from upgrade" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from upgrade" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from upgrade" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from move" -l to -d 'The server to move to (with --all-from: instead of placing each tenant where a new one would go)' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from move" -l all-from -d 'Moves every tenant off this server, marking it draining first' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from move" -s j -l jobs -d 'With --all-from: how many tenants move at once' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from move" -l dest -d 'The backup directory, holding one directory per tenant [default: backup.dir]' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from move" -l lock-timeout -d 'Fails a tenant whose table another session holds for this long, naming the table (e.g. 30s, 2m) [default: backup.lock_timeout]' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from move" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from move" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from move" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from move" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from move" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from move" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from move" -l force -d 'Moves onto a server that is draining'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from move" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from move" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from move" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from move" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from move" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from move" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "create" -d 'Creates a tenant: checks the token with Telegram, then makes its role, schema and seed data in one transaction'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "list" -d 'Lists tenants'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "show" -d 'Shows everything known about one tenant (the token only as its bot id and fingerprint)'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "update" -d 'Changes a tenant\'s display name, owners, time zone, locale, token or container limits; every change is recorded as an event'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Deletes a tenant: takes a final backup, removes its container, drops its schema with all its data and its role; its events remain'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "start" -d 'Starts the tenant\'s bot in its container (making the container first if there is none, with a new database password) and waits until it is healthy'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "stop" -d 'Stops the tenant\'s container (SIGTERM, then 10 s); `start` runs it again'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "restart" -d 'Stops and starts the tenant\'s container, waiting until it is healthy again'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "upgrade" -d 'Moves tenants to another image: migrates each schema, stops the old bot, starts the new one and waits until it is healthy, or rolls back to the old image'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "move" -d 'Moves a tenant\'s schema to another PostgreSQL server, or every tenant off one (--all-from)'
complete -c botctl -n "__fish_botctl_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c botctl -n "__fish_botctl_using_subcommand server; and not __fish_seen_subcommand_from add list drain remove help" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand server; and not __fish_seen_subcommand_from add list drain remove help" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand server; and not __fish_seen_subcommand_from add list drain remove help" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand server; and not __fish_seen_subcommand_from add list drain remove help" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand server; and not __fish_seen_subcommand_from add list drain remove help" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand server; and not __fish_seen_subcommand_from add list drain remove help" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand server; and not __fish_seen_subcommand_from add list drain remove help" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand server; and not __fish_seen_subcommand_from add list drain remove help" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand server; and not __fish_seen_subcommand_from add list drain remove help" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand server; and not __fish_seen_subcommand_from add list drain remove help" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand server; and not __fish_seen_subcommand_from add list drain remove help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand server; and not __fish_seen_subcommand_from add list drain remove help" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand server; and not __fish_seen_subcommand_from add list drain remove help" -f -a "add" -d 'Adds a PostgreSQL server for tenants, or changes the capacity or container host of one already added with the same URL'
complete -c botctl -n "__fish_botctl_using_subcommand server; and not __fish_seen_subcommand_from add list drain remove help" -f -a "list" -d 'Lists the servers: tenants, capacity, draining, PostgreSQL version and whether each answers now'
complete -c botctl -n "__fish_botctl_using_subcommand server; and not __fish_seen_subcommand_from add list drain remove help" -f -a "drain" -d 'Stops placing new tenants on a server (its tenants stay; `tenant move --all-from` moves them)'
complete -c botctl -n "__fish_botctl_using_subcommand server; and not __fish_seen_subcommand_from add list drain remove help" -f -a "remove" -d 'Forgets a server that holds no live tenant (nothing on the server itself is touched)'
complete -c botctl -n "__fish_botctl_using_subcommand server; and not __fish_seen_subcommand_from add list drain remove help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from add" -l url -d 'An administrator\'s URL, postgres://USER:PASSWORD@HOST:PORT/DATABASE (stored for botctl, shown redacted)' -r
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from add" -l url-file -d 'Reads the URL from this file, keeping its password out of the process list and shell history' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from add" -l capacity -d 'How many tenants placement puts on it [default for a new server: 2000]' -r
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from add" -l container-host -d 'How tenant containers reach it when not at the URL\'s host: HOST, HOST:PORT or a socket directory' -r
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from add" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from add" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from add" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from add" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from add" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from add" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from add" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from add" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from add" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from add" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from list" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from list" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from list" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from list" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from list" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from list" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from list" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from list" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from drain" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from drain" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from drain" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from drain" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from drain" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from drain" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from drain" -l undo -d 'Lets placement put new tenants on it again'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from drain" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from drain" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from drain" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from drain" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from drain" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from drain" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from remove" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from remove" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from remove" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from remove" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from remove" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from remove" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from remove" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from remove" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from remove" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from remove" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from remove" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from help" -f -a "add" -d 'Adds a PostgreSQL server for tenants, or changes the capacity or container host of one already added with the same URL'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from help" -f -a "list" -d 'Lists the servers: tenants, capacity, draining, PostgreSQL version and whether each answers now'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from help" -f -a "drain" -d 'Stops placing new tenants on a server (its tenants stay; `tenant move --all-from` moves them)'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Forgets a server that holds no live tenant (nothing on the server itself is touched)'
complete -c botctl -n "__fish_botctl_using_subcommand server; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -s j -l jobs -d 'How many tenants to work on at once on each PostgreSQL server: a fleet on 4 servers works on up to 4 × this many at once, and no server on more than this' -r
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -l lock-timeout -d 'Fails a tenant whose table another session holds for this long, naming the table (e.g. 30s, 2m) [default: backup.lock_timeout]' -r
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -l all -d 'Works on every tenant'
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -l dry-run -d 'Shows what would be applied without applying it'
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -a "status" -d 'Shows each tenant\'s schema version and how many migrations it is missing'
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and not __fish_seen_subcommand_from status help" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and __fish_seen_subcommand_from help" -f -a "status" -d 'Shows each tenant\'s schema version and how many migrations it is missing'
complete -c botctl -n "__fish_botctl_using_subcommand migrate; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and not __fish_seen_subcommand_from list verify help" -s j -l jobs -d 'How many tenants to work on at once on each PostgreSQL server: a fleet on 4 servers works on up to 4 × this many at once, and no server on more than this' -r
complete -c botctl -n "__fish_botctl_using_subcommand backup; and not __fish_seen_subcommand_from list verify help" -l dest -d 'The backup directory, holding one directory per tenant [default: backup.dir]' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand backup; and not __fish_seen_subcommand_from list verify help" -l lock-timeout -d 'Fails a tenant whose table another session holds for this long, naming the table (e.g. 30s, 2m) [default: backup.lock_timeout]' -r
complete -c botctl -n "__fish_botctl_using_subcommand backup; and not __fish_seen_subcommand_from list verify help" -l keep -d 'Keeps each tenant\'s newest N archives (at least 1) and deletes older ones' -r
complete -c botctl -n "__fish_botctl_using_subcommand backup; and not __fish_seen_subcommand_from list verify help" -l keep-days -d 'Keeps each tenant\'s archives younger than D days (with --keep, an archive either keeps stays)' -r
complete -c botctl -n "__fish_botctl_using_subcommand backup; and not __fish_seen_subcommand_from list verify help" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand backup; and not __fish_seen_subcommand_from list verify help" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand backup; and not __fish_seen_subcommand_from list verify help" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand backup; and not __fish_seen_subcommand_from list verify help" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand backup; and not __fish_seen_subcommand_from list verify help" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand backup; and not __fish_seen_subcommand_from list verify help" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand backup; and not __fish_seen_subcommand_from list verify help" -l all -d 'Works on every tenant'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and not __fish_seen_subcommand_from list verify help" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and not __fish_seen_subcommand_from list verify help" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and not __fish_seen_subcommand_from list verify help" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and not __fish_seen_subcommand_from list verify help" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and not __fish_seen_subcommand_from list verify help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and not __fish_seen_subcommand_from list verify help" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and not __fish_seen_subcommand_from list verify help" -a "list" -d 'Lists the archives in the backup directory, newest first'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and not __fish_seen_subcommand_from list verify help" -a "verify" -d 'Checks archives: that each is a complete archive, that its manifest and every table match their sha256 and row counts, and that the file is the one the control plane recorded when it was written'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and not __fish_seen_subcommand_from list verify help" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from list" -l dest -d 'The backup directory, holding one directory per tenant [default: backup.dir]' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from list" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from list" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from list" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from list" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from list" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from list" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from list" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from list" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -l dest -d 'The backup directory, holding one directory per tenant [default: backup.dir]' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -l all -d 'Checks every archive in the backup directory'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -l deep -d 'Also loads each archive into a scratch schema and drops it again'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from help" -f -a "list" -d 'Lists the archives in the backup directory, newest first'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Checks archives: that each is a complete archive, that its manifest and every table match their sha256 and row counts, and that the file is the one the control plane recorded when it was written'
complete -c botctl -n "__fish_botctl_using_subcommand backup; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c botctl -n "__fish_botctl_using_subcommand restore" -l from -d 'The archive (see `botctl backup list`)' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand restore" -l as -d 'Restores into a new tenant of this name instead, created stopped; it needs a bot of its own (--token or --token-file), as a bot serves one tenant' -r
complete -c botctl -n "__fish_botctl_using_subcommand restore" -l server -d 'Puts the --as tenant\'s schema on this PostgreSQL server (`botctl server list`) [default: the one with the most room]' -r
complete -c botctl -n "__fish_botctl_using_subcommand restore" -l token -d 'The bot\'s token from @BotFather' -r
complete -c botctl -n "__fish_botctl_using_subcommand restore" -l token-file -d 'Reads the bot\'s token from this file' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand restore" -l lock-timeout -d 'Fails a tenant whose table another session holds for this long, naming the table (e.g. 30s, 2m) [default: backup.lock_timeout]' -r
complete -c botctl -n "__fish_botctl_using_subcommand restore" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand restore" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand restore" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand restore" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand restore" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand restore" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand restore" -l force -d 'Replaces a tenant that has customers or bookings'
complete -c botctl -n "__fish_botctl_using_subcommand restore" -l no-keep -d 'Drops the replaced schema instead of keeping it'
complete -c botctl -n "__fish_botctl_using_subcommand restore" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand restore" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand restore" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand restore" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand restore" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand restore" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand events" -l limit -d 'How many of the newest events to show' -r
complete -c botctl -n "__fish_botctl_using_subcommand events" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand events" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand events" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand events" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand events" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand events" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand events" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand events" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand events" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand events" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand events" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand events" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and not __fish_seen_subcommand_from plans plan show list credit refund extend-trial ledger help" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand billing; and not __fish_seen_subcommand_from plans plan show list credit refund extend-trial ledger help" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand billing; and not __fish_seen_subcommand_from plans plan show list credit refund extend-trial ledger help" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand billing; and not __fish_seen_subcommand_from plans plan show list credit refund extend-trial ledger help" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and not __fish_seen_subcommand_from plans plan show list credit refund extend-trial ledger help" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and not __fish_seen_subcommand_from plans plan show list credit refund extend-trial ledger help" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and not __fish_seen_subcommand_from plans plan show list credit refund extend-trial ledger help" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and not __fish_seen_subcommand_from plans plan show list credit refund extend-trial ledger help" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and not __fish_seen_subcommand_from plans plan show list credit refund extend-trial ledger help" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and not __fish_seen_subcommand_from plans plan show list credit refund extend-trial ledger help" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and not __fish_seen_subcommand_from plans plan show list credit refund extend-trial ledger help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and not __fish_seen_subcommand_from plans plan show list credit refund extend-trial ledger help" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and not __fish_seen_subcommand_from plans plan show list credit refund extend-trial ledger help" -f -a "plans" -d 'Lists the plans with their days and prices (disabled ones too)'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and not __fish_seen_subcommand_from plans plan show list credit refund extend-trial ledger help" -f -a "plan" -d 'Creates, changes, disables or enables a plan'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and not __fish_seen_subcommand_from plans plan show list credit refund extend-trial ledger help" -f -a "show" -d 'Shows a tenant\'s subscription (state, paid period, grace, plan) and its payments'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and not __fish_seen_subcommand_from plans plan show list credit refund extend-trial ledger help" -f -a "list" -d 'Lists subscriptions, those ending first on top (cancelled ones only when asked for by --state)'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and not __fish_seen_subcommand_from plans plan show list credit refund extend-trial ledger help" -f -a "credit" -d 'Records a manual payment and credits its days: from the paid period\'s end, or from now if it has ended (in grace, suspended) or never began (complimentary, which becomes active)'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and not __fish_seen_subcommand_from plans plan show list credit refund extend-trial ledger help" -f -a "refund" -d 'Refunds a payment: takes its days back from the tenant\'s paid period (the platform\'s clock then decides the state) and records the revocation. Refunding a payment twice changes nothing'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and not __fish_seen_subcommand_from plans plan show list credit refund extend-trial ledger help" -f -a "extend-trial" -d 'Extends a tenant\'s trial: its end moves --days later, recorded in the ledger as a `trial` row'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and not __fish_seen_subcommand_from plans plan show list credit refund extend-trial ledger help" -f -a "ledger" -d 'Prints the ledger: every trial, credit and revocation with the period before and after, oldest first, for one tenant (live or deleted) or all'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and not __fish_seen_subcommand_from plans plan show list credit refund extend-trial ledger help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plans" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plans" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plans" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plans" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plans" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plans" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plans" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plans" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plans" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plans" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plans" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plans" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plan" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plan" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plan" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plan" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plan" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plan" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plan" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plan" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plan" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plan" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plan" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plan" -f -a "set" -d 'Creates a plan or changes one; what is not given keeps its value. Prices are set per currency: `--price 150XTR` adds or changes the Stars price and keeps the ruble one'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plan" -f -a "disable" -d 'A plan by its code. `disable` stops selling it (payments that name it keep their meaning) and confirms on a terminal, needing --yes elsewhere; `enable` sells it again'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plan" -f -a "enable" -d 'A plan by its code. `disable` stops selling it (payments that name it keep their meaning) and confirms on a terminal, needing --yes elsewhere; `enable` sells it again'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from plan" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from show" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from show" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from show" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from show" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from show" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from show" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from show" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from show" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from show" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from list" -l state -d 'Only subscriptions in this state (trial, active, grace, suspended, complimentary, cancelled); repeatable' -r
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from list" -l expiring -d 'Only those whose trial, paid period or grace ends within this span, e.g. 7d or 36h' -r
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from list" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from list" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from list" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from list" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from list" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from list" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from list" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from list" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from credit" -l plan -d 'The plan paid for: its days are credited, and the amount must be its price in that currency' -r
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from credit" -l days -d 'The days paid for, without a plan (1-3660)' -r
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from credit" -l amount -d 'The amount received with its currency, e.g. 799RUB, 799.50RUB or 150XTR' -r
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from credit" -l reference -d 'The payment\'s own reference (an invoice or transfer number): a payment is credited once per reference' -r
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from credit" -l note -d 'A note kept with the payment' -r
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from credit" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from credit" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from credit" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from credit" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from credit" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from credit" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from credit" -l any-amount -d 'Records an amount other than the plan\'s price (a discount, a negotiated price); only with --plan'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from credit" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from credit" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from credit" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from credit" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from credit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from credit" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from refund" -l provider -d 'The provider that took the payment' -r -f -a "manual\t'Recorded by an operator (`botctl billing credit`): a bank transfer, cash, an invoice'
yookassa\t''
stars\t'Telegram Stars'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from refund" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from refund" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from refund" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from refund" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from refund" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from refund" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from refund" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from refund" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from refund" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from refund" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from refund" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from refund" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from extend-trial" -l days -d 'The days to add to the trial (1-90)' -r
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from extend-trial" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from extend-trial" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from extend-trial" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from extend-trial" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from extend-trial" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from extend-trial" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from extend-trial" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from extend-trial" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from extend-trial" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from extend-trial" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from extend-trial" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from extend-trial" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from ledger" -l since -d 'Only rows from this date (2026-12-01, UTC midnight) or RFC 3339 time on' -r
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from ledger" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from ledger" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from ledger" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from ledger" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from ledger" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from ledger" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from ledger" -l csv -d 'Prints CSV with a header (amounts as decimals with their currency) for accounting, instead of -o\'s format'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from ledger" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from ledger" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from ledger" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from ledger" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from ledger" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from ledger" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from help" -f -a "plans" -d 'Lists the plans with their days and prices (disabled ones too)'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from help" -f -a "plan" -d 'Creates, changes, disables or enables a plan'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from help" -f -a "show" -d 'Shows a tenant\'s subscription (state, paid period, grace, plan) and its payments'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from help" -f -a "list" -d 'Lists subscriptions, those ending first on top (cancelled ones only when asked for by --state)'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from help" -f -a "credit" -d 'Records a manual payment and credits its days: from the paid period\'s end, or from now if it has ended (in grace, suspended) or never began (complimentary, which becomes active)'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from help" -f -a "refund" -d 'Refunds a payment: takes its days back from the tenant\'s paid period (the platform\'s clock then decides the state) and records the revocation. Refunding a payment twice changes nothing'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from help" -f -a "extend-trial" -d 'Extends a tenant\'s trial: its end moves --days later, recorded in the ledger as a `trial` row'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from help" -f -a "ledger" -d 'Prints the ledger: every trial, credit and revocation with the period before and after, oldest first, for one tenant (live or deleted) or all'
complete -c botctl -n "__fish_botctl_using_subcommand billing; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c botctl -n "__fish_botctl_using_subcommand demo" -l locale -d 'The language of the demo bot' -r -f -a "ru\t'Russian'
en\t'English'"
complete -c botctl -n "__fish_botctl_using_subcommand demo" -l template -d 'The business template of the demo tenant' -r
complete -c botctl -n "__fish_botctl_using_subcommand demo" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand demo" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand demo" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand demo" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand demo" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand demo" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand demo" -l keep -d 'Keeps the bot and the emulator running afterwards, and says how to talk to them'
complete -c botctl -n "__fish_botctl_using_subcommand demo" -l platform -d 'Plays the whole business instead: the platform daemon and its sales bot, a buyer paying through the YooKassa emulator for a bot that then runs in its own container (needs Docker), and a customer booking through it'
complete -c botctl -n "__fish_botctl_using_subcommand demo" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand demo" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand demo" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand demo" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand demo" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand demo" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand serve" -l tenant -d 'The tenant\'s name, for logs' -r
complete -c botctl -n "__fish_botctl_using_subcommand serve" -l tenant-database-url -d 'The tenant\'s own database role: postgres://tenant_NAME:PASSWORD@HOST:PORT/DATABASE' -r
complete -c botctl -n "__fish_botctl_using_subcommand serve" -l database-password-file -d 'Reads the database role\'s password from this file (a Swarm secret), in place of the URL\'s' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand serve" -l token -d 'The bot\'s token' -r
complete -c botctl -n "__fish_botctl_using_subcommand serve" -l token-file -d 'Reads the bot\'s token from this file (a Docker secret, for example)' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand serve" -l http-addr -d 'Where /healthz and /metrics listen' -r
complete -c botctl -n "__fish_botctl_using_subcommand serve" -l outbox-rescan -d 'How often the outbox looks for messages another process queued (the bot\'s own are sent at once)' -r
complete -c botctl -n "__fish_botctl_using_subcommand serve" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand serve" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand serve" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand serve" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand serve" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand serve" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand serve" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand serve" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand serve" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand serve" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand platform; and not __fish_seen_subcommand_from serve help" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand platform; and not __fish_seen_subcommand_from serve help" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand platform; and not __fish_seen_subcommand_from serve help" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand platform; and not __fish_seen_subcommand_from serve help" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand platform; and not __fish_seen_subcommand_from serve help" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand platform; and not __fish_seen_subcommand_from serve help" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand platform; and not __fish_seen_subcommand_from serve help" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand platform; and not __fish_seen_subcommand_from serve help" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand platform; and not __fish_seen_subcommand_from serve help" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand platform; and not __fish_seen_subcommand_from serve help" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand platform; and not __fish_seen_subcommand_from serve help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand platform; and not __fish_seen_subcommand_from serve help" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand platform; and not __fish_seen_subcommand_from serve help" -f -a "serve" -d 'Runs the platform daemon until SIGTERM or Ctrl-C. One instance acts per installation (a lock in PostgreSQL); others wait as standbys and take over when it dies. /healthz and /metrics listen on `platform.listen`'
complete -c botctl -n "__fish_botctl_using_subcommand platform; and not __fish_seen_subcommand_from serve help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c botctl -n "__fish_botctl_using_subcommand platform; and __fish_seen_subcommand_from serve" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand platform; and __fish_seen_subcommand_from serve" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand platform; and __fish_seen_subcommand_from serve" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand platform; and __fish_seen_subcommand_from serve" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand platform; and __fish_seen_subcommand_from serve" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand platform; and __fish_seen_subcommand_from serve" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand platform; and __fish_seen_subcommand_from serve" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand platform; and __fish_seen_subcommand_from serve" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand platform; and __fish_seen_subcommand_from serve" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand platform; and __fish_seen_subcommand_from serve" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand platform; and __fish_seen_subcommand_from serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand platform; and __fish_seen_subcommand_from serve" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand platform; and __fish_seen_subcommand_from help" -f -a "serve" -d 'Runs the platform daemon until SIGTERM or Ctrl-C. One instance acts per installation (a lock in PostgreSQL); others wait as standbys and take over when it dies. /healthz and /metrics listen on `platform.listen`'
complete -c botctl -n "__fish_botctl_using_subcommand platform; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c botctl -n "__fish_botctl_using_subcommand health" -l http-addr -d 'The daemon\'s health listener' -r
complete -c botctl -n "__fish_botctl_using_subcommand health" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand health" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand health" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand health" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand health" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand health" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand health" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand health" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand health" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand health" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand health" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand health" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand logs" -l since -d 'Only lines newer than this: a duration back from now (10m, 2h) or an RFC 3339 time' -r
complete -c botctl -n "__fish_botctl_using_subcommand logs" -l tail -d 'Only this many lines back from the end' -r
complete -c botctl -n "__fish_botctl_using_subcommand logs" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand logs" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand logs" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand logs" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand logs" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand logs" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand logs" -s f -l follow -d 'Keeps printing lines as they come, across restarts of the container, until Ctrl-C'
complete -c botctl -n "__fish_botctl_using_subcommand logs" -s t -l timestamps -d 'Starts every line with its time'
complete -c botctl -n "__fish_botctl_using_subcommand logs" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand logs" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand logs" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand logs" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand logs" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand logs" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -f -a "build" -d 'Builds the tenant image from this botctl binary, without pulling anything'
complete -c botctl -n "__fish_botctl_using_subcommand image; and not __fish_seen_subcommand_from build help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c botctl -n "__fish_botctl_using_subcommand image; and __fish_seen_subcommand_from build" -l tag -d 'The image tag [default: docker.image, botctl:<version>]' -r
complete -c botctl -n "__fish_botctl_using_subcommand image; and __fish_seen_subcommand_from build" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand image; and __fish_seen_subcommand_from build" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand image; and __fish_seen_subcommand_from build" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand image; and __fish_seen_subcommand_from build" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand image; and __fish_seen_subcommand_from build" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand image; and __fish_seen_subcommand_from build" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand image; and __fish_seen_subcommand_from build" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand image; and __fish_seen_subcommand_from build" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand image; and __fish_seen_subcommand_from build" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand image; and __fish_seen_subcommand_from build" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand image; and __fish_seen_subcommand_from build" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand image; and __fish_seen_subcommand_from build" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "build" -d 'Builds the tenant image from this botctl binary, without pulling anything'
complete -c botctl -n "__fish_botctl_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c botctl -n "__fish_botctl_using_subcommand config; and not __fish_seen_subcommand_from show help" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand config; and not __fish_seen_subcommand_from show help" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand config; and not __fish_seen_subcommand_from show help" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand config; and not __fish_seen_subcommand_from show help" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand config; and not __fish_seen_subcommand_from show help" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand config; and not __fish_seen_subcommand_from show help" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand config; and not __fish_seen_subcommand_from show help" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand config; and not __fish_seen_subcommand_from show help" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand config; and not __fish_seen_subcommand_from show help" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand config; and not __fish_seen_subcommand_from show help" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand config; and not __fish_seen_subcommand_from show help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand config; and not __fish_seen_subcommand_from show help" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand config; and not __fish_seen_subcommand_from show help" -f -a "show" -d 'Prints every effective setting, where it came from, and secrets redacted'
complete -c botctl -n "__fish_botctl_using_subcommand config; and not __fish_seen_subcommand_from show help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c botctl -n "__fish_botctl_using_subcommand config; and __fish_seen_subcommand_from show" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand config; and __fish_seen_subcommand_from show" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand config; and __fish_seen_subcommand_from show" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand config; and __fish_seen_subcommand_from show" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand config; and __fish_seen_subcommand_from show" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand config; and __fish_seen_subcommand_from show" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand config; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand config; and __fish_seen_subcommand_from show" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand config; and __fish_seen_subcommand_from show" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand config; and __fish_seen_subcommand_from show" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand config; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand config; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "show" -d 'Prints every effective setting, where it came from, and secrets redacted'
complete -c botctl -n "__fish_botctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c botctl -n "__fish_botctl_using_subcommand completions" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand completions" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand completions" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand completions" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand completions" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand completions" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand completions" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand completions" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand completions" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand completions" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand completions" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand man" -l dir -d 'Writes botctl.1 and a page per subcommand (botctl-init.1, …) into this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand man" -l config -d 'Reads settings from this YAML file instead of the standard places' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand man" -l database-url -d 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl\'s local cluster' -r
complete -c botctl -n "__fish_botctl_using_subcommand man" -l data-dir -d 'Keeps botctl\'s own data (the local PostgreSQL cluster) in this directory' -r -F
complete -c botctl -n "__fish_botctl_using_subcommand man" -s o -l output -d 'Prints results as a table for people, or as JSON or YAML for scripts' -r -f -a "table\t'Aligned columns for people'
json\t'One JSON document, for scripts'
yaml\t'One YAML document, for scripts and people'"
complete -c botctl -n "__fish_botctl_using_subcommand man" -l color -d 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)' -r -f -a "auto\t'Color when the stream is a terminal'
always\t'Color even when writing to a file or pipe'
never\t'Never color'"
complete -c botctl -n "__fish_botctl_using_subcommand man" -l log-format -d 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line, for log collectors'"
complete -c botctl -n "__fish_botctl_using_subcommand man" -s q -l quiet -d 'Prints nothing but results and errors'
complete -c botctl -n "__fish_botctl_using_subcommand man" -s v -l verbose -d 'Prints more about what happens; repeat for more detail'
complete -c botctl -n "__fish_botctl_using_subcommand man" -s y -l yes -d 'Answers yes to confirmations; required for destructive commands when not on a terminal'
complete -c botctl -n "__fish_botctl_using_subcommand man" -l no-progress -d 'Never draws progress bars or spinners'
complete -c botctl -n "__fish_botctl_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c botctl -n "__fish_botctl_using_subcommand man" -s V -l version -d 'Print version'
complete -c botctl -n "__fish_botctl_using_subcommand help; and not __fish_seen_subcommand_from init doctor tenant server migrate backup restore events billing demo serve platform health logs image config completions man help" -f -a "init" -d 'Creates or upgrades the control-plane schema `botctl` (safe to run again: it then does nothing)'
complete -c botctl -n "__fish_botctl_using_subcommand help; and not __fish_seen_subcommand_from init doctor tenant server migrate backup restore events billing demo serve platform health logs image config completions man help" -f -a "doctor" -d 'Checks PostgreSQL, the control schema, the connection budget, whether the tenant schemas fit Citus, Docker, the tenant image, the tenants\' containers and the Telegram Bot API'
complete -c botctl -n "__fish_botctl_using_subcommand help; and not __fish_seen_subcommand_from init doctor tenant server migrate backup restore events billing demo serve platform health logs image config completions man help" -f -a "tenant" -d 'Creates, lists, shows, changes and deletes tenants (one bot, one schema and role each)'
complete -c botctl -n "__fish_botctl_using_subcommand help; and not __fish_seen_subcommand_from init doctor tenant server migrate backup restore events billing demo serve platform health logs image config completions man help" -f -a "server" -d 'The PostgreSQL servers tenant schemas live on: `main` (botctl\'s own) and those added here'
complete -c botctl -n "__fish_botctl_using_subcommand help; and not __fish_seen_subcommand_from init doctor tenant server migrate backup restore events billing demo serve platform health logs image config completions man help" -f -a "migrate" -d 'Applies pending tenant-schema migrations, several tenants at once, each under its own lock'
complete -c botctl -n "__fish_botctl_using_subcommand help; and not __fish_seen_subcommand_from init doctor tenant server migrate backup restore events billing demo serve platform health logs image config completions man help" -f -a "backup" -d 'Backs up tenants: each one\'s schema, as of one instant, into DEST/<tenant>/<tenant>-<UTC time>.tar.zst'
complete -c botctl -n "__fish_botctl_using_subcommand help; and not __fish_seen_subcommand_from init doctor tenant server migrate backup restore events billing demo serve platform health logs image config completions man help" -f -a "restore" -d 'Restores a tenant from a backup archive, as one transaction: a failure anywhere leaves the live tenant exactly as it was'
complete -c botctl -n "__fish_botctl_using_subcommand help; and not __fish_seen_subcommand_from init doctor tenant server migrate backup restore events billing demo serve platform health logs image config completions man help" -f -a "events" -d 'Shows what operators did (who, when, what; never secrets), oldest first'
complete -c botctl -n "__fish_botctl_using_subcommand help; and not __fish_seen_subcommand_from init doctor tenant server migrate backup restore events billing demo serve platform health logs image config completions man help" -f -a "billing" -d 'Manages subscriptions and money: plans, each tenant\'s paid period, manual payments, refunds and the ledger'
complete -c botctl -n "__fish_botctl_using_subcommand help; and not __fish_seen_subcommand_from init doctor tenant server migrate backup restore events billing demo serve platform health logs image config completions man help" -f -a "demo" -d 'Shows the whole platform with nothing configured: botctl\'s local PostgreSQL, the Bot API emulator, a demo tenant, its bot, and a customer booking, moving and cancelling a visit'
complete -c botctl -n "__fish_botctl_using_subcommand help; and not __fish_seen_subcommand_from init doctor tenant server migrate backup restore events billing demo serve platform health logs image config completions man help" -f -a "serve" -d 'Runs one tenant\'s bot until SIGTERM or Ctrl-C (inside the tenant\'s container, configured by its environment; the same settings work as flags)'
complete -c botctl -n "__fish_botctl_using_subcommand help; and not __fish_seen_subcommand_from init doctor tenant server migrate backup restore events billing demo serve platform health logs image config completions man help" -f -a "platform" -d 'The platform\'s own daemon: the subscription clock, its notices, and the bots it stops and starts'
complete -c botctl -n "__fish_botctl_using_subcommand help; and not __fish_seen_subcommand_from init doctor tenant server migrate backup restore events billing demo serve platform health logs image config completions man help" -f -a "health" -d 'Asks a running `botctl serve` whether it is healthy; exits 0 when it is, 1 when not (Docker\'s healthcheck)'
complete -c botctl -n "__fish_botctl_using_subcommand help; and not __fish_seen_subcommand_from init doctor tenant server migrate backup restore events billing demo serve platform health logs image config completions man help" -f -a "logs" -d 'Prints a tenant\'s bot output (both streams) from its container; with -f, follows it across restarts'
complete -c botctl -n "__fish_botctl_using_subcommand help; and not __fish_seen_subcommand_from init doctor tenant server migrate backup restore events billing demo serve platform health logs image config completions man help" -f -a "image" -d 'The tenant image that every tenant\'s container runs'
complete -c botctl -n "__fish_botctl_using_subcommand help; and not __fish_seen_subcommand_from init doctor tenant server migrate backup restore events billing demo serve platform health logs image config completions man help" -f -a "config" -d 'Inspects botctl\'s configuration'
complete -c botctl -n "__fish_botctl_using_subcommand help; and not __fish_seen_subcommand_from init doctor tenant server migrate backup restore events billing demo serve platform health logs image config completions man help" -f -a "completions" -d 'Prints a shell completion script (generated copies live in the repository\'s completions/ folder)'
complete -c botctl -n "__fish_botctl_using_subcommand help; and not __fish_seen_subcommand_from init doctor tenant server migrate backup restore events billing demo serve platform health logs image config completions man help" -f -a "man" -d 'Prints the botctl(1) man page, or writes one page per command into a directory'
complete -c botctl -n "__fish_botctl_using_subcommand help; and not __fish_seen_subcommand_from init doctor tenant server migrate backup restore events billing demo serve platform health logs image config completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from tenant" -f -a "create" -d 'Creates a tenant: checks the token with Telegram, then makes its role, schema and seed data in one transaction'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from tenant" -f -a "list" -d 'Lists tenants'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from tenant" -f -a "show" -d 'Shows everything known about one tenant (the token only as its bot id and fingerprint)'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from tenant" -f -a "update" -d 'Changes a tenant\'s display name, owners, time zone, locale, token or container limits; every change is recorded as an event'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from tenant" -f -a "delete" -d 'Deletes a tenant: takes a final backup, removes its container, drops its schema with all its data and its role; its events remain'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from tenant" -f -a "start" -d 'Starts the tenant\'s bot in its container (making the container first if there is none, with a new database password) and waits until it is healthy'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from tenant" -f -a "stop" -d 'Stops the tenant\'s container (SIGTERM, then 10 s); `start` runs it again'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from tenant" -f -a "restart" -d 'Stops and starts the tenant\'s container, waiting until it is healthy again'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from tenant" -f -a "upgrade" -d 'Moves tenants to another image: migrates each schema, stops the old bot, starts the new one and waits until it is healthy, or rolls back to the old image'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from tenant" -f -a "move" -d 'Moves a tenant\'s schema to another PostgreSQL server, or every tenant off one (--all-from)'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from server" -f -a "add" -d 'Adds a PostgreSQL server for tenants, or changes the capacity or container host of one already added with the same URL'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from server" -f -a "list" -d 'Lists the servers: tenants, capacity, draining, PostgreSQL version and whether each answers now'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from server" -f -a "drain" -d 'Stops placing new tenants on a server (its tenants stay; `tenant move --all-from` moves them)'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from server" -f -a "remove" -d 'Forgets a server that holds no live tenant (nothing on the server itself is touched)'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from migrate" -f -a "status" -d 'Shows each tenant\'s schema version and how many migrations it is missing'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from backup" -f -a "list" -d 'Lists the archives in the backup directory, newest first'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from backup" -f -a "verify" -d 'Checks archives: that each is a complete archive, that its manifest and every table match their sha256 and row counts, and that the file is the one the control plane recorded when it was written'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from billing" -f -a "plans" -d 'Lists the plans with their days and prices (disabled ones too)'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from billing" -f -a "plan" -d 'Creates, changes, disables or enables a plan'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from billing" -f -a "show" -d 'Shows a tenant\'s subscription (state, paid period, grace, plan) and its payments'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from billing" -f -a "list" -d 'Lists subscriptions, those ending first on top (cancelled ones only when asked for by --state)'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from billing" -f -a "credit" -d 'Records a manual payment and credits its days: from the paid period\'s end, or from now if it has ended (in grace, suspended) or never began (complimentary, which becomes active)'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from billing" -f -a "refund" -d 'Refunds a payment: takes its days back from the tenant\'s paid period (the platform\'s clock then decides the state) and records the revocation. Refunding a payment twice changes nothing'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from billing" -f -a "extend-trial" -d 'Extends a tenant\'s trial: its end moves --days later, recorded in the ledger as a `trial` row'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from billing" -f -a "ledger" -d 'Prints the ledger: every trial, credit and revocation with the period before and after, oldest first, for one tenant (live or deleted) or all'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from platform" -f -a "serve" -d 'Runs the platform daemon until SIGTERM or Ctrl-C. One instance acts per installation (a lock in PostgreSQL); others wait as standbys and take over when it dies. /healthz and /metrics listen on `platform.listen`'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from image" -f -a "build" -d 'Builds the tenant image from this botctl binary, without pulling anything'
complete -c botctl -n "__fish_botctl_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "show" -d 'Prints every effective setting, where it came from, and secrets redacted'

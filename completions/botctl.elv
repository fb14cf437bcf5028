
use builtin;
use str;

set edit:completion:arg-completer[botctl] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'botctl'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'botctl'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand init 'Creates or upgrades the control-plane schema `botctl` (safe to run again: it then does nothing)'
            cand doctor 'Checks PostgreSQL, the control schema, the connection budget, whether the tenant schemas fit Citus, Docker, the tenant image, the tenants'' containers and the Telegram Bot API'
            cand tenant 'Creates, lists, shows, changes and deletes tenants (one bot, one schema and role each)'
            cand server 'The PostgreSQL servers tenant schemas live on: `main` (botctl''s own) and those added here'
            cand migrate 'Applies pending tenant-schema migrations, several tenants at once, each under its own lock'
            cand backup 'Backs up tenants: each one''s schema, as of one instant, into DEST/<tenant>/<tenant>-<UTC time>.tar.zst'
            cand restore 'Restores a tenant from a backup archive, as one transaction: a failure anywhere leaves the live tenant exactly as it was'
            cand events 'Shows what operators did (who, when, what; never secrets), oldest first'
            cand billing 'Manages subscriptions and money: plans, each tenant''s paid period, manual payments, refunds and the ledger'
            cand demo 'Shows the whole platform with nothing configured: botctl''s local PostgreSQL, the Bot API emulator, a demo tenant, its bot, and a customer booking, moving and cancelling a visit'
            cand serve 'Runs one tenant''s bot until SIGTERM or Ctrl-C (inside the tenant''s container, configured by its environment; the same settings work as flags)'
            cand platform 'The platform''s own daemon: the subscription clock, its notices, and the bots it stops and starts'
            cand health 'Asks a running `botctl serve` whether it is healthy; exits 0 when it is, 1 when not (Docker''s healthcheck)'
            cand logs 'Prints a tenant''s bot output (both streams) from its container; with -f, follows it across restarts'
            cand image 'The tenant image that every tenant''s container runs'
            cand config 'Inspects botctl''s configuration'
            cand completions 'Prints a shell completion script (generated copies live in the repository''s completions/ folder)'
            cand man 'Prints the botctl(1) man page, or writes one page per command into a directory'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'botctl;init'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;doctor'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand --fix 'Removes containers that belong to no tenant and starts tenants marked running whose bot is not, then checks again. Asks first on a terminal; elsewhere it needs --yes'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;tenant'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand create 'Creates a tenant: checks the token with Telegram, then makes its role, schema and seed data in one transaction'
            cand list 'Lists tenants'
            cand show 'Shows everything known about one tenant (the token only as its bot id and fingerprint)'
            cand update 'Changes a tenant''s display name, owners, time zone, locale, token or container limits; every change is recorded as an event'
            cand delete 'Deletes a tenant: takes a final backup, removes its container, drops its schema with all its data and its role; its events remain'
            cand start 'Starts the tenant''s bot in its container (making the container first if there is none, with a new database password) and waits until it is healthy'
            cand stop 'Stops the tenant''s container (SIGTERM, then 10 s); `start` runs it again'
            cand restart 'Stops and starts the tenant''s container, waiting until it is healthy again'
            cand upgrade 'Moves tenants to another image: migrates each schema, stops the old bot, starts the new one and waits until it is healthy, or rolls back to the old image'
            cand move 'Moves a tenant''s schema to another PostgreSQL server, or every tenant off one (--all-from)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'botctl;tenant;create'= {
            cand --token 'The bot''s token from @BotFather'
            cand --token-file 'Reads the bot''s token from this file'
            cand --display-name 'The business''s name as customers see it [create''s default: the template''s]'
            cand --admin 'Telegram user ids of the business''s owners, comma-separated (`update` replaces them all)'
            cand --timezone 'The business''s IANA time zone, e.g. Europe/Moscow [create''s default: tenant_defaults.timezone]'
            cand --locale 'The language of the bot''s texts [create''s default: a template file''s own, else tenant_defaults.locale]'
            cand --template 'A built-in template (barbershop, beauty_salon, clinic) or a YAML file'
            cand --memory-mb 'Memory limit of the tenant''s container in MiB (at least 16), or `default` for runtime.memory_mb'
            cand --cpus 'CPU limit of the tenant''s container, e.g. 0.5, or `default` for runtime.cpus'
            cand --server 'Puts its schema on this PostgreSQL server (`botctl server list`) [default: the one with the most room]'
            cand --plan 'Begins paid on this plan: needs the payment''s --amount and --reference, credited from now'
            cand --amount 'The amount received for --plan, e.g. 799RUB (its price in that currency)'
            cand --reference 'The payment''s reference for --plan (an invoice or transfer number), unique per payment'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand --no-start 'Leaves the tenant stopped instead of starting its container (`tenant start` starts it)'
            cand --trial 'Begins with a free trial of billing.trial (7 days unless configured), ending in grace like a paid period'
            cand --any-amount 'Records an --amount other than the plan''s price (a discount, a negotiated price); only with --plan'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;tenant;list'= {
            cand --status 'Shows only tenants with this status (deleted tenants appear only when asked for)'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;tenant;show'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;tenant;update'= {
            cand --display-name 'The business''s name as customers see it [create''s default: the template''s]'
            cand --admin 'Telegram user ids of the business''s owners, comma-separated (`update` replaces them all)'
            cand --timezone 'The business''s IANA time zone, e.g. Europe/Moscow [create''s default: tenant_defaults.timezone]'
            cand --locale 'The language of the bot''s texts [create''s default: a template file''s own, else tenant_defaults.locale]'
            cand --memory-mb 'Memory limit of the tenant''s container in MiB (at least 16), or `default` for runtime.memory_mb'
            cand --cpus 'CPU limit of the tenant''s container, e.g. 0.5, or `default` for runtime.cpus'
            cand --token 'The bot''s token from @BotFather'
            cand --token-file 'Reads the bot''s token from this file'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand --force 'Accepts a token of a different bot than the tenant''s current one'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;tenant;delete'= {
            cand --dest 'The backup directory, holding one directory per tenant [default: backup.dir]'
            cand --lock-timeout 'Fails a tenant whose table another session holds for this long, naming the table (e.g. 30s, 2m) [default: backup.lock_timeout]'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand --no-backup 'Deletes without taking a final backup first'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;tenant;start'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;tenant;stop'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;tenant;restart'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;tenant;upgrade'= {
            cand -j 'How many tenants to work on at once on each PostgreSQL server: a fleet on 4 servers works on up to 4 × this many at once, and no server on more than this'
            cand --jobs 'How many tenants to work on at once on each PostgreSQL server: a fleet on 4 servers works on up to 4 × this many at once, and no server on more than this'
            cand --image 'The image to move to [default: docker.image]'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand --all 'Works on every tenant'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;tenant;move'= {
            cand --to 'The server to move to (with --all-from: instead of placing each tenant where a new one would go)'
            cand --all-from 'Moves every tenant off this server, marking it draining first'
            cand -j 'With --all-from: how many tenants move at once'
            cand --jobs 'With --all-from: how many tenants move at once'
            cand --dest 'The backup directory, holding one directory per tenant [default: backup.dir]'
            cand --lock-timeout 'Fails a tenant whose table another session holds for this long, naming the table (e.g. 30s, 2m) [default: backup.lock_timeout]'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand --force 'Moves onto a server that is draining'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;tenant;help'= {
            cand create 'Creates a tenant: checks the token with Telegram, then makes its role, schema and seed data in one transaction'
            cand list 'Lists tenants'
            cand show 'Shows everything known about one tenant (the token only as its bot id and fingerprint)'
            cand update 'Changes a tenant''s display name, owners, time zone, locale, token or container limits; every change is recorded as an event'
            cand delete 'Deletes a tenant: takes a final backup, removes its container, drops its schema with all its data and its role; its events remain'
            cand start 'Starts the tenant''s bot in its container (making the container first if there is none, with a new database password) and waits until it is healthy'
            cand stop 'Stops the tenant''s container (SIGTERM, then 10 s); `start` runs it again'
            cand restart 'Stops and starts the tenant''s container, waiting until it is healthy again'
            cand upgrade 'Moves tenants to another image: migrates each schema, stops the old bot, starts the new one and waits until it is healthy, or rolls back to the old image'
            cand move 'Moves a tenant''s schema to another PostgreSQL server, or every tenant off one (--all-from)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'botctl;tenant;help;create'= {
        }
        &'botctl;tenant;help;list'= {
        }
        &'botctl;tenant;help;show'= {
        }
        &'botctl;tenant;help;update'= {
        }
        &'botctl;tenant;help;delete'= {
        }
        &'botctl;tenant;help;start'= {
        }
        &'botctl;tenant;help;stop'= {
        }
        &'botctl;tenant;help;restart'= {
        }
        &'botctl;tenant;help;upgrade'= {
        }
        &'botctl;tenant;help;move'= {
        }
        &'botctl;tenant;help;help'= {
        }
        &'botctl;server'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand add 'Adds a PostgreSQL server for tenants, or changes the capacity or container host of one already added with the same URL'
            cand list 'Lists the servers: tenants, capacity, draining, PostgreSQL version and whether each answers now'
            cand drain 'Stops placing new tenants on a server (its tenants stay; `tenant move --all-from` moves them)'
            cand remove 'Forgets a server that holds no live tenant (nothing on the server itself is touched)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'botctl;server;add'= {
            cand --url 'An administrator''s URL, postgres://USER:PASSWORD@HOST:PORT/DATABASE (stored for botctl, shown redacted)'
            cand --url-file 'Reads the URL from this file, keeping its password out of the process list and shell history'
            cand --capacity 'How many tenants placement puts on it [default for a new server: 2000]'
            cand --container-host 'How tenant containers reach it when not at the URL''s host: HOST, HOST:PORT or a socket directory'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;server;list'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;server;drain'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand --undo 'Lets placement put new tenants on it again'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;server;remove'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;server;help'= {
            cand add 'Adds a PostgreSQL server for tenants, or changes the capacity or container host of one already added with the same URL'
            cand list 'Lists the servers: tenants, capacity, draining, PostgreSQL version and whether each answers now'
            cand drain 'Stops placing new tenants on a server (its tenants stay; `tenant move --all-from` moves them)'
            cand remove 'Forgets a server that holds no live tenant (nothing on the server itself is touched)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'botctl;server;help;add'= {
        }
        &'botctl;server;help;list'= {
        }
        &'botctl;server;help;drain'= {
        }
        &'botctl;server;help;remove'= {
        }
        &'botctl;server;help;help'= {
        }
        &'botctl;migrate'= {
            cand -j 'How many tenants to work on at once on each PostgreSQL server: a fleet on 4 servers works on up to 4 × this many at once, and no server on more than this'
            cand --jobs 'How many tenants to work on at once on each PostgreSQL server: a fleet on 4 servers works on up to 4 × this many at once, and no server on more than this'
            cand --lock-timeout 'Fails a tenant whose table another session holds for this long, naming the table (e.g. 30s, 2m) [default: backup.lock_timeout]'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand --all 'Works on every tenant'
            cand --dry-run 'Shows what would be applied without applying it'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand status 'Shows each tenant''s schema version and how many migrations it is missing'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'botctl;migrate;status'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;migrate;help'= {
            cand status 'Shows each tenant''s schema version and how many migrations it is missing'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'botctl;migrate;help;status'= {
        }
        &'botctl;migrate;help;help'= {
        }
        &'botctl;backup'= {
            cand -j 'How many tenants to work on at once on each PostgreSQL server: a fleet on 4 servers works on up to 4 × this many at once, and no server on more than this'
            cand --jobs 'How many tenants to work on at once on each PostgreSQL server: a fleet on 4 servers works on up to 4 × this many at once, and no server on more than this'
            cand --dest 'The backup directory, holding one directory per tenant [default: backup.dir]'
            cand --lock-timeout 'Fails a tenant whose table another session holds for this long, naming the table (e.g. 30s, 2m) [default: backup.lock_timeout]'
            cand --keep 'Keeps each tenant''s newest N archives (at least 1) and deletes older ones'
            cand --keep-days 'Keeps each tenant''s archives younger than D days (with --keep, an archive either keeps stays)'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand --all 'Works on every tenant'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand list 'Lists the archives in the backup directory, newest first'
            cand verify 'Checks archives: that each is a complete archive, that its manifest and every table match their sha256 and row counts, and that the file is the one the control plane recorded when it was written'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'botctl;backup;list'= {
            cand --dest 'The backup directory, holding one directory per tenant [default: backup.dir]'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;backup;verify'= {
            cand --dest 'The backup directory, holding one directory per tenant [default: backup.dir]'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand --all 'Checks every archive in the backup directory'
            cand --deep 'Also loads each archive into a scratch schema and drops it again'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;backup;help'= {
            cand list 'Lists the archives in the backup directory, newest first'
            cand verify 'Checks archives: that each is a complete archive, that its manifest and every table match their sha256 and row counts, and that the file is the one the control plane recorded when it was written'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'botctl;backup;help;list'= {
        }
        &'botctl;backup;help;verify'= {
        }
        &'botctl;backup;help;help'= {
        }
        &'botctl;restore'= {
            cand --from 'The archive (see `botctl backup list`)'
            cand --as 'Restores into a new tenant of this name instead, created stopped; it needs a bot of its own (--token or --token-file), as a bot serves one tenant'
            cand --server 'Puts the --as tenant''s schema on this PostgreSQL server (`botctl server list`) [default: the one with the most room]'
            cand --token 'The bot''s token from @BotFather'
            cand --token-file 'Reads the bot''s token from this file'
            cand --lock-timeout 'Fails a tenant whose table another session holds for this long, naming the table (e.g. 30s, 2m) [default: backup.lock_timeout]'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand --force 'Replaces a tenant that has customers or bookings'
            cand --no-keep 'Drops the replaced schema instead of keeping it'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;events'= {
            cand --limit 'How many of the newest events to show'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;billing'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand plans 'Lists the plans with their days and prices (disabled ones too)'
            cand plan 'Creates, changes, disables or enables a plan'
            cand show 'Shows a tenant''s subscription (state, paid period, grace, plan) and its payments'
            cand list 'Lists subscriptions, those ending first on top (cancelled ones only when asked for by --state)'
            cand credit 'Records a manual payment and credits its days: from the paid period''s end, or from now if it has ended (in grace, suspended) or never began (complimentary, which becomes active)'
            cand refund 'Refunds a payment: takes its days back from the tenant''s paid period (the platform''s clock then decides the state) and records the revocation. Refunding a payment twice changes nothing'
            cand extend-trial 'Extends a tenant''s trial: its end moves --days later, recorded in the ledger as a `trial` row'
            cand ledger 'Prints the ledger: every trial, credit and revocation with the period before and after, oldest first, for one tenant (live or deleted) or all'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'botctl;billing;plans'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;billing;plan'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand set 'Creates a plan or changes one; what is not given keeps its value. Prices are set per currency: `--price 150XTR` adds or changes the Stars price and keeps the ruble one'
            cand disable 'A plan by its code. `disable` stops selling it (payments that name it keep their meaning) and confirms on a terminal, needing --yes elsewhere; `enable` sells it again'
            cand enable 'A plan by its code. `disable` stops selling it (payments that name it keep their meaning) and confirms on a terminal, needing --yes elsewhere; `enable` sells it again'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'botctl;billing;plan;set'= {
            cand --days 'The days one payment for the plan credits (1-3660); required for a new plan'
            cand --price 'A price with its currency, e.g. 299RUB, 799.50RUB or 150XTR; repeat for each currency'
            cand --remove-price 'Stops selling the plan in this currency (RUB or XTR); repeatable'
            cand --name-ru 'The plan''s name in Russian [a new plan''s default: its code]'
            cand --name-en 'The plan''s name in English [a new plan''s default: its code]'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;billing;plan;disable'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;billing;plan;enable'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;billing;plan;help'= {
            cand set 'Creates a plan or changes one; what is not given keeps its value. Prices are set per currency: `--price 150XTR` adds or changes the Stars price and keeps the ruble one'
            cand disable 'A plan by its code. `disable` stops selling it (payments that name it keep their meaning) and confirms on a terminal, needing --yes elsewhere; `enable` sells it again'
            cand enable 'A plan by its code. `disable` stops selling it (payments that name it keep their meaning) and confirms on a terminal, needing --yes elsewhere; `enable` sells it again'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'botctl;billing;plan;help;set'= {
        }
        &'botctl;billing;plan;help;disable'= {
        }
        &'botctl;billing;plan;help;enable'= {
        }
        &'botctl;billing;plan;help;help'= {
        }
        &'botctl;billing;show'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;billing;list'= {
            cand --state 'Only subscriptions in this state (trial, active, grace, suspended, complimentary, cancelled); repeatable'
            cand --expiring 'Only those whose trial, paid period or grace ends within this span, e.g. 7d or 36h'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;billing;credit'= {
            cand --plan 'The plan paid for: its days are credited, and the amount must be its price in that currency'
            cand --days 'The days paid for, without a plan (1-3660)'
            cand --amount 'The amount received with its currency, e.g. 799RUB, 799.50RUB or 150XTR'
            cand --reference 'The payment''s own reference (an invoice or transfer number): a payment is credited once per reference'
            cand --note 'A note kept with the payment'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand --any-amount 'Records an amount other than the plan''s price (a discount, a negotiated price); only with --plan'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;billing;refund'= {
            cand --provider 'The provider that took the payment'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;billing;extend-trial'= {
            cand --days 'The days to add to the trial (1-90)'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;billing;ledger'= {
            cand --since 'Only rows from this date (2026-12-01, UTC midnight) or RFC 3339 time on'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand --csv 'Prints CSV with a header (amounts as decimals with their currency) for accounting, instead of -o''s format'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;billing;help'= {
            cand plans 'Lists the plans with their days and prices (disabled ones too)'
            cand plan 'Creates, changes, disables or enables a plan'
            cand show 'Shows a tenant''s subscription (state, paid period, grace, plan) and its payments'
            cand list 'Lists subscriptions, those ending first on top (cancelled ones only when asked for by --state)'
            cand credit 'Records a manual payment and credits its days: from the paid period''s end, or from now if it has ended (in grace, suspended) or never began (complimentary, which becomes active)'
            cand refund 'Refunds a payment: takes its days back from the tenant''s paid period (the platform''s clock then decides the state) and records the revocation. Refunding a payment twice changes nothing'
            cand extend-trial 'Extends a tenant''s trial: its end moves --days later, recorded in the ledger as a `trial` row'
            cand ledger 'Prints the ledger: every trial, credit and revocation with the period before and after, oldest first, for one tenant (live or deleted) or all'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'botctl;billing;help;plans'= {
        }
        &'botctl;billing;help;plan'= {
            cand set 'Creates a plan or changes one; what is not given keeps its value. Prices are set per currency: `--price 150XTR` adds or changes the Stars price and keeps the ruble one'
            cand disable 'A plan by its code. `disable` stops selling it (payments that name it keep their meaning) and confirms on a terminal, needing --yes elsewhere; `enable` sells it again'
            cand enable 'A plan by its code. `disable` stops selling it (payments that name it keep their meaning) and confirms on a terminal, needing --yes elsewhere; `enable` sells it again'
        }
        &'botctl;billing;help;plan;set'= {
        }
        &'botctl;billing;help;plan;disable'= {
        }
        &'botctl;billing;help;plan;enable'= {
        }
        &'botctl;billing;help;show'= {
        }
        &'botctl;billing;help;list'= {
        }
        &'botctl;billing;help;credit'= {
        }
        &'botctl;billing;help;refund'= {
        }
        &'botctl;billing;help;extend-trial'= {
        }
        &'botctl;billing;help;ledger'= {
        }
        &'botctl;billing;help;help'= {
        }
        &'botctl;demo'= {
            cand --locale 'The language of the demo bot'
            cand --template 'The business template of the demo tenant'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand --keep 'Keeps the bot and the emulator running afterwards, and says how to talk to them'
            cand --platform 'Plays the whole business instead: the platform daemon and its sales bot, a buyer paying through the YooKassa emulator for a bot that then runs in its own container (needs Docker), and a customer booking through it'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;serve'= {
            cand --tenant 'The tenant''s name, for logs'
            cand --tenant-database-url 'The tenant''s own database role: postgres://tenant_NAME:PASSWORD@HOST:PORT/DATABASE'
            cand --database-password-file 'Reads the database role''s password from this file (a Swarm secret), in place of the URL''s'
            cand --token 'The bot''s token'
            cand --token-file 'Reads the bot''s token from this file (a Docker secret, for example)'
            cand --http-addr 'Where /healthz and /metrics listen'
            cand --outbox-rescan 'How often the outbox looks for messages another process queued (the bot''s own are sent at once)'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;platform'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand serve 'Runs the platform daemon until SIGTERM or Ctrl-C. One instance acts per installation (a lock in PostgreSQL); others wait as standbys and take over when it dies. /healthz and /metrics listen on `platform.listen`'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'botctl;platform;serve'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;platform;help'= {
            cand serve 'Runs the platform daemon until SIGTERM or Ctrl-C. One instance acts per installation (a lock in PostgreSQL); others wait as standbys and take over when it dies. /healthz and /metrics listen on `platform.listen`'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'botctl;platform;help;serve'= {
        }
        &'botctl;platform;help;help'= {
        }
        &'botctl;health'= {
            cand --http-addr 'The daemon''s health listener'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;logs'= {
            cand --since 'Only lines newer than this: a duration back from now (10m, 2h) or an RFC 3339 time'
            cand --tail 'Only this many lines back from the end'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -f 'Keeps printing lines as they come, across restarts of the container, until Ctrl-C'
            cand --follow 'Keeps printing lines as they come, across restarts of the container, until Ctrl-C'
            cand -t 'Starts every line with its time'
            cand --timestamps 'Starts every line with its time'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;image'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand build 'Builds the tenant image from this botctl binary, without pulling anything'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'botctl;image;build'= {
            cand --tag 'The image tag [default: docker.image, botctl:<version>]'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;image;help'= {
            cand build 'Builds the tenant image from this botctl binary, without pulling anything'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'botctl;image;help;build'= {
        }
        &'botctl;image;help;help'= {
        }
        &'botctl;config'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand show 'Prints every effective setting, where it came from, and secrets redacted'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'botctl;config;show'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;config;help'= {
            cand show 'Prints every effective setting, where it came from, and secrets redacted'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'botctl;config;help;show'= {
        }
        &'botctl;config;help;help'= {
        }
        &'botctl;completions'= {
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;man'= {
            cand --dir 'Writes botctl.1 and a page per subcommand (botctl-init.1, …) into this directory'
            cand --config 'Reads settings from this YAML file instead of the standard places'
            cand --database-url 'Connects to this PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/DATABASE) instead of botctl''s local cluster'
            cand --data-dir 'Keeps botctl''s own data (the local PostgreSQL cluster) in this directory'
            cand -o 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --output 'Prints results as a table for people, or as JSON or YAML for scripts'
            cand --color 'Colors output always, never, or only on a terminal (NO_COLOR also turns color off)'
            cand --log-format 'Writes log lines as text or as JSON objects (the level is set by BOTCTL_LOG, e.g. BOTCTL_LOG=debug)'
            cand -q 'Prints nothing but results and errors'
            cand --quiet 'Prints nothing but results and errors'
            cand -v 'Prints more about what happens; repeat for more detail'
            cand --verbose 'Prints more about what happens; repeat for more detail'
            cand -y 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --yes 'Answers yes to confirmations; required for destructive commands when not on a terminal'
            cand --no-progress 'Never draws progress bars or spinners'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'botctl;help'= {
            cand init 'Creates or upgrades the control-plane schema `botctl` (safe to run again: it then does nothing)'
            cand doctor 'Checks PostgreSQL, the control schema, the connection budget, whether the tenant schemas fit Citus, Docker, the tenant image, the tenants'' containers and the Telegram Bot API'
            cand tenant 'Creates, lists, shows, changes and deletes tenants (one bot, one schema and role each)'
            cand server 'The PostgreSQL servers tenant schemas live on: `main` (botctl''s own) and those added here'
            cand migrate 'Applies pending tenant-schema migrations, several tenants at once, each under its own lock'
            cand backup 'Backs up tenants: each one''s schema, as of one instant, into DEST/<tenant>/<tenant>-<UTC time>.tar.zst'
            cand restore 'Restores a tenant from a backup archive, as one transaction: a failure anywhere leaves the live tenant exactly as it was'
            cand events 'Shows what operators did (who, when, what; never secrets), oldest first'
            cand billing 'Manages subscriptions and money: plans, each tenant''s paid period, manual payments, refunds and the ledger'
            cand demo 'Shows the whole platform with nothing configured: botctl''s local PostgreSQL, the Bot API emulator, a demo tenant, its bot, and a customer booking, moving and cancelling a visit'
            cand serve 'Runs one tenant''s bot until SIGTERM or Ctrl-C (inside the tenant''s container, configured by its environment; the same settings work as flags)'
            cand platform 'The platform''s own daemon: the subscription clock, its notices, and the bots it stops and starts'
            cand health 'Asks a running `botctl serve` whether it is healthy; exits 0 when it is, 1 when not (Docker''s healthcheck)'
            cand logs 'Prints a tenant''s bot output (both streams) from its container; with -f, follows it across restarts'
            cand image 'The tenant image that every tenant''s container runs'
            cand config 'Inspects botctl''s configuration'
            cand completions 'Prints a shell completion script (generated copies live in the repository''s completions/ folder)'
            cand man 'Prints the botctl(1) man page, or writes one page per command into a directory'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'botctl;help;init'= {
        }
        &'botctl;help;doctor'= {
        }
        &'botctl;help;tenant'= {
            cand create 'Creates a tenant: checks the token with Telegram, then makes its role, schema and seed data in one transaction'
            cand list 'Lists tenants'
            cand show 'Shows everything known about one tenant (the token only as its bot id and fingerprint)'
            cand update 'Changes a tenant''s display name, owners, time zone, locale, token or container limits; every change is recorded as an event'
            cand delete 'Deletes a tenant: takes a final backup, removes its container, drops its schema with all its data and its role; its events remain'
            cand start 'Starts the tenant''s bot in its container (making the container first if there is none, with a new database password) and waits until it is healthy'
            cand stop 'Stops the tenant''s container (SIGTERM, then 10 s); `start` runs it again'
            cand restart 'Stops and starts the tenant''s container, waiting until it is healthy again'
            cand upgrade 'Moves tenants to another image: migrates each schema, stops the old bot, starts the new one and waits until it is healthy, or rolls back to the old image'
            cand move 'Moves a tenant''s schema to another PostgreSQL server, or every tenant off one (--all-from)'
        }
        &'botctl;help;tenant;create'= {
        }
        &'botctl;help;tenant;list'= {
        }
        &'botctl;help;tenant;show'= {
        }
        &'botctl;help;tenant;update'= {
        }
        &'botctl;help;tenant;delete'= {
        }
        &'botctl;help;tenant;start'= {
        }
        &'botctl;help;tenant;stop'= {
        }
        &'botctl;help;tenant;restart'= {
        }
        &'botctl;help;tenant;upgrade'= {
        }
        &'botctl;help;tenant;move'= {
        }
        &'botctl;help;server'= {
            cand add 'Adds a PostgreSQL server for tenants, or changes the capacity or container host of one already added with the same URL'
            cand list 'Lists the servers: tenants, capacity, draining, PostgreSQL version and whether each answers now'
            cand drain 'Stops placing new tenants on a server (its tenants stay; `tenant move --all-from` moves them)'
            cand remove 'Forgets a server that holds no live tenant (nothing on the server itself is touched)'
        }
        &'botctl;help;server;add'= {
        }
        &'botctl;help;server;list'= {
        }
        &'botctl;help;server;drain'= {
        }
        &'botctl;help;server;remove'= {
        }
        &'botctl;help;migrate'= {
            cand status 'Shows each tenant''s schema version and how many migrations it is missing'
        }
        &'botctl;help;migrate;status'= {
        }
        &'botctl;help;backup'= {
            cand list 'Lists the archives in the backup directory, newest first'
            cand verify 'Checks archives: that each is a complete archive, that its manifest and every table match their sha256 and row counts, and that the file is the one the control plane recorded when it was written'
        }
        &'botctl;help;backup;list'= {
        }
        &'botctl;help;backup;verify'= {
        }
        &'botctl;help;restore'= {
        }
        &'botctl;help;events'= {
        }
        &'botctl;help;billing'= {
            cand plans 'Lists the plans with their days and prices (disabled ones too)'
            cand plan 'Creates, changes, disables or enables a plan'
            cand show 'Shows a tenant''s subscription (state, paid period, grace, plan) and its payments'
            cand list 'Lists subscriptions, those ending first on top (cancelled ones only when asked for by --state)'
            cand credit 'Records a manual payment and credits its days: from the paid period''s end, or from now if it has ended (in grace, suspended) or never began (complimentary, which becomes active)'
            cand refund 'Refunds a payment: takes its days back from the tenant''s paid period (the platform''s clock then decides the state) and records the revocation. Refunding a payment twice changes nothing'
            cand extend-trial 'Extends a tenant''s trial: its end moves --days later, recorded in the ledger as a `trial` row'
            cand ledger 'Prints the ledger: every trial, credit and revocation with the period before and after, oldest first, for one tenant (live or deleted) or all'
        }
        &'botctl;help;billing;plans'= {
        }
        &'botctl;help;billing;plan'= {
            cand set 'Creates a plan or changes one; what is not given keeps its value. Prices are set per currency: `--price 150XTR` adds or changes the Stars price and keeps the ruble one'
            cand disable 'A plan by its code. `disable` stops selling it (payments that name it keep their meaning) and confirms on a terminal, needing --yes elsewhere; `enable` sells it again'
            cand enable 'A plan by its code. `disable` stops selling it (payments that name it keep their meaning) and confirms on a terminal, needing --yes elsewhere; `enable` sells it again'
        }
        &'botctl;help;billing;plan;set'= {
        }
        &'botctl;help;billing;plan;disable'= {
        }
        &'botctl;help;billing;plan;enable'= {
        }
        &'botctl;help;billing;show'= {
        }
        &'botctl;help;billing;list'= {
        }
        &'botctl;help;billing;credit'= {
        }
        &'botctl;help;billing;refund'= {
        }
        &'botctl;help;billing;extend-trial'= {
        }
        &'botctl;help;billing;ledger'= {
        }
        &'botctl;help;demo'= {
        }
        &'botctl;help;serve'= {
        }
        &'botctl;help;platform'= {
            cand serve 'Runs the platform daemon until SIGTERM or Ctrl-C. One instance acts per installation (a lock in PostgreSQL); others wait as standbys and take over when it dies. /healthz and /metrics listen on `platform.listen`'
        }
        &'botctl;help;platform;serve'= {
        }
        &'botctl;help;health'= {
        }
        &'botctl;help;logs'= {
        }
        &'botctl;help;image'= {
            cand build 'Builds the tenant image from this botctl binary, without pulling anything'
        }
        &'botctl;help;image;build'= {
        }
        &'botctl;help;config'= {
            cand show 'Prints every effective setting, where it came from, and secrets redacted'
        }
        &'botctl;help;config;show'= {
        }
        &'botctl;help;completions'= {
        }
        &'botctl;help;man'= {
        }
        &'botctl;help;help'= {
        }
    ]
    $completions[$command]
}

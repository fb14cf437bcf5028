
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
            cand doctor 'Checks PostgreSQL, the control schema, Docker, the tenant image and the Telegram Bot API'
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
            cand doctor 'Checks PostgreSQL, the control schema, Docker, the tenant image and the Telegram Bot API'
            cand config 'Inspects botctl''s configuration'
            cand completions 'Prints a shell completion script (generated copies live in the repository''s completions/ folder)'
            cand man 'Prints the botctl(1) man page, or writes one page per command into a directory'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'botctl;help;init'= {
        }
        &'botctl;help;doctor'= {
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

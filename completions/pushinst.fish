# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_pushinst_global_optspecs
    string join \n i/inventory= v/verbose h/help V/version
end

function __fish_pushinst_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_pushinst_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_pushinst_using_subcommand
    set -l cmd (__fish_pushinst_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c pushinst -n "__fish_pushinst_needs_command" -s i -l inventory -d 'The inventory file' -r -F
complete -c pushinst -n "__fish_pushinst_needs_command" -s v -l verbose -d 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr'
complete -c pushinst -n "__fish_pushinst_needs_command" -s h -l help -d 'Print help'
complete -c pushinst -n "__fish_pushinst_needs_command" -s V -l version -d 'Print version'
complete -c pushinst -n "__fish_pushinst_needs_command" -f -a "deploy" -d 'Install packages on the targets (several packages install in the order given)'
complete -c pushinst -n "__fish_pushinst_needs_command" -f -a "remove" -d 'Uninstall a package from the targets with its [packages.NAME.OS.uninstall]; detect first, verify after'
complete -c pushinst -n "__fish_pushinst_needs_command" -f -a "check" -d 'Preflight: whether each target would take the package (login, admin rights, staging, facts); installs nothing'
complete -c pushinst -n "__fish_pushinst_needs_command" -f -a "hosts" -d 'List the targets `--to` resolves to, without touching them'
complete -c pushinst -n "__fish_pushinst_needs_command" -f -a "sync" -d 'Deliver every [jobs] entry (or the ones named) to each target with no success on record'
complete -c pushinst -n "__fish_pushinst_needs_command" -f -a "run" -d 'Start a job saved with `deploy --save-as`, or an inventory [jobs] entry'
complete -c pushinst -n "__fish_pushinst_needs_command" -f -a "retry" -d 'Run again only the hosts of the last (or given) run that did not succeed'
complete -c pushinst -n "__fish_pushinst_needs_command" -f -a "status" -d 'Host by host, the latest result of each package from the history'
complete -c pushinst -n "__fish_pushinst_needs_command" -f -a "logs" -d 'The diagnostic log of a host\'s latest attempt'
complete -c pushinst -n "__fish_pushinst_needs_command" -f -a "reset" -d 'Set the failed-attempt counter of hosts back to 0, so they are tried again'
complete -c pushinst -n "__fish_pushinst_needs_command" -f -a "cleanup" -d 'Remove what interrupted or crashed runs left on targets (temp dirs), from the journal'
complete -c pushinst -n "__fish_pushinst_needs_command" -f -a "creds" -d 'Store, remove or list the passwords `{ keyring = "NAME" }` reads (the OS keyring)'
complete -c pushinst -n "__fish_pushinst_needs_command" -f -a "generate" -d 'Write shell completions and the man page (for packagers)'
complete -c pushinst -n "__fish_pushinst_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l to -d 'Groups, hosts, ranges (web-[01-20].example), CIDR blocks, host:port; `!NAME` excludes; `@FILE` or `-` (stdin) reads one a line' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l save-as -d 'Record the job in the history without touching any host; start it with `pushinst run NAME` [default name: "Install PACKAGE VERSION"]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l state -d 'The history database [default: settings.state or $XDG_STATE_HOME/pushinst/history.db]' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l output -d 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)' -r -f -a "human\t''
json\t''"
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -s j -l concurrency -d 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l connect-timeout -d 'Limit for TCP connect and the SSH handshake [default: settings.connect_timeout or 10s]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l host-timeout -d 'Limit for everything on one host except cleanup [default: settings.host_timeout or 1h]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l exec -d 'How Windows hosts run the installer: `service` (a temporary service) or `task` (a scheduled task) [default: the host\'s `exec`, else service]' -r -f -a "service\t''
task\t''"
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l until -d 'Start no host after this local time (HH:MM, the next one; or YYYY-MM-DD HH:MM); the rest are listed as not started' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l log-dir -d 'Where per-host logs go [default: settings.log_dir/RUN, or logs/RUN beside the history]' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l exec-timeout -d 'Limit for the installer itself [default: the package\'s timeout, settings.exec_timeout or 30m]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l canary -d 'Run the first N hosts alone; the rest start only if every one of them succeeds' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l batch -d 'Work in waves of N hosts (or P% of them), each finished before the next starts' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l max-failures -d 'Start no new host once N hosts (or P% of them) have failed' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l junit -d 'Also write the results as JUnit XML to FILE (one testcase per host and package), for CI dashboards' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -s i -l inventory -d 'The inventory file' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -s q -l quiet -d 'Print only the summary and the hosts that did not succeed'
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l dry-run -d 'Print the per-host plan and touch nothing'
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l force -d 'Install even where the package\'s detect command says it is already installed'
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -s v -l verbose -d 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr'
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -s h -l help -d 'Print help'
complete -c pushinst -n "__fish_pushinst_using_subcommand remove" -l to -d 'Groups, hosts, ranges (web-[01-20].example), CIDR blocks, host:port; `!NAME` excludes; `@FILE` or `-` (stdin) reads one a line' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand remove" -l state -d 'The history database [default: settings.state or $XDG_STATE_HOME/pushinst/history.db]' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand remove" -l output -d 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)' -r -f -a "human\t''
json\t''"
complete -c pushinst -n "__fish_pushinst_using_subcommand remove" -s j -l concurrency -d 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand remove" -l connect-timeout -d 'Limit for TCP connect and the SSH handshake [default: settings.connect_timeout or 10s]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand remove" -l host-timeout -d 'Limit for everything on one host except cleanup [default: settings.host_timeout or 1h]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand remove" -l exec -d 'How Windows hosts run the installer: `service` (a temporary service) or `task` (a scheduled task) [default: the host\'s `exec`, else service]' -r -f -a "service\t''
task\t''"
complete -c pushinst -n "__fish_pushinst_using_subcommand remove" -l until -d 'Start no host after this local time (HH:MM, the next one; or YYYY-MM-DD HH:MM); the rest are listed as not started' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand remove" -l log-dir -d 'Where per-host logs go [default: settings.log_dir/RUN, or logs/RUN beside the history]' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand remove" -l exec-timeout -d 'Limit for the installer itself [default: the package\'s timeout, settings.exec_timeout or 30m]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand remove" -l canary -d 'Run the first N hosts alone; the rest start only if every one of them succeeds' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand remove" -l batch -d 'Work in waves of N hosts (or P% of them), each finished before the next starts' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand remove" -l max-failures -d 'Start no new host once N hosts (or P% of them) have failed' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand remove" -l junit -d 'Also write the results as JUnit XML to FILE (one testcase per host and package), for CI dashboards' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand remove" -s i -l inventory -d 'The inventory file' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand remove" -s q -l quiet -d 'Print only the summary and the hosts that did not succeed'
complete -c pushinst -n "__fish_pushinst_using_subcommand remove" -l dry-run -d 'Print the per-host plan and touch nothing'
complete -c pushinst -n "__fish_pushinst_using_subcommand remove" -l force -d 'Install even where the package\'s detect command says it is already installed'
complete -c pushinst -n "__fish_pushinst_using_subcommand remove" -s v -l verbose -d 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr'
complete -c pushinst -n "__fish_pushinst_using_subcommand remove" -s h -l help -d 'Print help'
complete -c pushinst -n "__fish_pushinst_using_subcommand check" -l to -d 'Groups, hosts, ranges (web-[01-20].example), CIDR blocks, host:port; `!NAME` excludes; `@FILE` or `-` (stdin) reads one a line' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand check" -l state -d 'The history database [default: settings.state or $XDG_STATE_HOME/pushinst/history.db]' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand check" -l output -d 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)' -r -f -a "human\t''
json\t''"
complete -c pushinst -n "__fish_pushinst_using_subcommand check" -s j -l concurrency -d 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand check" -l connect-timeout -d 'Limit for TCP connect and the SSH handshake [default: settings.connect_timeout or 10s]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand check" -l host-timeout -d 'Limit for everything on one host except cleanup [default: settings.host_timeout or 1h]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand check" -s i -l inventory -d 'The inventory file' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand check" -s q -l quiet -d 'Print only the summary and the hosts that did not succeed'
complete -c pushinst -n "__fish_pushinst_using_subcommand check" -s v -l verbose -d 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr'
complete -c pushinst -n "__fish_pushinst_using_subcommand check" -s h -l help -d 'Print help'
complete -c pushinst -n "__fish_pushinst_using_subcommand hosts" -l to -d 'Groups, hosts, ranges, CIDR blocks, host:port; `!NAME` excludes; `@FILE` or `-` reads one a line' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand hosts" -l output -d 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)' -r -f -a "human\t''
json\t''"
complete -c pushinst -n "__fish_pushinst_using_subcommand hosts" -s i -l inventory -d 'The inventory file' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand hosts" -s q -l quiet -d 'Print only the targets, no count'
complete -c pushinst -n "__fish_pushinst_using_subcommand hosts" -s v -l verbose -d 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr'
complete -c pushinst -n "__fish_pushinst_using_subcommand hosts" -s h -l help -d 'Print help'
complete -c pushinst -n "__fish_pushinst_using_subcommand sync" -l state -d 'The history database [default: settings.state or $XDG_STATE_HOME/pushinst/history.db]' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand sync" -l output -d 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)' -r -f -a "human\t''
json\t''"
complete -c pushinst -n "__fish_pushinst_using_subcommand sync" -s j -l concurrency -d 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand sync" -l connect-timeout -d 'Limit for TCP connect and the SSH handshake [default: settings.connect_timeout or 10s]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand sync" -l host-timeout -d 'Limit for everything on one host except cleanup [default: settings.host_timeout or 1h]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand sync" -l exec -d 'How Windows hosts run the installer: `service` (a temporary service) or `task` (a scheduled task) [default: the host\'s `exec`, else service]' -r -f -a "service\t''
task\t''"
complete -c pushinst -n "__fish_pushinst_using_subcommand sync" -l until -d 'Start no host after this local time (HH:MM, the next one; or YYYY-MM-DD HH:MM); the rest are listed as not started' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand sync" -l log-dir -d 'Where per-host logs go [default: settings.log_dir/RUN, or logs/RUN beside the history]' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand sync" -l exec-timeout -d 'Limit for the installer itself [default: the package\'s timeout, settings.exec_timeout or 30m]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand sync" -l canary -d 'Run the first N hosts alone; the rest start only if every one of them succeeds' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand sync" -l batch -d 'Work in waves of N hosts (or P% of them), each finished before the next starts' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand sync" -l max-failures -d 'Start no new host once N hosts (or P% of them) have failed' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand sync" -l junit -d 'Also write the results as JUnit XML to FILE (one testcase per host and package), for CI dashboards' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand sync" -s i -l inventory -d 'The inventory file' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand sync" -l include-removed -d 'Also reinstall hosts where `pushinst remove` took the package off on purpose'
complete -c pushinst -n "__fish_pushinst_using_subcommand sync" -s q -l quiet -d 'Print only the summary and the hosts that did not succeed'
complete -c pushinst -n "__fish_pushinst_using_subcommand sync" -l dry-run -d 'Print the per-host plan and touch nothing'
complete -c pushinst -n "__fish_pushinst_using_subcommand sync" -l force -d 'Install even where the package\'s detect command says it is already installed'
complete -c pushinst -n "__fish_pushinst_using_subcommand sync" -s v -l verbose -d 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr'
complete -c pushinst -n "__fish_pushinst_using_subcommand sync" -s h -l help -d 'Print help'
complete -c pushinst -n "__fish_pushinst_using_subcommand run" -l state -d 'The history database [default: settings.state or $XDG_STATE_HOME/pushinst/history.db]' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand run" -l output -d 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)' -r -f -a "human\t''
json\t''"
complete -c pushinst -n "__fish_pushinst_using_subcommand run" -s j -l concurrency -d 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand run" -l connect-timeout -d 'Limit for TCP connect and the SSH handshake [default: settings.connect_timeout or 10s]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand run" -l host-timeout -d 'Limit for everything on one host except cleanup [default: settings.host_timeout or 1h]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand run" -l exec -d 'How Windows hosts run the installer: `service` (a temporary service) or `task` (a scheduled task) [default: the host\'s `exec`, else service]' -r -f -a "service\t''
task\t''"
complete -c pushinst -n "__fish_pushinst_using_subcommand run" -l until -d 'Start no host after this local time (HH:MM, the next one; or YYYY-MM-DD HH:MM); the rest are listed as not started' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand run" -l log-dir -d 'Where per-host logs go [default: settings.log_dir/RUN, or logs/RUN beside the history]' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand run" -l exec-timeout -d 'Limit for the installer itself [default: the package\'s timeout, settings.exec_timeout or 30m]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand run" -l canary -d 'Run the first N hosts alone; the rest start only if every one of them succeeds' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand run" -l batch -d 'Work in waves of N hosts (or P% of them), each finished before the next starts' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand run" -l max-failures -d 'Start no new host once N hosts (or P% of them) have failed' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand run" -l junit -d 'Also write the results as JUnit XML to FILE (one testcase per host and package), for CI dashboards' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand run" -s i -l inventory -d 'The inventory file' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand run" -s q -l quiet -d 'Print only the summary and the hosts that did not succeed'
complete -c pushinst -n "__fish_pushinst_using_subcommand run" -l dry-run -d 'Print the per-host plan and touch nothing'
complete -c pushinst -n "__fish_pushinst_using_subcommand run" -l force -d 'Install even where the package\'s detect command says it is already installed'
complete -c pushinst -n "__fish_pushinst_using_subcommand run" -s v -l verbose -d 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr'
complete -c pushinst -n "__fish_pushinst_using_subcommand run" -s h -l help -d 'Print help'
complete -c pushinst -n "__fish_pushinst_using_subcommand retry" -l state -d 'The history database [default: settings.state or $XDG_STATE_HOME/pushinst/history.db]' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand retry" -l output -d 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)' -r -f -a "human\t''
json\t''"
complete -c pushinst -n "__fish_pushinst_using_subcommand retry" -s j -l concurrency -d 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand retry" -l connect-timeout -d 'Limit for TCP connect and the SSH handshake [default: settings.connect_timeout or 10s]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand retry" -l host-timeout -d 'Limit for everything on one host except cleanup [default: settings.host_timeout or 1h]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand retry" -l exec -d 'How Windows hosts run the installer: `service` (a temporary service) or `task` (a scheduled task) [default: the host\'s `exec`, else service]' -r -f -a "service\t''
task\t''"
complete -c pushinst -n "__fish_pushinst_using_subcommand retry" -l until -d 'Start no host after this local time (HH:MM, the next one; or YYYY-MM-DD HH:MM); the rest are listed as not started' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand retry" -l log-dir -d 'Where per-host logs go [default: settings.log_dir/RUN, or logs/RUN beside the history]' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand retry" -l exec-timeout -d 'Limit for the installer itself [default: the package\'s timeout, settings.exec_timeout or 30m]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand retry" -l canary -d 'Run the first N hosts alone; the rest start only if every one of them succeeds' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand retry" -l batch -d 'Work in waves of N hosts (or P% of them), each finished before the next starts' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand retry" -l max-failures -d 'Start no new host once N hosts (or P% of them) have failed' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand retry" -l junit -d 'Also write the results as JUnit XML to FILE (one testcase per host and package), for CI dashboards' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand retry" -s i -l inventory -d 'The inventory file' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand retry" -s q -l quiet -d 'Print only the summary and the hosts that did not succeed'
complete -c pushinst -n "__fish_pushinst_using_subcommand retry" -l dry-run -d 'Print the per-host plan and touch nothing'
complete -c pushinst -n "__fish_pushinst_using_subcommand retry" -l force -d 'Install even where the package\'s detect command says it is already installed'
complete -c pushinst -n "__fish_pushinst_using_subcommand retry" -s v -l verbose -d 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr'
complete -c pushinst -n "__fish_pushinst_using_subcommand retry" -s h -l help -d 'Print help'
complete -c pushinst -n "__fish_pushinst_using_subcommand status" -l to -d 'Only these targets (and list those with no attempt yet)' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand status" -l state -d 'The history database [default: settings.state or $XDG_STATE_HOME/pushinst/history.db]' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand status" -l output -d 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)' -r -f -a "human\t''
json\t''"
complete -c pushinst -n "__fish_pushinst_using_subcommand status" -s i -l inventory -d 'The inventory file' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand status" -s v -l verbose -d 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr'
complete -c pushinst -n "__fish_pushinst_using_subcommand status" -s h -l help -d 'Print help'
complete -c pushinst -n "__fish_pushinst_using_subcommand logs" -l run -d 'The run [default: the host\'s latest attempt]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand logs" -l package -d 'Only this package\'s attempt' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand logs" -l state -d 'The history database [default: settings.state or $XDG_STATE_HOME/pushinst/history.db]' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand logs" -s i -l inventory -d 'The inventory file' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand logs" -s v -l verbose -d 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr'
complete -c pushinst -n "__fish_pushinst_using_subcommand logs" -s h -l help -d 'Print help'
complete -c pushinst -n "__fish_pushinst_using_subcommand reset" -l to -d 'The hosts whose counter to reset' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand reset" -l package -d 'The package whose counter to reset' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand reset" -l state -d 'The history database [default: settings.state or $XDG_STATE_HOME/pushinst/history.db]' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand reset" -s i -l inventory -d 'The inventory file' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand reset" -s q -l quiet -d 'Print nothing when it worked'
complete -c pushinst -n "__fish_pushinst_using_subcommand reset" -s v -l verbose -d 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr'
complete -c pushinst -n "__fish_pushinst_using_subcommand reset" -s h -l help -d 'Print help'
complete -c pushinst -n "__fish_pushinst_using_subcommand cleanup" -l to -d 'Only these targets [default: every host with leftovers on record]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand cleanup" -l state -d 'The history database [default: settings.state or $XDG_STATE_HOME/pushinst/history.db]' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand cleanup" -l output -d 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)' -r -f -a "human\t''
json\t''"
complete -c pushinst -n "__fish_pushinst_using_subcommand cleanup" -s j -l concurrency -d 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand cleanup" -l connect-timeout -d 'Limit for TCP connect and the SSH handshake [default: settings.connect_timeout or 10s]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand cleanup" -l host-timeout -d 'Limit for everything on one host except cleanup [default: settings.host_timeout or 1h]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand cleanup" -l junit -d 'Also write the results as JUnit XML to FILE (one testcase per host and package), for CI dashboards' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand cleanup" -s i -l inventory -d 'The inventory file' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand cleanup" -s q -l quiet -d 'Print only the summary and the hosts that did not succeed'
complete -c pushinst -n "__fish_pushinst_using_subcommand cleanup" -s v -l verbose -d 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr'
complete -c pushinst -n "__fish_pushinst_using_subcommand cleanup" -s h -l help -d 'Print help'
complete -c pushinst -n "__fish_pushinst_using_subcommand creds; and not __fish_seen_subcommand_from set delete list help" -s i -l inventory -d 'The inventory file' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand creds; and not __fish_seen_subcommand_from set delete list help" -s v -l verbose -d 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr'
complete -c pushinst -n "__fish_pushinst_using_subcommand creds; and not __fish_seen_subcommand_from set delete list help" -s h -l help -d 'Print help'
complete -c pushinst -n "__fish_pushinst_using_subcommand creds; and not __fish_seen_subcommand_from set delete list help" -f -a "set" -d 'Store a password under NAME, asked twice without echo'
complete -c pushinst -n "__fish_pushinst_using_subcommand creds; and not __fish_seen_subcommand_from set delete list help" -f -a "delete" -d 'Remove the password stored under NAME'
complete -c pushinst -n "__fish_pushinst_using_subcommand creds; and not __fish_seen_subcommand_from set delete list help" -f -a "list" -d 'The names with a password stored (never the passwords)'
complete -c pushinst -n "__fish_pushinst_using_subcommand creds; and not __fish_seen_subcommand_from set delete list help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pushinst -n "__fish_pushinst_using_subcommand creds; and __fish_seen_subcommand_from set" -s i -l inventory -d 'The inventory file' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand creds; and __fish_seen_subcommand_from set" -s v -l verbose -d 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr'
complete -c pushinst -n "__fish_pushinst_using_subcommand creds; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c pushinst -n "__fish_pushinst_using_subcommand creds; and __fish_seen_subcommand_from delete" -s i -l inventory -d 'The inventory file' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand creds; and __fish_seen_subcommand_from delete" -s v -l verbose -d 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr'
complete -c pushinst -n "__fish_pushinst_using_subcommand creds; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help'
complete -c pushinst -n "__fish_pushinst_using_subcommand creds; and __fish_seen_subcommand_from list" -s i -l inventory -d 'The inventory file' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand creds; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr'
complete -c pushinst -n "__fish_pushinst_using_subcommand creds; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c pushinst -n "__fish_pushinst_using_subcommand creds; and __fish_seen_subcommand_from help" -f -a "set" -d 'Store a password under NAME, asked twice without echo'
complete -c pushinst -n "__fish_pushinst_using_subcommand creds; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Remove the password stored under NAME'
complete -c pushinst -n "__fish_pushinst_using_subcommand creds; and __fish_seen_subcommand_from help" -f -a "list" -d 'The names with a password stored (never the passwords)'
complete -c pushinst -n "__fish_pushinst_using_subcommand creds; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pushinst -n "__fish_pushinst_using_subcommand generate" -l out-dir -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand generate" -s i -l inventory -d 'The inventory file' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand generate" -s v -l verbose -d 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr'
complete -c pushinst -n "__fish_pushinst_using_subcommand generate" -s h -l help -d 'Print help'
complete -c pushinst -n "__fish_pushinst_using_subcommand help; and not __fish_seen_subcommand_from deploy remove check hosts sync run retry status logs reset cleanup creds generate help" -f -a "deploy" -d 'Install packages on the targets (several packages install in the order given)'
complete -c pushinst -n "__fish_pushinst_using_subcommand help; and not __fish_seen_subcommand_from deploy remove check hosts sync run retry status logs reset cleanup creds generate help" -f -a "remove" -d 'Uninstall a package from the targets with its [packages.NAME.OS.uninstall]; detect first, verify after'
complete -c pushinst -n "__fish_pushinst_using_subcommand help; and not __fish_seen_subcommand_from deploy remove check hosts sync run retry status logs reset cleanup creds generate help" -f -a "check" -d 'Preflight: whether each target would take the package (login, admin rights, staging, facts); installs nothing'
complete -c pushinst -n "__fish_pushinst_using_subcommand help; and not __fish_seen_subcommand_from deploy remove check hosts sync run retry status logs reset cleanup creds generate help" -f -a "hosts" -d 'List the targets `--to` resolves to, without touching them'
complete -c pushinst -n "__fish_pushinst_using_subcommand help; and not __fish_seen_subcommand_from deploy remove check hosts sync run retry status logs reset cleanup creds generate help" -f -a "sync" -d 'Deliver every [jobs] entry (or the ones named) to each target with no success on record'
complete -c pushinst -n "__fish_pushinst_using_subcommand help; and not __fish_seen_subcommand_from deploy remove check hosts sync run retry status logs reset cleanup creds generate help" -f -a "run" -d 'Start a job saved with `deploy --save-as`, or an inventory [jobs] entry'
complete -c pushinst -n "__fish_pushinst_using_subcommand help; and not __fish_seen_subcommand_from deploy remove check hosts sync run retry status logs reset cleanup creds generate help" -f -a "retry" -d 'Run again only the hosts of the last (or given) run that did not succeed'
complete -c pushinst -n "__fish_pushinst_using_subcommand help; and not __fish_seen_subcommand_from deploy remove check hosts sync run retry status logs reset cleanup creds generate help" -f -a "status" -d 'Host by host, the latest result of each package from the history'
complete -c pushinst -n "__fish_pushinst_using_subcommand help; and not __fish_seen_subcommand_from deploy remove check hosts sync run retry status logs reset cleanup creds generate help" -f -a "logs" -d 'The diagnostic log of a host\'s latest attempt'
complete -c pushinst -n "__fish_pushinst_using_subcommand help; and not __fish_seen_subcommand_from deploy remove check hosts sync run retry status logs reset cleanup creds generate help" -f -a "reset" -d 'Set the failed-attempt counter of hosts back to 0, so they are tried again'
complete -c pushinst -n "__fish_pushinst_using_subcommand help; and not __fish_seen_subcommand_from deploy remove check hosts sync run retry status logs reset cleanup creds generate help" -f -a "cleanup" -d 'Remove what interrupted or crashed runs left on targets (temp dirs), from the journal'
complete -c pushinst -n "__fish_pushinst_using_subcommand help; and not __fish_seen_subcommand_from deploy remove check hosts sync run retry status logs reset cleanup creds generate help" -f -a "creds" -d 'Store, remove or list the passwords `{ keyring = "NAME" }` reads (the OS keyring)'
complete -c pushinst -n "__fish_pushinst_using_subcommand help; and not __fish_seen_subcommand_from deploy remove check hosts sync run retry status logs reset cleanup creds generate help" -f -a "generate" -d 'Write shell completions and the man page (for packagers)'
complete -c pushinst -n "__fish_pushinst_using_subcommand help; and not __fish_seen_subcommand_from deploy remove check hosts sync run retry status logs reset cleanup creds generate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pushinst -n "__fish_pushinst_using_subcommand help; and __fish_seen_subcommand_from creds" -f -a "set" -d 'Store a password under NAME, asked twice without echo'
complete -c pushinst -n "__fish_pushinst_using_subcommand help; and __fish_seen_subcommand_from creds" -f -a "delete" -d 'Remove the password stored under NAME'
complete -c pushinst -n "__fish_pushinst_using_subcommand help; and __fish_seen_subcommand_from creds" -f -a "list" -d 'The names with a password stored (never the passwords)'

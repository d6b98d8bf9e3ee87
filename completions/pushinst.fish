# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_pushinst_global_optspecs
    string join \n i/inventory= output= q/quiet v/verbose h/help V/version
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
complete -c pushinst -n "__fish_pushinst_needs_command" -l output -d 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)' -r -f -a "human\t''
json\t''"
complete -c pushinst -n "__fish_pushinst_needs_command" -s q -l quiet -d 'Print only the summary and the hosts that did not succeed'
complete -c pushinst -n "__fish_pushinst_needs_command" -s v -l verbose -d 'Also show each step as it starts; twice for debug logs on stderr'
complete -c pushinst -n "__fish_pushinst_needs_command" -s h -l help -d 'Print help'
complete -c pushinst -n "__fish_pushinst_needs_command" -s V -l version -d 'Print version'
complete -c pushinst -n "__fish_pushinst_needs_command" -f -a "deploy" -d 'Install a package on the targets'
complete -c pushinst -n "__fish_pushinst_needs_command" -f -a "hosts" -d 'List the targets `--to` resolves to, without touching them'
complete -c pushinst -n "__fish_pushinst_needs_command" -f -a "generate" -d 'Write shell completions and the man page (for packagers)'
complete -c pushinst -n "__fish_pushinst_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l to -d 'Groups, hosts, ranges (web-[01-20].example), CIDR blocks, host:port; `!NAME` excludes' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -s j -l concurrency -d 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l log-dir -d 'Where per-host logs go [default: $XDG_STATE_HOME/pushinst/logs/RUN]' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l connect-timeout -d 'Limit for TCP connect and the SSH handshake [default: settings.connect_timeout or 10s]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l exec-timeout -d 'Limit for the installer itself [default: the package\'s timeout, settings.exec_timeout or 30m]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l host-timeout -d 'Limit for everything on one host except cleanup [default: settings.host_timeout or 1h]' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -s i -l inventory -d 'The inventory file' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l output -d 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)' -r -f -a "human\t''
json\t''"
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l dry-run -d 'Print the per-host plan and touch nothing'
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -l force -d 'Install even where the package\'s detect command says it is already installed'
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -s q -l quiet -d 'Print only the summary and the hosts that did not succeed'
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -s v -l verbose -d 'Also show each step as it starts; twice for debug logs on stderr'
complete -c pushinst -n "__fish_pushinst_using_subcommand deploy" -s h -l help -d 'Print help'
complete -c pushinst -n "__fish_pushinst_using_subcommand hosts" -l to -d 'Groups, hosts, ranges, CIDR blocks, host:port; `!NAME` excludes' -r
complete -c pushinst -n "__fish_pushinst_using_subcommand hosts" -s i -l inventory -d 'The inventory file' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand hosts" -l output -d 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)' -r -f -a "human\t''
json\t''"
complete -c pushinst -n "__fish_pushinst_using_subcommand hosts" -s q -l quiet -d 'Print only the summary and the hosts that did not succeed'
complete -c pushinst -n "__fish_pushinst_using_subcommand hosts" -s v -l verbose -d 'Also show each step as it starts; twice for debug logs on stderr'
complete -c pushinst -n "__fish_pushinst_using_subcommand hosts" -s h -l help -d 'Print help'
complete -c pushinst -n "__fish_pushinst_using_subcommand generate" -l out-dir -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand generate" -s i -l inventory -d 'The inventory file' -r -F
complete -c pushinst -n "__fish_pushinst_using_subcommand generate" -l output -d 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)' -r -f -a "human\t''
json\t''"
complete -c pushinst -n "__fish_pushinst_using_subcommand generate" -s q -l quiet -d 'Print only the summary and the hosts that did not succeed'
complete -c pushinst -n "__fish_pushinst_using_subcommand generate" -s v -l verbose -d 'Also show each step as it starts; twice for debug logs on stderr'
complete -c pushinst -n "__fish_pushinst_using_subcommand generate" -s h -l help -d 'Print help'
complete -c pushinst -n "__fish_pushinst_using_subcommand help; and not __fish_seen_subcommand_from deploy hosts generate help" -f -a "deploy" -d 'Install a package on the targets'
complete -c pushinst -n "__fish_pushinst_using_subcommand help; and not __fish_seen_subcommand_from deploy hosts generate help" -f -a "hosts" -d 'List the targets `--to` resolves to, without touching them'
complete -c pushinst -n "__fish_pushinst_using_subcommand help; and not __fish_seen_subcommand_from deploy hosts generate help" -f -a "generate" -d 'Write shell completions and the man page (for packagers)'
complete -c pushinst -n "__fish_pushinst_using_subcommand help; and not __fish_seen_subcommand_from deploy hosts generate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'


using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'pushinst' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'pushinst'
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
        'pushinst' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('deploy', 'deploy', [CompletionResultType]::ParameterValue, 'Install packages on the targets (several packages install in the order given)')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Uninstall a package from the targets with its [packages.NAME.OS.uninstall]; detect first, verify after')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Preflight: whether each target would take the package (login, admin rights, staging, facts); installs nothing')
            [CompletionResult]::new('hosts', 'hosts', [CompletionResultType]::ParameterValue, 'List the targets `--to` resolves to, without touching them')
            [CompletionResult]::new('sync', 'sync', [CompletionResultType]::ParameterValue, 'Deliver every [jobs] entry (or the ones named) to each target with no success on record')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Start a job saved with `deploy --save-as`, or an inventory [jobs] entry')
            [CompletionResult]::new('retry', 'retry', [CompletionResultType]::ParameterValue, 'Run again only the hosts of the last (or given) run that did not succeed')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Host by host, the latest result of each package from the history')
            [CompletionResult]::new('logs', 'logs', [CompletionResultType]::ParameterValue, 'The diagnostic log of a host''s latest attempt')
            [CompletionResult]::new('reset', 'reset', [CompletionResultType]::ParameterValue, 'Set the failed-attempt counter of hosts back to 0, so they are tried again')
            [CompletionResult]::new('cleanup', 'cleanup', [CompletionResultType]::ParameterValue, 'Remove what interrupted or crashed runs left on targets (temp dirs), from the journal')
            [CompletionResult]::new('creds', 'creds', [CompletionResultType]::ParameterValue, 'Store, remove or list the passwords `{ keyring = "NAME" }` reads (the OS keyring)')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Write shell completions and the man page (for packagers)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'pushinst;deploy' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Groups, hosts, ranges (web-[01-20].example), CIDR blocks, host:port; `!NAME` excludes; `@FILE` or `-` (stdin) reads one a line')
            [CompletionResult]::new('--save-as', '--save-as', [CompletionResultType]::ParameterName, 'Record the job in the history without touching any host; start it with `pushinst run NAME` [default name: "Install PACKAGE VERSION"]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'The history database [default: settings.state or $XDG_STATE_HOME/pushinst/history.db]')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Limit for TCP connect and the SSH handshake [default: settings.connect_timeout or 10s]')
            [CompletionResult]::new('--host-timeout', '--host-timeout', [CompletionResultType]::ParameterName, 'Limit for everything on one host except cleanup [default: settings.host_timeout or 1h]')
            [CompletionResult]::new('--exec', '--exec', [CompletionResultType]::ParameterName, 'How Windows hosts run the installer: `service` (a temporary service) or `task` (a scheduled task) [default: the host''s `exec`, else service]')
            [CompletionResult]::new('--until', '--until', [CompletionResultType]::ParameterName, 'Start no host after this local time (HH:MM, the next one; or YYYY-MM-DD HH:MM); the rest are listed as not started')
            [CompletionResult]::new('--log-dir', '--log-dir', [CompletionResultType]::ParameterName, 'Where per-host logs go [default: settings.log_dir/RUN, or logs/RUN beside the history]')
            [CompletionResult]::new('--exec-timeout', '--exec-timeout', [CompletionResultType]::ParameterName, 'Limit for the installer itself [default: the package''s timeout, settings.exec_timeout or 30m]')
            [CompletionResult]::new('--canary', '--canary', [CompletionResultType]::ParameterName, 'Run the first N hosts alone; the rest start only if every one of them succeeds')
            [CompletionResult]::new('--batch', '--batch', [CompletionResultType]::ParameterName, 'Work in waves of N hosts (or P% of them), each finished before the next starts')
            [CompletionResult]::new('--max-failures', '--max-failures', [CompletionResultType]::ParameterName, 'Start no new host once N hosts (or P% of them) have failed')
            [CompletionResult]::new('--junit', '--junit', [CompletionResultType]::ParameterName, 'Also write the results as JUnit XML to FILE (one testcase per host and package), for CI dashboards')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the summary and the hosts that did not succeed')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the summary and the hosts that did not succeed')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the per-host plan and touch nothing')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Install even where the package''s detect command says it is already installed')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'pushinst;remove' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Groups, hosts, ranges (web-[01-20].example), CIDR blocks, host:port; `!NAME` excludes; `@FILE` or `-` (stdin) reads one a line')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'The history database [default: settings.state or $XDG_STATE_HOME/pushinst/history.db]')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Limit for TCP connect and the SSH handshake [default: settings.connect_timeout or 10s]')
            [CompletionResult]::new('--host-timeout', '--host-timeout', [CompletionResultType]::ParameterName, 'Limit for everything on one host except cleanup [default: settings.host_timeout or 1h]')
            [CompletionResult]::new('--exec', '--exec', [CompletionResultType]::ParameterName, 'How Windows hosts run the installer: `service` (a temporary service) or `task` (a scheduled task) [default: the host''s `exec`, else service]')
            [CompletionResult]::new('--until', '--until', [CompletionResultType]::ParameterName, 'Start no host after this local time (HH:MM, the next one; or YYYY-MM-DD HH:MM); the rest are listed as not started')
            [CompletionResult]::new('--log-dir', '--log-dir', [CompletionResultType]::ParameterName, 'Where per-host logs go [default: settings.log_dir/RUN, or logs/RUN beside the history]')
            [CompletionResult]::new('--exec-timeout', '--exec-timeout', [CompletionResultType]::ParameterName, 'Limit for the installer itself [default: the package''s timeout, settings.exec_timeout or 30m]')
            [CompletionResult]::new('--canary', '--canary', [CompletionResultType]::ParameterName, 'Run the first N hosts alone; the rest start only if every one of them succeeds')
            [CompletionResult]::new('--batch', '--batch', [CompletionResultType]::ParameterName, 'Work in waves of N hosts (or P% of them), each finished before the next starts')
            [CompletionResult]::new('--max-failures', '--max-failures', [CompletionResultType]::ParameterName, 'Start no new host once N hosts (or P% of them) have failed')
            [CompletionResult]::new('--junit', '--junit', [CompletionResultType]::ParameterName, 'Also write the results as JUnit XML to FILE (one testcase per host and package), for CI dashboards')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the summary and the hosts that did not succeed')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the summary and the hosts that did not succeed')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the per-host plan and touch nothing')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Install even where the package''s detect command says it is already installed')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'pushinst;check' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Groups, hosts, ranges (web-[01-20].example), CIDR blocks, host:port; `!NAME` excludes; `@FILE` or `-` (stdin) reads one a line')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'The history database [default: settings.state or $XDG_STATE_HOME/pushinst/history.db]')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Limit for TCP connect and the SSH handshake [default: settings.connect_timeout or 10s]')
            [CompletionResult]::new('--host-timeout', '--host-timeout', [CompletionResultType]::ParameterName, 'Limit for everything on one host except cleanup [default: settings.host_timeout or 1h]')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the summary and the hosts that did not succeed')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the summary and the hosts that did not succeed')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'pushinst;hosts' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Groups, hosts, ranges, CIDR blocks, host:port; `!NAME` excludes; `@FILE` or `-` reads one a line')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the targets, no count')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the targets, no count')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'pushinst;sync' {
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'The history database [default: settings.state or $XDG_STATE_HOME/pushinst/history.db]')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Limit for TCP connect and the SSH handshake [default: settings.connect_timeout or 10s]')
            [CompletionResult]::new('--host-timeout', '--host-timeout', [CompletionResultType]::ParameterName, 'Limit for everything on one host except cleanup [default: settings.host_timeout or 1h]')
            [CompletionResult]::new('--exec', '--exec', [CompletionResultType]::ParameterName, 'How Windows hosts run the installer: `service` (a temporary service) or `task` (a scheduled task) [default: the host''s `exec`, else service]')
            [CompletionResult]::new('--until', '--until', [CompletionResultType]::ParameterName, 'Start no host after this local time (HH:MM, the next one; or YYYY-MM-DD HH:MM); the rest are listed as not started')
            [CompletionResult]::new('--log-dir', '--log-dir', [CompletionResultType]::ParameterName, 'Where per-host logs go [default: settings.log_dir/RUN, or logs/RUN beside the history]')
            [CompletionResult]::new('--exec-timeout', '--exec-timeout', [CompletionResultType]::ParameterName, 'Limit for the installer itself [default: the package''s timeout, settings.exec_timeout or 30m]')
            [CompletionResult]::new('--canary', '--canary', [CompletionResultType]::ParameterName, 'Run the first N hosts alone; the rest start only if every one of them succeeds')
            [CompletionResult]::new('--batch', '--batch', [CompletionResultType]::ParameterName, 'Work in waves of N hosts (or P% of them), each finished before the next starts')
            [CompletionResult]::new('--max-failures', '--max-failures', [CompletionResultType]::ParameterName, 'Start no new host once N hosts (or P% of them) have failed')
            [CompletionResult]::new('--junit', '--junit', [CompletionResultType]::ParameterName, 'Also write the results as JUnit XML to FILE (one testcase per host and package), for CI dashboards')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('--include-removed', '--include-removed', [CompletionResultType]::ParameterName, 'Also reinstall hosts where `pushinst remove` took the package off on purpose')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the summary and the hosts that did not succeed')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the summary and the hosts that did not succeed')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the per-host plan and touch nothing')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Install even where the package''s detect command says it is already installed')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'pushinst;run' {
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'The history database [default: settings.state or $XDG_STATE_HOME/pushinst/history.db]')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Limit for TCP connect and the SSH handshake [default: settings.connect_timeout or 10s]')
            [CompletionResult]::new('--host-timeout', '--host-timeout', [CompletionResultType]::ParameterName, 'Limit for everything on one host except cleanup [default: settings.host_timeout or 1h]')
            [CompletionResult]::new('--exec', '--exec', [CompletionResultType]::ParameterName, 'How Windows hosts run the installer: `service` (a temporary service) or `task` (a scheduled task) [default: the host''s `exec`, else service]')
            [CompletionResult]::new('--until', '--until', [CompletionResultType]::ParameterName, 'Start no host after this local time (HH:MM, the next one; or YYYY-MM-DD HH:MM); the rest are listed as not started')
            [CompletionResult]::new('--log-dir', '--log-dir', [CompletionResultType]::ParameterName, 'Where per-host logs go [default: settings.log_dir/RUN, or logs/RUN beside the history]')
            [CompletionResult]::new('--exec-timeout', '--exec-timeout', [CompletionResultType]::ParameterName, 'Limit for the installer itself [default: the package''s timeout, settings.exec_timeout or 30m]')
            [CompletionResult]::new('--canary', '--canary', [CompletionResultType]::ParameterName, 'Run the first N hosts alone; the rest start only if every one of them succeeds')
            [CompletionResult]::new('--batch', '--batch', [CompletionResultType]::ParameterName, 'Work in waves of N hosts (or P% of them), each finished before the next starts')
            [CompletionResult]::new('--max-failures', '--max-failures', [CompletionResultType]::ParameterName, 'Start no new host once N hosts (or P% of them) have failed')
            [CompletionResult]::new('--junit', '--junit', [CompletionResultType]::ParameterName, 'Also write the results as JUnit XML to FILE (one testcase per host and package), for CI dashboards')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the summary and the hosts that did not succeed')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the summary and the hosts that did not succeed')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the per-host plan and touch nothing')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Install even where the package''s detect command says it is already installed')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'pushinst;retry' {
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'The history database [default: settings.state or $XDG_STATE_HOME/pushinst/history.db]')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Limit for TCP connect and the SSH handshake [default: settings.connect_timeout or 10s]')
            [CompletionResult]::new('--host-timeout', '--host-timeout', [CompletionResultType]::ParameterName, 'Limit for everything on one host except cleanup [default: settings.host_timeout or 1h]')
            [CompletionResult]::new('--exec', '--exec', [CompletionResultType]::ParameterName, 'How Windows hosts run the installer: `service` (a temporary service) or `task` (a scheduled task) [default: the host''s `exec`, else service]')
            [CompletionResult]::new('--until', '--until', [CompletionResultType]::ParameterName, 'Start no host after this local time (HH:MM, the next one; or YYYY-MM-DD HH:MM); the rest are listed as not started')
            [CompletionResult]::new('--log-dir', '--log-dir', [CompletionResultType]::ParameterName, 'Where per-host logs go [default: settings.log_dir/RUN, or logs/RUN beside the history]')
            [CompletionResult]::new('--exec-timeout', '--exec-timeout', [CompletionResultType]::ParameterName, 'Limit for the installer itself [default: the package''s timeout, settings.exec_timeout or 30m]')
            [CompletionResult]::new('--canary', '--canary', [CompletionResultType]::ParameterName, 'Run the first N hosts alone; the rest start only if every one of them succeeds')
            [CompletionResult]::new('--batch', '--batch', [CompletionResultType]::ParameterName, 'Work in waves of N hosts (or P% of them), each finished before the next starts')
            [CompletionResult]::new('--max-failures', '--max-failures', [CompletionResultType]::ParameterName, 'Start no new host once N hosts (or P% of them) have failed')
            [CompletionResult]::new('--junit', '--junit', [CompletionResultType]::ParameterName, 'Also write the results as JUnit XML to FILE (one testcase per host and package), for CI dashboards')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the summary and the hosts that did not succeed')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the summary and the hosts that did not succeed')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the per-host plan and touch nothing')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Install even where the package''s detect command says it is already installed')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'pushinst;status' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Only these targets (and list those with no attempt yet)')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'The history database [default: settings.state or $XDG_STATE_HOME/pushinst/history.db]')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'pushinst;logs' {
            [CompletionResult]::new('--run', '--run', [CompletionResultType]::ParameterName, 'The run [default: the host''s latest attempt]')
            [CompletionResult]::new('--package', '--package', [CompletionResultType]::ParameterName, 'Only this package''s attempt')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'The history database [default: settings.state or $XDG_STATE_HOME/pushinst/history.db]')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'pushinst;reset' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'The hosts whose counter to reset')
            [CompletionResult]::new('--package', '--package', [CompletionResultType]::ParameterName, 'The package whose counter to reset')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'The history database [default: settings.state or $XDG_STATE_HOME/pushinst/history.db]')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing when it worked')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing when it worked')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'pushinst;cleanup' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Only these targets [default: every host with leftovers on record]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'The history database [default: settings.state or $XDG_STATE_HOME/pushinst/history.db]')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Limit for TCP connect and the SSH handshake [default: settings.connect_timeout or 10s]')
            [CompletionResult]::new('--host-timeout', '--host-timeout', [CompletionResultType]::ParameterName, 'Limit for everything on one host except cleanup [default: settings.host_timeout or 1h]')
            [CompletionResult]::new('--junit', '--junit', [CompletionResultType]::ParameterName, 'Also write the results as JUnit XML to FILE (one testcase per host and package), for CI dashboards')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the summary and the hosts that did not succeed')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the summary and the hosts that did not succeed')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'pushinst;creds' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Store a password under NAME, asked twice without echo')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Remove the password stored under NAME')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'The names with a password stored (never the passwords)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'pushinst;creds;set' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'pushinst;creds;delete' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'pushinst;creds;list' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'pushinst;creds;help' {
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Store a password under NAME, asked twice without echo')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Remove the password stored under NAME')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'The names with a password stored (never the passwords)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'pushinst;creds;help;set' {
            break
        }
        'pushinst;creds;help;delete' {
            break
        }
        'pushinst;creds;help;list' {
            break
        }
        'pushinst;creds;help;help' {
            break
        }
        'pushinst;generate' {
            [CompletionResult]::new('--out-dir', '--out-dir', [CompletionResultType]::ParameterName, 'out-dir')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('--inventory', '--inventory', [CompletionResultType]::ParameterName, 'The inventory file')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'pushinst;help' {
            [CompletionResult]::new('deploy', 'deploy', [CompletionResultType]::ParameterValue, 'Install packages on the targets (several packages install in the order given)')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Uninstall a package from the targets with its [packages.NAME.OS.uninstall]; detect first, verify after')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Preflight: whether each target would take the package (login, admin rights, staging, facts); installs nothing')
            [CompletionResult]::new('hosts', 'hosts', [CompletionResultType]::ParameterValue, 'List the targets `--to` resolves to, without touching them')
            [CompletionResult]::new('sync', 'sync', [CompletionResultType]::ParameterValue, 'Deliver every [jobs] entry (or the ones named) to each target with no success on record')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Start a job saved with `deploy --save-as`, or an inventory [jobs] entry')
            [CompletionResult]::new('retry', 'retry', [CompletionResultType]::ParameterValue, 'Run again only the hosts of the last (or given) run that did not succeed')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Host by host, the latest result of each package from the history')
            [CompletionResult]::new('logs', 'logs', [CompletionResultType]::ParameterValue, 'The diagnostic log of a host''s latest attempt')
            [CompletionResult]::new('reset', 'reset', [CompletionResultType]::ParameterValue, 'Set the failed-attempt counter of hosts back to 0, so they are tried again')
            [CompletionResult]::new('cleanup', 'cleanup', [CompletionResultType]::ParameterValue, 'Remove what interrupted or crashed runs left on targets (temp dirs), from the journal')
            [CompletionResult]::new('creds', 'creds', [CompletionResultType]::ParameterValue, 'Store, remove or list the passwords `{ keyring = "NAME" }` reads (the OS keyring)')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Write shell completions and the man page (for packagers)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'pushinst;help;deploy' {
            break
        }
        'pushinst;help;remove' {
            break
        }
        'pushinst;help;check' {
            break
        }
        'pushinst;help;hosts' {
            break
        }
        'pushinst;help;sync' {
            break
        }
        'pushinst;help;run' {
            break
        }
        'pushinst;help;retry' {
            break
        }
        'pushinst;help;status' {
            break
        }
        'pushinst;help;logs' {
            break
        }
        'pushinst;help;reset' {
            break
        }
        'pushinst;help;cleanup' {
            break
        }
        'pushinst;help;creds' {
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Store a password under NAME, asked twice without echo')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Remove the password stored under NAME')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'The names with a password stored (never the passwords)')
            break
        }
        'pushinst;help;creds;set' {
            break
        }
        'pushinst;help;creds;delete' {
            break
        }
        'pushinst;help;creds;list' {
            break
        }
        'pushinst;help;generate' {
            break
        }
        'pushinst;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}

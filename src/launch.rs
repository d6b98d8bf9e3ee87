//! Starting a run, for every command that starts one (deploy, sync, run, retry,
//! cleanup): plan → (dry run | wiring → history → runner → reporters). Wiring only:
//! the plan has made every decision, the runner executes them.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;

use crate::cli::{Cli, OutputFormat, PoolArgs, RunArgs};
use crate::error::{AppError, EXIT_HOSTS_FAILED, EXIT_INTERRUPTED, EXIT_OK};
use crate::history::{History, NewRun, RunLedger};
use crate::inventory::{Inventory, RebootPolicy, Target};
use crate::plan::{self, Facts, NoFacts, PlanOptions, Selection, Window};
use crate::report::{self, HostLogs, JsonLines, Junit, Lines, Progress, Sink, Summary};
use crate::rollout::RolloutPlan;
use crate::runner::{self, Cancel, EventSink, HostJob, Ledger, RebootNotice, RunConfig, Timeouts, Until};
use crate::secrets::Redactor;
use crate::window;
use crate::wiring::{self, Connectors};

/// What to run, wherever the request came from.
pub struct RunRequest {
    /// The command that started it, as the history shows it.
    pub command: &'static str,
    pub job: Option<String>,
    pub packages: Vec<String>,
    pub targets: Vec<Target>,
    /// A job's policy, over each package's own.
    pub reboot: Option<RebootPolicy>,
    pub selection: Selection,
    /// Install (every command but `remove`) or remove.
    pub goal: crate::plan::Goal,
    /// `sync --include-removed`.
    pub include_removed: bool,
}

/// The pool's limits from the inventory, overridden by the command line.
pub fn timeouts(inv: &Inventory, pool: &PoolArgs) -> Timeouts {
    let mut timeouts = inv.settings.timeouts.clone();
    if let Some(t) = pool.connect_timeout {
        timeouts.connect = t.into();
    }
    if let Some(t) = pool.host_timeout {
        timeouts.host = t.into();
    }
    timeouts
}

pub fn concurrency(inv: &Inventory, pool: &PoolArgs) -> usize {
    pool.concurrency
        .map_or(inv.settings.concurrency, |c| c as usize)
        .max(1)
}

/// Everything the plan needs from the command line.
pub fn plan_options(
    inv: &Inventory,
    args: &RunArgs,
    reboot: Option<RebootPolicy>,
    selection: Selection,
) -> Result<PlanOptions, AppError> {
    let until = args
        .until
        .as_deref()
        .map(window::parse)
        .transpose()?
        .map(|(at, label)| Window { at, label });
    Ok(PlanOptions {
        concurrency: args.pool.concurrency.map(|c| c as usize),
        reboot,
        timeouts: timeouts(inv, &args.pool),
        exec_timeout: args.exec_timeout.map(Into::into),
        force: args.force,
        exec: args.exec,
        until,
        selection,
        rollout: crate::rollout::Rollout {
            canary: args.canary.map(|n| n as usize),
            batch: args.batch,
            max_failures: args.max_failures,
        },
        goal: crate::plan::Goal::Install,
        include_removed: false,
    })
}

pub fn history_path(cli: &Cli, inv: Option<&Inventory>) -> PathBuf {
    cli.state()
        .map(Path::to_path_buf)
        .or_else(|| inv.and_then(|i| i.settings.state.clone()))
        .unwrap_or_else(|| state_dir().join("history.db"))
}

/// The history database for this inventory: `--state`, `settings.state`, or the default.
pub fn open_history(cli: &Cli, inv: Option<&Inventory>) -> Result<History, AppError> {
    Ok(History::open(&history_path(cli, inv))?)
}

pub async fn launch(cli: &Cli, inv: &Inventory, args: &RunArgs, request: RunRequest) -> Result<u8, AppError> {
    let mut options = plan_options(inv, args, request.reboot, request.selection)?;
    options.goal = request.goal;
    options.include_removed = request.include_removed;
    if args.dry_run {
        // A dry run creates no history; it reads one that exists.
        let path = history_path(cli, Some(inv));
        let history = path.exists().then(|| History::open(&path)).transpose()?;
        let facts: &dyn Facts = match &history {
            Some(h) => h,
            None => &NoFacts,
        };
        let plan = plan::plan(inv, &request.packages, request.targets, options, facts)?;
        return crate::commands::dry_run::show(cli, inv, &plan);
    }
    let history = Arc::new(open_history(cli, Some(inv))?);
    let plan = plan::plan(inv, &request.packages, request.targets, options, history.as_ref())?;

    // Everything that can fail on our side fails here, before any host is touched.
    let mut redactor = Redactor::default();
    let credentials = wiring::resolve_for(inv, plan.hosts.iter().map(|h| &h.target), &mut redactor)?;
    let run_id = new_run_id();
    let connectors = Connectors::new(inv, &run_id)?.stall_after(plan.timeouts.connect);
    let jobs = wiring::jobs(&plan, &connectors, &credentials)?;
    if let Some(warning) = report::plan::relaxed(&plan) {
        report::write_out(&mut std::io::stderr(), &warning);
    }
    if jobs.is_empty() {
        if let Some(junit) = create_junit(&args.reports)? {
            let _ = junit.nothing_to_do(&run_id);
        }
        if cli.output() == OutputFormat::Human && !cli.quiet() {
            let removed = plan
                .hosts
                .iter()
                .flat_map(|h| &h.decisions)
                .filter(|d| **d == plan::Decision::Omit(plan::Omitted::Removed))
                .count();
            let text = if removed > 0 {
                format!(
                    "nothing to do: every target has these packages on record as installed, \
                     or removed on purpose ({removed}; `sync --include-removed` installs those again)\n"
                )
            } else {
                "nothing to do: every target has these packages on record as installed\n".to_string()
            };
            report::write_out(&mut std::io::stdout(), &text);
        }
        return Ok(EXIT_OK);
    }
    let log_dir = log_dir(inv, args, &history, &run_id);
    // Before the run is on record: a run that cannot log never starts.
    let logs = create_logs(&log_dir)?;
    let junit = create_junit(&args.reports)?;
    let packages: Vec<String> = plan.packages.iter().map(|p| p.name.clone()).collect();
    history.begin_run(&NewRun {
        id: &run_id,
        command: request.command,
        job: request.job.as_deref(),
        packages: &packages,
        log_dir: Some(&log_dir),
        slots: &slots(&jobs),
    })?;
    let setup = RunSetup {
        ledger: Arc::new(RunLedger::new(history.clone(), &run_id, Some(log_dir.clone()))),
        run_id: run_id.clone(),
        items: packages,
        concurrency: plan.concurrency,
        timeouts: plan.timeouts.clone(),
        force: plan.force,
        redactor,
        until: plan.until.clone(),
        notice: inv.settings.reboot.clone(),
        rollout: plan.rollout.clone(),
        logs,
        junit,
        goal: plan.goal,
    };
    let code = run_jobs(cli, jobs, setup).await;
    if let Err(e) = history.end_run(&run_id) {
        tracing::warn!("could not record the end of run {run_id}: {e}");
    }
    code
}

/// A run ready to go, whatever command asked for it.
pub struct RunSetup {
    pub run_id: String,
    /// The packages (or `cleanup`), for the first event.
    pub items: Vec<String>,
    pub concurrency: usize,
    pub timeouts: Timeouts,
    pub force: bool,
    pub redactor: Redactor,
    pub until: Option<Window>,
    pub notice: RebootNotice,
    pub rollout: RolloutPlan,
    pub ledger: Arc<dyn Ledger>,
    pub logs: HostLogs,
    /// `--junit FILE`, already created.
    pub junit: Option<Junit>,
    /// Installing or removing `items`.
    pub goal: plan::Goal,
}

/// The run's log directory, made now.
pub fn create_logs(dir: &Path) -> Result<HostLogs, AppError> {
    HostLogs::create(dir).map_err(|source| AppError::Io {
        what: format!("cannot create the log directory {}", dir.display()),
        source,
    })
}

/// `--junit FILE`, created now: a path that cannot be written stops the run here.
pub fn create_junit(args: &crate::cli::ReportArgs) -> Result<Option<Junit>, AppError> {
    let Some(path) = &args.junit else {
        return Ok(None);
    };
    Junit::create(path).map(Some).map_err(|source| AppError::Io {
        what: format!("cannot create the JUnit report {}", path.display()),
        source,
    })
}

/// The runner with its reporters and Ctrl-C handling: the same for every command
/// that works on hosts. Returns the exit code.
pub async fn run_jobs(cli: &Cli, jobs: Vec<HostJob>, setup: RunSetup) -> Result<u8, AppError> {
    let summary = Summary::new(Some(setup.logs.dir().to_path_buf()));
    let (sink, events) = EventSink::new();
    let mut sinks = sinks(cli, setup.logs);
    if let Some(junit) = setup.junit {
        sinks.push(Box::new(junit));
    }
    let reporter = tokio::task::spawn_blocking(move || report::consume(events, sinks, summary));
    let (cancel_tx, cancel_rx) = watch::channel(Cancel::None);
    // Registered here, before any host starts: inside the spawned task the handlers
    // would arrive only when the scheduler first polls it, and a Ctrl-C before that
    // would kill the run with no summary and no cleanup.
    let signals = tokio::spawn(watch_signals(interrupts(), cancel_tx));
    let config = RunConfig {
        ledger: setup.ledger,
        run_id: setup.run_id,
        packages: setup.items,
        concurrency: setup.concurrency,
        timeouts: setup.timeouts,
        force: setup.force,
        redactor: setup.redactor,
        until: setup.until.map(|w| Until {
            at: window::instant(w.at),
            label: w.label,
        }),
        notice: setup.notice,
        rollout: setup.rollout,
        goal: setup.goal,
    };
    let stats = runner::run(jobs, config, sink, cancel_rx.clone()).await;
    let interrupted = *cancel_rx.borrow() != Cancel::None;
    signals.abort();
    let summary = reporter.await.unwrap_or_default();
    if let Some(text) = summary.text() {
        if cli.output() == OutputFormat::Json {
            report::write_out(&mut std::io::stderr(), text);
        } else {
            report::write_out(&mut std::io::stdout(), text);
        }
    }
    Ok(if interrupted {
        EXIT_INTERRUPTED
    } else if stats.all_succeeded() {
        EXIT_OK
    } else {
        EXIT_HOSTS_FAILED
    })
}

/// `--log-dir`, else `settings.log_dir/RUN`, else `logs/RUN` beside the history.
pub fn log_dir(inv: &Inventory, args: &RunArgs, history: &History, run_id: &str) -> PathBuf {
    let dir = args
        .log_dir
        .clone()
        .or_else(|| inv.settings.log_dir.as_ref().map(|d| d.join(run_id)))
        .unwrap_or_else(|| logs_beside(history.path()).join(run_id));
    // The summary names it, often in a cron mail read elsewhere: make it absolute.
    std::path::absolute(&dir).unwrap_or(dir)
}

/// Every host+package the run will work on, for the history.
fn slots(jobs: &[HostJob]) -> Vec<(String, String, Option<String>)> {
    jobs.iter()
        .flat_map(|job| {
            job.work
                .items()
                .into_iter()
                .map(|(item, version)| (job.label.clone(), item, version))
        })
        .collect()
}

fn sinks(cli: &Cli, logs: HostLogs) -> Vec<Box<dyn Sink>> {
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(logs)];
    match (cli.output(), cli.quiet()) {
        (OutputFormat::Json, _) => sinks.push(Box::new(JsonLines::new(std::io::stdout()))),
        (OutputFormat::Human, true) => {}
        (OutputFormat::Human, false)
            if std::io::stdout().is_terminal() && std::io::stderr().is_terminal() =>
        {
            sinks.push(Box::new(Progress::new()))
        }
        (OutputFormat::Human, false) => sinks.push(Box::new(Lines::new(std::io::stdout(), cli.verbose > 0))),
    }
    sinks
}

type Interrupts = Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>;

/// SIGINT and SIGTERM handlers; from here on neither kills the process.
fn interrupts() -> Interrupts {
    use tokio::signal::unix::{SignalKind, signal};
    Some((
        signal(SignalKind::interrupt()).ok()?,
        signal(SignalKind::terminate()).ok()?,
    ))
}

/// First Ctrl-C (or SIGTERM): start no new host. Second: abort the running ones.
async fn watch_signals(interrupts: Interrupts, cancel: watch::Sender<Cancel>) {
    let Some((mut int, mut term)) = interrupts else {
        return;
    };
    for level in [Cancel::Stop, Cancel::Abort] {
        tokio::select! {
            _ = int.recv() => {},
            _ = term.recv() => {},
        }
        let _ = cancel.send(level);
    }
}

pub fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Logs live beside the history that points at them.
pub fn logs_beside(history: &Path) -> PathBuf {
    history
        .parent()
        .map_or_else(|| state_dir().join("logs"), |dir| dir.join("logs"))
}

fn state_dir() -> PathBuf {
    std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".local").join("state"))
        .join("pushinst")
}

/// `20261125-142000-1a2b`: sortable. The tail is the process id, so two runs
/// started in the same second on this machine (sharing one history) never collide.
pub fn new_run_id() -> String {
    let stamp: String = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let (date, time) = stamp.split_at(8.min(stamp.len()));
    format!("{date}-{time}-{:04x}", std::process::id())
}

//! Running a command as LocalSystem the psexec way: a wrapper script in the
//! staging directory, a temporary service whose command line starts it, the
//! service deleted at once, then polling ADMIN$ for the exit code it writes.

use std::time::Duration;

use tokio::time::Instant;

use super::error::{rpc_failure, smb_failure};
use super::pipe::SmbPipe;
use super::rpc::ndr::Handle;
use super::rpc::{RpcClient, RpcError, Unbound, auth, pdu, scmr, tsch};
use super::smb::kerberos::KerberosLogon;
use super::smb::{Open, Session, SmbError, access, disposition, options, security, status};
use super::{ExecMethod, WindowsConnection, WindowsError, denied, wrapper};
use crate::transport::output::OUTPUT_LIMIT;
use crate::transport::{ExecOutput, OutputTail, RemoteExit};

/// Create the staging directory once per package; an existing one is refused, so
/// nobody can plant files in it beforehand.
pub(super) async fn ensure_dir(conn: &mut WindowsConnection, dir: &str) -> Result<(), WindowsError> {
    if conn.created {
        return Ok(());
    }
    let tree = conn.admin_share().await?;
    conn.created = true;
    // Created new (never opened if it exists) with a descriptor that shuts out
    // everyone but SYSTEM and Administrators, before anything goes in.
    let descriptor = security::staging_descriptor();
    let open = Open {
        path: dir,
        access: access::READ_ATTRIBUTES,
        disposition: disposition::CREATE,
        options: options::DIRECTORY,
        descriptor: Some(&descriptor),
    };
    let failed = |e: SmbError| {
        smb_failure(e, |source| WindowsError::StagingDir {
            dir: dir.to_string(),
            source,
        })
    };
    match conn.session.create(&tree, &open).await {
        Ok(handle) => conn.session.close(&tree, handle).await.map_err(failed),
        Err(e) if e.status() == Some(status::OBJECT_NAME_COLLISION) => {
            Err(WindowsError::StagingCollision { dir: dir.to_string() })
        }
        Err(e) => Err(failed(e)),
    }
}

/// What a wrapper runs: the detect check, the installer or the reboot request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    Detect,
    /// The host's facts for `requires` and variants (see `facts.rs`).
    Facts,
    Install,
    Reboot,
}

impl Purpose {
    /// The wrapper's file names.
    fn name(self) -> &'static str {
        match self {
            Purpose::Detect => "pushinst-detect",
            Purpose::Facts => "pushinst-facts",
            Purpose::Install => "pushinst",
            Purpose::Reboot => "pushinst-reboot",
        }
    }

    /// The service (or task) that runs it: one of the prepared names, or for the
    /// reboot, which comes after every package's cleanup, one of its own.
    fn service(self, conn: &WindowsConnection) -> Option<String> {
        match self {
            Purpose::Detect => conn.services.first().cloned(),
            // The detect's service when a package is prepared (deploy); one of its
            // own for `check`, which asks before any package is.
            Purpose::Facts => conn
                .services
                .first()
                .cloned()
                .or_else(|| Some(conn.facts_service())),
            Purpose::Install => conn.services.get(1).cloned(),
            Purpose::Reboot => {
                let prefix = match conn.options.method {
                    ExecMethod::Service => "",
                    ExecMethod::Task => "\\",
                };
                Some(format!("{prefix}pushinst-{}-r", super::hex(&conn.tag[8..])))
            }
        }
    }
}

/// Run `command` through a wrapper for `purpose`, and wait for its exit code.
pub(super) async fn run(
    conn: &mut WindowsConnection,
    purpose: Purpose,
    command: &wrapper::Command,
    timeout: Duration,
) -> Result<ExecOutput, WindowsError> {
    let name = purpose.name();
    let dir = conn.staged.clone().ok_or(WindowsError::NotPrepared)?;
    let fresh = !conn.created;
    ensure_dir(conn, &dir).await?;
    let tree = conn.admin_share().await?;
    // A wrapper may run twice in one directory (the facts for the variants, then for
    // the requirements; detect again after an uninstall): the last run's exit code
    // must not pass for this one's. A directory made just now holds nothing.
    for old in ["rc", "started"].into_iter().filter(|_| !fresh) {
        match conn
            .session
            .delete(&tree, &format!(r"{dir}\{name}.{old}"), false)
            .await
        {
            Ok(()) => {}
            Err(e) if e.status().is_some_and(status::is_missing) => {}
            Err(e) => {
                return Err(smb_failure(e, |source| WindowsError::Cleanup {
                    path: format!(r"{dir}\{name}.{old}"),
                    source,
                }));
            }
        }
    }
    let script = format!(r"{dir}\{name}.cmd");
    let open = Open {
        path: &script,
        access: access::WRITE_DATA,
        disposition: disposition::OVERWRITE_IF,
        options: options::NON_DIRECTORY,
        descriptor: None,
    };
    let failed = |e: SmbError| {
        smb_failure(e, |source| WindowsError::Upload {
            path: script.clone(),
            source,
        })
    };
    let file = conn.session.create(&tree, &open).await.map_err(failed)?;
    let written = conn
        .session
        .write_all(&tree, file, wrapper::script(name, command).as_bytes())
        .await;
    let _ = conn.session.close(&tree, file).await;
    written.map_err(failed)?;

    let service = purpose.service(conn).ok_or(WindowsError::NoServiceName)?;
    let local = format!(r"%SystemRoot%\{script}");
    let wait = Wait {
        rc: format!(r"{dir}\{name}.rc"),
        marker: format!(r"{dir}\{name}.started"),
        timeout,
        purpose,
    };
    let code = match conn.options.method {
        ExecMethod::Service => {
            start_service(conn, &service, &wrapper::service_command(&local)).await?;
            wait_for_code(conn, &wait).await?
        }
        ExecMethod::Task => {
            run_task(conn, &service, &local).await?;
            let code = wait_for_code(conn, &wait).await;
            // The task is done with (or given up on): it goes either way.
            let deleted = delete_tasks(conn, std::slice::from_ref(&service)).await;
            let code = code?;
            deleted?;
            code
        }
    };
    let mut output = OutputTail::new(OUTPUT_LIMIT);
    // msiexec says nothing on its output; its verbose log is what tells why.
    let msi_log = format!(r"{dir}\{}", wrapper::MSI_LOG);
    let log = match command.line.starts_with("msiexec ") {
        true => read_tail(conn, &msi_log).await.ok().filter(|t| !t.is_empty()),
        false => None,
    };
    let log = match log {
        Some(log) => log,
        None => read_tail(conn, &format!(r"{dir}\{name}.log"))
            .await
            .unwrap_or_default(),
    };
    output.push(&log);
    Ok(ExecOutput {
        exit: RemoteExit::Code(code),
        output,
    })
}

/// `pushinst check`: open the Service Control Manager with the rights a deploy
/// needs to create its service, and close it again; nothing is created.
pub(super) async fn scm_opens(conn: &mut WindowsConnection) -> Result<(), WindowsError> {
    let user = conn.user();
    let machine = conn.endpoint.address.clone();
    let (mut rpc, manager) = open_scm(
        &mut conn.session,
        conn.rpc_kerberos.as_ref(),
        &machine,
        Refusal::Named { user: &user },
    )
    .await?;
    let _ = scmr::close(&mut rpc, &manager).await;
    rpc.into_pipe().close().await;
    Ok(())
}

/// How `open_scm` says an OpenSCManagerW refused with ACCESS_DENIED.
#[derive(Clone, Copy)]
enum Refusal<'u> {
    /// "access denied to the Service Control Manager" for `user`: what `check`
    /// and a deploy tell a sysadmin whose account is not an administrator.
    Named { user: &'u str },
    /// As any other OpenSCManagerW failure (`ScmOpen` with the status): what
    /// deleting services (cleanup, `remove`) has always said. Kept so on purpose;
    /// whether cleanup should name the account too is a wording change of its own.
    AsRpcError,
}

/// Bind `\PIPE\svcctl` and open the Service Control Manager on it, with the
/// rights to create a service (`scmr::open_sc_manager` asks the same for every
/// caller). The pipe and the manager's handle are the caller's to close. Takes
/// the session, not the connection, so callers can note pending services while
/// the pipe is open.
async fn open_scm<'s>(
    session: &'s mut Session,
    kerberos: Option<&KerberosLogon>,
    machine: &str,
    refusal: Refusal<'_>,
) -> Result<(RpcClient<SmbPipe<'s>>, Handle), WindowsError> {
    let mut rpc = bind(session, kerberos, "svcctl", &scmr::SVCCTL).await?;
    match (scmr::open_sc_manager(&mut rpc, machine).await, refusal) {
        (Ok(manager), _) => Ok((rpc, manager)),
        (Err(RpcError::Win32 { code: 5, .. }), Refusal::Named { user }) => {
            Err(denied("the Service Control Manager", user))
        }
        (Err(e), _) => Err(rpc_failure(e, |source| WindowsError::ScmOpen { source })),
    }
}

/// Create, start and at once delete the service: the running program does not
/// need it, and a service is the one thing that must never be left behind.
async fn start_service(
    conn: &mut WindowsConnection,
    service: &str,
    binary: &str,
) -> Result<(), WindowsError> {
    let user = conn.user();
    let machine = conn.endpoint.address.clone();
    let (mut rpc, manager) = open_scm(
        &mut conn.session,
        conn.rpc_kerberos.as_ref(),
        &machine,
        Refusal::Named { user: &user },
    )
    .await?;
    let created = scmr::create_service(&mut rpc, &manager, service, binary).await;
    let handle = match created {
        Ok(handle) => {
            conn.pending.push(service.to_string());
            handle
        }
        Err(e) => {
            let _ = scmr::close(&mut rpc, &manager).await;
            return Err(match e {
                RpcError::Win32 {
                    code: scmr::ERROR_SERVICE_EXISTS,
                    ..
                } => WindowsError::ServiceExists {
                    service: service.to_string(),
                },
                RpcError::Win32 { code: 5, .. } => denied("create a service", &user),
                other => rpc_failure(other, |source| WindowsError::ServiceCreate { source }),
            });
        }
    };
    let start = scmr::start_service(&mut rpc, &handle).await;
    let deleted = scmr::delete_service(&mut rpc, &handle).await;
    let _ = scmr::close(&mut rpc, &handle).await;
    let _ = scmr::close(&mut rpc, &manager).await;
    rpc.into_pipe().close().await;
    deleted.map_err(|e| {
        rpc_failure(e, |source| WindowsError::ServiceDelete {
            service: service.to_string(),
            source,
        })
    })?;
    conn.pending.retain(|s| s != service);
    let code = start.map_err(|e| {
        rpc_failure(e, |source| WindowsError::ServiceStart {
            service: service.to_string(),
            source,
        })
    })?;
    match code {
        0 | scmr::ERROR_SERVICE_REQUEST_TIMEOUT => Ok(()),
        code => Err(WindowsError::ServiceNotStarted {
            service: service.to_string(),
            code,
        }),
    }
}

/// Register a task running the wrapper as SYSTEM, and run it (MS-TSCH).
async fn run_task(conn: &mut WindowsConnection, path: &str, script: &str) -> Result<(), WindowsError> {
    let user = conn.user();
    let mut rpc = bind(
        &mut conn.session,
        conn.rpc_kerberos.as_ref(),
        "atsvc",
        &tsch::ATSVC,
    )
    .await?;
    let xml = tsch::task_xml("cmd.exe", &format!(r#"/Q /c "{script}""#));
    match tsch::register_task(&mut rpc, path, &xml).await {
        Ok(()) => conn.pending.push(path.to_string()),
        Err(RpcError::Win32 {
            code: 5 | 0x8007_0005,
            ..
        }) => return Err(denied("the Task Scheduler", &user)),
        Err(e) => return Err(rpc_failure(e, |source| WindowsError::TaskRegister { source })),
    }
    let ran = tsch::run(&mut rpc, path).await;
    rpc.into_pipe().close().await;
    ran.map_err(|e| {
        rpc_failure(e, |source| WindowsError::TaskRun {
            path: path.to_string(),
            source,
        })
    })
}

/// Delete tasks pushinst registered; ones that are gone already are fine.
pub(super) async fn delete_tasks(conn: &mut WindowsConnection, paths: &[String]) -> Result<(), WindowsError> {
    if paths.is_empty() {
        return Ok(());
    }
    let mut rpc = bind(
        &mut conn.session,
        conn.rpc_kerberos.as_ref(),
        "atsvc",
        &tsch::ATSVC,
    )
    .await?;
    let mut result = Ok(());
    for path in paths {
        match tsch::delete(&mut rpc, path).await {
            Ok(()) => conn.pending.retain(|p| p != path),
            // HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND): not there any more.
            Err(RpcError::Win32 {
                code: 0x8007_0002, ..
            }) => conn.pending.retain(|p| p != path),
            Err(e) => {
                result = Err(rpc_failure(e, |source| WindowsError::TaskDelete {
                    path: path.clone(),
                    source,
                }))
            }
        }
    }
    rpc.into_pipe().close().await;
    result
}

/// Open `\PIPE\{pipe}` on IPC$ and bind `interface` on it, at packet privacy
/// with the logon's credentials (current Windows demands it on atsvc; svcctl
/// takes it too).
async fn bind<'s>(
    session: &'s mut Session,
    kerberos: Option<&KerberosLogon>,
    pipe: &'static str,
    interface: &pdu::Interface,
) -> Result<RpcClient<SmbPipe<'s>>, WindowsError> {
    // The mechanism the SMB session logged on with.
    let logon = match kerberos {
        Some(kerberos) => Some(auth::BindLogon::Kerberos(kerberos.clone())),
        None => session.logon().map(|(account, password)| {
            auth::BindLogon::Ntlm(auth::Credentials {
                account: account.clone(),
                password: password.clone(),
                target_name: format!("cifs/{}", session.target()),
            })
        }),
    };
    let opened = SmbPipe::open(session, pipe)
        .await
        .map_err(|e| smb_failure(e, |source| WindowsError::Pipe { pipe, source }))?;
    let bound = match &logon {
        Some(logon) => match RpcClient::bind_as(opened, interface, logon).await {
            Ok(bound) => Ok(bound),
            // Closed, or the host's RPC server would wait on it at the next bind.
            Err(Unbound { pipe, error }) => {
                pipe.close().await;
                Err(error)
            }
        },
        None => RpcClient::bind(opened, interface).await,
    };
    bound.map_err(|e| rpc_failure(e, |source| WindowsError::RpcBind { pipe, source }))
}

/// The wrapper writes a number and a newline; anything longer is not an exit code.
const EXIT_CODE_LIMIT: usize = 64;

/// What to wait for after the service or task was started.
struct Wait {
    /// The exit code file.
    rc: String,
    /// The wrapper's first act writes this: until it exists, nothing ran.
    marker: String,
    timeout: Duration,
    purpose: Purpose,
}

/// Poll for the exit code file until it appears or the timeout passes; fail at
/// once when the wrapper has not even written its start marker in `start_timeout`.
async fn wait_for_code(conn: &mut WindowsConnection, wait: &Wait) -> Result<i32, WindowsError> {
    let started = Instant::now();
    let deadline = started + wait.timeout;
    let start_deadline = started + conn.options.start_timeout;
    let mut running = false;
    let tree = conn.admin_share().await?;
    let path = wait.rc.as_str();
    let failed = |path: &str, e: SmbError| {
        smb_failure(e, |source| WindowsError::ReadResult {
            path: path.to_string(),
            source,
        })
    };
    loop {
        let open = Open {
            path,
            access: access::READ_DATA,
            disposition: disposition::OPEN,
            options: options::NON_DIRECTORY,
            descriptor: None,
        };
        match conn.session.create(&tree, &open).await {
            Ok(file) => {
                let text = conn.session.read_all(&tree, file, EXIT_CODE_LIMIT).await;
                let _ = conn.session.close(&tree, file).await;
                let text = String::from_utf8_lossy(&text.map_err(|e| failed(path, e))?)
                    .trim()
                    .to_string();
                return text
                    .parse::<i32>()
                    .map_err(|_| WindowsError::GarbageExitCode { text });
            }
            Err(e) if e.status().is_some_and(status::is_missing) => {}
            Err(e) => return Err(failed(path, e)),
        }
        if !running {
            running = match conn.session.size(&tree, &wait.marker).await {
                Ok(_) => true,
                Err(e) if e.status().is_some_and(status::is_missing) => false,
                Err(e) => return Err(failed(&wait.marker, e)),
            };
            if !running && Instant::now() >= start_deadline {
                return Err(WindowsError::NeverStarted {
                    start_timeout: conn.options.start_timeout,
                });
            }
        }
        if Instant::now() >= deadline {
            let timeout = wait.timeout;
            return Err(match wait.purpose {
                Purpose::Install | Purpose::Reboot => WindowsError::NoExitCode { timeout },
                Purpose::Detect => WindowsError::DetectNoExitCode { timeout },
                Purpose::Facts => WindowsError::FactsNoExitCode { timeout },
            });
        }
        tokio::time::sleep(conn.options.poll).await;
    }
}

/// The last part of a log file (the runner keeps at most `OUTPUT_LIMIT`), as
/// UTF-8: msiexec writes its log in UTF-16LE with a byte order mark.
async fn read_tail(conn: &mut WindowsConnection, path: &str) -> Result<Vec<u8>, WindowsError> {
    let (head, tail, offset) = read_raw_tail(conn, path).await?;
    Ok(decode_log(&head, &tail, offset))
}

/// A log's bytes from `offset` on as UTF-8, given its first two bytes.
fn decode_log(head: &[u8], tail: &[u8], offset: u64) -> Vec<u8> {
    if head != [0xFF, 0xFE] {
        return tail.to_vec();
    }
    // A tail that starts mid-character loses that one byte, not the rest.
    let skip = if offset == 0 { 2 } else { (offset % 2) as usize };
    let units: Vec<u16> = tail
        .get(skip..)
        .unwrap_or_default()
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .collect();
    String::from_utf16_lossy(&units).into_bytes()
}

/// The file's first two bytes, its last `OUTPUT_LIMIT` bytes and where they start.
async fn read_raw_tail(
    conn: &mut WindowsConnection,
    path: &str,
) -> Result<(Vec<u8>, Vec<u8>, u64), WindowsError> {
    let tree = conn.admin_share().await?;
    let failed = |e: SmbError| {
        smb_failure(e, |source| WindowsError::ReadResult {
            path: path.to_string(),
            source,
        })
    };
    let open = Open {
        path,
        access: access::READ_DATA,
        disposition: disposition::OPEN,
        options: options::NON_DIRECTORY,
        descriptor: None,
    };
    let (file, size) = conn.session.open_sized(&tree, &open).await.map_err(failed)?;
    let mut out = Vec::new();
    let start = size.saturating_sub(OUTPUT_LIMIT as u64);
    let mut offset = start;
    let head = match size >= 2 {
        true => conn.session.read(&tree, file, 0, 2).await.unwrap_or_default(),
        false => Vec::new(),
    };
    // Up to the size the server reported when opening it, and never more than
    // the tail kept: a server that keeps sending cannot make this grow.
    while offset < size && out.len() < OUTPUT_LIMIT {
        match conn.session.read(&tree, file, offset, 65536).await {
            Ok(chunk) if chunk.is_empty() => break,
            Ok(chunk) => {
                offset += chunk.len() as u64;
                out.extend_from_slice(&chunk);
            }
            Err(e) => {
                let _ = conn.session.close(&tree, file).await;
                return Err(failed(e));
            }
        }
    }
    let _ = conn.session.close(&tree, file).await;
    Ok((head, out, start))
}

/// Delete services left by an interrupted run; ones that do not exist are fine.
pub(super) async fn delete_services(
    conn: &mut WindowsConnection,
    names: &[String],
) -> Result<(), WindowsError> {
    if names.is_empty() {
        return Ok(());
    }
    let machine = conn.endpoint.address.clone();
    let (mut rpc, manager) = open_scm(
        &mut conn.session,
        conn.rpc_kerberos.as_ref(),
        &machine,
        Refusal::AsRpcError,
    )
    .await?;
    let mut result = Ok(());
    for name in names {
        match scmr::open_service(&mut rpc, &manager, name).await {
            Ok(handle) => {
                if let Err(e) = scmr::delete_service(&mut rpc, &handle).await {
                    result = Err(rpc_failure(e, |source| WindowsError::ServiceDelete {
                        service: name.clone(),
                        source,
                    }));
                }
                let _ = scmr::close(&mut rpc, &handle).await;
            }
            Err(RpcError::Win32 { code: 1060, .. }) => {}
            Err(e) => {
                result = Err(rpc_failure(e, |source| WindowsError::ServiceOpen {
                    service: name.clone(),
                    source,
                }))
            }
        }
    }
    let _ = scmr::close(&mut rpc, &manager).await;
    rpc.into_pipe().close().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_msiexec_log_in_utf16_is_read_as_text_from_its_start_or_mid_file() {
        let text = "MSI (s) (A4:B8): Produkt: Zürich -- Installation fehlgeschlagen.\r\n";
        let mut file = vec![0xFF, 0xFE];
        file.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(decode_log(&file[..2], &file, 0), text.as_bytes());
        // A tail cut at an odd offset drops the half character, keeps the rest.
        let cut = 2 + 2 * 8 + 1;
        let decoded = decode_log(&file[..2], &file[cut..], cut as u64);
        assert_eq!(String::from_utf8(decoded).unwrap(), text[9..]);
        // Plain bytes stay as they are.
        assert_eq!(decode_log(b"ab", b"abc", 0), b"abc");
    }
}

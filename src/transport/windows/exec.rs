//! Running a command as LocalSystem the psexec way: a wrapper script in the
//! staging directory, a temporary service whose command line starts it, the
//! service deleted at once, then polling ADMIN$ for the exit code it writes.

use std::time::Duration;

use tokio::time::Instant;

use super::pipe::SmbPipe;
use super::rpc::{RpcClient, RpcError, scmr, tsch};
use super::smb::{Open, access, disposition, options, status};
use super::{ExecMethod, WindowsConnection, denied, smb_failure, wrapper};
use crate::transport::output::OUTPUT_LIMIT;
use crate::transport::{ExecOutput, OutputTail, RemoteExit, TransportError};

/// Create the staging directory once per package; an existing one is refused, so
/// nobody can plant files in it beforehand.
pub(super) async fn ensure_dir(conn: &mut WindowsConnection, dir: &str) -> Result<(), TransportError> {
    if conn.created {
        return Ok(());
    }
    let tree = conn.admin_share().await?;
    conn.created = true;
    let open = Open {
        path: dir,
        access: access::READ_ATTRIBUTES,
        disposition: disposition::CREATE,
        options: options::DIRECTORY,
    };
    match conn.session.create(&tree, &open).await {
        Ok(handle) => conn.session.close(&tree, handle).await.map_err(smb_failure),
        Err(e) if e.status() == Some(status::OBJECT_NAME_COLLISION) => Err(TransportError::Remote(format!(
            "ADMIN$\\{dir} already exists on the host"
        ))),
        Err(e) => Err(smb_failure(e)),
    }
}

/// Start `command` as LocalSystem without waiting for it (a reboot request).
pub(super) async fn start_detached(
    conn: &mut WindowsConnection,
    command: &str,
) -> Result<(), TransportError> {
    let service = format!("pushinst-{:016x}-r", u64::from_le_bytes(super::random8()));
    start_service(conn, &service, &format!("%COMSPEC% /Q /c {command}")).await
}

/// Run `command` through a wrapper named `name`, and wait for its exit code.
pub(super) async fn run(
    conn: &mut WindowsConnection,
    name: &str,
    command: &str,
    timeout: Duration,
) -> Result<ExecOutput, TransportError> {
    let dir = conn
        .staged
        .clone()
        .ok_or_else(|| TransportError::Remote("no staging directory was prepared".into()))?;
    ensure_dir(conn, &dir).await?;
    let tree = conn.admin_share().await?;
    let script = format!(r"{dir}\{name}.cmd");
    let open = Open {
        path: &script,
        access: access::WRITE_DATA,
        disposition: disposition::OVERWRITE_IF,
        options: options::NON_DIRECTORY,
    };
    let file = conn.session.create(&tree, &open).await.map_err(smb_failure)?;
    let written = conn
        .session
        .write_all(&tree, file, wrapper::script(name, command).as_bytes())
        .await;
    let _ = conn.session.close(&tree, file).await;
    written.map_err(smb_failure)?;

    let service = match name {
        "pushinst-detect" => conn.services.first().cloned(),
        _ => conn.services.get(1).cloned(),
    }
    .ok_or_else(|| TransportError::Remote("no service name was prepared".into()))?;
    let started = Instant::now();
    let local = format!(r"%SystemRoot%\{script}");
    let rc = format!(r"{dir}\{name}.rc");
    let code = match conn.options.method {
        ExecMethod::Service => {
            start_service(conn, &service, &wrapper::service_command(&local)).await?;
            wait_for_code(conn, &rc, started + timeout, timeout).await?
        }
        ExecMethod::Task => {
            run_task(conn, &service, &local).await?;
            let code = wait_for_code(conn, &rc, started + timeout, timeout).await;
            // The task is done with (or given up on): it goes either way.
            let deleted = delete_tasks(conn, std::slice::from_ref(&service)).await;
            let code = code?;
            deleted?;
            code
        }
    };
    let mut output = OutputTail::new(OUTPUT_LIMIT);
    output.push(
        &read_tail(conn, &format!(r"{dir}\{name}.log"))
            .await
            .unwrap_or_default(),
    );
    Ok(ExecOutput {
        exit: RemoteExit::Code(code),
        output,
    })
}

/// Create, start and at once delete the service: the running program does not
/// need it, and a service is the one thing that must never be left behind.
async fn start_service(
    conn: &mut WindowsConnection,
    service: &str,
    binary: &str,
) -> Result<(), TransportError> {
    let user = conn.user();
    let machine = conn.endpoint.address.clone();
    let pipe = SmbPipe::open(&mut conn.session, "svcctl")
        .await
        .map_err(smb_failure)?;
    let mut rpc = RpcClient::bind(pipe, &scmr::SVCCTL).await.map_err(rpc_failure)?;
    let manager = match scmr::open_sc_manager(&mut rpc, &machine).await {
        Err(RpcError::Win32 { code: 5, .. }) => return Err(denied("the Service Control Manager", &user)),
        other => other.map_err(rpc_failure)?,
    };
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
                } => TransportError::Remote(format!(
                    "a service named {service} already exists on the host; pushinst never touches a service it did not create"
                )),
                RpcError::Win32 { code: 5, .. } => denied("create a service", &user),
                other => TransportError::Remote(format!(
                    "the host's Service Control Manager would not create a service: {other}"
                )),
            });
        }
    };
    let start = scmr::start_service(&mut rpc, &handle).await;
    let deleted = scmr::delete_service(&mut rpc, &handle).await;
    let _ = scmr::close(&mut rpc, &handle).await;
    let _ = scmr::close(&mut rpc, &manager).await;
    rpc.into_pipe().close().await;
    deleted.map_err(|e| TransportError::Remote(format!("service {service} could not be deleted: {e}")))?;
    conn.pending.retain(|s| s != service);
    match start.map_err(rpc_failure)? {
        0 | scmr::ERROR_SERVICE_REQUEST_TIMEOUT => Ok(()),
        code => Err(TransportError::Remote(format!(
            "the service did not start: {}",
            super::rpc::win32_name(code)
        ))),
    }
}

/// Register a task running the wrapper as SYSTEM, and run it (MS-TSCH).
async fn run_task(conn: &mut WindowsConnection, path: &str, script: &str) -> Result<(), TransportError> {
    let user = conn.user();
    let pipe = SmbPipe::open(&mut conn.session, "atsvc")
        .await
        .map_err(smb_failure)?;
    let mut rpc = RpcClient::bind(pipe, &tsch::ATSVC).await.map_err(rpc_failure)?;
    let xml = tsch::task_xml("cmd.exe", &format!(r#"/Q /c "{script}""#));
    match tsch::register_task(&mut rpc, path, &xml).await {
        Ok(()) => conn.pending.push(path.to_string()),
        Err(RpcError::Win32 {
            code: 5 | 0x8007_0005,
            ..
        }) => return Err(denied("the Task Scheduler", &user)),
        Err(e) => {
            return Err(TransportError::Remote(format!(
                "the host's Task Scheduler would not register a task: {e}"
            )));
        }
    }
    let ran = tsch::run(&mut rpc, path).await;
    rpc.into_pipe().close().await;
    ran.map_err(|e| TransportError::Remote(format!("the task {path} did not run: {e}")))
}

/// Delete tasks pushinst registered; ones that are gone already are fine.
pub(super) async fn delete_tasks(
    conn: &mut WindowsConnection,
    paths: &[String],
) -> Result<(), TransportError> {
    if paths.is_empty() {
        return Ok(());
    }
    let pipe = SmbPipe::open(&mut conn.session, "atsvc")
        .await
        .map_err(smb_failure)?;
    let mut rpc = RpcClient::bind(pipe, &tsch::ATSVC).await.map_err(rpc_failure)?;
    let mut result = Ok(());
    for path in paths {
        match tsch::delete(&mut rpc, path).await {
            Ok(()) => conn.pending.retain(|p| p != path),
            // HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND): not there any more.
            Err(RpcError::Win32 {
                code: 0x8007_0002, ..
            }) => conn.pending.retain(|p| p != path),
            Err(e) => {
                result = Err(TransportError::Remote(format!(
                    "the task {path} could not be deleted: {e}"
                )))
            }
        }
    }
    rpc.into_pipe().close().await;
    result
}

fn rpc_failure(e: RpcError) -> TransportError {
    TransportError::Remote(e.to_string())
}

/// Poll for the exit code file until it appears or `deadline` passes.
async fn wait_for_code(
    conn: &mut WindowsConnection,
    path: &str,
    deadline: Instant,
    timeout: Duration,
) -> Result<i32, TransportError> {
    let tree = conn.admin_share().await?;
    loop {
        let open = Open {
            path,
            access: access::READ_DATA,
            disposition: disposition::OPEN,
            options: options::NON_DIRECTORY,
        };
        match conn.session.create(&tree, &open).await {
            Ok(file) => {
                let text = conn.session.read_all(&tree, file).await;
                let _ = conn.session.close(&tree, file).await;
                let text = String::from_utf8_lossy(&text.map_err(smb_failure)?)
                    .trim()
                    .to_string();
                return text.parse::<i32>().map_err(|_| {
                    TransportError::Remote(format!("the wrapper wrote {text:?} instead of an exit code"))
                });
            }
            Err(e) if e.status().is_some_and(status::is_missing) => {}
            Err(e) => return Err(smb_failure(e)),
        }
        if Instant::now() >= deadline {
            return Err(TransportError::Remote(format!(
                "no exit code after {}: the service started, but the installer never finished or never ran \
                 (blocked by an antivirus or EDR?); it may still be running on the host",
                humantime::format_duration(timeout)
            )));
        }
        tokio::time::sleep(conn.options.poll).await;
    }
}

/// The last part of a log file (the runner keeps at most `OUTPUT_LIMIT`).
async fn read_tail(conn: &mut WindowsConnection, path: &str) -> Result<Vec<u8>, TransportError> {
    let tree = conn.admin_share().await?;
    let open = Open {
        path,
        access: access::READ_DATA,
        disposition: disposition::OPEN,
        options: options::NON_DIRECTORY,
    };
    let (file, size) = conn.session.open_sized(&tree, &open).await.map_err(smb_failure)?;
    let mut out = Vec::new();
    let mut offset = size.saturating_sub(OUTPUT_LIMIT as u64);
    loop {
        match conn.session.read(&tree, file, offset, 65536).await {
            Ok(chunk) if chunk.is_empty() => break,
            Ok(chunk) => {
                offset += chunk.len() as u64;
                out.extend_from_slice(&chunk);
            }
            Err(e) => {
                let _ = conn.session.close(&tree, file).await;
                return Err(smb_failure(e));
            }
        }
    }
    let _ = conn.session.close(&tree, file).await;
    Ok(out)
}

/// Delete services left by an interrupted run; ones that do not exist are fine.
pub(super) async fn delete_services(
    conn: &mut WindowsConnection,
    names: &[String],
) -> Result<(), TransportError> {
    if names.is_empty() {
        return Ok(());
    }
    let machine = conn.endpoint.address.clone();
    let pipe = SmbPipe::open(&mut conn.session, "svcctl")
        .await
        .map_err(smb_failure)?;
    let mut rpc = RpcClient::bind(pipe, &scmr::SVCCTL).await.map_err(rpc_failure)?;
    let manager = scmr::open_sc_manager(&mut rpc, &machine)
        .await
        .map_err(rpc_failure)?;
    let mut result = Ok(());
    for name in names {
        match scmr::open_service(&mut rpc, &manager, name).await {
            Ok(handle) => {
                if let Err(e) = scmr::delete_service(&mut rpc, &handle).await {
                    result = Err(TransportError::Remote(format!(
                        "service {name} could not be deleted: {e}"
                    )));
                }
                let _ = scmr::close(&mut rpc, &handle).await;
            }
            Err(RpcError::Win32 { code: 1060, .. }) => {}
            Err(e) => result = Err(rpc_failure(e)),
        }
    }
    let _ = scmr::close(&mut rpc, &manager).await;
    rpc.into_pipe().close().await;
    result
}

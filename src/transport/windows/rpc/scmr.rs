//! MS-SCMR, the Service Control Manager over `\PIPE\svcctl`: the six calls a
//! psexec-style install makes. Each call has a pure stub encoder (checked against
//! impacket's encoding in the golden tests) and a decoder for its answer.

use super::ndr::{Decoder, Encoder, Handle};
use super::pdu::{Interface, uuid};
use super::{RpcClient, RpcError, RpcPipe, check};

pub const SVCCTL: Interface = Interface {
    name: "svcctl (MS-SCMR)",
    uuid: uuid(
        0x367a_bb81,
        0x9844,
        0x35f1,
        [0xad, 0x32, 0x98, 0xf0, 0x38, 0x00, 0x10, 0x03],
    ),
    version: (2, 0),
};

pub const CLOSE_SERVICE_HANDLE: u16 = 0;
pub const DELETE_SERVICE: u16 = 2;
pub const CREATE_SERVICE_W: u16 = 12;
pub const OPEN_SC_MANAGER_W: u16 = 15;
pub const OPEN_SERVICE_W: u16 = 16;
pub const START_SERVICE_W: u16 = 19;

pub const SC_MANAGER_CONNECT: u32 = 0x0001;
pub const SC_MANAGER_CREATE_SERVICE: u32 = 0x0002;
pub const SERVICE_ALL_ACCESS: u32 = 0x000F_01FF;
pub const SERVICE_WIN32_OWN_PROCESS: u32 = 0x10;
pub const SERVICE_DEMAND_START: u32 = 3;
pub const SERVICE_ERROR_IGNORE: u32 = 0;

/// Started: the program ran. 1053 is what a plain program (not a service) gets.
pub const ERROR_SERVICE_REQUEST_TIMEOUT: u32 = 1053;
pub const ERROR_SERVICE_EXISTS: u32 = 1073;

/// The request stubs, byte for byte.
pub mod stub {
    use super::*;

    pub fn open_sc_manager(machine: &str, database: &str, access: u32) -> Vec<u8> {
        let mut e = Encoder::default();
        e.unique_string(Some(machine))
            .unique_string(Some(database))
            .u32(access);
        e.buf
    }

    pub fn create_service(manager: &Handle, name: &str, display: &str, binary: &str) -> Vec<u8> {
        let mut e = Encoder::default();
        e.handle(manager)
            .string(name)
            .unique_string(Some(display))
            .u32(SERVICE_ALL_ACCESS)
            .u32(SERVICE_WIN32_OWN_PROCESS)
            .u32(SERVICE_DEMAND_START)
            .u32(SERVICE_ERROR_IGNORE)
            .string(binary)
            .null()
            .null()
            .null()
            .u32(0)
            .null()
            .null()
            .u32(0);
        e.buf
    }

    pub fn open_service(manager: &Handle, name: &str, access: u32) -> Vec<u8> {
        let mut e = Encoder::default();
        e.handle(manager).string(name).u32(access);
        e.buf
    }

    pub fn start_service(service: &Handle) -> Vec<u8> {
        let mut e = Encoder::default();
        e.handle(service).u32(0).null();
        e.buf
    }

    /// DeleteService and CloseServiceHandle take only the handle.
    pub fn handle_only(handle: &Handle) -> Vec<u8> {
        let mut e = Encoder::default();
        e.handle(handle);
        e.buf
    }
}

pub async fn open_sc_manager<P: RpcPipe>(rpc: &mut RpcClient<P>, machine: &str) -> Result<Handle, RpcError> {
    let stub = stub::open_sc_manager(
        machine,
        "ServicesActive",
        SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE,
    );
    let answer = rpc.call(OPEN_SC_MANAGER_W, &stub).await?;
    let mut d = Decoder::new(&answer);
    let handle = d.handle()?;
    check("OpenSCManagerW", d.u32()?)?;
    Ok(handle)
}

/// A new service; `Err(Win32 { code: 1073 })` when the name is taken.
pub async fn create_service<P: RpcPipe>(
    rpc: &mut RpcClient<P>,
    manager: &Handle,
    name: &str,
    binary: &str,
) -> Result<Handle, RpcError> {
    let answer = rpc
        .call(
            CREATE_SERVICE_W,
            &stub::create_service(manager, name, name, binary),
        )
        .await?;
    let mut d = Decoder::new(&answer);
    let _tag = d.unique_u32()?;
    let handle = d.handle()?;
    check("CreateServiceW", d.u32()?)?;
    Ok(handle)
}

pub async fn open_service<P: RpcPipe>(
    rpc: &mut RpcClient<P>,
    manager: &Handle,
    name: &str,
) -> Result<Handle, RpcError> {
    let answer = rpc
        .call(
            OPEN_SERVICE_W,
            &stub::open_service(manager, name, SERVICE_ALL_ACCESS),
        )
        .await?;
    let mut d = Decoder::new(&answer);
    let handle = d.handle()?;
    check("OpenServiceW", d.u32()?)?;
    Ok(handle)
}

/// The Win32 code StartServiceW returned: 0 and 1053 both mean the program ran.
pub async fn start_service<P: RpcPipe>(rpc: &mut RpcClient<P>, service: &Handle) -> Result<u32, RpcError> {
    let answer = rpc.call(START_SERVICE_W, &stub::start_service(service)).await?;
    Decoder::new(&answer).u32()
}

pub async fn delete_service<P: RpcPipe>(rpc: &mut RpcClient<P>, service: &Handle) -> Result<(), RpcError> {
    let answer = rpc.call(DELETE_SERVICE, &stub::handle_only(service)).await?;
    check("DeleteService", Decoder::new(&answer).u32()?)
}

pub async fn close<P: RpcPipe>(rpc: &mut RpcClient<P>, handle: &Handle) -> Result<(), RpcError> {
    let answer = rpc.call(CLOSE_SERVICE_HANDLE, &stub::handle_only(handle)).await?;
    let mut d = Decoder::new(&answer);
    let _zeroed = d.handle()?;
    check("CloseServiceHandle", d.u32()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors encoded by impacket's own MS-SCMR structures (golden.py), with
    /// zero padding and referents numbered as we number them.
    const GOLDEN: &str = include_str!("golden.json");

    fn golden() -> (serde_json::Value, Handle) {
        let g: serde_json::Value = serde_json::from_str(GOLDEN).expect("golden JSON");
        let bytes: Vec<u8> = (0..20)
            .map(|i| u8::from_str_radix(&g["handle"].as_str().unwrap()[i * 2..i * 2 + 2], 16).unwrap())
            .collect();
        let mut handle = [0u8; 20];
        handle.copy_from_slice(&bytes);
        (g, Handle(handle))
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn every_request_stub_matches_impacket_byte_for_byte() {
        let (g, handle) = golden();
        let text = |key: &str| g[key].as_str().unwrap().to_string();
        let ours = [
            (
                "open_sc_manager",
                stub::open_sc_manager(
                    &text("machine"),
                    "ServicesActive",
                    SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE,
                ),
            ),
            (
                "create_service",
                stub::create_service(&handle, &text("name"), &text("name"), &text("binary")),
            ),
            (
                "open_service",
                stub::open_service(&handle, &text("name"), SERVICE_ALL_ACCESS),
            ),
            ("start_service", stub::start_service(&handle)),
            ("delete_service", stub::handle_only(&handle)),
            ("close_service_handle", stub::handle_only(&handle)),
        ];
        for (name, stub) in ours {
            assert_eq!(hex(&stub), g["vectors"][name].as_str().unwrap(), "{name}");
        }
    }
}

//! MS-TSCH, the Task Scheduler over `\PIPE\atsvc` (the Sophos way): register a task
//! that runs the wrapper as SYSTEM, run it, delete it. Stub encoders are checked
//! against impacket's encoding in the golden tests.

use super::ndr::{Decoder, Encoder};
use super::pdu::{Interface, uuid};
use super::{RpcClient, RpcError, RpcPipe};

pub const ATSVC: Interface = Interface {
    name: "atsvc (MS-TSCH)",
    uuid: uuid(
        0x86d3_5949,
        0x83c9,
        0x4044,
        [0xb4, 0x24, 0xdb, 0x36, 0x32, 0x31, 0xfd, 0x0c],
    ),
    version: (1, 0),
};

pub const SCH_RPC_REGISTER_TASK: u16 = 1;
pub const SCH_RPC_RUN: u16 = 12;
pub const SCH_RPC_DELETE: u16 = 13;
pub const TASK_CREATE: u32 = 0x2;
pub const TASK_LOGON_NONE: u32 = 0;

pub mod stub {
    use super::*;

    pub fn register_task(path: &str, xml: &str) -> Vec<u8> {
        let mut e = Encoder::default();
        e.unique_string(Some(path))
            .string(xml)
            .u32(TASK_CREATE)
            .null()
            .u32(TASK_LOGON_NONE)
            .u32(0)
            .null();
        e.buf
    }

    pub fn run(path: &str) -> Vec<u8> {
        let mut e = Encoder::default();
        e.string(path).u32(0).null().u32(0).u32(0).null();
        e.buf
    }

    pub fn delete(path: &str) -> Vec<u8> {
        let mut e = Encoder::default();
        e.string(path).u32(0);
        e.buf
    }
}

/// An HRESULT: 0 is success.
fn check(call: &'static str, code: u32) -> Result<(), RpcError> {
    super::check(call, code)
}

pub async fn register_task<P: RpcPipe>(
    rpc: &mut RpcClient<P>,
    path: &str,
    xml: &str,
) -> Result<(), RpcError> {
    let answer = rpc
        .call(SCH_RPC_REGISTER_TASK, &stub::register_task(path, xml))
        .await?;
    let mut d = Decoder::new(&answer);
    let _actual = d.unique_string()?;
    let _error_info = d.u32()?;
    check("SchRpcRegisterTask", d.u32()?)
}

pub async fn run<P: RpcPipe>(rpc: &mut RpcClient<P>, path: &str) -> Result<(), RpcError> {
    let answer = rpc.call(SCH_RPC_RUN, &stub::run(path)).await?;
    let mut d = Decoder::new(&answer);
    let _guid = d.handle_bytes(16)?;
    check("SchRpcRun", d.u32()?)
}

pub async fn delete<P: RpcPipe>(rpc: &mut RpcClient<P>, path: &str) -> Result<(), RpcError> {
    let answer = rpc.call(SCH_RPC_DELETE, &stub::delete(path)).await?;
    check("SchRpcDelete", Decoder::new(&answer).u32()?)
}

/// A task that runs `command arguments` once, as SYSTEM, when asked to.
pub fn task_xml(command: &str, arguments: &str) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <Principals>
    <Principal id="System">
      <UserId>S-1-5-18</UserId>
      <RunLevel>HighestAvailable</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>false</StartWhenAvailable>
    <Enabled>true</Enabled>
    <Hidden>true</Hidden>
    <ExecutionTimeLimit>P3D</ExecutionTimeLimit>
    <Priority>7</Priority>
  </Settings>
  <Actions Context="System">
    <Exec>
      <Command>{}</Command>
      <Arguments>{}</Arguments>
    </Exec>
  </Actions>
</Task>
"#,
        escape(command),
        escape(arguments)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_stub_matches_impacket_byte_for_byte() {
        let g: serde_json::Value = serde_json::from_str(include_str!("golden.json")).expect("golden JSON");
        let task = g["task"].as_str().unwrap();
        let hex = |b: Vec<u8>| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let ours = [
            (
                "register_task",
                stub::register_task(task, g["xml"].as_str().unwrap()),
            ),
            ("run", stub::run(task)),
            ("delete", stub::delete(task)),
        ];
        for (name, stub) in ours {
            assert_eq!(hex(stub), g["tsch"][name].as_str().unwrap(), "{name}");
        }
    }

    #[test]
    fn the_task_runs_as_system_and_its_xml_is_escaped() {
        let xml = task_xml("cmd.exe", r#"/Q /c "C:\a&b\x.cmd""#);
        assert!(xml.contains("<UserId>S-1-5-18</UserId>"));
        assert!(
            xml.contains("<Arguments>/Q /c &quot;C:\\a&amp;b\\x.cmd&quot;</Arguments>"),
            "{xml}"
        );
    }
}

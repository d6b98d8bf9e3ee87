//! DCE/RPC over a named pipe (or plain TCP, for tests): bind to an interface, make
//! calls, put fragments back together, and name the faults and Win32 errors that
//! come back. The calls themselves live in `scmr` and `tsch`.

pub mod auth;
pub mod ndr;
pub mod pdu;
pub mod scmr;
pub mod tsch;

use super::smb::SmbError;
use crate::transport::BoxFuture;

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("{0}")]
    Protocol(String),
    /// The server rejected the call itself (C706 fault status).
    #[error("RPC fault {}", fault_name(*.0))]
    Fault(u32),
    /// The call ran and returned a Win32 error.
    #[error("{call} failed: {}", win32_name(*.code))]
    Win32 { call: &'static str, code: u32 },
    /// The named pipe carrying the calls failed.
    #[error("{0}")]
    Transport(#[from] SmbError),
    /// An answer on a binding at packet privacy failed its check.
    #[error("{}: possible tampering on the path to the host", .0.what())]
    Tampering(auth::RpcTampering),
}

/// Something that carries RPC fragments both ways.
pub trait RpcPipe: Send {
    /// Send a fragment that expects no answer yet (all but the last of a request).
    fn write<'a>(&'a mut self, pdu: &'a [u8]) -> BoxFuture<'a, Result<(), RpcError>>;
    /// Send the last fragment and return the first bytes of the answer.
    fn transact<'a>(&'a mut self, pdu: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, RpcError>>;
    /// More of the answer.
    fn read(&mut self) -> BoxFuture<'_, Result<Vec<u8>, RpcError>>;
}

/// The largest answer stub pushinst accepts: SCMR and TSCH answers are a few
/// dozen bytes, so a server sending more is broken or hostile.
pub const MAX_STUB: usize = 1024 * 1024;

/// A bound interface on a pipe.
pub struct RpcClient<P: RpcPipe> {
    pipe: P,
    call_id: u32,
    max_frag: u16,
    /// Sealing and signing, on a binding at packet privacy.
    security: Option<auth::Security>,
}

impl<P: RpcPipe> RpcClient<P> {
    /// A binding without RPC-level authentication: the SMB session's is all.
    pub async fn bind(mut pipe: P, interface: &pdu::Interface) -> Result<Self, RpcError> {
        let answer = pipe.transact(&pdu::bind(interface, 1)).await?;
        let max_frag = pdu::bind_ack(&answer, interface)?;
        Ok(RpcClient {
            pipe,
            call_id: 1,
            max_frag,
            security: None,
        })
    }

    /// A binding at packet privacy: NTLM NEGOTIATE in the BIND, CHALLENGE in the
    /// BIND_ACK, AUTHENTICATE in an AUTH3; every call after it sealed and signed.
    pub async fn bind_private(
        pipe: P,
        interface: &pdu::Interface,
        credentials: &auth::Credentials,
    ) -> Result<Self, RpcError> {
        let random = crate::transport::windows::smb::ntlm_randomness()?;
        let now = crate::transport::windows::smb::filetime_now();
        Self::bind_private_with(pipe, interface, credentials, random, now).await
    }

    /// `bind_private` with its randomness and clock given (tests, fuzzing).
    pub(crate) async fn bind_private_with(
        mut pipe: P,
        interface: &pdu::Interface,
        credentials: &auth::Credentials,
        random: crate::transport::windows::smb::ntlm::Randomness,
        now: u64,
    ) -> Result<Self, RpcError> {
        let negotiate = crate::transport::windows::smb::ntlm::negotiate();
        let bind = pdu::bind_authenticated(interface, 1, &auth::verifier(&negotiate));
        let answer = pipe.transact(&bind).await?;
        let max_frag = pdu::bind_ack(&answer, interface)?;
        let challenge = auth::bind_ack_token(&answer)?;
        let (authenticate, security) =
            auth::answer_challenge(credentials, &negotiate, challenge, random, now)?;
        pipe.write(&pdu::auth3(1, &auth::verifier(&authenticate))).await?;
        Ok(RpcClient {
            pipe,
            call_id: 1,
            max_frag,
            security: Some(security),
        })
    }

    pub fn into_pipe(self) -> P {
        self.pipe
    }

    /// One call: the request stub out, the response stub back, whole.
    pub async fn call(&mut self, opnum: u16, stub: &[u8]) -> Result<Vec<u8>, RpcError> {
        self.call_id += 1;
        let frags = match &mut self.security {
            None => pdu::request(opnum, stub, self.call_id, self.max_frag),
            Some(security) => {
                let room = auth::Security::room(self.max_frag);
                pdu::pieces(stub, room)
                    .into_iter()
                    .map(|(flags, piece)| {
                        security.request(flags, self.call_id, stub.len() as u32, opnum, piece)
                    })
                    .collect()
            }
        };
        let (last, first) = frags
            .split_last()
            .ok_or_else(|| RpcError::Protocol("empty request".into()))?;
        for frag in first {
            self.pipe.write(frag).await?;
        }
        let mut buffer = self.pipe.transact(last).await?;
        let mut out = Vec::new();
        loop {
            let len = loop {
                match pdu::frag_len(&buffer) {
                    // Our bind announced the largest fragment we take (max_recv_frag).
                    Some(len) if len > pdu::MAX_FRAG as usize => {
                        return Err(RpcError::Protocol(format!(
                            "the server sent an RPC fragment of {len} bytes, more than the {} agreed in the bind",
                            pdu::MAX_FRAG
                        )));
                    }
                    Some(len) if buffer.len() >= len => break len,
                    _ => {
                        let more = self.pipe.read().await?;
                        if more.is_empty() {
                            return Err(RpcError::Protocol(
                                "the pipe closed in the middle of an answer".into(),
                            ));
                        }
                        buffer.extend_from_slice(&more);
                    }
                }
            };
            // On a private binding the signature is checked before anything in
            // the fragment is believed.
            let fragment = match &mut self.security {
                Some(security) => pdu::response(&security.open(&buffer[..len])?, self.call_id)?,
                None => pdu::response(&buffer[..len], self.call_id)?,
            };
            if out.len() + fragment.stub.len() > MAX_STUB {
                return Err(RpcError::Protocol(format!(
                    "the server's answer runs past {MAX_STUB} bytes without a last fragment"
                )));
            }
            out.extend_from_slice(&fragment.stub);
            buffer.drain(..len);
            if fragment.last {
                return Ok(out);
            }
        }
    }
}

/// The Win32 return code of a call, as an error unless it is 0.
pub fn check(call: &'static str, code: u32) -> Result<(), RpcError> {
    if code == 0 {
        Ok(())
    } else {
        Err(RpcError::Win32 { call, code })
    }
}

const WIN32: &[(u32, &str)] = &[
    (0, "ERROR_SUCCESS"),
    (2, "ERROR_FILE_NOT_FOUND"),
    (5, "ERROR_ACCESS_DENIED"),
    (6, "ERROR_INVALID_HANDLE"),
    (87, "ERROR_INVALID_PARAMETER"),
    (1053, "ERROR_SERVICE_REQUEST_TIMEOUT"),
    (1056, "ERROR_SERVICE_ALREADY_RUNNING"),
    (1058, "ERROR_SERVICE_DISABLED"),
    (1060, "ERROR_SERVICE_DOES_NOT_EXIST"),
    (1072, "ERROR_SERVICE_MARKED_FOR_DELETE"),
    (1073, "ERROR_SERVICE_EXISTS"),
    (1115, "ERROR_SHUTDOWN_IN_PROGRESS"),
    (1722, "RPC_S_SERVER_UNAVAILABLE"),
];

pub fn win32_name(code: u32) -> String {
    match WIN32.iter().find(|(c, _)| *c == code) {
        Some((_, name)) => format!("{name} ({code})"),
        None => format!("Win32 error {code}"),
    }
}

const FAULTS: &[(u32, &str)] = &[
    (5, "access denied"),
    (
        0x1c01_0002,
        "nca_s_op_rng_error: the server does not implement this call",
    ),
    (0x1c01_0003, "nca_s_unk_if: unknown interface"),
    (0x1c01_000b, "nca_s_proto_error"),
    (0x1c00_001a, "nca_s_fault_invalid_tag"),
    (0x0000_06f7, "RPC_X_BAD_STUB_DATA"),
];

pub fn fault_name(status: u32) -> String {
    match FAULTS.iter().find(|(c, _)| *c == status) {
        Some((_, name)) => format!("0x{status:08x} ({name})"),
        None => format!("0x{status:08x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipe that answers every call with the same bytes, forever.
    struct Endless(Vec<u8>);

    impl RpcPipe for Endless {
        fn write<'a>(&'a mut self, _: &'a [u8]) -> BoxFuture<'a, Result<(), RpcError>> {
            Box::pin(async { Ok(()) })
        }
        fn transact<'a>(&'a mut self, _: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, RpcError>> {
            Box::pin(async { Ok(self.0.clone()) })
        }
        fn read(&mut self) -> BoxFuture<'_, Result<Vec<u8>, RpcError>> {
            Box::pin(async { Ok(self.0.clone()) })
        }
    }

    fn response_fragment(flags: u8, stub_len: usize, frag_len: u16) -> Vec<u8> {
        let mut pdu = vec![5, 0, pdu::RESPONSE, flags, 0x10, 0, 0, 0];
        pdu.extend_from_slice(&frag_len.to_le_bytes());
        pdu.extend_from_slice(&0u16.to_le_bytes());
        pdu.extend_from_slice(&2u32.to_le_bytes());
        pdu.extend_from_slice(&[0; 8]);
        pdu.extend(std::iter::repeat_n(0xAB, stub_len));
        pdu
    }

    fn client(answer: Vec<u8>) -> RpcClient<Endless> {
        RpcClient {
            pipe: Endless(answer),
            call_id: 1,
            max_frag: pdu::MAX_FRAG,
            security: None,
        }
    }

    #[tokio::test]
    async fn an_answer_that_never_ends_stops_at_the_stub_limit() {
        let fragment = response_fragment(pdu::FIRST_FRAG, 4000, 4024);
        let err = client(fragment).call(0, &[]).await.unwrap_err();
        assert!(err.to_string().contains("without a last fragment"), "{err}");
    }

    #[tokio::test]
    async fn a_fragment_larger_than_the_bind_allowed_is_refused_before_it_is_read() {
        let mut fragment = response_fragment(pdu::FIRST_FRAG | pdu::LAST_FRAG, 8, 60_000);
        fragment.truncate(40);
        let err = client(fragment).call(0, &[]).await.unwrap_err();
        assert!(err.to_string().contains("more than the 4280 agreed"), "{err}");
    }
}

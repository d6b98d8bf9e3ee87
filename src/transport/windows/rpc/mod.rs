//! DCE/RPC over a named pipe (or plain TCP, for tests): bind to an interface, make
//! calls, put fragments back together, and name the faults and Win32 errors that
//! come back. The calls themselves live in `scmr` and `tsch`.

pub mod auth;
pub mod krb_auth;
pub mod ndr;
pub mod pdu;
pub mod scmr;
pub mod tsch;

use super::smb::SmbError;
use super::smb::kerberos::{KerberosError, KerberosLogon};
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
    /// No ticket for the host's RPC SPN: the KDC's answer, in words.
    #[error(transparent)]
    KerberosTicket(Box<TicketFailure>),
    /// The host answered the Kerberos bind with BIND_NAK: it cannot read the ticket.
    #[error(
        "the host refused the Kerberos ticket for {spn}: the host's own keys for its computer account do not \
         match the domain's (restored from an old image or snapshot, or rejoined: reset its secure channel, \
         e.g. Test-ComputerSecureChannel -Repair on the host), or {spn} is registered on another account \
         (check with setspn -Q {spn}), or the host's clock is more than 5 minutes off"
    )]
    KerberosRefused { spn: String },
    /// The host's AP-REP does not decrypt with the ticket's session key.
    #[error(
        "the host's answer to the Kerberos ticket for {spn} does not prove that it holds the key of {spn}: \
         something else answers under the host's name; check the name's DNS record and the path to the host"
    )]
    KerberosMutual { spn: String },
}

/// Why no ticket for the host's RPC SPN could be had (boxed: it is large and rare).
#[derive(Debug, thiserror::Error)]
#[error("{}", super::error::kerberos_refusal(.source, .principal, .spn).0)]
pub struct TicketFailure {
    pub principal: String,
    pub spn: String,
    #[source]
    pub source: KerberosError,
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

/// A pipe lent to a binding: the binding's traffic goes through it, the pipe
/// stays its owner's.
impl<T: RpcPipe + ?Sized> RpcPipe for &mut T {
    fn write<'a>(&'a mut self, pdu: &'a [u8]) -> BoxFuture<'a, Result<(), RpcError>> {
        (**self).write(pdu)
    }
    fn transact<'a>(&'a mut self, pdu: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, RpcError>> {
        (**self).transact(pdu)
    }
    fn read(&mut self) -> BoxFuture<'_, Result<Vec<u8>, RpcError>> {
        (**self).read()
    }
}

/// A bind that failed, and the pipe it was tried on.
pub struct Unbound<P> {
    pub pipe: P,
    pub error: RpcError,
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
        let ntlm = auth::AuthnService::Winnt;
        let negotiate = crate::transport::windows::smb::ntlm::negotiate();
        let bind = pdu::bind_authenticated(interface, 1, &auth::verifier(ntlm, &negotiate));
        let answer = pipe.transact(&bind).await?;
        let max_frag = pdu::bind_ack(&answer, interface)?;
        let challenge = auth::bind_ack_token(&answer, ntlm)?;
        let (authenticate, security) =
            auth::answer_challenge(credentials, &negotiate, challenge, random, now)?;
        pipe.write(&pdu::auth3(1, &auth::verifier(ntlm, &authenticate)))
            .await?;
        Ok(RpcClient {
            pipe,
            call_id: 1,
            max_frag,
            security: Some(security),
        })
    }

    /// A binding at packet privacy with Kerberos in DCE style (MS-KILE 3.4.5):
    /// the AP-REQ for `logon.spn` in the BIND, the host's AP-REP in the BIND_ACK,
    /// ours in an AUTH3; every call after it sealed in RFC 4121 wrap tokens.
    pub async fn bind_kerberos(
        mut pipe: P,
        interface: &pdu::Interface,
        logon: &KerberosLogon,
    ) -> Result<Self, RpcError> {
        let kerberos = auth::AuthnService::GssKerberos;
        let spn = logon.spn.clone();
        let principal = format!("{}@{}", logon.user, logon.realm);
        let ticket_failed = |source| {
            RpcError::KerberosTicket(Box::new(TicketFailure {
                principal: principal.clone(),
                spn: spn.clone(),
                source,
            }))
        };
        let request = logon.clone();
        let (pending, ap_req) = tokio::task::spawn_blocking(move || krb_auth::ap_req(&request))
            .await
            .map_err(|e| ticket_failed(KerberosError::Exchange(e.to_string())))?
            .map_err(ticket_failed)?;
        // Header signing offered, as Windows clients do: with it the checksum
        // covers the header and the sec_trailer too (call id, flags, padding).
        let bind = pdu::bind_signing_headers(interface, 1, &auth::verifier(kerberos, &ap_req));
        let answer = pipe.transact(&bind).await?;
        // A host that cannot read the ticket refuses the bind; nothing else about
        // the interface could make it do that to an authenticated bind.
        if answer.get(2) == Some(&pdu::BIND_NAK) {
            return Err(RpcError::KerberosRefused { spn });
        }
        let max_frag = pdu::bind_ack(&answer, interface)?;
        let ap_rep = auth::bind_ack_token(&answer, kerberos)?.to_vec();
        let sign_headers = pdu::signs_headers(&answer);
        let (security, third_leg) =
            tokio::task::spawn_blocking(move || krb_auth::third_leg(pending, &ap_rep, sign_headers))
                .await
                .map_err(|_| RpcError::KerberosMutual { spn: spn.clone() })?
                .map_err(|e| {
                    tracing::debug!("Kerberos AP-REP from the host for {spn}: {e}");
                    RpcError::KerberosMutual { spn: spn.clone() }
                })?;
        pipe.write(&pdu::auth3(1, &auth::verifier(kerberos, &third_leg)))
            .await?;
        Ok(RpcClient {
            pipe,
            call_id: 1,
            max_frag,
            security: Some(auth::Security::Kerberos(security)),
        })
    }

    /// A binding at packet privacy as the SMB session logged on: NTLM or Kerberos.
    /// A refused bind gives its pipe back, for the caller to close: a pipe left
    /// open keeps the host's RPC server busy with it, and the next bind waits.
    pub async fn bind_as(
        mut pipe: P,
        interface: &pdu::Interface,
        logon: &auth::BindLogon,
    ) -> Result<Self, Unbound<P>> {
        let bound = match logon {
            auth::BindLogon::Ntlm(credentials) => {
                RpcClient::bind_private(&mut pipe, interface, credentials).await
            }
            auth::BindLogon::Kerberos(logon) => RpcClient::bind_kerberos(&mut pipe, interface, logon).await,
        };
        match bound {
            Ok(RpcClient {
                pipe: _,
                call_id,
                max_frag,
                security,
            }) => Ok(RpcClient {
                pipe,
                call_id,
                max_frag,
                security,
            }),
            Err(error) => Err(Unbound { pipe, error }),
        }
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
                let room = security.room(self.max_frag);
                pdu::pieces(stub, room)
                    .into_iter()
                    .map(|(flags, piece)| {
                        security.request(flags, self.call_id, stub.len() as u32, opnum, piece)
                    })
                    .collect::<Result<Vec<_>, RpcError>>()?
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

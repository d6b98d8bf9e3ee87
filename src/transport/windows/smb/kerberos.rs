//! A Kerberos logon for one SMB session: a TGT from the password (AS-REQ), a
//! ticket for `cifs/<FQDN>` (TGS-REQ), the AP-REQ for SESSION_SETUP, and the
//! server's AP-REP, whose subkey becomes the SMB session key (MS-SMB2 3.2.5.3).
//!
//! The exchange itself is `sspi`'s; its traffic to the KDC goes through
//! [`KdcLink`] (kdc_link.rs), ours: TCP only, to the address pushinst chose, with pushinst's
//! timeout and a bounded answer. sspi's errors are all one kind, so the KDC's last
//! answer is kept and decoded (krb_error.rs) to name what went wrong.

use std::time::Duration;

use picky_krb::crypto::CipherSuite;
use sspi::{
    AuthIdentity, BufferType, ClientRequestFlags, CredentialUse, Credentials, CredentialsBuffers,
    DataRepresentation, Kerberos, KerberosConfig, KeytabIdentity, SecurityBuffer, Sspi, SspiImpl, Username,
};
use zeroize::Zeroizing;

use super::ccache::{self, CcacheError};
use super::kdc_link::KdcLink;
use super::kdc_link::from_cache::{self, FromCacheError};
use super::keytab::{self, KeytabError};
use super::krb_error::{self, KrbError};
use crate::secrets::Secret;

/// Why no Kerberos logon could be made.
#[derive(Debug, thiserror::Error)]
pub enum KerberosError {
    #[error("the KDC at {kdc} cannot be reached")]
    KdcUnreachable {
        kdc: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the KDC at {kdc} refused: KRB-ERROR {}", .error.error_code)]
    Refused { kdc: String, error: KrbError },
    /// The credential's keytab gave no key for its principal.
    #[error(transparent)]
    Keytab(#[from] KeytabError),
    /// The ticket cache gave no usable TGT.
    #[error(transparent)]
    TicketCache(#[from] CcacheError),
    /// The cache's TGT cannot be given to the Kerberos client.
    #[error(transparent)]
    FromCache(#[from] FromCacheError),
    /// The cache's TGT is not renewable: sspi asks for renewable service tickets,
    /// which a KDC grants only from a renewable TGT.
    #[error("the TGT in {path} is not renewable")]
    NotRenewable { path: std::path::PathBuf },
    /// sspi failed for a reason the KDC did not state (its text goes to the debug log).
    #[error("the Kerberos exchange failed: {0}")]
    Exchange(String),
}

/// One Kerberos logon to make.
#[derive(Clone)]
pub struct KerberosLogon {
    pub user: String,
    /// The realm, upper case (`EXAMPLE.TEST`).
    pub realm: String,
    pub password: Secret,
    /// The keytab holding the principal's key, used instead of `password`.
    pub keytab: Option<std::path::PathBuf>,
    /// The `kinit` ticket cache holding the principal's TGT, used instead of both.
    pub ticket_cache: Option<std::path::PathBuf>,
    /// The KDC, `host` or `host:port`.
    pub kdc: String,
    /// `cifs/<FQDN>`.
    pub spn: String,
    pub timeout: Duration,
}

/// What the AP-REQ opens, which decides the context flags and the token shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    /// An SMB SESSION_SETUP: a GSS-framed AP-REQ, mutual authentication, and the
    /// AP-REP's subkey as the session key.
    SmbSession,
    /// A DCE/RPC bind at packet privacy (MS-KILE 3.4.5, GSS_C_DCE_STYLE): a bare
    /// AP-REQ, a bare AP-REP back, and a third leg, an AP-REP from us; every
    /// request and response after it sealed in RFC 4121 wrap tokens.
    DceRpc,
}

impl Exchange {
    fn flags(self) -> ClientRequestFlags {
        match self {
            Exchange::SmbSession => ClientRequestFlags::MUTUAL_AUTH | ClientRequestFlags::INTEGRITY,
            Exchange::DceRpc => {
                ClientRequestFlags::USE_DCE_STYLE
                    | ClientRequestFlags::MUTUAL_AUTH
                    | ClientRequestFlags::CONFIDENTIALITY
                    | ClientRequestFlags::INTEGRITY
            }
        }
    }
}

/// A logon between its AP-REQ and the server's AP-REP.
pub struct Pending {
    context: Kerberos,
    credentials: Option<CredentialsBuffers>,
    spn: String,
    flags: ClientRequestFlags,
}

/// The AP-REQ (a GSS-API token) for `logon`, and the context that reads the answer.
/// Blocking: it talks to the KDC.
pub fn ap_req(logon: &KerberosLogon) -> Result<(Pending, Vec<u8>), KerberosError> {
    ap_req_for(logon, Exchange::SmbSession)
}

/// The AP-REQ for `logon` shaped for `exchange`. Blocking: it talks to the KDC.
pub fn ap_req_for(logon: &KerberosLogon, exchange: Exchange) -> Result<(Pending, Vec<u8>), KerberosError> {
    let principal = format!("{}@{}", logon.user, logon.realm);
    // The credential: the password, the principal's key from its keytab, or the
    // TGT from its ticket cache (given to sspi through a one-time key: from_cache.rs).
    let (key, secret, answers): (Option<keytab::Entry>, Zeroizing<Vec<u8>>, _) =
        match (&logon.ticket_cache, &logon.keytab) {
            (Some(path), _) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                let tgt = ccache::load(path, &principal, now)?;
                // sspi asks for renewable service tickets, which a KDC grants only
                // from a renewable TGT (it answers KDC_ERR_BADOPTION): said here, once.
                if tgt.flags & RENEWABLE == 0 {
                    return Err(KerberosError::NotRenewable { path: path.clone() });
                }
                let answers = from_cache::answers(&tgt)?;
                let entry = keytab::Entry {
                    principal: principal.clone(),
                    enctype: tgt.enctype,
                    kvno: 0,
                    key: answers.key.clone(),
                };
                // Answers kept for this TGT serve only contexts holding the same TGT.
                (Some(entry), Zeroizing::new(tgt.ticket.clone()), Some(answers))
            }
            (None, Some(path)) => {
                let entry = keytab::load(path, &principal)?;
                let secret = Zeroizing::new(entry.key.to_vec());
                (Some(entry), secret, None)
            }
            (None, None) => (
                None,
                Zeroizing::new(logon.password.expose().as_bytes().to_vec()),
                None,
            ),
        };
    let link = |bypass: bool| {
        let link = KdcLink::new(&logon.kdc, logon.timeout, &secret, bypass);
        match &answers {
            Some(answers) => link.answering_as(answers),
            None => link,
        }
    };
    // Answers the KDC gave this credential earlier in the run are given again
    // (kdc_link/cache.rs). Should a logon fail after that, it is made again with
    // the KDC itself: the cache never costs a host its logon.
    let first = link(false);
    match ap_req_with(logon, exchange, key.as_ref(), &first) {
        Err(e) if first.replayed() && may_be_stale(&e) => {
            tracing::debug!(
                "Kerberos with {} failed after cached answers ({e}); asking the KDC",
                logon.kdc
            );
            let retry = first.forget_replayed(link(true));
            ap_req_with(logon, exchange, key.as_ref(), &retry)
        }
        done => done,
    }
}

/// TicketFlags `renewable` (RFC 4120 5.3, bit 8), as a ticket cache stores the flags.
const RENEWABLE: u32 = 0x0080_0000;

/// Whether a failure after replayed answers may be theirs: a TGT the KDC no
/// longer honours (expired, revoked, its key changed) or answers sspi would not
/// take. A KDC down or a name with no SPN is the same without the cache: asking
/// again would cost every such host a second AS exchange.
fn may_be_stale(error: &KerberosError) -> bool {
    match error {
        KerberosError::KdcUnreachable { .. }
        | KerberosError::Keytab(_)
        | KerberosError::TicketCache(_)
        | KerberosError::FromCache(_)
        | KerberosError::NotRenewable { .. } => false,
        KerberosError::Refused { error, .. } => error.error_code != krb_error::S_PRINCIPAL_UNKNOWN,
        KerberosError::Exchange(_) => true,
    }
}

fn ap_req_with(
    logon: &KerberosLogon,
    exchange: Exchange,
    keytab: Option<&keytab::Entry>,
    link: &KdcLink,
) -> Result<(Pending, Vec<u8>), KerberosError> {
    let failed = |e: sspi::Error| -> KerberosError {
        tracing::debug!("Kerberos with {}: {e}", logon.kdc);
        match link.last.lock().ok().and_then(|mut l| l.take()) {
            Some(Err(source)) => KerberosError::KdcUnreachable {
                kdc: logon.kdc.clone(),
                source,
            },
            Some(Ok(reply)) => match krb_error::parse(&reply) {
                Some(error) => KerberosError::Refused {
                    kdc: logon.kdc.clone(),
                    error,
                },
                None => KerberosError::Exchange(e.to_string()),
            },
            None => KerberosError::Exchange(e.to_string()),
        }
    };
    let config = KerberosConfig::new_with_kdc_url(&format!("tcp://{}", logon.kdc), "pushinst".into());
    let mut context = Kerberos::new_client_from_config(config).map_err(failed)?;
    let username = Username::new_down_level_logon_name(&logon.user, &logon.realm)
        .map_err(|e| KerberosError::Exchange(e.to_string()))?;
    let credentials: Credentials = match keytab {
        Some(entry) => KeytabIdentity {
            principal: username,
            key: entry.key.to_vec().into(),
            key_enctype: CipherSuite::try_from(entry.enctype as usize)
                .map_err(|e| KerberosError::Exchange(e.to_string()))?,
        }
        .into(),
        None => AuthIdentity {
            username,
            password: logon.password.expose().to_string().into(),
        }
        .into(),
    };
    let mut credentials = context
        .acquire_credentials_handle()
        .with_credential_use(CredentialUse::Outbound)
        .with_auth_data(&credentials)
        .execute(&mut context)
        .map_err(failed)?
        .credentials_handle;
    let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
    let mut input = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
    let mut builder = context
        .initialize_security_context()
        .with_credentials_handle(&mut credentials)
        .with_context_requirements(exchange.flags())
        .with_target_data_representation(DataRepresentation::Native)
        .with_target_name(&logon.spn)
        .with_input(&mut input)
        .with_output(&mut output);
    context
        .initialize_security_context_impl(&mut builder)
        .map_err(failed)?
        .resolve_with_client(link)
        .map_err(failed)?;
    let token = std::mem::take(&mut output[0].buffer);
    Ok((
        Pending {
            context,
            credentials,
            spn: logon.spn.clone(),
            flags: exchange.flags(),
        },
        token,
    ))
}

/// Read the server's AP-REP: the SMB session key (the first 16 bytes of the
/// Kerberos subkey the two sides agreed on).
pub fn finish(mut pending: Pending, ap_rep: &[u8]) -> Result<Zeroizing<[u8; 16]>, KerberosError> {
    let failed = |e: sspi::Error| KerberosError::Exchange(e.to_string());
    read_ap_rep(&mut pending, ap_rep)?;
    let key = pending.context.query_context_session_key().map_err(failed)?;
    let bytes: &[u8] = key.session_key.as_ref();
    let mut out = Zeroizing::new([0u8; 16]);
    let n = bytes.len().min(16);
    out[..n].copy_from_slice(&bytes[..n]);
    Ok(out)
}

/// Read the server's AP-REP; what the context answers with (the DCE-style third
/// leg; nothing otherwise).
fn read_ap_rep(pending: &mut Pending, ap_rep: &[u8]) -> Result<Vec<u8>, KerberosError> {
    let failed = |e: sspi::Error| KerberosError::Exchange(e.to_string());
    let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
    let mut input = vec![SecurityBuffer::new(ap_rep.to_vec(), BufferType::Token)];
    let mut builder = pending
        .context
        .initialize_security_context()
        .with_credentials_handle(&mut pending.credentials)
        .with_context_requirements(pending.flags)
        .with_target_data_representation(DataRepresentation::Native)
        .with_target_name(&pending.spn)
        .with_input(&mut input)
        .with_output(&mut output);
    pending
        .context
        .initialize_security_context_impl(&mut builder)
        .map_err(failed)?
        .resolve_to_result()
        .map_err(failed)?;
    Ok(std::mem::take(&mut output[0].buffer))
}

/// Read the bare AP-REP of a DCE-style exchange (`Exchange::DceRpc`): the
/// established context, which seals and opens from now on, and the third leg
/// (our AP-REP, MS-KILE 3.4.5.1) for the AUTH3.
pub fn dce_third_leg(mut pending: Pending, ap_rep: &[u8]) -> Result<(Kerberos, Vec<u8>), KerberosError> {
    let third = read_ap_rep(&mut pending, ap_rep)?;
    if third.is_empty() {
        return Err(KerberosError::Exchange("no DCE-style third leg".into()));
    }
    Ok((pending.context, third))
}

/// 1.2.840.48018.1.2.2, the Kerberos OID as Windows writes it (listed first, as
/// Windows clients do), and 1.2.840.113554.1.2.2, the standard one.
const MS_KRB5_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02];
const KRB5_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];

/// NegTokenInit offering Kerberos only, carrying the AP-REQ.
pub fn spnego_init(ap_req: &[u8]) -> Vec<u8> {
    use super::ntlm::{SPNEGO_OID, der};
    let oids = [der(0x06, MS_KRB5_OID), der(0x06, KRB5_OID)].concat();
    let mech_types = der(0xa0, &der(0x30, &oids));
    let mech_token = der(0xa2, &der(0x04, ap_req));
    let init = der(0xa0, &der(0x30, &[mech_types, mech_token].concat()));
    der(0x60, &[der(0x06, SPNEGO_OID), init].concat())
}

/// A Kerberos logon that failed: at the KDC, or in the SMB exchange.
#[derive(Debug, thiserror::Error)]
pub enum LogonError {
    #[error(transparent)]
    Kerberos(#[from] KerberosError),
    #[error(transparent)]
    Smb(#[from] super::SmbError),
}

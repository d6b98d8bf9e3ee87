//! SMB2 NEGOTIATE (MS-SMB2 2.2.3, 2.2.4) with its 3.1.1 negotiate contexts, and
//! FSCTL_VALIDATE_NEGOTIATE_INFO (2.2.31.4, 2.2.32.6), which lets a 3.0 or 3.0.2
//! session prove that nobody changed what the two sides offered.

use super::SmbError;
use super::crypto::CipherId;
use super::wire::{Command, HEADER_LEN, Reader, Writer, request_header};

pub const DIALECT_2_0_2: u16 = 0x0202;
pub const DIALECT_2_1: u16 = 0x0210;
pub const DIALECT_3_0: u16 = 0x0300;
pub const DIALECT_3_0_2: u16 = 0x0302;
pub const DIALECT_3_1_1: u16 = 0x0311;
/// Every dialect pushinst speaks, oldest first.
pub const DIALECTS: [u16; 5] = [
    DIALECT_2_0_2,
    DIALECT_2_1,
    DIALECT_3_0,
    DIALECT_3_0_2,
    DIALECT_3_1_1,
];

pub const SIGNING_ENABLED: u16 = 0x0001;
pub const SIGNING_REQUIRED: u16 = 0x0002;
pub const CAP_LARGE_MTU: u32 = 0x0000_0004;
pub const CAP_ENCRYPTION: u32 = 0x0000_0040;

const PREAUTH_INTEGRITY_CAPABILITIES: u16 = 0x0001;
const ENCRYPTION_CAPABILITIES: u16 = 0x0002;
const SHA_512: u16 = 0x0001;

pub fn dialect_name(dialect: u16) -> &'static str {
    match dialect {
        DIALECT_2_0_2 => "2.0.2",
        DIALECT_2_1 => "2.1",
        DIALECT_3_0 => "3.0",
        DIALECT_3_0_2 => "3.0.2",
        DIALECT_3_1_1 => "3.1.1",
        _ => "unknown",
    }
}

/// What the client says about itself; kept to validate the negotiation later.
pub struct NegotiateRequest {
    pub security_mode: u16,
    pub capabilities: u32,
    pub client_guid: [u8; 16],
    pub salt: [u8; 32],
}

impl NegotiateRequest {
    pub fn write(&self) -> Vec<u8> {
        let mut w = request_header(Command::Negotiate, 0, 0, 0, 0);
        w.u16(36)
            .u16(DIALECTS.len() as u16)
            .u16(self.security_mode)
            .u16(0)
            .u32(self.capabilities)
            .bytes(&self.client_guid);
        let context_offset_at = w.len();
        w.u32(0).u16(2).u16(0);
        for d in DIALECTS {
            w.u16(d);
        }
        w.align(8);
        let offset = w.len() as u32;
        w.put_u32(context_offset_at, offset);
        // PREAUTH_INTEGRITY_CAPABILITIES: SHA-512 and a 32-byte salt.
        w.u16(PREAUTH_INTEGRITY_CAPABILITIES)
            .u16(38)
            .u32(0)
            .u16(1)
            .u16(32)
            .u16(SHA_512)
            .bytes(&self.salt);
        w.align(8);
        let ciphers = CipherId::OFFERED;
        w.u16(ENCRYPTION_CAPABILITIES)
            .u16(2 + 2 * ciphers.len() as u16)
            .u32(0)
            .u16(ciphers.len() as u16);
        for c in ciphers {
            w.u16(c as u16);
        }
        w.buf
    }
}

/// SMB2 NEGOTIATE Response (2.2.4) and, for 3.1.1, its contexts.
#[derive(Debug, Clone)]
pub struct NegotiateResponse {
    pub security_mode: u16,
    pub dialect: u16,
    pub server_guid: [u8; 16],
    pub capabilities: u32,
    pub max_transact_size: u32,
    pub max_read_size: u32,
    pub max_write_size: u32,
    /// The cipher the session may use, if any.
    pub cipher: Option<CipherId>,
}

/// No server speaks with less than this; a smaller size is a broken or hostile one.
const MIN_SIZE: u32 = 4096;
/// Contexts a 3.1.1 answer may carry before it is taken for an attack.
const MAX_CONTEXTS: usize = 32;

impl NegotiateResponse {
    pub fn parse(msg: &[u8]) -> Result<Self, SmbError> {
        let r = Reader::new(msg);
        let body = HEADER_LEN;
        if r.u16(body)? != 65 {
            return Err(SmbError::Protocol(
                "the server's NEGOTIATE answer is malformed".into(),
            ));
        }
        let dialect = r.u16(body + 4)?;
        if !DIALECTS.contains(&dialect) {
            return Err(SmbError::Protocol(format!(
                "the server chose SMB dialect 0x{dialect:04x}, which pushinst does not speak (it speaks 2.0.2 to 3.1.1)"
            )));
        }
        let mut server_guid = [0u8; 16];
        server_guid.copy_from_slice(r.slice(body + 8, 16)?);
        let capabilities = r.u32(body + 24)?;
        let sizes = [r.u32(body + 28)?, r.u32(body + 32)?, r.u32(body + 36)?];
        if sizes.iter().any(|s| *s < MIN_SIZE) {
            return Err(SmbError::Protocol(format!(
                "the server offers transfers of at most {} bytes",
                sizes.iter().min().copied().unwrap_or(0)
            )));
        }
        let mut response = NegotiateResponse {
            security_mode: r.u16(body + 2)?,
            dialect,
            server_guid,
            capabilities,
            max_transact_size: sizes[0],
            max_read_size: sizes[1],
            max_write_size: sizes[2],
            cipher: None,
        };
        match dialect {
            DIALECT_3_1_1 => response.read_contexts(&r)?,
            // 3.0 and 3.0.2 know one cipher, announced as a capability.
            DIALECT_3_0 | DIALECT_3_0_2 if capabilities & CAP_ENCRYPTION != 0 => {
                response.cipher = Some(CipherId::Aes128Ccm);
            }
            _ => {}
        }
        Ok(response)
    }

    fn read_contexts(&mut self, r: &Reader) -> Result<(), SmbError> {
        let count = r.u16(HEADER_LEN + 6)? as usize;
        if count > MAX_CONTEXTS {
            return Err(SmbError::Protocol(format!(
                "the server sent {count} negotiate contexts"
            )));
        }
        let mut at = r.u32(HEADER_LEN + 60)? as usize;
        let mut preauth = false;
        for _ in 0..count {
            let kind = r.u16(at)?;
            let len = r.u16(at + 2)? as usize;
            let data = Reader::new(r.slice(at + 8, len)?);
            match kind {
                PREAUTH_INTEGRITY_CAPABILITIES => {
                    // Exactly one algorithm, and it must be the one offered.
                    preauth = data.u16(0)? == 1 && data.u16(4)? == SHA_512;
                }
                ENCRYPTION_CAPABILITIES => {
                    if data.u16(0)? != 1 {
                        return Err(SmbError::Protocol(
                            "the server picked more than one cipher".into(),
                        ));
                    }
                    let id = data.u16(2)?;
                    self.cipher = match id {
                        0 => None,
                        id => Some(CipherId::from_wire(id).ok_or_else(|| {
                            SmbError::Protocol(format!(
                                "the server picked cipher {id}, which was not offered"
                            ))
                        })?),
                    };
                }
                _ => {}
            }
            at = (at + 8 + len).next_multiple_of(8);
        }
        if !preauth {
            return Err(SmbError::Protocol(
                "the server negotiated SMB 3.1.1 without SHA-512 pre-authentication integrity".into(),
            ));
        }
        Ok(())
    }
}

/// FSCTL_VALIDATE_NEGOTIATE_INFO.
pub const FSCTL_VALIDATE_NEGOTIATE_INFO: u32 = 0x0014_0204;
/// Its answer: Capabilities, Guid, SecurityMode, Dialect.
pub const VALIDATE_NEGOTIATE_RESPONSE_LEN: u32 = 24;

/// VALIDATE_NEGOTIATE_INFO Request (2.2.31.4): what the client sent, again.
pub fn validate_negotiate_info(request: &NegotiateRequest) -> Vec<u8> {
    let mut w = Writer::default();
    w.u32(request.capabilities)
        .bytes(&request.client_guid)
        .u16(request.security_mode)
        .u16(DIALECTS.len() as u16);
    for d in DIALECTS {
        w.u16(d);
    }
    w.buf
}

/// VALIDATE_NEGOTIATE_INFO Response (2.2.32.6) must repeat the NEGOTIATE answer.
pub fn validate_negotiate_matches(output: &[u8], negotiated: &NegotiateResponse) -> Result<bool, SmbError> {
    let r = Reader::new(output);
    Ok(r.u32(0)? == negotiated.capabilities
        && r.slice(4, 16)? == negotiated.server_guid
        && r.u16(20)? == negotiated.security_mode
        && r.u16(22)? == negotiated.dialect)
}

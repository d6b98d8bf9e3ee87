//! Connection-oriented DCE/RPC PDUs (C706 chapter 12, MS-RPCE 2.2.2): bind, request,
//! and the response, fault or rejection that comes back, fragmented both ways.

use super::RpcError;

pub const BIND: u8 = 11;
pub const BIND_ACK: u8 = 12;
pub const BIND_NAK: u8 = 13;
pub const AUTH3: u8 = 16;
pub const REQUEST: u8 = 0;
pub const RESPONSE: u8 = 2;
pub const FAULT: u8 = 3;
pub const FIRST_FRAG: u8 = 0x01;
pub const LAST_FRAG: u8 = 0x02;
/// PFC_SUPPORT_HEADER_SIGN (MS-RPCE 2.2.2.3): in a BIND, the client offers to
/// sign PDU headers; echoed in the BIND_ACK, both sides do.
pub const SUPPORT_HEADER_SIGN: u8 = 0x04;
pub const HEADER_LEN: usize = 16;
/// What we offer; the server may lower it in its bind_ack.
pub const MAX_FRAG: u16 = 4280;

/// NDR 2.0, the transfer syntax every Windows interface speaks.
const NDR: ([u8; 16], u32) = (
    uuid(
        0x8a885d04,
        0x1ceb,
        0x11c9,
        [0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60],
    ),
    2,
);

/// A GUID in its wire form: the first three fields little-endian.
pub const fn uuid(a: u32, b: u16, c: u16, d: [u8; 8]) -> [u8; 16] {
    let a = a.to_le_bytes();
    let b = b.to_le_bytes();
    let c = c.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7],
    ]
}

/// An RPC interface: its UUID and version (major, minor).
#[derive(Debug, Clone, Copy)]
pub struct Interface {
    pub name: &'static str,
    pub uuid: [u8; 16],
    pub version: (u16, u16),
}

pub fn header(kind: u8, flags: u8, frag_len: usize, call_id: u32) -> Vec<u8> {
    let mut h = vec![5, 0, kind, flags, 0x10, 0, 0, 0];
    h.extend_from_slice(&(frag_len as u16).to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(&call_id.to_le_bytes());
    h
}

/// A BIND that carries the first leg of an authentication: `verifier` is the
/// sec_trailer and the NTLM NEGOTIATE (the body before it is 4-byte aligned).
pub fn bind_authenticated(interface: &Interface, call_id: u32, verifier: &[u8]) -> Vec<u8> {
    let mut pdu = bind(interface, call_id);
    append_verifier(&mut pdu, verifier);
    pdu
}

/// `bind_authenticated`, offering header signing (PFC_SUPPORT_HEADER_SIGN).
pub fn bind_signing_headers(interface: &Interface, call_id: u32, verifier: &[u8]) -> Vec<u8> {
    let mut pdu = bind_authenticated(interface, call_id, verifier);
    pdu[3] |= SUPPORT_HEADER_SIGN;
    pdu
}

/// Whether a BIND_ACK agreed to header signing.
pub fn signs_headers(bind_ack: &[u8]) -> bool {
    bind_ack
        .get(3)
        .is_some_and(|flags| flags & SUPPORT_HEADER_SIGN != 0)
}

/// AUTH3 (MS-RPCE 2.2.2.12): the last leg of a three-leg authentication, sent on
/// the bind's call id, answered by nothing. Four bytes of pad precede the verifier.
pub fn auth3(call_id: u32, verifier: &[u8]) -> Vec<u8> {
    let mut pdu = header(AUTH3, FIRST_FRAG | LAST_FRAG, HEADER_LEN + 4, call_id);
    pdu.extend_from_slice(&[0; 4]);
    append_verifier(&mut pdu, verifier);
    pdu
}

/// Add sec_trailer and auth_value, and fix frag_length and auth_length to match.
fn append_verifier(pdu: &mut Vec<u8>, verifier: &[u8]) {
    pdu.extend_from_slice(verifier);
    let frag_len = pdu.len() as u16;
    let auth_len = verifier.len().saturating_sub(8) as u16;
    pdu[8..10].copy_from_slice(&frag_len.to_le_bytes());
    pdu[10..12].copy_from_slice(&auth_len.to_le_bytes());
}

pub fn bind(interface: &Interface, call_id: u32) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&MAX_FRAG.to_le_bytes());
    body.extend_from_slice(&MAX_FRAG.to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    body.extend_from_slice(&[1, 0, 0, 0]);
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&[1, 0]);
    body.extend_from_slice(&interface.uuid);
    body.extend_from_slice(&interface.version.0.to_le_bytes());
    body.extend_from_slice(&interface.version.1.to_le_bytes());
    body.extend_from_slice(&NDR.0);
    body.extend_from_slice(&NDR.1.to_le_bytes());
    let mut pdu = header(BIND, FIRST_FRAG | LAST_FRAG, HEADER_LEN + body.len(), call_id);
    pdu.extend_from_slice(&body);
    pdu
}

/// The server's fragment size, if it accepted our one presentation context.
pub fn bind_ack(pdu: &[u8], interface: &Interface) -> Result<u16, RpcError> {
    let kind = *pdu
        .get(2)
        .ok_or_else(|| RpcError::Protocol("empty bind answer".into()))?;
    if kind == BIND_NAK {
        return Err(RpcError::Protocol(format!(
            "the server refused to bind to {}",
            interface.name
        )));
    }
    if kind != BIND_ACK || pdu.len() < HEADER_LEN + 10 {
        return Err(RpcError::Protocol(format!(
            "unexpected answer (type {kind}) to a bind"
        )));
    }
    let max_xmit = u16::from_le_bytes([pdu[16], pdu[17]]);
    let addr_len = u16::from_le_bytes([pdu[24], pdu[25]]) as usize;
    let results = (26 + addr_len).next_multiple_of(4);
    let result = pdu
        .get(results + 4..results + 6)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or_else(|| RpcError::Protocol("short bind_ack".into()))?;
    if result != 0 {
        return Err(RpcError::Protocol(format!(
            "the server does not offer {} with NDR 2.0 (bind result {result})",
            interface.name
        )));
    }
    Ok(max_xmit.min(MAX_FRAG))
}

/// A call's stub cut into pieces of at most `room` bytes, each with its
/// PFC_FIRST_FRAG / PFC_LAST_FRAG flags (an empty stub is one empty piece).
pub fn pieces(stub: &[u8], room: usize) -> Vec<(u8, &[u8])> {
    let pieces: Vec<&[u8]> = if stub.is_empty() {
        vec![&[]]
    } else {
        stub.chunks(room.max(1)).collect()
    };
    let last = pieces.len() - 1;
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| {
            let first = if i == 0 { FIRST_FRAG } else { 0 };
            let end = if i == last { LAST_FRAG } else { 0 };
            (first | end, piece)
        })
        .collect()
}

/// A call's stub in as many request fragments as `max_frag` allows.
pub fn request(opnum: u16, stub: &[u8], call_id: u32, max_frag: u16) -> Vec<Vec<u8>> {
    let room = (max_frag as usize).saturating_sub(HEADER_LEN + 8).max(8);
    pieces(stub, room)
        .into_iter()
        .map(|(flags, piece)| {
            let mut pdu = header(REQUEST, flags, HEADER_LEN + 8 + piece.len(), call_id);
            pdu.extend_from_slice(&(stub.len() as u32).to_le_bytes());
            pdu.extend_from_slice(&0u16.to_le_bytes());
            pdu.extend_from_slice(&opnum.to_le_bytes());
            pdu.extend_from_slice(piece);
            pdu
        })
        .collect()
}

/// One received fragment: its stub, and whether it was the last.
pub struct Fragment {
    pub stub: Vec<u8>,
    pub last: bool,
}

/// The length a fragment announces, once its header is in.
pub fn frag_len(header: &[u8]) -> Option<usize> {
    (header.len() >= HEADER_LEN).then(|| u16::from_le_bytes([header[8], header[9]]) as usize)
}

pub fn response(pdu: &[u8], call_id: u32) -> Result<Fragment, RpcError> {
    if pdu.len() < HEADER_LEN + 8 {
        return Err(RpcError::Protocol("short RPC answer".into()));
    }
    let got_call = u32::from_le_bytes([pdu[12], pdu[13], pdu[14], pdu[15]]);
    if got_call != call_id {
        return Err(RpcError::Protocol(format!(
            "answer to call {got_call}, expected {call_id}"
        )));
    }
    let auth_len = u16::from_le_bytes([pdu[10], pdu[11]]) as usize;
    match pdu[2] {
        RESPONSE => {
            let end = pdu
                .len()
                .saturating_sub(if auth_len > 0 { auth_len + 8 } else { 0 });
            Ok(Fragment {
                stub: pdu[HEADER_LEN + 8..end.max(HEADER_LEN + 8)].to_vec(),
                last: pdu[3] & LAST_FRAG != 0,
            })
        }
        FAULT => match pdu.get(24..28) {
            Some(b) => Err(RpcError::Fault(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
            None => Err(RpcError::Protocol("short RPC fault".into())),
        },
        other => Err(RpcError::Protocol(format!("unexpected RPC answer type {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_stubs_are_split_into_marked_fragments() {
        let stub = vec![7u8; 10_000];
        let frags = request(12, &stub, 3, MAX_FRAG);
        assert_eq!(frags.len(), 3);
        assert_eq!(frags[0][3], FIRST_FRAG);
        assert_eq!(frags[1][3], 0);
        assert_eq!(frags[2][3], LAST_FRAG);
        assert!(frags.iter().all(|f| f.len() <= MAX_FRAG as usize));
        let total: usize = frags.iter().map(|f| f.len() - HEADER_LEN - 8).sum();
        assert_eq!(total, stub.len());
        assert!(frags.iter().all(|f| frag_len(f) == Some(f.len())));
    }

    #[test]
    fn short_or_foreign_answers_are_errors_not_panics() {
        for len in 0..40 {
            let mut pdu = header(FAULT, FIRST_FRAG | LAST_FRAG, len, 9);
            pdu.resize(len, 0xff);
            let _ = response(&pdu, 9);
            let _ = bind_ack(&pdu, &super::super::scmr::SVCCTL);
        }
        let mut other_call = header(RESPONSE, FIRST_FRAG | LAST_FRAG, 24, 8);
        other_call.extend_from_slice(&[0; 8]);
        assert!(response(&other_call, 9).is_err());
    }

    #[test]
    fn a_fault_carries_its_status() {
        let mut pdu = header(FAULT, FIRST_FRAG | LAST_FRAG, 32, 9);
        pdu.extend_from_slice(&[0; 8]);
        pdu.extend_from_slice(&0x1c01_0002u32.to_le_bytes());
        pdu.extend_from_slice(&[0; 4]);
        match response(&pdu, 9) {
            Err(RpcError::Fault(status)) => assert_eq!(status, 0x1c01_0002),
            other => panic!("{:?}", other.map(|f| f.stub)),
        }
    }
}

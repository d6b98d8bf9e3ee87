//! The entry points of the fuzz targets in `fuzz/fuzz_targets/`, one function per
//! target: bytes from a hostile peer (or a hostile inventory file) into the real
//! parsers. Results are ignored; a finding is a panic, a hang or an allocation out of
//! proportion to the input.
//!
//! The parsers that decode answers inside async calls (the DCE/RPC fragment
//! reassembly, the SCMR and TSCH decoders) are driven through `Replay`, a pipe that
//! answers with the fuzz input, so no socket is involved.
//!
//! The seeds in `fuzz/corpus/<target>/` run through these functions on the stable
//! toolchain as a unit test (below), so a committed crash input stays fixed.

use std::collections::VecDeque;
use std::path::Path;

use crate::inventory;
use crate::transport::BoxFuture;
use crate::transport::windows::rpc::ndr::Handle;
use zeroize::Zeroizing;

use crate::secrets::Secret;
use crate::transport::windows::rpc::auth::{self, Security};
use crate::transport::windows::rpc::{RpcClient, RpcError, RpcPipe, pdu, scmr, tsch};
use crate::transport::windows::smb::fuzz as smb;
use crate::transport::windows::smb::ntlm;

/// One SMB2 response message (no NetBIOS length prefix).
pub fn smb_response(data: &[u8]) {
    smb::response(data);
}

/// One SMB2 frame starting with a TRANSFORM_HEADER.
pub fn smb_transform(data: &[u8]) {
    smb::transform(data);
}

/// One NTLM CHALLENGE message (raw NTLMSSP).
pub fn ntlm_challenge(data: &[u8]) {
    smb::challenge(data);
}

/// A KDC's answer over TCP, as read for a KRB-ERROR (RFC 4120 5.9.1).
pub fn krb_error(data: &[u8]) {
    let _ = crate::transport::windows::smb::krb_error::parse(data);
}

/// A request sspi sends to the KDC, as read to key the run's cache of answers
/// (kdc_link/cache.rs), and the bytes as an answer to keep.
pub fn kdc_request(data: &[u8]) {
    use crate::transport::windows::smb::kdc_link::cache;
    if let Some(key) = cache::request_key(data) {
        let _ = cache::keep_for(key.kind, data);
    }
}

/// A ticket cache file's contents (`KRB5CCNAME`).
pub fn ccache(data: &[u8]) {
    let _ = crate::transport::windows::smb::ccache::parse(data);
}

/// A keytab file's contents.
pub fn keytab(data: &[u8]) {
    let _ = crate::transport::windows::smb::keytab::parse(data);
}

/// A krb5.conf, as read for the default realm and the realms' KDCs.
pub fn krb5_conf(data: &[u8]) {
    let _ = crate::transport::windows::logon::Krb5Conf::parse(&String::from_utf8_lossy(data));
}

/// A DNS answer (RFC 1035, with RFC 2782 SRV and PTR records), as the resolver
/// client reads it for the KDC's SRV records and a host's PTR name.
pub fn dns(data: &[u8]) {
    use crate::transport::windows::dns::{Message, RData, best_srv};
    if let Ok(message) = Message::parse(data) {
        let srvs: Vec<_> = message
            .answers
            .into_iter()
            .filter_map(|r| match r.data {
                RData::Srv(srv) => Some(srv),
                _ => None,
            })
            .collect();
        let _ = best_srv(&srvs);
    }
}

/// The security blob of a SESSION_SETUP answer (SPNEGO NegTokenResp in DER).
pub fn spnego(data: &[u8]) {
    smb::spnego(data);
}

/// What the server writes into the pipe after a request: one or more DCE/RPC
/// fragments. Parsed as a bind answer, as one fragment, and as the answer to call 2
/// (the first call after the bind), which the client reassembles from pieces.
pub fn rpc_pdu(data: &[u8]) {
    let _ = pdu::bind_ack(data, &scmr::SVCCTL);
    let _ = pdu::frag_len(data);
    // The call id the fragment names, so it gets past the call-id check.
    let call_id = data
        .get(12..16)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let _ = pdu::response(data, call_id);
    let _ = futures::executor::block_on(async {
        let mut rpc = RpcClient::bind(Replay::raw(data), &scmr::SVCCTL).await?;
        rpc.call(scmr::CLOSE_SERVICE_HANDLE, &[]).await
    });
    // The same bytes on a binding at packet privacy: the BIND_ACK's verifier and
    // the NTLM challenge in it, then each answer's sec_trailer and signature.
    let _ = auth::bind_ack_token(data, auth::AuthnService::Winnt);
    let _ = auth::bind_ack_token(data, auth::AuthnService::GssKerberos);
    let _ = Security::new(&Zeroizing::new(FUZZ_RPC_KEY), ntlm::FLAGS).open(data);
    let credentials = auth::Credentials {
        account: ntlm::Account::parse(r"DOMAIN\user"),
        password: Secret::new("password".into()),
        target_name: "cifs/fuzz".into(),
    };
    let _ = private_call(data, &credentials);
}

/// A response fragment on a binding authenticated with Kerberos: its frame
/// (sec_trailer, padding, auth_value) and the wrap token header in its auth_value,
/// checked as they are before anything is given to sspi to decrypt.
pub fn rpc_krb_wrap(data: &[u8]) {
    use crate::transport::windows::rpc::krb_auth::WrapHeader;
    if let Ok(Some(frame)) = auth::ResponseFrame::parse(data, auth::AuthnService::GssKerberos)
        && let Some(auth_value) = data.get(frame.auth_value_at()..)
    {
        let _ = WrapHeader::check_answer(auth_value);
    }
    let _ = WrapHeader::check_answer(data);
    let _ = auth::bind_ack_token(data, auth::AuthnService::GssKerberos);
}

/// Call 2 on a binding at packet privacy whose server answers from `data`; the
/// bind itself is a fixed, valid exchange, so `data` meets the verifier check.
fn private_call(data: &[u8], credentials: &auth::Credentials) -> Result<Vec<u8>, RpcError> {
    futures::executor::block_on(async {
        let random = ntlm::Randomness {
            client_challenge: [7; 8],
            session_key: Zeroizing::new(FUZZ_RPC_KEY),
        };
        let mut replay = Replay::raw(data);
        replay.private = true;
        let mut rpc = RpcClient::bind_private_with(replay, &tsch::ATSVC, credentials, random, 0).await?;
        rpc.call(scmr::CLOSE_SERVICE_HANDLE, &[]).await
    })
}

/// The exported session key the fuzzed private bindings use.
const FUZZ_RPC_KEY: [u8; 16] = [0x46; 16];

/// The NDR stub of an MS-SCMR answer, given to every call pushinst makes.
pub fn scmr_ndr(data: &[u8]) {
    let handle = Handle([0x11; 20]);
    futures::executor::block_on(async {
        let Ok(mut rpc) = RpcClient::bind(Replay::stub(data), &scmr::SVCCTL).await else {
            return;
        };
        let _ = scmr::open_sc_manager(&mut rpc, "HOST").await;
        let _ = scmr::create_service(&mut rpc, &handle, "svc", "cmd.exe").await;
        let _ = scmr::open_service(&mut rpc, &handle, "svc").await;
        let _ = scmr::start_service(&mut rpc, &handle).await;
        let _ = scmr::delete_service(&mut rpc, &handle).await;
        let _ = scmr::close(&mut rpc, &handle).await;
    });
}

/// The NDR stub of an MS-TSCH answer, given to every call pushinst makes.
pub fn tsch_ndr(data: &[u8]) {
    futures::executor::block_on(async {
        let Ok(mut rpc) = RpcClient::bind(Replay::stub(data), &tsch::ATSVC).await else {
            return;
        };
        let _ = tsch::register_task(&mut rpc, r"\task", "<Task/>").await;
        let _ = tsch::run(&mut rpc, r"\task").await;
        let _ = tsch::delete(&mut rpc, r"\task").await;
    });
}

/// What pushinst's wrapper or staging script printed on a Linux host (their report
/// lines among a login script's chatter and an installer's log tail).
pub fn ssh_report(data: &[u8]) {
    crate::transport::ssh::fuzz::report(data);
}

/// What pushinst's facts wrapper printed on a Windows host (arch, build, `fsutil`
/// and `reg query` output in any language), read back and judged.
pub fn windows_facts(data: &[u8]) {
    crate::transport::windows::fuzz::facts(data);
}

/// An inventory file, loaded and checked, then every group resolved to its targets;
/// a refused file has its report rendered. The file seems to live in a directory
/// that does not exist, so the files it names are looked up nowhere real (absolute
/// paths only get a metadata lookup).
pub fn inventory(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/nonexistent/pushinst-fuzz/pushinst.toml");
    match inventory::parse(path, text.to_string()) {
        Ok(inv) => {
            let groups: Vec<String> = inv.groups.keys().cloned().collect();
            let _ = inventory::resolve_targets(&inv, &groups);
        }
        Err(e) => {
            let _ = e.render(false);
        }
    }
}

/// How much of a raw answer each pipe read hands over. Small and prime, so headers
/// and fragments of a longer input are split at every possible place.
const PIECE: usize = 61;

/// A named pipe whose server answers from the fuzz input: a fixed bind_ack, then
/// the input as the answer to each call.
struct Replay {
    bound: bool,
    /// Answer the bind as a server at packet privacy does (`private_bind_ack`).
    private: bool,
    answer: Answer,
}

enum Answer {
    /// Bytes as they come out of the pipe, `PIECE` at a time.
    Raw(VecDeque<Vec<u8>>),
    /// A response stub, wrapped in fragments for whichever call asks.
    Stub(Vec<u8>),
}

impl Replay {
    fn raw(data: &[u8]) -> Self {
        Replay {
            bound: false,
            private: false,
            answer: Answer::Raw(data.chunks(PIECE).map(<[u8]>::to_vec).collect()),
        }
    }

    fn stub(data: &[u8]) -> Self {
        Replay {
            bound: false,
            private: false,
            answer: Answer::Stub(data.to_vec()),
        }
    }

    fn next(&mut self, request: &[u8]) -> Vec<u8> {
        match &mut self.answer {
            Answer::Raw(pieces) => pieces.pop_front().unwrap_or_default(),
            Answer::Stub(stub) => {
                let call_id = request
                    .get(12..16)
                    .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                response_fragments(stub, call_id)
            }
        }
    }
}

impl RpcPipe for Replay {
    fn write<'a>(&'a mut self, _pdu: &'a [u8]) -> BoxFuture<'a, Result<(), RpcError>> {
        Box::pin(async { Ok(()) })
    }

    fn transact<'a>(&'a mut self, pdu: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, RpcError>> {
        Box::pin(async move {
            if !self.bound {
                self.bound = true;
                return Ok(if self.private {
                    private_bind_ack()
                } else {
                    bind_ack()
                });
            }
            Ok(self.next(pdu))
        })
    }

    fn read(&mut self) -> BoxFuture<'_, Result<Vec<u8>, RpcError>> {
        Box::pin(async move {
            Ok(match &mut self.answer {
                Answer::Raw(pieces) => pieces.pop_front().unwrap_or_default(),
                // A stub answer is whole after `transact`; empty means the pipe closed.
                Answer::Stub(_) => Vec::new(),
            })
        })
    }
}

/// A bind_ack accepting NDR 2.0 for call 1, as `RpcClient::bind` sends it.
fn bind_ack() -> Vec<u8> {
    let whole = pdu::FIRST_FRAG | pdu::LAST_FRAG;
    let mut ack = vec![5, 0, pdu::BIND_ACK, whole, 0x10, 0, 0, 0];
    ack.extend_from_slice(&56u16.to_le_bytes());
    ack.extend_from_slice(&0u16.to_le_bytes());
    ack.extend_from_slice(&1u32.to_le_bytes());
    ack.extend_from_slice(&pdu::MAX_FRAG.to_le_bytes());
    ack.extend_from_slice(&pdu::MAX_FRAG.to_le_bytes());
    // Association group, then an empty secondary address (and its padding).
    ack.extend_from_slice(&[0; 4]);
    ack.extend_from_slice(&[0; 4]);
    // One result: acceptance, with the NDR 2.0 transfer syntax.
    ack.extend_from_slice(&[1, 0, 0, 0]);
    ack.extend_from_slice(&[0; 4]);
    ack.extend_from_slice(&pdu::uuid(
        0x8a885d04,
        0x1ceb,
        0x11c9,
        [0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60],
    ));
    ack.extend_from_slice(&2u32.to_le_bytes());
    ack
}

/// A bind_ack at packet privacy: the plain one, then a sec_trailer and an NTLM
/// CHALLENGE offering everything pushinst asks for, with a fixed server
/// challenge and timestamp. With `FUZZ_RPC_KEY` as the exported session key the
/// seeds in fuzz/corpus/rpc_pdu can carry validly sealed answers.
fn private_bind_ack() -> Vec<u8> {
    let mut info = Vec::new();
    info.extend_from_slice(&7u16.to_le_bytes());
    info.extend_from_slice(&8u16.to_le_bytes());
    info.extend_from_slice(&0x01db_0000_0000_0000u64.to_le_bytes());
    info.extend_from_slice(&[0; 4]);
    let mut challenge = b"NTLMSSP\0".to_vec();
    challenge.extend_from_slice(&2u32.to_le_bytes());
    // An empty target name at the payload's start, then the flags and the challenge.
    challenge.extend_from_slice(&[0, 0, 0, 0, 56, 0, 0, 0]);
    challenge.extend_from_slice(&ntlm::FLAGS.to_le_bytes());
    challenge.extend_from_slice(&[0x11; 8]);
    challenge.extend_from_slice(&[0; 8]);
    challenge.extend_from_slice(&(info.len() as u16).to_le_bytes());
    challenge.extend_from_slice(&(info.len() as u16).to_le_bytes());
    challenge.extend_from_slice(&56u32.to_le_bytes());
    challenge.extend_from_slice(&[0; 8]);
    challenge.extend_from_slice(&info);
    let mut ack = bind_ack();
    ack.extend_from_slice(&auth::verifier(auth::AuthnService::Winnt, &challenge));
    let frag_len = ack.len() as u16;
    ack[8..10].copy_from_slice(&frag_len.to_le_bytes());
    ack[10..12].copy_from_slice(&(challenge.len() as u16).to_le_bytes());
    ack
}

/// `stub` as the response fragments a server would send for `call_id`.
fn response_fragments(stub: &[u8], call_id: u32) -> Vec<u8> {
    let room = pdu::MAX_FRAG as usize - pdu::HEADER_LEN - 8;
    let pieces: Vec<&[u8]> = if stub.is_empty() {
        vec![&[]]
    } else {
        stub.chunks(room).collect()
    };
    let last = pieces.len() - 1;
    let mut out = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let mut flags = 0;
        if i == 0 {
            flags |= pdu::FIRST_FRAG;
        }
        if i == last {
            flags |= pdu::LAST_FRAG;
        }
        out.extend_from_slice(&[5, 0, pdu::RESPONSE, flags, 0x10, 0, 0, 0]);
        out.extend_from_slice(&((pdu::HEADER_LEN + 8 + piece.len()) as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&call_id.to_le_bytes());
        // Allocation hint, context id, cancel count, reserved.
        out.extend_from_slice(&(stub.len() as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(piece);
    }
    out
}

/// A known_hosts file, then every kind of lookup a connection makes, for names
/// plain, bracketed and long enough to stress the wildcard matcher.
pub fn known_hosts(data: &[u8]) {
    use crate::transport::ssh::known_hosts::{KnownHosts, host_name};
    let hosts = KnownHosts::parse(data);
    let key = russh::keys::PublicKey::from_openssh(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICx2GqrKL/PT2gBE+wL9r78jpEeDL/H2YaUTd0St/W5j",
    );
    let Ok(key) = key else { return };
    let long = "a".repeat(200);
    for name in [host_name("host1", 22), host_name("10.0.0.1", 2222), long] {
        let _ = hosts.check(&name, key.key_data());
        let _ = hosts.revoked(&name, key.key_data());
        let _ = hosts.authority(&name, key.key_data());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Target = fn(&[u8]);

    /// Every target by its name in `fuzz/fuzz_targets/` and `fuzz/corpus/`.
    const TARGETS: &[(&str, Target)] = &[
        ("smb_response", smb_response),
        ("krb_error", krb_error),
        ("krb5_conf", krb5_conf),
        ("dns", dns),
        ("kdc_request", kdc_request),
        ("keytab", keytab),
        ("ccache", ccache),
        ("smb_transform", smb_transform),
        ("ntlm_challenge", ntlm_challenge),
        ("spnego", spnego),
        ("rpc_pdu", rpc_pdu),
        ("rpc_krb_wrap", rpc_krb_wrap),
        ("scmr_ndr", scmr_ndr),
        ("tsch_ndr", tsch_ndr),
        ("inventory", inventory),
        ("known_hosts", known_hosts),
        ("ssh_report", ssh_report),
        ("windows_facts", windows_facts),
    ];

    /// Every committed seed (and every crash input moved into the corpus once its
    /// parser was fixed) runs without a panic on the stable toolchain too.
    #[test]
    fn every_seed_of_every_target_runs_without_a_panic() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        for (name, target) in TARGETS {
            assert!(
                root.join("fuzz_targets").join(format!("{name}.rs")).is_file(),
                "fuzz/fuzz_targets/{name}.rs is missing"
            );
            let dir = root.join("corpus").join(name);
            let mut seeds = 0;
            for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                let run = std::panic::catch_unwind(|| target(&data));
                assert!(run.is_ok(), "{name} panics on {}", path.display());
                seeds += 1;
            }
            assert!(seeds > 0, "fuzz/corpus/{name} has no seeds");
        }
    }

    /// The Kerberos seeds (sealed by the emulator's own wrap code) must get past the
    /// frame and wrap header checks, or the fuzzer would start with nothing that
    /// reaches them.
    #[test]
    fn the_kerberos_seeds_pass_the_frame_and_wrap_header_checks() {
        use crate::transport::windows::rpc::krb_auth::WrapHeader;
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/rpc_krb_wrap");
        for name in ["seed-response", "seed-response-header-signed"] {
            let data = std::fs::read(corpus.join(name)).expect("an rpc_krb_wrap seed");
            let frame = auth::ResponseFrame::parse(&data, auth::AuthnService::GssKerberos)
                .expect("a good frame")
                .expect("a response");
            assert!(
                WrapHeader::check_answer(&data[frame.auth_value_at()..]).is_ok(),
                "{name}"
            );
        }
        let ack = std::fs::read(corpus.join("seed-bind-ack-ap-rep")).expect("the bind_ack seed");
        assert!(auth::bind_ack_token(&ack, auth::AuthnService::GssKerberos).is_ok());
    }

    /// Without a seed that opens on the private binding, the fuzzer would start
    /// with no path past the signature check into reassembly and decoding.
    #[test]
    fn a_sealed_seed_opens_on_the_private_binding_and_a_changed_one_does_not() {
        let credentials = auth::Credentials {
            account: ntlm::Account::parse(r"DOMAIN\user"),
            password: Secret::new("password".into()),
            target_name: "cifs/fuzz".into(),
        };
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/rpc_pdu");
        let seeds: Vec<Vec<u8>> = std::fs::read_dir(dir)
            .expect("the rpc_pdu corpus")
            .flatten()
            .filter_map(|e| std::fs::read(e.path()).ok())
            .collect();
        let sealed: Vec<&Vec<u8>> = seeds
            .iter()
            .filter(|s| private_call(s, &credentials).is_ok())
            .collect();
        assert_eq!(sealed.len(), 1, "one seed is a validly sealed answer");
        let mut changed = sealed[0].clone();
        changed[30] ^= 1;
        assert!(matches!(
            private_call(&changed, &credentials),
            Err(RpcError::Tampering(_))
        ));
    }

    /// The stub wrapper must produce answers the client accepts, or the NDR targets
    /// would test nothing beyond the fragment checks.
    #[test]
    fn a_replayed_stub_reaches_the_decoder() {
        let mut stub = vec![0x22; 20];
        stub.extend_from_slice(&0u32.to_le_bytes());
        let handle = futures::executor::block_on(async {
            let mut rpc = RpcClient::bind(Replay::stub(&stub), &scmr::SVCCTL).await?;
            scmr::open_sc_manager(&mut rpc, "HOST").await
        })
        .expect("the stub decodes");
        assert_eq!(handle, Handle([0x22; 20]));
    }

    /// A long raw answer arrives in pieces and is put back together.
    #[test]
    fn a_raw_answer_in_fragments_is_reassembled() {
        let stub: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let answer = response_fragments(&stub, 2);
        let got = futures::executor::block_on(async {
            let mut rpc = RpcClient::bind(Replay::raw(&answer), &scmr::SVCCTL).await?;
            rpc.call(scmr::CLOSE_SERVICE_HANDLE, &[]).await
        })
        .expect("the answer reassembles");
        assert_eq!(got, stub);
    }
}

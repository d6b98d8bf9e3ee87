//! One AS exchange per credential per run, and one TGS exchange per service.
//!
//! sspi's Kerberos client cannot start from a TGT it already has: every new
//! context (one per host) does the whole AS exchange again, then the TGS exchange.
//! 500 hosts would be 1000 AS-REQs. The KDC's answers are what sspi needs, not
//! the KDC itself, so [`KdcLink`](super::KdcLink) keeps them for the run and
//! gives a later context of the same credential the same answers:
//!
//! - the AS-REQ without pre-authentication: the KDC's PREAUTH_REQUIRED (only the
//!   salt in it is used; no other KRB-ERROR is kept);
//! - the AS-REQ with PA-ENC-TIMESTAMP: the AS-REP. sspi decrypts its enc-part with
//!   the credential's own key (the key is part of the cache key, so a different
//!   password never gets it) and takes the TGT and its session key from it; sspi
//!   0.23.1 does not compare the AS-REP's nonce with its request's, nor anything
//!   else that differs between two requests (as_exchange.rs, extractors.rs);
//! - a TGS-REQ carrying that same TGT for the same service: the TGS-REP. Its
//!   enc-part is under the TGT's session key (sspi sends no authenticator subkey),
//!   which every context that got the cached AS-REP holds.
//!
//! Nothing replayed reaches a server: each AP-REQ still has a fresh authenticator
//! (time, random subkey), so a host's replay cache never sees one twice.
//!
//! Why answers and not tickets: sspi 0.23.1 has no public way to start a context
//! from a TGT (its Remote Credential Guard keeps one, inside the crate) and reads
//! no ticket cache. A Kerberos client of pushinst's own (picky-krb messages and
//! crypto: AS, TGS, AP-REQ with checksum and subkey, AP-REP, the session key)
//! would hold the TGT itself, but would duplicate what sspi does and what its
//! users test against Windows; replaying the KDC's answers into sspi keeps sspi
//! the one Kerberos implementation, at the cost of this module. The KDC sees
//! nothing unusual: fewer requests.
//!
//! When hosts run in parallel and the TGT is due (a run's start, or after
//! [`TGT_AGE`]), one host's context makes the exchange and the others wait for
//! its answer ([`turn`]), bounded by the time an exchange may take.
//!
//! Bounds. Only successful AS-REPs and TGS-REPs and PREAUTH_REQUIRED are kept. The
//! tickets' end times are inside the encrypted parts, under keys this module never
//! holds, so an answer is kept for a time well inside the shortest lifetime a
//! domain allows: a TGT for [`TGT_AGE`] (Active Directory's shortest user ticket
//! lifetime is an hour), a service ticket for [`SERVICE_AGE`] (the shortest
//! service ticket lifetime is ten minutes). A run longer than that makes one more
//! exchange. A logon that fails after anything was replayed is made again without
//! the cache (kerberos.rs), so the cache can cost a host nothing. At most
//! [`MAX_BYTES`] of answers are kept. Nothing is kept from an exchange the KDC
//! called skewed (KRB_AP_ERR_SKEW): sspi sets its clock offset only from that
//! error, so a context given the AS-REP without it would send times the KDC
//! refuses (kdc_link.rs).

use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::super::krb_error;
use super::super::ntlm::element;

/// How long a TGT from an AS-REP is used for.
pub const TGT_AGE: Duration = Duration::from_secs(30 * 60);
/// How long a service ticket from a TGS-REP is used for.
pub const SERVICE_AGE: Duration = Duration::from_secs(5 * 60);
/// All answers kept, together (a TGS-REP with a PAC is a few KiB: 500 hosts ≈ 2 MiB).
pub const MAX_BYTES: usize = 32 * 1024 * 1024;

/// KDC_ERR_PREAUTH_REQUIRED.
const PREAUTH_REQUIRED: i32 = 25;
/// PA-TGS-REQ: the AP-REQ carrying the TGT.
const PA_TGS_REQ: u32 = 1;
/// PA-ENC-TIMESTAMP: pre-authentication with the client's key.
const PA_ENC_TIMESTAMP: u32 = 2;

/// Which request this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// AS-REQ without pre-authentication: answered PREAUTH_REQUIRED (with the salt).
    AsProbe,
    /// AS-REQ with PA-ENC-TIMESTAMP: answered with the AS-REP.
    AsPreauth,
    /// TGS-REQ: answered with the TGS-REP.
    Tgs,
}

/// What identifies a request's answer: its kind, and every part of it that is
/// the same from one context to the next (the request body without its nonce
/// and times; for a TGS-REQ, the TGT it carries).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestKey {
    pub kind: Kind,
    pub ident: Vec<u8>,
}

/// A request as sspi sends it (its four-byte length first): its key, or `None`
/// for anything this cache does not serve.
pub fn request_key(request: &[u8]) -> Option<RequestKey> {
    let message = request.get(4..)?;
    let (tag, body, _) = element(message)?;
    let as_req = match tag {
        0x6a => true,
        0x6c => false,
        _ => return None,
    };
    let (tag, mut fields, _) = element(body)?;
    if tag != 0x30 {
        return None;
    }
    let mut ident = Vec::new();
    let mut pa_types = Vec::new();
    let mut ticket: Option<&[u8]> = None;
    let mut req_body = None;
    while !fields.is_empty() {
        let (tag, content, rest) = element(fields)?;
        match tag {
            0xa3 => {
                let (seq, mut padata, _) = element(content)?;
                if seq != 0x30 {
                    return None;
                }
                while !padata.is_empty() {
                    let (_, pa, rest) = element(padata)?;
                    let (pa_type, value) = pa_data(pa)?;
                    pa_types.push(pa_type);
                    if pa_type == PA_TGS_REQ {
                        ticket = Some(ap_req_ticket(value)?);
                    }
                    padata = rest;
                }
            }
            0xa4 => req_body = Some(content),
            _ => {}
        }
        fields = rest;
    }
    let (seq, mut body_fields, _) = element(req_body?)?;
    if seq != 0x30 {
        return None;
    }
    let kind = match (as_req, pa_types.contains(&PA_ENC_TIMESTAMP)) {
        (true, false) => Kind::AsProbe,
        (true, true) => Kind::AsPreauth,
        (false, _) => {
            ident.extend_from_slice(ticket?);
            Kind::Tgs
        }
    };
    pa_types.sort_unstable();
    for t in &pa_types {
        ident.extend_from_slice(&t.to_be_bytes());
    }
    while !body_fields.is_empty() {
        let (tag, _, rest) = element(body_fields)?;
        let whole = &body_fields[..body_fields.len() - rest.len()];
        // from [4], till [5], rtime [6] and nonce [7] differ from one request to the next.
        if !matches!(tag, 0xa4..=0xa7) {
            ident.extend_from_slice(whole);
        }
        body_fields = rest;
    }
    Some(RequestKey { kind, ident })
}

/// PA-DATA: its type and value.
fn pa_data(pa: &[u8]) -> Option<(u32, &[u8])> {
    let (mut pa_type, mut value) = (None, None);
    let mut fields = pa;
    while !fields.is_empty() {
        let (tag, content, rest) = element(fields)?;
        match tag {
            0xa1 => {
                let (int, bytes, _) = element(content)?;
                if int != 0x02 || bytes.is_empty() || bytes.len() > 5 {
                    return None;
                }
                pa_type = Some(bytes.iter().fold(0u64, |a, b| (a << 8) | *b as u64) as u32);
            }
            0xa2 => {
                let (octets, bytes, _) = element(content)?;
                if octets != 0x04 {
                    return None;
                }
                value = Some(bytes);
            }
            _ => {}
        }
        fields = rest;
    }
    Some((pa_type?, value?))
}

/// The Ticket (whole, as sent) inside an AP-REQ.
fn ap_req_ticket(ap_req: &[u8]) -> Option<&[u8]> {
    let (tag, body, _) = element(ap_req)?;
    if tag != 0x6e {
        return None;
    }
    let (seq, mut fields, _) = element(body)?;
    if seq != 0x30 {
        return None;
    }
    while !fields.is_empty() {
        let (tag, content, rest) = element(fields)?;
        if tag == 0xa3 {
            return Some(content);
        }
        fields = rest;
    }
    None
}

/// Whether `answer` (as it came, four-byte length first) to a request of `kind`
/// may be kept, and for how long.
pub fn keep_for(kind: Kind, answer: &[u8]) -> Option<Duration> {
    let tag = *answer.get(4)?;
    match (kind, tag) {
        (Kind::AsProbe, 0x7e) => krb_error::parse(answer)
            .filter(|e| e.error_code == PREAUTH_REQUIRED)
            .map(|_| TGT_AGE),
        (Kind::AsPreauth, 0x6b) => Some(TGT_AGE),
        (Kind::Tgs, 0x6d) => Some(SERVICE_AGE),
        _ => None,
    }
}

/// An answer kept: the KDC, the credential (a digest of its secret) and the request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slot {
    pub kdc: String,
    pub credential: [u8; 32],
    pub request: RequestKey,
}

struct Kept {
    answer: Vec<u8>,
    until: Instant,
}

#[derive(Default)]
struct Store {
    answers: HashMap<Slot, Kept>,
    bytes: usize,
    /// AS exchanges under way (by their first request): the others wait for them.
    flights: HashSet<Slot>,
}

/// This run's answers.
static STORE: Mutex<Option<Store>> = Mutex::new(None);
/// Signalled when an AS exchange under way ends.
static LANDED: Condvar = Condvar::new();

/// The answer kept for `slot`, if it is still young enough.
pub fn get(slot: &Slot) -> Option<Vec<u8>> {
    let mut guard = STORE.lock().ok()?;
    get_in(guard.as_mut()?, slot)
}

fn get_in(store: &mut Store, slot: &Slot) -> Option<Vec<u8>> {
    let kept = store.answers.get(slot)?;
    if kept.until > Instant::now() {
        return Some(kept.answer.clone());
    }
    forget_in(store, slot);
    None
}

/// What to do with the first request of an AS exchange.
pub enum Turn {
    /// Answer it with this (another context's exchange).
    Kept(Vec<u8>),
    /// Send it to the KDC; other contexts of the same credential wait until the
    /// flight is dropped (once the AS-REP is kept, or the exchange failed).
    Lead(Flight),
}

/// An AS exchange under way.
pub struct Flight(Option<Slot>);

impl Drop for Flight {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take()
            && let Ok(mut guard) = STORE.lock()
            && let Some(store) = guard.as_mut()
        {
            store.flights.remove(&slot);
            LANDED.notify_all();
        }
    }
}

/// The lead of an AS exchange that must reach the KDC (the run's TGT was refused):
/// after the one under way, if any, and no longer than `wait` after it.
pub fn lead(slot: &Slot, wait: Duration) -> Flight {
    let deadline = Instant::now() + wait;
    let Ok(mut guard) = STORE.lock() else {
        return Flight(None);
    };
    loop {
        let store = guard.get_or_insert_with(Store::default);
        let now = Instant::now();
        if !store.flights.contains(slot) || now >= deadline {
            let lead = store.flights.insert(slot.clone());
            return Flight(lead.then(|| slot.clone()));
        }
        guard = match LANDED.wait_timeout(guard, deadline - now) {
            Ok((guard, _)) => guard,
            Err(_) => return Flight(None),
        };
    }
}

/// The turn of the first request of an AS exchange, `slot`: its kept answer, or
/// the lead. When hosts run in parallel and the TGT is due (at the start or
/// after [`TGT_AGE`]), one of them asks the KDC and the others wait for its
/// answer instead of each making an exchange of its own; no longer than `wait`.
pub fn turn(slot: &Slot, wait: Duration) -> Turn {
    let deadline = Instant::now() + wait;
    let Ok(mut guard) = STORE.lock() else {
        return Turn::Lead(Flight(None));
    };
    loop {
        let store = guard.get_or_insert_with(Store::default);
        if let Some(answer) = get_in(store, slot) {
            return Turn::Kept(answer);
        }
        let now = Instant::now();
        if !store.flights.contains(slot) || now >= deadline {
            // Past the wait, the exchange is made alongside, not after, the other.
            let lead = store.flights.insert(slot.clone());
            return Turn::Lead(Flight(lead.then(|| slot.clone())));
        }
        guard = match LANDED.wait_timeout(guard, deadline - now) {
            Ok((guard, _)) => guard,
            Err(_) => return Turn::Lead(Flight(None)),
        };
    }
}

/// Whether an AS exchange of `slot`'s credential at `slot`'s KDC is under way.
fn flying(store: &Store, slot: &Slot) -> bool {
    store
        .flights
        .iter()
        .any(|f| f.kdc == slot.kdc && f.credential == slot.credential)
}

/// The kept answer to `slot` (the AS-REQ with pre-authentication): if an AS
/// exchange of the same credential is under way, after it, no longer than `wait`.
/// A context that had the PREAUTH_REQUIRED just before the TGT was refused and
/// dropped takes the new AS-REP instead of making an exchange of its own.
pub fn after_flight(slot: &Slot, wait: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + wait;
    let mut guard = STORE.lock().ok()?;
    loop {
        let store = guard.as_mut()?;
        if let Some(answer) = get_in(store, slot) {
            return Some(answer);
        }
        let now = Instant::now();
        if !flying(store, slot) || now >= deadline {
            return None;
        }
        guard = LANDED.wait_timeout(guard, deadline - now).ok()?.0;
    }
}

/// Drop the answers kept for `slots` (a logon failed after they were replayed)
/// and, in the same step, lead the AS exchange that replaces them, unless another
/// context already does: no context can find neither the old answers nor a
/// flight and start an exchange of its own in between.
pub fn forget_leading(slots: &[Slot]) -> Option<Flight> {
    let mut guard = STORE.lock().ok()?;
    let store = guard.as_mut()?;
    for slot in slots {
        forget_in(store, slot);
    }
    let probe = slots.iter().find(|s| s.request.kind == Kind::AsProbe)?;
    (!store.flights.contains(probe)).then(|| {
        store.flights.insert(probe.clone());
        Flight(Some(probe.clone()))
    })
}

/// Keep `answer` for `slot` if it is an answer worth keeping.
pub fn put(slot: Slot, answer: &[u8]) {
    let Some(age) = keep_for(slot.request.kind, answer) else {
        return;
    };
    let Ok(mut guard) = STORE.lock() else {
        return;
    };
    let store = guard.get_or_insert_with(Store::default);
    forget_in(store, &slot);
    let now = Instant::now();
    if store.bytes + answer.len() > MAX_BYTES {
        let before = store.answers.len();
        store.answers.retain(|_, k| k.until > now);
        if store.answers.len() != before {
            store.bytes = store.answers.values().map(|k| k.answer.len()).sum();
        }
        if store.bytes + answer.len() > MAX_BYTES {
            return;
        }
    }
    store.bytes += answer.len();
    store.answers.insert(
        slot,
        Kept {
            answer: answer.to_vec(),
            until: now + age,
        },
    );
}

/// Drop the answer kept for `slot`.
#[cfg(test)]
fn forget(slot: &Slot) {
    if let Ok(mut guard) = STORE.lock()
        && let Some(store) = guard.as_mut()
    {
        forget_in(store, slot);
    }
}

fn forget_in(store: &mut Store, slot: &Slot) {
    if let Some(old) = store.answers.remove(slot) {
        store.bytes = store.bytes.saturating_sub(old.answer.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::windows::smb::ntlm::der;

    fn framed(message: Vec<u8>) -> Vec<u8> {
        let mut out = (message.len() as u32).to_be_bytes().to_vec();
        out.extend(message);
        out
    }

    fn pa(pa_type: u8, value: &[u8]) -> Vec<u8> {
        der(
            0x30,
            &[der(0xa1, &der(0x02, &[pa_type])), der(0xa2, &der(0x04, value))].concat(),
        )
    }

    fn body(nonce: u8, sname: &str) -> Vec<u8> {
        der(
            0x30,
            &[
                der(0xa0, &der(0x03, &[0, 0x40, 0x81, 0, 0x10])),
                der(0xa2, &der(0x1b, b"EXAMPLE.TEST")),
                der(0xa3, &der(0x1b, sname.as_bytes())),
                der(0xa5, &der(0x18, b"20370913024805Z")),
                der(0xa7, &der(0x02, &[nonce])),
                der(0xa8, &der(0x30, &der(0x02, &[18]))),
            ]
            .concat(),
        )
    }

    fn kdc_req(tag: u8, padata: &[Vec<u8>], body: Vec<u8>) -> Vec<u8> {
        let fields = [
            der(0xa1, &der(0x02, &[5])),
            der(0xa2, &der(0x02, &[if tag == 0x6a { 10 } else { 12 }])),
            der(0xa3, &der(0x30, &padata.concat())),
            der(0xa4, &body),
        ]
        .concat();
        framed(der(tag, &der(0x30, &fields)))
    }

    /// A KRB-ERROR PREAUTH_REQUIRED, as the KDC answers the first AS-REQ.
    fn salt_answer() -> Vec<u8> {
        framed(der(
            0x7e,
            &der(
                0x30,
                &[der(0xa0, &der(0x02, &[5])), der(0xa6, &der(0x02, &[25]))].concat(),
            ),
        ))
    }

    fn ap_req(ticket: &[u8]) -> Vec<u8> {
        der(
            0x6e,
            &der(
                0x30,
                &[
                    der(0xa0, &der(0x02, &[5])),
                    der(0xa3, &der(0x61, ticket)),
                    der(0xa4, &der(0x30, b"")),
                ]
                .concat(),
            ),
        )
    }

    #[test]
    fn the_same_request_with_another_nonce_has_the_same_key() {
        let probe = request_key(&kdc_req(0x6a, &[pa(128, b"\x30\x00")], body(1, "krbtgt"))).unwrap();
        assert_eq!(probe.kind, Kind::AsProbe);
        let again = request_key(&kdc_req(0x6a, &[pa(128, b"\x30\x00")], body(2, "krbtgt"))).unwrap();
        assert_eq!(probe, again);
        let preauth = request_key(&kdc_req(
            0x6a,
            &[pa(2, b"encrypted"), pa(128, b"\x30\x00")],
            body(3, "krbtgt"),
        ))
        .unwrap();
        assert_eq!(preauth.kind, Kind::AsPreauth);
        assert_ne!(preauth, probe);
    }

    #[test]
    fn a_tgs_request_is_keyed_by_its_tgt_and_service() {
        let a = request_key(&kdc_req(0x6c, &[pa(1, &ap_req(b"tgt-1"))], body(1, "cifs/a"))).unwrap();
        assert_eq!(a.kind, Kind::Tgs);
        let a_again = request_key(&kdc_req(0x6c, &[pa(1, &ap_req(b"tgt-1"))], body(9, "cifs/a"))).unwrap();
        assert_eq!(a, a_again);
        let b = request_key(&kdc_req(0x6c, &[pa(1, &ap_req(b"tgt-1"))], body(1, "cifs/b"))).unwrap();
        assert_ne!(a, b);
        let other_tgt = request_key(&kdc_req(0x6c, &[pa(1, &ap_req(b"tgt-2"))], body(1, "cifs/a"))).unwrap();
        assert_ne!(a, other_tgt);
        // A TGS-REQ without its TGT is not served.
        assert_eq!(request_key(&kdc_req(0x6c, &[], body(1, "cifs/a"))), None);
    }

    #[test]
    fn only_successes_and_the_salt_answer_are_kept() {
        let error = |code: u8| {
            framed(der(
                0x7e,
                &der(
                    0x30,
                    &[der(0xa0, &der(0x02, &[5])), der(0xa6, &der(0x02, &[code]))].concat(),
                ),
            ))
        };
        assert_eq!(keep_for(Kind::AsProbe, &error(25)), Some(TGT_AGE));
        assert_eq!(keep_for(Kind::AsProbe, &error(6)), None);
        assert_eq!(keep_for(Kind::AsPreauth, &error(24)), None);
        assert_eq!(keep_for(Kind::AsPreauth, &framed(der(0x6b, b""))), Some(TGT_AGE));
        assert_eq!(keep_for(Kind::Tgs, &framed(der(0x6d, b""))), Some(SERVICE_AGE));
        assert_eq!(keep_for(Kind::Tgs, &framed(der(0x6b, b""))), None);
        assert_eq!(keep_for(Kind::Tgs, &[]), None);
    }

    #[test]
    fn an_answer_is_served_until_it_is_forgotten() {
        let slot = Slot {
            kdc: "kdc.test".into(),
            credential: [7; 32],
            request: RequestKey {
                kind: Kind::Tgs,
                ident: b"unit-test".to_vec(),
            },
        };
        let answer = framed(der(0x6d, b"ticket"));
        put(slot.clone(), &answer);
        assert_eq!(get(&slot), Some(answer));
        let other = Slot {
            credential: [8; 32],
            ..slot.clone()
        };
        assert_eq!(get(&other), None);
        forget(&slot);
        assert_eq!(get(&slot), None);
    }

    #[test]
    fn one_as_exchange_leads_and_the_others_wait_for_its_answer() {
        let slot = Slot {
            kdc: "kdc.test".into(),
            credential: [9; 32],
            request: RequestKey {
                kind: Kind::AsProbe,
                ident: b"flight-test".to_vec(),
            },
        };
        let Turn::Lead(flight) = turn(&slot, Duration::from_secs(10)) else {
            panic!("nothing kept: the first one leads");
        };
        let waiter = {
            let slot = slot.clone();
            std::thread::spawn(move || match turn(&slot, Duration::from_secs(10)) {
                Turn::Kept(answer) => answer,
                Turn::Lead(_) => panic!("led while the other exchange was under way"),
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        let answer = salt_answer();
        put(slot.clone(), &answer);
        drop(flight);
        assert_eq!(waiter.join().unwrap(), answer);
        // An exchange that failed lets the next one lead.
        forget(&slot);
        let Turn::Lead(flight) = turn(&slot, Duration::from_secs(10)) else {
            panic!("nothing kept");
        };
        let next = {
            let slot = slot.clone();
            std::thread::spawn(move || matches!(turn(&slot, Duration::from_secs(10)), Turn::Lead(_)))
        };
        std::thread::sleep(Duration::from_millis(100));
        drop(flight);
        assert!(next.join().unwrap());
        // A wait has its bound.
        let Turn::Lead(_flight) = turn(&slot, Duration::from_secs(10)) else {
            panic!("nothing kept");
        };
        assert!(matches!(turn(&slot, Duration::from_millis(50)), Turn::Lead(_)));
    }

    #[test]
    fn answers_dropped_after_a_refusal_are_replaced_by_one_exchange_the_others_wait_for() {
        let slot = |kind, ident: &[u8]| Slot {
            kdc: "kdc.test".into(),
            credential: [10; 32],
            request: RequestKey {
                kind,
                ident: ident.to_vec(),
            },
        };
        let (probe, preauth) = (slot(Kind::AsProbe, b"probe"), slot(Kind::AsPreauth, b"preauth"));
        let salt = salt_answer();
        put(probe.clone(), &salt);
        put(preauth.clone(), &framed(der(0x6b, b"old tgt")));
        // Nothing in flight and the answer kept: no wait.
        assert_eq!(
            after_flight(&preauth, Duration::from_secs(10)),
            Some(framed(der(0x6b, b"old tgt")))
        );

        let flight = forget_leading(&[probe.clone(), preauth.clone()]).expect("the refused one leads");
        assert!(
            forget_leading(std::slice::from_ref(&probe)).is_none(),
            "a second refusal waits for the flight under way"
        );
        // One that had the salt answer before the drop waits for the new AS-REP,
        // and one just starting waits for the salt answer: neither asks the KDC.
        let late = {
            let preauth = preauth.clone();
            std::thread::spawn(move || after_flight(&preauth, Duration::from_secs(10)))
        };
        let starting = {
            let probe = probe.clone();
            std::thread::spawn(move || matches!(turn(&probe, Duration::from_secs(10)), Turn::Kept(_)))
        };
        std::thread::sleep(Duration::from_millis(100));
        put(probe.clone(), &salt);
        put(preauth.clone(), &framed(der(0x6b, b"new tgt")));
        drop(flight);
        assert_eq!(late.join().unwrap(), Some(framed(der(0x6b, b"new tgt"))));
        assert!(starting.join().unwrap());

        // A failed exchange leaves nothing kept: the waiter goes to the KDC itself.
        let flight = forget_leading(&[probe.clone(), preauth.clone()]).expect("leads");
        let late = {
            let preauth = preauth.clone();
            std::thread::spawn(move || after_flight(&preauth, Duration::from_secs(10)))
        };
        std::thread::sleep(Duration::from_millis(100));
        drop(flight);
        assert_eq!(late.join().unwrap(), None);
    }

    #[test]
    fn malformed_requests_are_not_served() {
        assert_eq!(request_key(&[]), None);
        assert_eq!(request_key(&[0, 0, 0, 2, 0x6a, 0x00]), None);
        assert_eq!(request_key(&[0, 0, 0, 4, 0x6a, 0x84, 0xff, 0xff]), None);
    }
}

//! Traffic to the KDC: TCP only (RFC 4120 7.2.2), to the address pushinst chose,
//! with pushinst's timeout and an answer bounded before it is allocated. sspi's
//! Kerberos client sends its requests through this, and a request answered
//! earlier this run for the same credential is answered from the run's cache
//! (cache.rs): one AS exchange per credential per run, not one per host.

pub mod cache;
pub mod from_cache;

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::time::Duration;

use sha2::{Digest, Sha256};
use sspi::NetworkRequest;

use super::krb_error;

/// No KDC answer pushinst waits for is larger (a ticket with a big PAC is some KiB).
const MAX_KDC_REPLY: usize = 256 * 1024;

/// Traffic to the KDC, as sspi asks for it.
pub struct KdcLink {
    pub kdc: String,
    pub timeout: Duration,
    /// The last answer, to name a refusal; or why none came.
    pub last: Mutex<Option<Result<Vec<u8>, std::io::Error>>>,
    /// A digest of the credential's secret (password or key): answers under one
    /// password are never given to a context holding another.
    credential: [u8; 32],
    /// Ask the KDC even when the run's cache has the answer (and refresh it).
    bypass: bool,
    /// What this link answered from the cache.
    replayed: Mutex<Vec<cache::Slot>>,
    /// Whether the KDC said the clocks differ (sspi then corrects its own).
    skewed: Mutex<bool>,
    /// The AS exchange this link makes for the others of its credential, until
    /// its AS-REP is kept (or the link is dropped: the exchange failed).
    flight: Mutex<Option<cache::Flight>>,
    /// The AS exchange's answers when the TGT comes from a ticket cache
    /// (from_cache.rs): the PREAUTH_REQUIRED and the AS-REP, never asked of the KDC.
    from_cache: Option<(Vec<u8>, Vec<u8>)>,
}

impl KdcLink {
    /// A link to `kdc` for a credential whose secret (password, or long-term key)
    /// is `secret`. With `bypass`, every request goes to the KDC.
    pub fn new(kdc: &str, timeout: Duration, secret: &[u8], bypass: bool) -> KdcLink {
        KdcLink {
            kdc: kdc.to_string(),
            timeout,
            last: Mutex::new(None),
            credential: Sha256::digest(secret).into(),
            bypass,
            replayed: Mutex::new(Vec::new()),
            skewed: Mutex::new(false),
            flight: Mutex::new(None),
            from_cache: None,
        }
    }

    /// The same link, answering the AS exchange with `answers` (a ticket cache's
    /// TGT) instead of asking the KDC.
    pub fn answering_as(mut self, answers: &from_cache::FromCache) -> KdcLink {
        self.from_cache = Some((answers.probe.clone(), answers.as_rep.clone()));
        self
    }

    /// Whether any answer came from the run's cache.
    pub fn replayed(&self) -> bool {
        self.replayed.lock().map(|r| !r.is_empty()).unwrap_or(false)
    }

    /// Drop from the run's cache what this link replayed (a logon failed after it)
    /// and make the link that asks the KDC again: it leads the new AS exchange from
    /// the moment the old answers are gone, so the others wait for it.
    pub fn forget_replayed(&self, retry: KdcLink) -> KdcLink {
        if let Ok(mut flight) = self.flight.lock() {
            flight.take();
        }
        let slots: Vec<cache::Slot> = match self.replayed.lock() {
            Ok(mut replayed) => replayed.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        if let (Some(flight), Ok(mut mine)) = (cache::forget_leading(&slots), retry.flight.lock()) {
            *mine = Some(flight);
        }
        retry
    }

    fn slot(&self, request: &[u8]) -> Option<cache::Slot> {
        Some(cache::Slot {
            kdc: self.kdc.clone(),
            credential: self.credential,
            request: cache::request_key(request)?,
        })
    }

    fn exchange(&self, request: &[u8]) -> std::io::Result<Vec<u8>> {
        let address =
            if self.kdc.contains(':') && !self.kdc.starts_with('[') && self.kdc.matches(':').count() > 1 {
                format!("[{}]:88", self.kdc)
            } else if self.kdc.contains(':') {
                self.kdc.clone()
            } else {
                format!("{}:88", self.kdc)
            };
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "the name has no address");
        for addr in address.to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, self.timeout) {
                Ok(mut stream) => {
                    stream.set_read_timeout(Some(self.timeout))?;
                    stream.set_write_timeout(Some(self.timeout))?;
                    // sspi's request already carries its four-byte length (RFC 4120 7.2.2).
                    stream.write_all(request)?;
                    let mut len = [0u8; 4];
                    stream.read_exact(&mut len)?;
                    let n = u32::from_be_bytes(len) as usize;
                    if n > MAX_KDC_REPLY {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("the KDC's answer would be {n} bytes"),
                        ));
                    }
                    let mut reply = vec![0u8; 4 + n];
                    reply[..4].copy_from_slice(&len);
                    stream.read_exact(&mut reply[4..])?;
                    return Ok(reply);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

impl sspi::network_client::NetworkClient for KdcLink {
    fn send(&self, request: &NetworkRequest) -> sspi::Result<Vec<u8>> {
        let slot = self.slot(&request.data);
        if let (Some((probe, as_rep)), Some(slot)) = (&self.from_cache, &slot) {
            match slot.request.kind {
                cache::Kind::AsProbe => return Ok(probe.clone()),
                cache::Kind::AsPreauth => return Ok(as_rep.clone()),
                cache::Kind::Tgs => {}
            }
        }
        // The longest an AS exchange takes: both requests, and the retry after a
        // skew, each within the timeout.
        let flight_time = self.timeout * 3 + Duration::from_secs(1);
        let kept = match &slot {
            Some(slot) if slot.request.kind == cache::Kind::AsProbe => {
                let leading = self.flight.lock().is_ok_and(|f| f.is_some());
                let (kept, flight) = if self.bypass && leading {
                    (None, None)
                } else if self.bypass {
                    (None, Some(cache::lead(slot, flight_time)))
                } else {
                    match cache::turn(slot, flight_time) {
                        cache::Turn::Kept(answer) => (Some(answer), None),
                        cache::Turn::Lead(flight) => (None, Some(flight)),
                    }
                };
                if let (Some(flight), Ok(mut mine)) = (flight, self.flight.lock()) {
                    *mine = Some(flight);
                }
                kept
            }
            // The lead of an exchange never waits for itself.
            Some(slot)
                if !self.bypass
                    && slot.request.kind == cache::Kind::AsPreauth
                    && self.flight.lock().is_ok_and(|f| f.is_none()) =>
            {
                cache::after_flight(slot, flight_time)
            }
            Some(slot) if !self.bypass => cache::get(slot),
            _ => None,
        };
        let preauth = slot
            .as_ref()
            .is_some_and(|s| s.request.kind == cache::Kind::AsPreauth);
        let answer = match (kept, slot) {
            (Some(answer), Some(slot)) => {
                tracing::debug!(
                    "KDC {}: {:?} answered from this run's cache",
                    self.kdc,
                    slot.request.kind
                );
                if let Ok(mut replayed) = self.replayed.lock() {
                    replayed.push(slot);
                }
                Ok(answer)
            }
            (_, slot) => {
                let answer = self.exchange(&request.data);
                if let Ok(reply) = &answer
                    && krb_error::parse(reply).is_some_and(|e| e.error_code == krb_error::SKEW)
                    && let Ok(mut skewed) = self.skewed.lock()
                {
                    *skewed = true;
                }
                // sspi corrects its clock only from the KDC's KRB_AP_ERR_SKEW: a
                // context given this exchange's answers without that error would
                // send the KDC times it refuses. So after a skew nothing is kept.
                let skewed = self.skewed.lock().map(|s| *s).unwrap_or(true);
                if let (Ok(reply), Some(slot), false) = (&answer, slot, skewed) {
                    cache::put(slot, reply);
                }
                answer
            }
        };
        // The AS exchange this link leads is over once it has its AS-REP (kept
        // for the others, unless the clocks were off): they may go on.
        if preauth
            && answer.as_ref().is_ok_and(|a| a.get(4) == Some(&0x6b))
            && let Ok(mut flight) = self.flight.lock()
        {
            flight.take();
        }
        let result = match &answer {
            Ok(reply) => Ok(reply.clone()),
            Err(e) => Err(sspi::Error::new(
                sspi::ErrorKind::NoAuthenticatingAuthority,
                e.to_string(),
            )),
        };
        if let Ok(mut last) = self.last.lock() {
            *last = Some(answer);
        }
        result
    }
}

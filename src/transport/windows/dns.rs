//! The few DNS questions Kerberos needs answered, asked of the resolver in
//! /etc/resolv.conf: where a realm's KDC is (`_kerberos._tcp.REALM` SRV, RFC 2782)
//! and which name a host known by its address has (PTR under in-addr.arpa or
//! ip6.arpa). A small client of our own: one question per message over UDP, the
//! answer matched by its query ID and question on a socket connected to the
//! server from a kernel-chosen (random) port, TCP when the answer comes truncated.
//! Every length is checked against the bytes received before it is used.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

/// RFC 1035 3.2.2 TYPE values.
pub const TYPE_A: u16 = 1;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_SRV: u16 = 33;
/// RFC 1035 3.2.4: the Internet.
pub const CLASS_IN: u16 = 1;

/// RFC 1035 4.1.1 RCODE values.
const RCODE_NXDOMAIN: u8 = 3;

/// RFC 1035 2.3.4: a name is at most 255 octets on the wire, a label 63.
const MAX_NAME: usize = 255;
const MAX_LABEL: usize = 63;
/// Compression pointers followed for one name. Pointers must also point backwards,
/// so a loop is impossible; the bound keeps a long backward chain cheap.
const MAX_POINTERS: usize = 32;
/// Records read from one section: more than a resolver sends for one question.
const MAX_RECORDS: usize = 256;
/// The largest UDP answer read (a server without EDNS sends at most 512 bytes).
const MAX_UDP: usize = 4096;
/// How long one attempt waits for its answer, and how many attempts follow the first
/// (glibc's resolver: `options timeout:2 attempts:2`).
pub const TIMEOUT: Duration = Duration::from_secs(2);
const RETRIES: usize = 1;

/// A DNS message that is not what RFC 1035 says one is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("the message ends inside {0}")]
    Truncated(&'static str),
    #[error("a name is longer than 255 bytes")]
    NameTooLong,
    #[error("a label has the reserved length prefix {0:#04x}")]
    BadLabel(u8),
    #[error("a compression pointer does not point backwards")]
    PointerForward,
    #[error("a name follows more than {MAX_POINTERS} compression pointers")]
    TooManyPointers,
    #[error("the message has {0} records in one section")]
    TooManyRecords(u16),
    #[error("a {rtype} record's data has the wrong length {len}")]
    BadRdata { rtype: u16, len: u16 },
}

/// Why a question got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("{path} names no nameserver")]
    NoResolver { path: String },
    #[error("the DNS server {server} cannot be reached")]
    Unreachable {
        server: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the DNS server {server} did not answer within {}s, {} times", TIMEOUT.as_secs(), RETRIES + 1)]
    TimedOut { server: SocketAddr },
    #[error("the DNS server {server} sent a malformed answer")]
    Malformed {
        server: SocketAddr,
        #[source]
        source: WireError,
    },
    #[error("the DNS server {server} answered {} for {name}", rcode_name(*.rcode))]
    Failed {
        server: SocketAddr,
        rcode: u8,
        name: String,
    },
    /// NXDOMAIN, or an answer without a record of the type asked.
    #[error("the DNS server {server} has no {kind} record for {name}")]
    NoRecord {
        server: SocketAddr,
        kind: &'static str,
        name: String,
    },
}

/// RFC 1035 4.1.1's names of the error codes, as resolvers print them.
fn rcode_name(rcode: u8) -> String {
    match rcode {
        1 => "FORMERR (it could not read the question)".into(),
        2 => "SERVFAIL (it could not find out)".into(),
        4 => "NOTIMP (it does not answer such questions)".into(),
        5 => "REFUSED (it does not answer this machine)".into(),
        n => format!("error code {n}"),
    }
}

/// RFC 1035 4.1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    pub id: u16,
    /// An answer, not a query.
    pub qr: bool,
    pub opcode: u8,
    pub aa: bool,
    /// Truncated: the whole answer comes over TCP.
    pub tc: bool,
    pub rd: bool,
    pub ra: bool,
    pub rcode: u8,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

/// RFC 1035 4.1.2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Dotted, without the final dot.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
}

/// RFC 2782.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// The RDATA pushinst reads; the rest is skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Ptr(String),
    Srv(Srv),
    Other,
}

/// RFC 1035 4.1.3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub data: RData,
}

/// A whole message. The authority section is read past, not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
    pub additionals: Vec<Record>,
}

/// A cursor over a message, which compression pointers index into.
struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.msg.len());
        let end = end.ok_or(WireError::Truncated(what))?;
        let bytes = &self.msg[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// RFC 1035 4.1.4: labels, possibly ending in a pointer to an earlier name.
    fn name(&mut self) -> Result<String, WireError> {
        let mut labels: Vec<String> = Vec::new();
        let mut wire_len = 1; // the root's zero octet
        let mut at = self.pos;
        // Where the reader continues: after the first pointer, or after the root.
        let mut resume = None;
        let mut pointers = 0;
        loop {
            let len = *self.msg.get(at).ok_or(WireError::Truncated("a name"))?;
            match len & 0xC0 {
                0x00 if len == 0 => {
                    at += 1;
                    break;
                }
                0x00 => {
                    let len = usize::from(len);
                    debug_assert!(len <= MAX_LABEL);
                    wire_len += 1 + len;
                    if wire_len > MAX_NAME {
                        return Err(WireError::NameTooLong);
                    }
                    let label = self
                        .msg
                        .get(at + 1..at + 1 + len)
                        .ok_or(WireError::Truncated("a label"))?;
                    labels.push(String::from_utf8_lossy(label).into_owned());
                    at += 1 + len;
                }
                0xC0 => {
                    let low = *self.msg.get(at + 1).ok_or(WireError::Truncated("a pointer"))?;
                    let target = usize::from(u16::from_be_bytes([len & 0x3F, low]));
                    if target >= at {
                        return Err(WireError::PointerForward);
                    }
                    pointers += 1;
                    if pointers > MAX_POINTERS {
                        return Err(WireError::TooManyPointers);
                    }
                    resume.get_or_insert(at + 2);
                    at = target;
                }
                _ => return Err(WireError::BadLabel(len)),
            }
        }
        self.pos = resume.unwrap_or(at);
        Ok(labels.join("."))
    }

    fn header(&mut self) -> Result<Header, WireError> {
        let id = self.u16("the header")?;
        let flags = self.u16("the header")?;
        Ok(Header {
            id,
            qr: flags & 0x8000 != 0,
            opcode: ((flags >> 11) & 0x0F) as u8,
            aa: flags & 0x0400 != 0,
            tc: flags & 0x0200 != 0,
            rd: flags & 0x0100 != 0,
            ra: flags & 0x0080 != 0,
            rcode: (flags & 0x000F) as u8,
            qdcount: self.u16("the header")?,
            ancount: self.u16("the header")?,
            nscount: self.u16("the header")?,
            arcount: self.u16("the header")?,
        })
    }

    fn question(&mut self) -> Result<Question, WireError> {
        Ok(Question {
            name: self.name()?,
            qtype: self.u16("a question")?,
            qclass: self.u16("a question")?,
        })
    }

    fn record(&mut self) -> Result<Record, WireError> {
        let name = self.name()?;
        let rtype = self.u16("a record")?;
        let class = self.u16("a record")?;
        let ttl = self.u32("a record")?;
        let len = self.u16("a record")?;
        let start = self.pos;
        let rdata = self.take(usize::from(len), "a record's data")?;
        let bad = WireError::BadRdata { rtype, len };
        let data = match rtype {
            TYPE_A => RData::A(Ipv4Addr::from(<[u8; 4]>::try_from(rdata).map_err(|_| bad)?)),
            TYPE_AAAA => RData::Aaaa(Ipv6Addr::from(<[u8; 16]>::try_from(rdata).map_err(|_| bad)?)),
            // Names inside RDATA may be compressed too: read them in the whole message,
            // and insist they end inside this record.
            TYPE_PTR | TYPE_SRV => {
                let mut inner = Reader {
                    msg: &self.msg[..self.pos],
                    pos: start,
                };
                let data = if rtype == TYPE_PTR {
                    RData::Ptr(inner.name()?)
                } else {
                    RData::Srv(Srv {
                        priority: inner.u16("an SRV record")?,
                        weight: inner.u16("an SRV record")?,
                        port: inner.u16("an SRV record")?,
                        target: inner.name()?,
                    })
                };
                if inner.pos != self.pos {
                    return Err(bad);
                }
                data
            }
            _ => RData::Other,
        };
        Ok(Record {
            name,
            rtype,
            class,
            ttl,
            data,
        })
    }

    fn records(&mut self, count: u16) -> Result<Vec<Record>, WireError> {
        if usize::from(count) > MAX_RECORDS {
            return Err(WireError::TooManyRecords(count));
        }
        (0..count).map(|_| self.record()).collect()
    }
}

impl Message {
    /// Parse a whole message (UDP payload, or TCP without its length prefix).
    pub fn parse(msg: &[u8]) -> Result<Message, WireError> {
        let mut r = Reader { msg, pos: 0 };
        let header = r.header()?;
        if usize::from(header.qdcount) > MAX_RECORDS {
            return Err(WireError::TooManyRecords(header.qdcount));
        }
        let questions = (0..header.qdcount)
            .map(|_| r.question())
            .collect::<Result<_, _>>()?;
        // A truncated answer (TC) may end anywhere: keep what is whole.
        let answers = match r.records(header.ancount) {
            Err(WireError::Truncated(_)) if header.tc => Vec::new(),
            other => other?,
        };
        if header.tc {
            return Ok(Message {
                header,
                questions,
                answers,
                additionals: Vec::new(),
            });
        }
        r.records(header.nscount)?;
        let additionals = r.records(header.arcount)?;
        Ok(Message {
            header,
            questions,
            answers,
            additionals,
        })
    }

    /// A query for `name` of type `qtype`, recursion desired.
    pub fn query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::with_capacity(18 + name.len());
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
        out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        let mut wire_len = 1;
        for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
            if label.len() > MAX_LABEL {
                return Err(WireError::BadLabel(0));
            }
            wire_len += 1 + label.len();
            if wire_len > MAX_NAME {
                return Err(WireError::NameTooLong);
            }
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        Ok(out)
    }

    /// Whether this is the answer to the query with `id` about `name` and `qtype`.
    fn answers_query(&self, id: u16, name: &str, qtype: u16) -> bool {
        self.header.id == id
            && self.header.qr
            && self.questions.len() == 1
            && self.questions[0].qtype == qtype
            && self.questions[0]
                .name
                .eq_ignore_ascii_case(name.trim_end_matches('.'))
    }
}

/// The first `nameserver` of a resolv.conf, on port 53.
pub fn nameserver(resolv_conf: &str) -> Option<SocketAddr> {
    resolv_conf.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next()? == "nameserver")
            .then(|| words.next())
            .flatten()
            .and_then(|a| a.split('%').next()?.parse::<IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

/// The resolver this machine uses (in a network namespace, `ip netns exec` puts
/// that namespace's own resolv.conf there).
pub fn system_resolver() -> Result<SocketAddr, DnsError> {
    const PATH: &str = "/etc/resolv.conf";
    let text = std::fs::metadata(PATH)
        .ok()
        .filter(|m| m.len() <= 64 * 1024)
        .and_then(|_| std::fs::read_to_string(Path::new(PATH)).ok())
        .unwrap_or_default();
    nameserver(&text).ok_or_else(|| DnsError::NoResolver { path: PATH.into() })
}

/// The reverse-lookup name of an address (RFC 1035 3.5, RFC 3596 2.5).
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut out = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                out.push_str(&format!("{:x}.{:x}.", byte & 0x0F, byte >> 4));
            }
            out.push_str("ip6.arpa");
            out
        }
    }
}

/// A name pushinst puts into an SPN, a KDC address and messages: letters, digits,
/// `-`, `_` and dots between non-empty labels. A server's answer may hold any bytes.
pub fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// RFC 2782's order among records of one priority is random by weight; pushinst
/// takes one server, so it takes the lowest priority and, in it, the heaviest.
pub fn best_srv(records: &[Srv]) -> Option<&Srv> {
    records
        .iter()
        // A target of "." means the service is decidedly not offered here.
        .filter(|s| !s.target.is_empty())
        .min_by_key(|s| (s.priority, std::cmp::Reverse(s.weight)))
}

/// Ask `server` about `name` (type `qtype`): the answer's message.
pub fn ask(server: SocketAddr, name: &str, qtype: u16) -> Result<Message, DnsError> {
    let malformed = |source| DnsError::Malformed { server, source };
    let mut id = [0u8; 2];
    if getrandom::fill(&mut id).is_err() {
        // Without randomness the query ID is guessable; the clock still varies it.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        id = (nanos as u16).to_be_bytes();
    }
    let id = u16::from_be_bytes(id);
    let query = Message::query(id, name, qtype).map_err(malformed)?;
    let unreachable = |source| DnsError::Unreachable { server, source };
    let bind: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    // A connected socket: the kernel drops datagrams from anyone but the server.
    let socket = UdpSocket::bind(bind).map_err(unreachable)?;
    socket.connect(server).map_err(unreachable)?;
    let mut buf = vec![0u8; MAX_UDP];
    for _ in 0..=RETRIES {
        socket.send(&query).map_err(unreachable)?;
        let deadline = Instant::now() + TIMEOUT;
        while let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        {
            socket.set_read_timeout(Some(left)).map_err(unreachable)?;
            let n = match socket.recv(&mut buf) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break;
                }
                Err(e) => return Err(unreachable(e)),
            };
            // Anything that is not the answer to this query is ignored, not believed.
            let Ok(message) = Message::parse(&buf[..n]) else {
                continue;
            };
            if !message.answers_query(id, name, qtype) {
                continue;
            }
            if message.header.tc {
                return ask_tcp(server, name, qtype, id, &query);
            }
            return Ok(message);
        }
    }
    Err(DnsError::TimedOut { server })
}

/// The same query over TCP (RFC 1035 4.2.2), for an answer too long for UDP.
fn ask_tcp(server: SocketAddr, name: &str, qtype: u16, id: u16, query: &[u8]) -> Result<Message, DnsError> {
    let unreachable = |source| DnsError::Unreachable { server, source };
    let mut stream = TcpStream::connect_timeout(&server, TIMEOUT).map_err(unreachable)?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(unreachable)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(unreachable)?;
    let mut framed = Vec::with_capacity(2 + query.len());
    framed.extend_from_slice(&(query.len() as u16).to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).map_err(unreachable)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).map_err(unreachable)?;
    // At most 64 KiB: the two-byte length is the bound.
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut answer).map_err(unreachable)?;
    let message = Message::parse(&answer).map_err(|source| DnsError::Malformed { server, source })?;
    if !message.answers_query(id, name, qtype) || message.header.tc {
        return Err(DnsError::Malformed {
            server,
            source: WireError::Truncated("the TCP answer"),
        });
    }
    Ok(message)
}

/// NXDOMAIN is "no such record"; any other error code is the server's failure.
fn check_rcode(
    server: SocketAddr,
    message: &Message,
    kind: &'static str,
    name: &str,
) -> Result<(), DnsError> {
    match message.header.rcode {
        0 => Ok(()),
        RCODE_NXDOMAIN => Err(DnsError::NoRecord {
            server,
            kind,
            name: name.to_string(),
        }),
        rcode => Err(DnsError::Failed {
            server,
            rcode,
            name: name.to_string(),
        }),
    }
}

/// The SRV records for `name` (`_kerberos._tcp.REALM`), best first.
pub fn srv(server: SocketAddr, name: &str) -> Result<Vec<Srv>, DnsError> {
    let message = ask(server, name, TYPE_SRV)?;
    check_rcode(server, &message, "SRV", name)?;
    let mut records: Vec<Srv> = message
        .answers
        .into_iter()
        .filter_map(|r| match r.data {
            RData::Srv(srv)
                if r.class == CLASS_IN && (srv.target.is_empty() || is_host_name(&srv.target)) =>
            {
                Some(srv)
            }
            _ => None,
        })
        .collect();
    records.sort_by_key(|s| (s.priority, std::cmp::Reverse(s.weight)));
    if best_srv(&records).is_none() {
        return Err(DnsError::NoRecord {
            server,
            kind: "SRV",
            name: name.to_string(),
        });
    }
    Ok(records)
}

/// The name the PTR record of `ip` gives.
pub fn ptr(server: SocketAddr, ip: IpAddr) -> Result<String, DnsError> {
    let name = reverse_name(ip);
    let message = ask(server, &name, TYPE_PTR)?;
    check_rcode(server, &message, "PTR", &name)?;
    message
        .answers
        .into_iter()
        .find_map(|r| match r.data {
            RData::Ptr(target) if r.class == CLASS_IN && is_host_name(&target) => Some(target),
            _ => None,
        })
        .ok_or(DnsError::NoRecord {
            server,
            kind: "PTR",
            name,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&flags.to_be_bytes());
        for c in counts {
            out.extend_from_slice(&c.to_be_bytes());
        }
        out
    }

    /// An SRV answer as Samba's DNS gives it: the target compressed against the question.
    fn srv_answer() -> Vec<u8> {
        let mut msg = Message::query(0x1234, "_kerberos._tcp.EXAMPLE.TEST", TYPE_SRV).unwrap();
        msg[2..4].copy_from_slice(&0x8580u16.to_be_bytes());
        msg[6..8].copy_from_slice(&2u16.to_be_bytes());
        for (priority, weight, target) in [(10u16, 5u16, b"dc2"), (0, 100, b"dc1")] {
            msg.extend_from_slice(&[0xC0, 12]); // the question's name
            msg.extend_from_slice(&TYPE_SRV.to_be_bytes());
            msg.extend_from_slice(&CLASS_IN.to_be_bytes());
            msg.extend_from_slice(&900u32.to_be_bytes());
            msg.extend_from_slice(&(6u16 + 1 + 3 + 2).to_be_bytes());
            msg.extend_from_slice(&priority.to_be_bytes());
            msg.extend_from_slice(&weight.to_be_bytes());
            msg.extend_from_slice(&88u16.to_be_bytes());
            msg.push(3);
            msg.extend_from_slice(target);
            // "EXAMPLE.TEST" of the question: offset 12 + 1 + 9 + 1 + 4.
            msg.extend_from_slice(&[0xC0, 27]);
        }
        msg
    }

    #[test]
    fn reads_a_compressed_srv_answer_and_picks_the_lowest_priority() {
        let message = Message::parse(&srv_answer()).unwrap();
        assert!(message.answers_query(0x1234, "_kerberos._tcp.example.test", TYPE_SRV));
        assert!(!message.answers_query(0x1235, "_kerberos._tcp.example.test", TYPE_SRV));
        let srvs: Vec<Srv> = message
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::Srv(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(srvs.len(), 2);
        assert_eq!(message.answers[0].name, "_kerberos._tcp.EXAMPLE.TEST");
        let best = best_srv(&srvs).unwrap();
        assert_eq!((best.target.as_str(), best.port), ("dc1.EXAMPLE.TEST", 88));
    }

    #[test]
    fn among_equal_priorities_the_heaviest_wins() {
        let s = |priority, weight, target: &str| Srv {
            priority,
            weight,
            port: 88,
            target: target.into(),
        };
        let records = [s(1, 10, "a"), s(1, 60, "b"), s(0, 0, ""), s(2, 100, "c")];
        assert_eq!(best_srv(&records).unwrap().target, "b");
    }

    #[test]
    fn every_cut_of_an_answer_is_an_error_never_a_panic() {
        let msg = srv_answer();
        for cut in 0..msg.len() {
            assert!(Message::parse(&msg[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn a_truncated_answer_keeps_its_whole_records_only() {
        let mut msg = srv_answer();
        msg[2] |= 0x02; // TC
        let cut = msg.len() - 5;
        let message = Message::parse(&msg[..cut]).unwrap();
        assert!(message.header.tc);
        assert!(message.answers.is_empty());
    }

    #[test]
    fn compression_loops_and_forward_pointers_are_refused() {
        // A pointer to itself.
        let mut msg = header(1, 0x8000, [1, 0, 0, 0]);
        msg.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
        assert_eq!(Message::parse(&msg), Err(WireError::PointerForward));
        // Two pointers to each other: the second points forward.
        let mut msg = header(1, 0x8000, [1, 0, 0, 0]);
        msg.extend_from_slice(&[0xC0, 14, 0xC0, 12, 0, 1, 0, 1]);
        assert_eq!(Message::parse(&msg), Err(WireError::PointerForward));
        // A long chain of backward pointers (kept in an unread record's data)
        // stops at the bound.
        let mut msg = header(1, 0x8000, [0, 2, 0, 0]);
        msg.push(0);
        msg.extend_from_slice(&[0, 99, 0, 1, 0, 0, 0, 0]);
        msg.extend_from_slice(&(1u16 + 2 * 40).to_be_bytes());
        let mut prev = msg.len();
        msg.push(0);
        for _ in 0..40 {
            let at = msg.len();
            msg.extend_from_slice(&(0xC000 | prev as u16).to_be_bytes());
            prev = at;
        }
        msg.extend_from_slice(&(0xC000 | prev as u16).to_be_bytes());
        msg.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Message::parse(&msg), Err(WireError::TooManyPointers));
    }

    #[test]
    fn names_longer_than_255_bytes_and_reserved_labels_are_refused() {
        let mut msg = header(1, 0x8000, [1, 0, 0, 0]);
        for _ in 0..5 {
            msg.push(63);
            msg.extend_from_slice(&[b'a'; 63]);
        }
        msg.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(Message::parse(&msg), Err(WireError::NameTooLong));
        let mut msg = header(1, 0x8000, [1, 0, 0, 0]);
        msg.extend_from_slice(&[0x40, 0, 0, 1, 0, 1]);
        assert_eq!(Message::parse(&msg), Err(WireError::BadLabel(0x40)));
        assert_eq!(
            Message::parse(&header(1, 0x8000, [0, 1000, 0, 0])),
            Err(WireError::TooManyRecords(1000))
        );
    }

    #[test]
    fn an_srv_record_whose_name_overruns_its_data_is_refused() {
        let mut msg = srv_answer();
        // The first record's RDLENGTH one short: its target ends past its data.
        let at = 12 + 29 + 4 + 2 + 2 + 2 + 4;
        assert_eq!(&msg[at..at + 2], &12u16.to_be_bytes());
        msg[at + 1] = 11;
        assert!(Message::parse(&msg).is_err());
    }

    /// A DNS server on this machine that first sends an answer to another query ID,
    /// then the answer truncated over UDP, and the whole answer over TCP.
    #[test]
    fn a_stray_answer_is_ignored_and_a_truncated_one_is_asked_again_over_tcp() {
        let (udp, tcp) = loop {
            let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            if let Ok(udp) = UdpSocket::bind(tcp.local_addr().unwrap()) {
                break (udp, tcp);
            }
        };
        let server = tcp.local_addr().unwrap();
        let answer_to = |query: &[u8]| {
            let mut answer = srv_answer();
            answer[..2].copy_from_slice(&query[..2]);
            answer
        };
        let udp_side = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let (n, from) = udp.recv_from(&mut buf).unwrap();
            let mut stray = answer_to(&buf[..n]);
            stray[1] ^= 1;
            udp.send_to(&stray, from).unwrap();
            let mut truncated = answer_to(&buf[..n]);
            truncated[2] |= 0x02;
            udp.send_to(&truncated[..truncated.len() - 20], from).unwrap();
        });
        let tcp_side = std::thread::spawn(move || {
            let (mut stream, _) = tcp.accept().unwrap();
            let mut len = [0u8; 2];
            stream.read_exact(&mut len).unwrap();
            let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
            stream.read_exact(&mut query).unwrap();
            let answer = answer_to(&query);
            stream.write_all(&(answer.len() as u16).to_be_bytes()).unwrap();
            stream.write_all(&answer).unwrap();
        });
        let records = srv(server, "_kerberos._tcp.EXAMPLE.TEST").unwrap();
        udp_side.join().unwrap();
        tcp_side.join().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].target, "dc1.EXAMPLE.TEST");
        assert_eq!(records[0].port, 88);
    }

    #[test]
    fn only_host_names_are_taken_from_answers() {
        assert!(is_host_name("dc1.example.test"));
        assert!(is_host_name("_x-1.EXAMPLE"));
        for bad in ["", "a..b", "a b", "a/b", "dc1.example.test\u{0}", "ä.test", "."] {
            assert!(!is_host_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn reverse_names_and_resolv_conf() {
        assert_eq!(
            reverse_name("10.81.3.5".parse().unwrap()),
            "5.3.81.10.in-addr.arpa"
        );
        let v6 = reverse_name("2001:db8::567:89ab".parse().unwrap());
        assert_eq!(
            v6,
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
        assert_eq!(
            nameserver("# x\nsearch example.test\nnameserver 10.81.0.1\nnameserver 1.1.1.1\n"),
            Some("10.81.0.1:53".parse().unwrap())
        );
        assert_eq!(
            nameserver("nameserver fe80::1%eth0\n"),
            Some("[fe80::1]:53".parse().unwrap())
        );
        assert_eq!(nameserver("search x\n"), None);
    }

    #[test]
    fn a_query_is_one_question_with_recursion_desired() {
        let q = Message::query(7, "1.0.81.10.in-addr.arpa.", TYPE_PTR).unwrap();
        let m = Message::parse(&q).unwrap();
        assert_eq!(m.header.id, 7);
        assert!(m.header.rd && !m.header.qr);
        assert_eq!(m.questions[0].name, "1.0.81.10.in-addr.arpa");
        assert_eq!(m.questions[0].qtype, TYPE_PTR);
        assert!(Message::query(7, &"a".repeat(64), TYPE_A).is_err());
    }
}

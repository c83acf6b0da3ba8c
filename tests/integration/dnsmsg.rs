//! DNS messages for the integration tests: encoding queries byte by byte and
//! normalising responses into a form two servers' answers can be compared in.
//!
//! Queries are written by hand rather than through a library so that every
//! bit the tests care about (qname case, RD/CD, EDNS version, buffer size,
//! DO) is exactly what the test asked for. Responses are decoded with
//! `hickory-proto` (a dev-dependency only; the engines never see it here) and
//! reduced to a [`Normalised`] value: what a resolver relies on, with
//! everything that is implementation-defined by the RFCs left out. See
//! [`normalise`] for the rules.

use std::collections::BTreeSet;
use std::fmt;

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, Record};

/// Record type numbers the tests use by name.
pub mod qtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Name server.
    pub const NS: u16 = 2;
    /// Canonical name.
    pub const CNAME: u16 = 5;
    /// Start of authority.
    pub const SOA: u16 = 6;
    /// Domain name pointer.
    pub const PTR: u16 = 12;
    /// Host information.
    pub const HINFO: u16 = 13;
    /// Mail exchange.
    pub const MX: u16 = 15;
    /// Text.
    pub const TXT: u16 = 16;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
    /// Service locator.
    pub const SRV: u16 = 33;
    /// Naming authority pointer.
    pub const NAPTR: u16 = 35;
    /// Delegation name.
    pub const DNAME: u16 = 39;
    /// Delegation signer.
    pub const DS: u16 = 43;
    /// SSH fingerprint.
    pub const SSHFP: u16 = 44;
    /// TLS association.
    pub const TLSA: u16 = 52;
    /// Certification authority authorisation.
    pub const CAA: u16 = 257;
    /// Any type (RFC 8482 answers).
    pub const ANY: u16 = 255;
    /// The unknown type of the test zones (RFC 3597).
    pub const TYPE65000: u16 = 65000;
    /// A type no zone holds.
    pub const TYPE65123: u16 = 65123;

    /// The mnemonic of `t`, or `TYPEn`.
    pub fn name(t: u16) -> String {
        match hickory_proto::rr::RecordType::from(t) {
            hickory_proto::rr::RecordType::Unknown(_) => format!("TYPE{t}"),
            known => known.to_string(),
        }
    }
}

/// EDNS parameters of a query (RFC 6891).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdnsSpec {
    /// Advertised UDP payload size.
    pub bufsize: u16,
    /// The DO bit (RFC 3225).
    pub do_bit: bool,
    /// EDNS version; anything but 0 must get BADVERS.
    pub version: u8,
}

/// Which transport a query is sent over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// One datagram each way.
    Udp,
    /// Two-octet length prefix over a stream (RFC 7766).
    Tcp,
}

/// One query of the differential suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySpec {
    /// The qname, in the case it is sent with.
    pub name: Name,
    /// The qtype.
    pub qtype: u16,
    /// The qclass (1 = IN, 3 = CH).
    pub qclass: u16,
    /// The opcode (0 = QUERY); others must get NOTIMP or a sensible error.
    pub opcode: u8,
    /// The RD bit; an authoritative server copies it and never recurses.
    pub rd: bool,
    /// The CD bit, copied into the response.
    pub cd: bool,
    /// OPT record to send, if any.
    pub edns: Option<EdnsSpec>,
    /// Transport.
    pub proto: Proto,
}

impl QuerySpec {
    /// A plain query: IN class, RD clear, EDNS with 1232 octets, over UDP.
    pub fn new(name: Name, qtype: u16) -> Self {
        QuerySpec {
            name,
            qtype,
            qclass: 1,
            opcode: 0,
            rd: false,
            cd: false,
            edns: Some(EdnsSpec {
                bufsize: 1232,
                do_bit: false,
                version: 0,
            }),
            proto: Proto::Udp,
        }
    }

    /// Encode the query with message id `id`.
    pub fn encode(&self, id: u16) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&id.to_be_bytes());
        let mut flags: u16 = u16::from(self.opcode & 0x0f) << 11; // QR clear.
        if self.rd {
            flags |= 0x0100;
        }
        if self.cd {
            flags |= 0x0010;
        }
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());
        out.extend_from_slice(&u16::from(self.edns.is_some()).to_be_bytes());
        for label in self.name.iter() {
            out.push(label.len() as u8);
            out.extend_from_slice(label);
        }
        out.push(0);
        out.extend_from_slice(&self.qtype.to_be_bytes());
        out.extend_from_slice(&self.qclass.to_be_bytes());
        if let Some(edns) = self.edns {
            out.push(0); // root owner
            out.extend_from_slice(&41u16.to_be_bytes());
            out.extend_from_slice(&edns.bufsize.to_be_bytes());
            out.push(0); // extended rcode
            out.push(edns.version);
            let eflags: u16 = if edns.do_bit { 0x8000 } else { 0 };
            out.extend_from_slice(&eflags.to_be_bytes());
            out.extend_from_slice(&0u16.to_be_bytes()); // no options
        }
        out
    }
}

impl fmt::Display for QuerySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.name,
            class_name(self.qclass),
            qtype::name(self.qtype)
        )?;
        write!(
            f,
            " {}",
            if self.proto == Proto::Udp {
                "udp"
            } else {
                "tcp"
            }
        )?;
        match self.edns {
            None => write!(f, " noedns")?,
            Some(e) => {
                write!(f, " edns{}/{}", e.version, e.bufsize)?;
                if e.do_bit {
                    write!(f, "+do")?;
                }
            }
        }
        if self.opcode != 0 {
            write!(f, " opcode{}", self.opcode)?;
        }
        if self.rd {
            write!(f, " +rd")?;
        }
        if self.cd {
            write!(f, " +cd")?;
        }
        Ok(())
    }
}

/// A response reduced to what the differential test compares.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Normalised {
    /// No response before the deadline.
    NoResponse,
    /// Bytes came back that do not decode as a DNS message.
    Garbled(String),
    /// A decoded response.
    Message(Box<NormMessage>),
}

/// The compared parts of a decoded response.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NormMessage {
    /// Full RCODE: header low four bits plus the OPT extended bits.
    pub rcode: u16,
    /// Opcode from the header.
    pub opcode: u8,
    /// The flags QR AA TC RD RA AD CD that are set, in that order.
    pub flags: Vec<&'static str>,
    /// The question section, qname case as sent back.
    pub question: Vec<String>,
    /// OPT: `None` when absent, else version and DO bit.
    pub opt: Option<(u8, bool)>,
    /// The answer section as a sorted set.
    pub answer: BTreeSet<String>,
    /// The authority section as a sorted set.
    pub authority: BTreeSet<String>,
}

/// Decode and normalise `wire`, the response to a query with id `id`.
///
/// The rules, and why:
/// - RCODE includes the extended bits from OPT, so BADVERS is seen as 16.
/// - Flags QR, AA, TC, RD, RA, AD, CD are compared; Z is not (must be 0).
/// - The question is compared as sent back, case included: RFC 1035 has
///   the server copy it, and resolvers using 0x20 case randomisation check it.
/// - Answer and authority are compared as sets, because RRset order and
///   record order within an RRset are not significant (servers may rotate).
///   Owners are lowercased (compression makes their case depend on the
///   qname's case); TTLs and RDATA are compared exactly.
/// - The additional section (other than OPT) is left out: which glue and
///   address records a server adds is implementation-defined (RFC 1034
///   4.3.2 step 6 says "may"), and so is the OPT payload size.
/// - With TC=1 the partial sections are compared too: Knot DNS and NSD both
///   keep the whole RRsets that fit, in order, and stop at the first one that
///   does not, so what a truncated answer holds is not implementation-defined.
pub fn normalise(wire: &[u8], id: u16) -> Normalised {
    if wire.len() < 12 {
        return Normalised::Garbled(format!("{} octets, shorter than a header", wire.len()));
    }
    let got_id = u16::from_be_bytes([wire[0], wire[1]]);
    if got_id != id {
        return Normalised::Garbled(format!("id {got_id}, expected {id}"));
    }
    let hflags = u16::from_be_bytes([wire[2], wire[3]]);
    let msg = match Message::from_vec(wire) {
        Ok(m) => m,
        Err(e) => return Normalised::Garbled(format!("undecodable ({e}): {}", hex(wire))),
    };
    let mut flags = Vec::new();
    for (bit, name) in [
        (0x8000, "qr"),
        (0x0400, "aa"),
        (0x0200, "tc"),
        (0x0100, "rd"),
        (0x0080, "ra"),
        (0x0020, "ad"),
        (0x0010, "cd"),
    ] {
        if hflags & bit != 0 {
            flags.push(name);
        }
    }
    let low = hflags & 0x000f;
    let high = msg.edns.as_ref().map_or(0, |e| u16::from(e.rcode_high()));
    let opt = msg
        .edns
        .as_ref()
        .map(|e| (e.version(), e.flags().dnssec_ok));
    let question = msg
        .queries
        .iter()
        .map(|q| {
            let t = qtype::name(q.query_type().into());
            format!("{} {} {t}", q.name(), class_name(q.query_class().into()))
        })
        .collect();
    let section =
        |records: &[Record]| -> BTreeSet<String> { records.iter().map(record_line).collect() };
    Normalised::Message(Box::new(NormMessage {
        rcode: (high << 4) | low,
        opcode: ((hflags >> 11) & 0x0f) as u8,
        flags,
        question,
        opt,
        answer: section(&msg.answers),
        authority: section(&msg.authorities),
    }))
}

/// One record in presentation form with the owner and the domain names in
/// the RDATA lowercased.
fn record_line(r: &Record) -> String {
    let rtype = r.record_type();
    let rdata = lowercase_rdata_names(&qtype::name(rtype.into()), &r.data.to_string());
    format!(
        "{} {} {} {} {rdata}",
        r.name.to_lowercase(),
        r.ttl,
        r.dns_class,
        qtype::name(rtype.into())
    )
}

/// `rdata` (presentation form) with the domain names it holds lowercased.
///
/// Names in RDATA compare case-insensitively (RFC 4343), and their case on
/// the wire depends on compression: a server that compresses a target
/// against the qname sends the qname's case, one that does not sends the
/// zone file's. So the case of names is not compared; the case of text
/// (TXT, HINFO, CAA values) is.
fn lowercase_rdata_names(rtype: &str, rdata: &str) -> String {
    let positions: &[usize] = match rtype {
        "NS" | "CNAME" | "PTR" | "DNAME" => &[0],
        "MX" => &[1],
        "SRV" => &[3],
        "SOA" | "RP" => &[0, 1],
        "NAPTR" => &[5],
        _ => &[],
    };
    if positions.is_empty() {
        return rdata.to_string();
    }
    rdata
        .split(' ')
        .enumerate()
        .map(|(i, t)| {
            if positions.contains(&i) {
                t.to_ascii_lowercase()
            } else {
                t.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The mnemonic of class `c`, or `CLASSn` (RFC 3597).
pub fn class_name(c: u16) -> String {
    match c {
        1 => "IN".into(),
        3 => "CH".into(),
        4 => "HS".into(),
        254 => "NONE".into(),
        255 => "ANY".into(),
        n => format!("CLASS{n}"),
    }
}

/// Lowercase hex of `bytes`, for undecodable responses.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The name of an RCODE value.
pub fn rcode_name(rcode: u16) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        9 => "NOTAUTH".into(),
        16 => "BADVERS".into(),
        n => format!("RCODE{n}"),
    }
}

impl fmt::Display for Normalised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Normalised::NoResponse => writeln!(f, "    (no response)"),
            Normalised::Garbled(why) => writeln!(f, "    (garbled: {why})"),
            Normalised::Message(m) => {
                writeln!(
                    f,
                    "    {} opcode {} flags [{}] opt {}",
                    rcode_name(m.rcode),
                    m.opcode,
                    m.flags.join(" "),
                    match m.opt {
                        None => "none".to_string(),
                        Some((v, d)) => format!("v{v}{}", if d { " do" } else { "" }),
                    }
                )?;
                for q in &m.question {
                    writeln!(f, "    question:  {q}")?;
                }
                for r in &m.answer {
                    writeln!(f, "    answer:    {r}")?;
                }
                for r in &m.authority {
                    writeln!(f, "    authority: {r}")?;
                }
                Ok(())
            }
        }
    }
}

impl Normalised {
    /// A one-line category for summaries: RCODE, flags and section sizes.
    pub fn shape(&self) -> String {
        match self {
            Normalised::NoResponse => "no-response".into(),
            Normalised::Garbled(_) => "garbled".into(),
            Normalised::Message(m) => format!(
                "{} [{}] an={} ns={}",
                rcode_name(m.rcode),
                m.flags.join(" "),
                m.answer.len(),
                m.authority.len()
            ),
        }
    }

    /// Where `self` and `other` differ, in words (every compared part that
    /// differs), for grouping disagreements into categories.
    pub fn difference(&self, other: &Normalised) -> String {
        match (self, other) {
            (Normalised::Message(a), Normalised::Message(b)) => {
                let mut parts = Vec::new();
                if a.rcode != b.rcode {
                    parts.push(format!(
                        "rcode {} vs {}",
                        rcode_name(a.rcode),
                        rcode_name(b.rcode)
                    ));
                }
                if a.flags != b.flags {
                    parts.push(format!(
                        "flags [{}] vs [{}]",
                        a.flags.join(" "),
                        b.flags.join(" ")
                    ));
                }
                if a.question != b.question {
                    parts.push(format!(
                        "question ({} vs {})",
                        a.question.len(),
                        b.question.len()
                    ));
                }
                if a.opt != b.opt {
                    let show =
                        |o: Option<(u8, bool)>| o.map_or("none".into(), |(v, _)| format!("v{v}"));
                    parts.push(format!("opt {} vs {}", show(a.opt), show(b.opt)));
                }
                if a.answer != b.answer {
                    parts.push(format!(
                        "answer ({} vs {} records)",
                        a.answer.len(),
                        b.answer.len()
                    ));
                }
                if a.authority != b.authority {
                    parts.push(format!(
                        "authority ({} vs {} records)",
                        a.authority.len(),
                        b.authority.len()
                    ));
                }
                if parts.is_empty() {
                    "equal".into()
                } else {
                    parts.join(", ")
                }
            }
            _ => format!("{} vs {}", self.shape(), other.shape()),
        }
    }
}

/// Regression tests of the encoder and normaliser themselves.
mod tests {
    use super::*;

    /// A query written by hand decodes as the query that was asked for.
    #[test]
    fn encoded_query_decodes_as_asked() {
        let mut q = QuerySpec::new(Name::from_ascii("WwW.Example.COM.").unwrap(), qtype::TXT);
        q.rd = true;
        q.cd = true;
        q.opcode = 2;
        q.edns = Some(EdnsSpec {
            bufsize: 777,
            do_bit: true,
            version: 1,
        });
        let msg = Message::from_vec(&q.encode(0x1234)).unwrap();
        assert_eq!(msg.metadata.id, 0x1234);
        assert!(msg.metadata.recursion_desired && msg.metadata.checking_disabled);
        assert_eq!(u8::from(msg.metadata.op_code), 2);
        assert_eq!(msg.queries[0].name().to_string(), "WwW.Example.COM.");
        let edns = msg.edns.unwrap();
        assert_eq!(
            (edns.max_payload(), edns.version(), edns.flags().dnssec_ok),
            (777, 1, true)
        );
    }

    /// Names inside RDATA lose their case; text keeps it.
    #[test]
    fn rdata_names_are_lowercased_but_not_text() {
        assert_eq!(
            lowercase_rdata_names("MX", "10 Mail.Example.COM."),
            "10 mail.example.com."
        );
        assert_eq!(
            lowercase_rdata_names("SRV", "1 2 3 Sip.Example.com."),
            "1 2 3 sip.example.com."
        );
        assert_eq!(
            lowercase_rdata_names("TXT", "\"Mixed Case\""),
            "\"Mixed Case\""
        );
    }

    /// Truncated responses keep the records they carry.
    #[test]
    fn truncated_response_keeps_sections() {
        // Header: id 7, QR AA TC, one question, one answer.
        let mut wire = vec![0, 7, 0x86, 0x00, 0, 1, 0, 1, 0, 0, 0, 0];
        wire.extend_from_slice(b"\x01a\x00\x00\x01\x00\x01");
        wire.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        let Normalised::Message(m) = normalise(&wire, 7) else {
            panic!("not decoded")
        };
        assert_eq!(m.flags, ["qr", "aa", "tc"]);
        assert_eq!(m.answer.len(), 1);
        assert_eq!(m.question, ["a. IN A"]);
    }
}

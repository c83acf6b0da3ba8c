//! The native wire codec: a bounds-checked [`Reader`] over untrusted bytes,
//! request decoding in stages, and a [`Writer`] that compresses names and
//! knows how much room is left.
//!
//! Nothing here indexes a slice with an unchecked offset: every read goes
//! through the reader, which returns [`WireError`] instead of panicking.
//!
//! ```
//! use stripedns::engine::native::wire::Reader;
//! let mut r = Reader::new(&[0x12, 0x34, 0x01]);
//! assert_eq!(r.u16().unwrap(), 0x1234);
//! assert!(r.u16().is_err()); // only one octet left
//! ```

use super::name::{MAX_LABEL, MAX_NAME};

/// Why a message could not be decoded. Small and `Copy`; each maps to the
/// RCODE the request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The message ended inside a field.
    Short,
    /// A label longer than 63 octets, or a reserved label type.
    BadLabel,
    /// A name longer than 255 octets.
    LongName,
    /// A compression pointer that does not point strictly backward.
    BadPointer,
    /// Octets left over after the last record.
    Trailing,
    /// A malformed OPT record (outside the additional section, or more
    /// than one).
    BadOpt,
}

/// A cursor over a message: every read is checked against the end.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    /// The whole message (names may point anywhere before the cursor).
    msg: &'a [u8],
    /// Offset of the next octet to read.
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `msg`.
    pub fn new(msg: &'a [u8]) -> Reader<'a> {
        Reader { msg, pos: 0 }
    }

    /// Offset of the next octet.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Octets left.
    pub fn remaining(&self) -> usize {
        self.msg.len() - self.pos
    }

    /// Take the next `n` octets.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::Short)?;
        let bytes = self.msg.get(self.pos..end).ok_or(WireError::Short)?;
        self.pos = end;
        Ok(bytes)
    }

    /// One octet.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    /// A big-endian 16-bit value.
    pub fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A big-endian 32-bit value.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Read a possibly compressed name, writing its uncompressed wire form
    /// into `out` (cleared first). Returns the length written.
    pub fn name(&mut self, out: &mut NameBuf) -> Result<(), WireError> {
        out.len = 0;
        // Where the cursor continues after the name: after the first pointer
        // or after the root label.
        let mut resume: Option<usize> = None;
        let mut at = self.pos;
        // RFC 1035 4.1.4: a pointer refers to "a prior occurrence of the
        // same name"; only strictly backward pointers are accepted, which
        // also rules out loops. `floor` is the start of the piece being read.
        let mut floor = self.pos;
        loop {
            let len = *self.msg.get(at).ok_or(WireError::Short)?;
            match len & 0xC0 {
                0x00 => {
                    let len = usize::from(len);
                    let label = self.msg.get(at + 1..at + 1 + len).ok_or(WireError::Short)?;
                    // RFC 1035 2.3.4: names are 255 octets or less.
                    if usize::from(out.len) + 1 + len > MAX_NAME {
                        return Err(WireError::LongName);
                    }
                    out.push_label(label);
                    at += 1 + len;
                    if len == 0 {
                        break;
                    }
                }
                0xC0 => {
                    let low = *self.msg.get(at + 1).ok_or(WireError::Short)?;
                    let target = usize::from(u16::from_be_bytes([len & 0x3F, low]));
                    if target >= floor {
                        return Err(WireError::BadPointer);
                    }
                    if resume.is_none() {
                        resume = Some(at + 2);
                    }
                    floor = target;
                    at = target;
                }
                // RFC 6891 5: extended label types (0x40, 0x80) are not used.
                _ => return Err(WireError::BadLabel),
            }
        }
        self.pos = resume.unwrap_or(at);
        Ok(())
    }
}

/// A name decoded into a fixed buffer: no allocation per query.
#[derive(Clone)]
pub struct NameBuf {
    /// Uncompressed wire octets, case as received.
    buf: [u8; MAX_NAME],
    /// Octets in use.
    len: u16,
}

impl Default for NameBuf {
    fn default() -> NameBuf {
        NameBuf {
            buf: [0; MAX_NAME],
            len: 0,
        }
    }
}

impl std::fmt::Debug for NameBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NameBuf({:?})", self.as_wire())
    }
}

impl NameBuf {
    fn push_label(&mut self, label: &[u8]) {
        let at = usize::from(self.len);
        self.buf[at] = label.len() as u8;
        self.buf[at + 1..at + 1 + label.len()].copy_from_slice(label);
        self.len += 1 + label.len() as u16;
    }

    /// The uncompressed wire form.
    pub fn as_wire(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// Replace the contents with an uncompressed wire name known to be
    /// valid.
    pub fn set(&mut self, wire: &[u8]) {
        let n = wire.len().min(MAX_NAME);
        self.buf[..n].copy_from_slice(&wire[..n]);
        self.len = n as u16;
    }

    /// Lowercase in place (for lookup keys).
    pub fn make_lowercase(&mut self) {
        let n = usize::from(self.len);
        self.buf[..n].make_ascii_lowercase();
    }
}

/// Header flag bits (second and third octets, as one u16).
pub mod flags {
    /// Response.
    pub const QR: u16 = 0x8000;
    /// Authoritative answer.
    pub const AA: u16 = 0x0400;
    /// Truncated.
    pub const TC: u16 = 0x0200;
    /// Recursion desired.
    pub const RD: u16 = 0x0100;
    /// Recursion available.
    pub const RA: u16 = 0x0080;
    /// Reserved Z bit.
    pub const Z: u16 = 0x0040;
    /// Authentic data.
    pub const AD: u16 = 0x0020;
    /// Checking disabled.
    pub const CD: u16 = 0x0010;
}

/// Response codes (the low four bits, plus extended ones via OPT).
pub mod rcode {
    /// No error.
    pub const NOERROR: u16 = 0;
    /// Format error.
    pub const FORMERR: u16 = 1;
    /// Server failure.
    pub const SERVFAIL: u16 = 2;
    /// Name error.
    pub const NXDOMAIN: u16 = 3;
    /// Not implemented.
    pub const NOTIMP: u16 = 4;
    /// Refused.
    pub const REFUSED: u16 = 5;
    /// RFC 6672: the DNAME substitution does not fit.
    pub const YXDOMAIN: u16 = 6;
    /// RFC 6891: unsupported EDNS version (extended).
    pub const BADVERS: u16 = 16;
}

/// The fixed header of a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Header {
    /// Message ID, echoed.
    pub id: u16,
    /// Flags, opcode and rcode as on the wire.
    pub flags: u16,
    /// Section counts.
    pub qdcount: u16,
    /// Answer count.
    pub ancount: u16,
    /// Authority count.
    pub nscount: u16,
    /// Additional count.
    pub arcount: u16,
}

impl Header {
    /// Decode the 12-octet header.
    pub fn read(r: &mut Reader<'_>) -> Result<Header, WireError> {
        Ok(Header {
            id: r.u16()?,
            flags: r.u16()?,
            qdcount: r.u16()?,
            ancount: r.u16()?,
            nscount: r.u16()?,
            arcount: r.u16()?,
        })
    }

    /// The opcode field.
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xF) as u8
    }
}

/// The EDNS part of a request (RFC 6891).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Edns {
    /// The requestor's UDP payload size.
    pub udp_size: u16,
    /// EDNS version.
    pub version: u8,
    /// DNSSEC OK bit.
    pub dnssec_ok: bool,
    /// The requestor asked for NSID (RFC 5001).
    pub nsid: bool,
}

/// A decoded request: header, the question, and EDNS if present.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The header as received.
    pub header: Header,
    /// The question name, case as received.
    pub qname: NameBuf,
    /// Question type.
    pub qtype: u16,
    /// Question class.
    pub qclass: u16,
    /// Offset just past the question in the request.
    pub question_end: usize,
    /// The OPT record, if any.
    pub edns: Option<Edns>,
}

/// Option code of NSID (RFC 5001).
pub const OPT_NSID: u16 = 3;

/// Skip one resource record, returning (type, class, ttl, rdata).
fn skip_record<'a>(
    r: &mut Reader<'a>,
    scratch: &mut NameBuf,
) -> Result<(u16, u16, u32, &'a [u8]), WireError> {
    r.name(scratch)?;
    let rtype = r.u16()?;
    let class = r.u16()?;
    let ttl = r.u32()?;
    let len = r.u16()?;
    let rdata = r.take(usize::from(len))?;
    Ok((rtype, class, ttl, rdata))
}

/// Decode the question, then walk the remaining sections looking for OPT.
/// The header must already be known to carry exactly one question.
pub fn read_request(msg: &[u8], req: &mut Request) -> Result<(), WireError> {
    let mut r = Reader::new(msg);
    req.header = Header::read(&mut r)?;
    r.name(&mut req.qname)?;
    req.qtype = r.u16()?;
    req.qclass = r.u16()?;
    req.question_end = r.pos();
    req.edns = None;
    let mut scratch = NameBuf::default();
    let records = u32::from(req.header.ancount) + u32::from(req.header.nscount);
    for _ in 0..records {
        // RFC 6891 6.1.1: OPT belongs in the additional section only.
        if skip_record(&mut r, &mut scratch)?.0 == super::record::rtype::OPT {
            return Err(WireError::BadOpt);
        }
    }
    for _ in 0..req.header.arcount {
        let (rtype, class, ttl, rdata) = skip_record(&mut r, &mut scratch)?;
        if rtype != super::record::rtype::OPT {
            continue;
        }
        // RFC 6891 6.1.1: one OPT at most. (Its owner should be the root;
        // like Knot DNS, another owner is tolerated.)
        if req.edns.is_some() {
            return Err(WireError::BadOpt);
        }
        let mut edns = Edns {
            udp_size: class,
            version: (ttl >> 16) as u8,
            dnssec_ok: ttl & 0x8000 != 0,
            nsid: false,
        };
        let mut opts = Reader::new(rdata);
        while opts.remaining() > 0 {
            let code = opts.u16().map_err(|_| WireError::BadOpt)?;
            let len = opts.u16().map_err(|_| WireError::BadOpt)?;
            opts.take(usize::from(len)).map_err(|_| WireError::BadOpt)?;
            if code == OPT_NSID {
                edns.nsid = true;
            }
        }
        req.edns = Some(edns);
    }
    if r.remaining() > 0 {
        return Err(WireError::Trailing);
    }
    Ok(())
}

/// How many compression targets the writer remembers.
const MAX_TARGETS: usize = 64;

/// A response being written, with name compression and a size limit.
#[derive(Debug)]
pub struct Writer<'o> {
    /// The message so far.
    out: &'o mut Vec<u8>,
    /// Octets the message may not exceed.
    limit: usize,
    /// Offsets of names (or name suffixes) written uncompressed, each with
    /// the offset in `keys` of its lowercased suffix.
    targets: [(u16, u16, u16); MAX_TARGETS],
    /// Targets in use.
    ntargets: usize,
    /// Lowercased uncompressed suffixes of the targets, back to back.
    keys: [u8; 1024],
    /// Octets of `keys` in use.
    nkeys: usize,
}

/// Marker: the record or RRset did not fit under the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoRoom;

impl<'o> Writer<'o> {
    /// A writer appending to `out` (expected empty), capped at `limit`.
    pub fn new(out: &'o mut Vec<u8>, limit: usize) -> Writer<'o> {
        Writer {
            out,
            limit,
            targets: [(0, 0, 0); MAX_TARGETS],
            ntargets: 0,
            keys: [0; 1024],
            nkeys: 0,
        }
    }

    /// Octets written so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// True when nothing is written yet.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// The size limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Lower the limit (to keep room for a trailing OPT record).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Cut the message back to `len` octets (dropping a partial RRset),
    /// forgetting compression targets past it.
    pub fn truncate(&mut self, len: usize) {
        self.out.truncate(len);
        while self.ntargets > 0 && usize::from(self.targets[self.ntargets - 1].0) >= len {
            self.ntargets -= 1;
            self.nkeys = usize::from(self.targets[self.ntargets].1);
        }
    }

    /// Append raw octets.
    pub fn bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    /// Append a 16-bit value.
    pub fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    /// Append a 32-bit value.
    pub fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    /// Overwrite a 16-bit value at `at` (a count or RDLENGTH).
    pub fn patch_u16(&mut self, at: usize, v: u16) {
        if let Some(slot) = self.out.get_mut(at..at + 2) {
            slot.copy_from_slice(&v.to_be_bytes());
        }
    }

    /// Overwrite one octet at `at` (the header).
    pub fn patch_u8(&mut self, at: usize, v: u8) {
        if let Some(slot) = self.out.get_mut(at) {
            *slot = v;
        }
    }

    /// Write a name (uncompressed wire form), compressing against names
    /// already written when `compress` is set, and remembering its suffixes
    /// as future targets.
    pub fn name(&mut self, wire: &[u8], compress: bool) {
        let mut at = 0;
        while let Some(&len) = wire.get(at) {
            if len == 0 {
                self.out.push(0);
                return;
            }
            let suffix = &wire[at..];
            if compress && let Some(offset) = self.find(suffix) {
                self.u16(0xC000 | offset);
                return;
            }
            self.remember(suffix);
            let end = (at + 1 + usize::from(len)).min(wire.len());
            self.out.extend_from_slice(&wire[at..end]);
            at = end;
        }
        // Not reached for valid names; keep the message well formed anyway.
        self.out.push(0);
    }

    /// The offset of an earlier occurrence of `suffix` (case-insensitive).
    fn find(&self, suffix: &[u8]) -> Option<u16> {
        self.targets[..self.ntargets]
            .iter()
            .find(|&&(_, start, len)| {
                let key = &self.keys[usize::from(start)..usize::from(start) + usize::from(len)];
                key.eq_ignore_ascii_case(suffix)
            })
            .map(|&(offset, _, _)| offset)
    }

    /// Note that `suffix` is about to be written at the current end.
    fn remember(&mut self, suffix: &[u8]) {
        let offset = self.out.len();
        // RFC 1035 4.1.4: pointers hold 14-bit offsets.
        if offset > 0x3FFF
            || self.ntargets == MAX_TARGETS
            || self.nkeys + suffix.len() > self.keys.len()
        {
            return;
        }
        let start = self.nkeys;
        self.keys[start..start + suffix.len()].copy_from_slice(suffix);
        self.keys[start..start + suffix.len()].make_ascii_lowercase();
        self.nkeys += suffix.len();
        self.targets[self.ntargets] = (offset as u16, start as u16, suffix.len() as u16);
        self.ntargets += 1;
    }

    /// True when the message is within the limit.
    pub fn fits(&self) -> bool {
        self.out.len() <= self.limit
    }

    /// Write one record, compressing the owner and, for the types whose
    /// RDATA names RFC 3597 4 allows to be compressed, those names.
    pub fn record(&mut self, owner: &[u8], rtype: u16, class: u16, ttl: u32, rdata: &[u8]) {
        self.name(owner, true);
        self.u16(rtype);
        self.u16(class);
        self.u32(ttl);
        let len_at = self.len();
        self.u16(0);
        let start = self.len();
        let mut at = 0;
        if let Some((skip, names)) = compressible_names(rtype)
            && let Some(prefix) = rdata.get(..skip)
        {
            self.bytes(prefix);
            at = skip;
            for _ in 0..names {
                let Some(len) = rdata.get(at..).and_then(name_len) else {
                    break;
                };
                self.name(&rdata[at..at + len], true);
                at += len;
            }
        }
        self.bytes(rdata.get(at..).unwrap_or_default());
        let written = (self.len() - start) as u16;
        self.patch_u16(len_at, written);
    }
}

/// For the types whose RDATA names may be compressed (RFC 3597 4: the
/// RFC 1035 types we serve): octets before the first name, and how many
/// names follow back to back.
fn compressible_names(rtype: u16) -> Option<(usize, usize)> {
    use super::record::rtype::{CNAME, MX, NS, PTR, SOA};
    match rtype {
        NS | CNAME | PTR => Some((0, 1)),
        MX => Some((2, 1)),
        SOA => Some((0, 2)),
        _ => None,
    }
}

/// Length of the uncompressed wire name at the start of `b`, if valid.
pub fn name_len(b: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let len = usize::from(*b.get(at)?);
        if len > MAX_LABEL {
            return None;
        }
        at += 1 + len;
        if len == 0 {
            return (at <= b.len()).then_some(at);
        }
    }
}

/// One resource record of a decoded [`Message`], names uncompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRecord {
    /// Owner name, uncompressed wire form.
    pub owner: Vec<u8>,
    /// Type.
    pub rtype: u16,
    /// Class (the UDP size, for OPT).
    pub class: u16,
    /// TTL (extended RCODE, version and flags, for OPT).
    pub ttl: u32,
    /// RDATA with the compressible names expanded.
    pub rdata: Vec<u8>,
}

/// A whole message: header and all four sections. The answer path never
/// builds one (it works on the request in place); this is the codec's
/// complete form, for round-trip checks and tests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// Header; the counts are those of the sections below.
    pub header: Header,
    /// Questions: name, type, class.
    pub questions: Vec<(Vec<u8>, u16, u16)>,
    /// Answer, authority and additional sections.
    pub sections: [Vec<WireRecord>; 3],
}

impl Message {
    /// Decode a whole message; every octet must belong to it.
    pub fn decode(msg: &[u8]) -> Result<Message, WireError> {
        let mut r = Reader::new(msg);
        let header = Header::read(&mut r)?;
        let mut name = NameBuf::default();
        let mut m = Message {
            header,
            ..Message::default()
        };
        for _ in 0..header.qdcount {
            r.name(&mut name)?;
            let qtype = r.u16()?;
            let qclass = r.u16()?;
            m.questions.push((name.as_wire().to_vec(), qtype, qclass));
        }
        let counts = [header.ancount, header.nscount, header.arcount];
        for (section, count) in m.sections.iter_mut().zip(counts) {
            for _ in 0..count {
                section.push(read_record(&mut r, &mut name)?);
            }
        }
        if r.remaining() > 0 {
            return Err(WireError::Trailing);
        }
        Ok(m)
    }

    /// Encode the message with name compression; the header counts are
    /// taken from the sections.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        let mut w = Writer::new(out, usize::MAX);
        let h = &self.header;
        w.u16(h.id);
        w.u16(h.flags);
        w.u16(self.questions.len() as u16);
        for section in &self.sections {
            w.u16(section.len() as u16);
        }
        for (name, qtype, qclass) in &self.questions {
            w.name(name, true);
            w.u16(*qtype);
            w.u16(*qclass);
        }
        for rec in self.sections.iter().flatten() {
            w.record(&rec.owner, rec.rtype, rec.class, rec.ttl, &rec.rdata);
        }
    }
}

/// Read one record, expanding compressed names inside its RDATA.
fn read_record(r: &mut Reader<'_>, name: &mut NameBuf) -> Result<WireRecord, WireError> {
    r.name(name)?;
    let owner = name.as_wire().to_vec();
    let rtype = r.u16()?;
    let class = r.u16()?;
    let ttl = r.u32()?;
    let len = usize::from(r.u16()?);
    let start = r.pos();
    let end = start + len;
    if r.remaining() < len {
        return Err(WireError::Short);
    }
    let mut rdata = Vec::with_capacity(len);
    if let Some((skip, names)) = compressible_names(rtype) {
        // RDATA of these types must hold the fixed prefix and the names;
        // what follows the names runs to the end of the RDATA.
        if len < skip {
            return Err(WireError::Short);
        }
        rdata.extend_from_slice(r.take(skip)?);
        for _ in 0..names {
            r.name(name)?;
            if r.pos() > end {
                return Err(WireError::Short);
            }
            rdata.extend_from_slice(name.as_wire());
        }
    }
    rdata.extend_from_slice(r.take(end - r.pos())?);
    Ok(WireRecord {
        owner,
        rtype,
        class,
        ttl,
        rdata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_name(msg: &[u8], at: usize) -> Result<Vec<u8>, WireError> {
        let mut r = Reader::new(msg);
        r.take(at)?;
        let mut n = NameBuf::default();
        r.name(&mut n)?;
        Ok(n.as_wire().to_vec())
    }

    #[test]
    fn backward_pointer_is_followed() {
        let msg = b"\x07example\x03com\x00\x03www\xC0\x00";
        assert_eq!(
            read_name(msg, 13).unwrap(),
            b"\x03www\x07example\x03com\x00"
        );
    }

    #[test]
    fn forward_and_self_pointers_are_refused() {
        // A pointer to itself: a loop.
        assert_eq!(read_name(b"\xC0\x00", 0), Err(WireError::BadPointer));
        // A pointer forward.
        assert_eq!(read_name(b"\xC0\x02\x00", 0), Err(WireError::BadPointer));
        // Two pointers bouncing between each other.
        assert_eq!(
            read_name(b"\xC0\x02\xC0\x00", 2),
            Err(WireError::BadPointer)
        );
        // A label that points into the name being read.
        assert_eq!(read_name(b"\x01a\xC0\x00", 0), Err(WireError::BadPointer));
    }

    #[test]
    fn hostile_labels_are_refused() {
        let mut long = vec![64u8];
        long.extend_from_slice(&[b'a'; 64]);
        long.push(0);
        // 64 has the 0x40 bit set: an extended label type.
        assert_eq!(read_name(&long, 0), Err(WireError::BadLabel));
        assert_eq!(read_name(b"\x05abc", 0), Err(WireError::Short));
        assert_eq!(read_name(b"\x80", 0), Err(WireError::BadLabel));
        assert_eq!(read_name(b"", 0), Err(WireError::Short));
        // 5 labels of 63: 320 octets, over 255.
        let mut over = Vec::new();
        for _ in 0..5 {
            over.push(63);
            over.extend_from_slice(&[b'x'; 63]);
        }
        over.push(0);
        assert_eq!(read_name(&over, 0), Err(WireError::LongName));
        // Over 255 through pointers: a chain of backward pointers each
        // adding a label.
        let mut msg = vec![63];
        msg.extend_from_slice(&[b'y'; 63]);
        msg.push(0);
        let mut prev = 0u16;
        for _ in 0..5 {
            let here = msg.len() as u16;
            msg.push(63);
            msg.extend_from_slice(&[b'z'; 63]);
            msg.extend_from_slice(&(0xC000 | prev).to_be_bytes());
            prev = here;
        }
        assert_eq!(read_name(&msg, usize::from(prev)), Err(WireError::LongName));
    }

    #[test]
    fn truncated_fields_are_errors() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u32(), Err(WireError::Short));
        assert_eq!(r.take(usize::MAX), Err(WireError::Short));
        assert_eq!(r.u16(), Ok(0x0102));
    }

    #[test]
    fn request_with_trailing_octets_is_refused() {
        let mut q = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x01a\x00\x00\x01\x00\x01");
        let mut req = Request::default();
        assert!(read_request(&q, &mut req).is_ok());
        q.push(0);
        assert_eq!(read_request(&q, &mut req), Err(WireError::Trailing));
    }

    #[test]
    fn request_edns_is_decoded() {
        let mut q = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
        q.extend_from_slice(b"\x01a\x00\x00\x01\x00\x01");
        q.extend_from_slice(b"\x00\x00\x29\x04\xd0\x00\x01\x80\x00\x00\x04\x00\x03\x00\x00");
        let mut req = Request::default();
        read_request(&q, &mut req).unwrap();
        let edns = req.edns.unwrap();
        assert_eq!(edns.udp_size, 1232);
        assert_eq!(edns.version, 1);
        assert!(edns.dnssec_ok);
        assert!(edns.nsid);
        // Truncated option: malformed OPT.
        let n = q.len();
        q[n - 5] = 5;
        q.truncate(n - 1);
        assert!(read_request(&q, &mut req).is_err());
    }

    #[test]
    fn writer_compresses_case_insensitively() {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out, 512);
        w.bytes(&[0; 12]);
        w.name(b"\x03www\x07Example\x03com\x00", true);
        w.name(b"\x04mail\x07example\x03COM\x00", true);
        assert_eq!(&out[12..], b"\x03www\x07Example\x03com\x00\x04mail\xC0\x10");
    }
}

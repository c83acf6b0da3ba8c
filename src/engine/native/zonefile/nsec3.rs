//! NSEC3 owner hashing (RFC 5155 section 5), for the one zone check that
//! needs it.
//!
//! Knot DNS lets a DNAME at the apex have exactly one child: the NSEC3
//! record of the apex itself, whose owner is the apex's hash under the
//! zone's NSEC3PARAM. Finding that owner takes SHA-1, which the crate does
//! not otherwise depend on, so a small implementation (FIPS 180-4 section
//! 6.1) lives here; it is not used for anything that needs to resist
//! attack.

/// SHA-1 of `data`.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xefcd_ab89,
        0x98ba_dcfe,
        0x1032_5476,
        0xc3d2_e1f0,
    ];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend((data.len() as u64).wrapping_mul(8).to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
            *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        for t in 16..80 {
            w[t] = (w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (t, &word) in w.iter().enumerate() {
            let (f, k) = match t {
                0..=19 => ((b & c) | (!b & d), 0x5a82_7999),
                20..=39 => (b ^ c ^ d, 0x6ed9_eba1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8f1b_bcdc),
                _ => (b ^ c ^ d, 0xca62_c1d6),
            };
            let temp = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(word);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, temp);
        }
        for (state, value) in h.iter_mut().zip([a, b, c, d, e]) {
            *state = state.wrapping_add(value);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// The NSEC3 hash of a name in lowercased wire form, as the lowercase
/// base32hex label that owns its NSEC3 record. RFC 5155 section 5:
/// "IH(salt, x, 0) = H(x || salt), and IH(salt, x, k) = H(IH(salt, x, k-1)
/// || salt), if k > 0".
pub fn hash_label(name_wire: &[u8], salt: &[u8], iterations: u16) -> String {
    let mut digest = sha1(&[name_wire, salt].concat());
    for _ in 0..iterations {
        digest = sha1(&[&digest[..], salt].concat());
    }
    base32hex_lower(&digest)
}

/// Base32hex (RFC 4648 section 7) in lowercase, without padding.
fn base32hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(DIGITS[((acc >> bits) & 31) as usize]));
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(DIGITS[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_test_vectors() {
        let hex = |d: [u8; 20]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(hex(sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(hex(sha1(long)), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    }

    #[test]
    fn rfc5155_appendix_a_hashes() {
        let salt = [0xaa, 0xbb, 0xcc, 0xdd];
        assert_eq!(
            hash_label(b"\x07example\x00", &salt, 12),
            "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"
        );
        assert_eq!(
            hash_label(b"\x01a\x07example\x00", &salt, 12),
            "35mthgpgcu1qg68fab165klnsnk3dpvl"
        );
    }
}

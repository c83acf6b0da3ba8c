//! SVCB and HTTPS (RFC 9460) in presentation form: priority, target name,
//! then `key=value` service parameters.
//!
//! Parameters are written in any order but must be sent in increasing key
//! order, each key once; some keys take comma-separated value lists with
//! their own escaping. That logic is larger than any other type's, hence
//! its own file.

use super::rdata::{Field, Fields, ipv4, ipv6, parse_field, string, u16_field};
use super::text;
use crate::engine::native::name::Name;

/// RFC 9460 SvcParamKey names; `keyNNNNN` covers the rest.
const SVC_KEYS: &[(&str, u16)] = &[
    ("mandatory", 0),
    ("alpn", 1),
    ("no-default-alpn", 2),
    ("port", 3),
    ("ipv4hint", 4),
    ("ech", 5),
    ("ipv6hint", 6),
    ("dohpath", 7),
    ("ohttp", 8),
];

/// The number of an SvcParamKey name.
fn svc_key(name: &[u8]) -> Result<u16, String> {
    let s = std::str::from_utf8(name).unwrap_or("");
    if let Some(&(_, n)) = SVC_KEYS.iter().find(|(k, _)| *k == s) {
        return Ok(n);
    }
    // RFC 9460 section 14.3.2: key 65535 is reserved ("Invalid key").
    match s
        .strip_prefix("key")
        .map(|d| text::number(d.as_bytes(), 65534))
    {
        Some(Ok(n)) => Ok(n as u16),
        _ => Err(format!("invalid parameter name \"{s}\"")),
    }
}

/// Split a value list (RFC 9460 appendix A.1) on commas not escaped with
/// `\`, then decode each item's escapes.
fn value_list(raw: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut items = Vec::new();
    let mut current = Vec::new();
    let mut bytes = raw.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'\\' => {
                current.push(b);
                if let Some(&e) = bytes.next() {
                    current.push(e);
                }
            }
            b',' => items.push(text::unescape(&std::mem::take(&mut current))?),
            _ => current.push(b),
        }
    }
    items.push(text::unescape(&current)?);
    if items.iter().any(Vec::is_empty) {
        return Err("empty item in a value list".into());
    }
    Ok(items)
}

/// RFC 9460 SVCB and HTTPS: priority, target, then `key[=value]` params,
/// written in wire form in increasing key order.
pub fn svcb<'a>(fields: &mut Fields<'a>, origin: &Name, out: &mut Vec<u8>) -> Result<(), String> {
    parse_field(Field::U16, fields, origin, out)?;
    parse_field(Field::Name, fields, origin, out)?;
    let mut params: Vec<(u16, Vec<u8>)> = Vec::new();
    let mut mandatory: Vec<u16> = Vec::new();
    for token in fields.take_rest() {
        let mut split = token.text.splitn(2, |&b| b == b'=');
        let key = svc_key(split.next().unwrap_or_default())?;
        let value: Option<&'a [u8]> = split.next();
        let name = key_name(key);
        let need = |v: Option<&'a [u8]>| {
            v.filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let wire = match key {
            0 => {
                let mut keys = value_list(need(value)?)?
                    .iter()
                    .map(|k| svc_key(k))
                    .collect::<Result<Vec<u16>, _>>()?;
                keys.sort_unstable();
                if keys.windows(2).any(|w| w[0] == w[1]) {
                    return Err("duplicate mandatory value".into());
                }
                // RFC 9460 section 8: "The "mandatory" SvcParamKey MUST
                // NOT be included in the mandatory list."
                if keys.first() == Some(&0) {
                    return Err("invalid mandatory value \"mandatory\"".into());
                }
                let wire = keys.iter().flat_map(|k| k.to_be_bytes()).collect();
                mandatory = keys;
                wire
            }
            1 => {
                let mut wire = Vec::new();
                for id in value_list(need(value)?)? {
                    string(&id, &mut wire)?;
                }
                wire
            }
            2 | 8 if value.is_some() => return Err(format!("{name} takes no value")),
            2 | 8 => Vec::new(),
            3 => u16_field(need(value)?)?.to_be_bytes().to_vec(),
            4 => value_list(need(value)?)?
                .iter()
                .map(|a| ipv4(a).map(|a| a.octets()))
                .collect::<Result<Vec<_>, _>>()?
                .concat(),
            5 => text::base64(need(value)?)?,
            6 => value_list(need(value)?)?
                .iter()
                .map(|a| ipv6(a).map(|a| a.octets()))
                .collect::<Result<Vec<_>, _>>()?
                .concat(),
            _ => text::unescape(value.unwrap_or_default())?,
        };
        params.push((key, wire));
    }
    // Sorted once, so that neither check below is quadratic in the number
    // of parameters.
    params.sort_by_key(|(k, _)| *k);
    // RFC 9460 section 2.2: "SvcParamKeys SHALL appear in increasing
    // numeric order", and a key may appear once.
    if let Some(pair) = params.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!(
            "duplicate parameter name \"{}\"",
            key_name(pair[0].0)
        ));
    }
    let present = |key: &u16| params.binary_search_by_key(key, |(k, _)| *k).is_ok();
    // RFC 9460 section 8: "every key listed in the mandatory list MUST also
    // appear in the SvcParams".
    if let Some(key) = mandatory.iter().find(|key| !present(key)) {
        return Err(format!(
            "missing mandatory parameter \"{}\"",
            key_name(*key)
        ));
    }
    for (key, value) in params {
        let len = u16::try_from(value.len()).map_err(|_| "parameter value too long".to_string())?;
        out.extend(key.to_be_bytes());
        out.extend(len.to_be_bytes());
        out.extend(value);
    }
    Ok(())
}

/// The presentation name of an SvcParamKey.
fn key_name(key: u16) -> String {
    SVC_KEYS
        .iter()
        .find(|(_, n)| *n == key)
        .map_or_else(|| format!("key{key}"), |(k, _)| (*k).to_string())
}

//! One probe of one address: a TCP connect, or a minimal HTTP/1.1 `GET`.
//!
//! The HTTP client is written by hand because it needs so little: one
//! request with `Host` and `Connection: close`, then the status line of
//! the answer, read into a fixed buffer and parsed without trusting a
//! byte of it. Every probe runs under its check's timeout, so it never
//! outlives it: when the time is up the future is dropped and its socket
//! closed.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::fleet::{HealthCheck, Protocol};

/// Octets of the answer read to find the status line; a longer first line
/// is a bad answer.
const STATUS_LINE_MAX: usize = 512;

/// Probe `address` of the fleet name `name` (absolute) as `check` says,
/// within `check.timeout_ms`. `Ok` is healthy; the error says why not.
pub async fn probe(name: &str, address: IpAddr, check: &HealthCheck) -> Result<(), String> {
    let timeout = Duration::from_millis(check.timeout_ms);
    match tokio::time::timeout(timeout, attempt(name, address, check)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} ms", check.timeout_ms)),
    }
}

/// The probe without its timeout.
async fn attempt(name: &str, address: IpAddr, check: &HealthCheck) -> Result<(), String> {
    let target = SocketAddr::new(address, check.port);
    let mut stream = TcpStream::connect(target)
        .await
        .map_err(|e| format!("connect to {target}: {e}"))?;
    if check.protocol == Protocol::Tcp {
        return Ok(());
    }
    let request = http_request(name, target, &check.path);
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send to {target}: {e}"))?;
    let mut buf = [0u8; STATUS_LINE_MAX];
    let mut filled = 0;
    while filled < buf.len() && !buf[..filled].contains(&b'\n') {
        match stream.read(&mut buf[filled..]).await {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => return Err(format!("read from {target}: {e}")),
        }
    }
    let status = parse_status_line(&buf[..filled])?;
    if status == check.status {
        Ok(())
    } else {
        Err(format!("HTTP status {status}, expected {}", check.status))
    }
}

/// The request of an HTTP probe: `GET path` for the fleet name (the
/// address for a wildcard name), closed after the answer. `path` was
/// checked when the bundle was read: it starts with `/` and holds no
/// spaces or control characters.
pub fn http_request(name: &str, target: SocketAddr, path: &str) -> String {
    let host = name.trim_end_matches('.');
    let host = if host.is_empty() || host.starts_with('*') {
        match target.ip() {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        }
    } else {
        host.to_string()
    };
    let port = if target.port() == 80 {
        String::new()
    } else {
        format!(":{}", target.port())
    };
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}{port}\r\nUser-Agent: stripedns-health\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n"
    )
}

/// The status code of an HTTP/1.x answer beginning with `head`
/// (`HTTP/1.1 200 OK\r\n...`). Untrusted bytes: anything else is an
/// error naming what came.
pub fn parse_status_line(head: &[u8]) -> Result<u16, String> {
    let end = head
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| match head.len() {
            0 => "connection closed without an answer".to_string(),
            n if n >= STATUS_LINE_MAX => "status line too long".to_string(),
            _ => format!("incomplete status line {:?}", shown(head)),
        })?;
    let line = head[..end].strip_suffix(b"\r").unwrap_or(&head[..end]);
    let bad = || format!("not an HTTP/1.x status line: {:?}", shown(line));
    let rest = line.strip_prefix(b"HTTP/1.").ok_or_else(bad)?;
    let (&minor, rest) = rest.split_first().ok_or_else(bad)?;
    let rest = rest.strip_prefix(b" ").ok_or_else(bad)?;
    if !minor.is_ascii_digit() || rest.len() < 3 {
        return Err(bad());
    }
    let (code, reason) = rest.split_at(3);
    if !code.iter().all(u8::is_ascii_digit) || !(reason.is_empty() || reason[0] == b' ') {
        return Err(bad());
    }
    let status = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    if status < 100 {
        return Err(bad());
    }
    Ok(status)
}

/// At most 80 characters of `bytes`, for an error message.
fn shown(bytes: &[u8]) -> String {
    crate::state::shorten(&String::from_utf8_lossy(bytes), 80)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse() {
        assert_eq!(
            parse_status_line(b"HTTP/1.1 200 OK\r\nServer: x\r\n"),
            Ok(200)
        );
        assert_eq!(
            parse_status_line(b"HTTP/1.0 503 Service Unavailable\n"),
            Ok(503)
        );
        assert_eq!(parse_status_line(b"HTTP/1.1 204\r\n"), Ok(204));
    }

    #[test]
    fn bad_status_lines_are_errors_not_panics() {
        for head in [
            &b""[..],
            b"HTTP/1.1 200 OK",
            b"HTTP/2 200\r\n",
            b"HTTP/1.1 20 OK\r\n",
            b"HTTP/1.1 2000 OK\r\n",
            b"HTTP/1.1 abc OK\r\n",
            b"HTTP/1.x 200 OK\r\n",
            b"HTTP/1.1  200 OK\r\n",
            b"HTTP/1.1 099 x\r\n",
            b"SSH-2.0-OpenSSH\r\n",
            b"\xff\xfe\n",
            &[b'a'; STATUS_LINE_MAX],
        ] {
            assert!(parse_status_line(head).is_err(), "{head:?}");
        }
        assert_eq!(
            parse_status_line(b"").unwrap_err(),
            "connection closed without an answer"
        );
    }

    #[test]
    fn requests_name_the_host_and_close() {
        let target: SocketAddr = "127.0.0.2:8080".parse().unwrap();
        assert_eq!(
            http_request("www.example.com.", target, "/healthz"),
            "GET /healthz HTTP/1.1\r\nHost: www.example.com:8080\r\n\
             User-Agent: stripedns-health\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert!(http_request("*.example.com.", v6, "/").contains("\r\nHost: [::1]\r\n"));
    }

    /// A one-shot HTTP server on loopback answering `answer`; returns its
    /// port.
    fn serve_once(answer: &'static [u8]) -> u16 {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut req = [0u8; 1024];
                let _ = s.read(&mut req);
                let _ = s.write_all(answer);
            }
        });
        port
    }

    fn check(protocol: Protocol, port: u16, timeout_ms: u64) -> HealthCheck {
        HealthCheck {
            protocol,
            port,
            path: "/healthz".into(),
            status: 200,
            interval_ms: 1000,
            timeout_ms,
            healthy_threshold: 2,
            unhealthy_threshold: 2,
        }
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn probes_judge_real_answers_on_loopback() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let ok = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(
            run(probe("a.", lo, &check(Protocol::Http, ok, 1000))),
            Ok(())
        );
        let sick = serve_once(b"HTTP/1.1 503 Unavailable\r\n\r\n");
        let e = run(probe("a.", lo, &check(Protocol::Http, sick, 1000))).unwrap_err();
        assert_eq!(e, "HTTP status 503, expected 200");
        let tcp = serve_once(b"");
        assert_eq!(
            run(probe("a.", lo, &check(Protocol::Tcp, tcp, 1000))),
            Ok(())
        );
        // A closed port: refused.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = run(probe("a.", lo, &check(Protocol::Tcp, closed, 1000))).unwrap_err();
        assert!(e.starts_with("connect to 127.0.0.1:"), "{e}");
    }

    #[test]
    fn a_silent_server_is_cut_off_at_the_timeout() {
        // Accepts (the kernel's backlog does) but never answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let e = run(probe("a.", lo, &check(Protocol::Http, port, 150))).unwrap_err();
        assert_eq!(e, "no answer within 150 ms");
        drop(listener);
    }
}

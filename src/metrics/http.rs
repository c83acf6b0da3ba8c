//! The metrics endpoint: a deliberately small HTTP/1.1 server that answers
//! `GET /metrics` (and `HEAD`) with an exposition and everything else with
//! an error, one request per connection.
//!
//! It runs on plain threads beside the supervision loop of a king or of
//! `up`, never in a worker, so it cannot take time from answering DNS. It
//! is bounded everywhere a client could hold it: at most
//! [`MAX_CONNECTIONS`] connections at once (others are closed at once), a
//! request head of at most [`MAX_REQUEST`] octets, and [`DEADLINE`] for
//! reading the request and again for writing the response.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::text::CONTENT_TYPE;

/// Connections served at once; more are closed as soon as accepted.
pub const MAX_CONNECTIONS: usize = 4;
/// The largest request head (request line and headers) read.
pub const MAX_REQUEST: usize = 8 * 1024;
/// Time allowed for the whole request head to arrive, and again for the
/// response to be written.
pub const DEADLINE: Duration = Duration::from_secs(5);
/// The one path served.
pub const PATH: &str = "/metrics";

/// What renders the exposition, called once per `GET /metrics`.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// A bound metrics listener, not serving yet.
#[derive(Debug)]
pub struct Endpoint {
    /// The listener.
    listener: TcpListener,
    /// Its address (with the port chosen for port 0).
    addr: SocketAddr,
}

impl Endpoint {
    /// Bind `addr`, so a busy port is an error before anything starts.
    pub fn bind(addr: SocketAddr) -> io::Result<Endpoint> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        Ok(Endpoint { listener, addr })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serve on a thread of its own for the life of the process.
    pub fn spawn(self, render: Render) -> io::Result<JoinHandle<()>> {
        thread::Builder::new()
            .name("metrics".into())
            .spawn(move || self.serve(&render))
    }

    /// The accept loop.
    fn serve(self, render: &Render) {
        let active = Arc::new(AtomicUsize::new(0));
        for stream in self.listener.incoming() {
            let stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    // Out of descriptors and the like: pause, keep going.
                    warn!(addr = %self.addr, error = %e, "metrics accept failed");
                    thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                active.fetch_sub(1, Ordering::AcqRel);
                let _ = stream.shutdown(Shutdown::Both);
                continue;
            }
            let held = Arc::clone(&active);
            let render = Arc::clone(render);
            let spawned = thread::Builder::new()
                .name("metrics-conn".into())
                .spawn(move || {
                    if let Err(e) = handle(stream, &render) {
                        debug!(error = %e, "metrics connection ended");
                    }
                    held.fetch_sub(1, Ordering::AcqRel);
                });
            if let Err(e) = spawned {
                // The closure (and the stream) went with the error.
                warn!(error = %e, "cannot start a metrics connection thread");
                active.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

/// Serve one connection: one request, one response, close.
fn handle(mut stream: TcpStream, render: &Render) -> io::Result<()> {
    let head = match read_head(&mut stream)? {
        Some(head) => head,
        None => {
            return respond(
                &mut stream,
                431,
                "Request Header Fields Too Large",
                "",
                false,
            );
        }
    };
    let (status, reason, body, head_only) = route(&head, render);
    respond(&mut stream, status, reason, &body, head_only)
}

/// Read the request head (up to the blank line) within [`DEADLINE`];
/// `None` when it exceeds [`MAX_REQUEST`].
fn read_head(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let deadline = Instant::now() + DEADLINE;
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut len = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "request too slow"));
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut buf[len..])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before the request ended",
            ));
        }
        len += n;
        if let Some(end) = buf[..len].windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(end);
            return Ok(Some(buf));
        }
        if len == buf.len() {
            return Ok(None);
        }
    }
}

/// Status, reason, body and whether to send the head only, for a request
/// head.
fn route(head: &[u8], render: &Render) -> (u16, &'static str, String, bool) {
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return (400, "Bad Request", "bad request line\n".into(), false);
    };
    if !version.starts_with(b"HTTP/1.") {
        return (400, "Bad Request", "HTTP/1.x only\n".into(), false);
    }
    let head_only = match method {
        b"GET" => false,
        b"HEAD" => true,
        _ => return (405, "Method Not Allowed", "GET only\n".into(), false),
    };
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    if path != PATH.as_bytes() {
        return (
            404,
            "Not Found",
            "not found; try /metrics\n".into(),
            head_only,
        );
    }
    (200, "OK", render(), head_only)
}

/// Write a whole response within [`DEADLINE`] and close.
fn respond(
    stream: &mut TcpStream,
    status: u16,
    reason: &str,
    body: &str,
    head_only: bool,
) -> io::Result<()> {
    let content_type = if status == 200 {
        CONTENT_TYPE
    } else {
        "text/plain; charset=utf-8"
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if status == 405 {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str("\r\n");
    if !head_only {
        out.push_str(body);
    }
    stream.set_write_timeout(Some(DEADLINE))?;
    stream.write_all(out.as_bytes())?;
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render() -> Render {
        Arc::new(|| "x 1\n".to_string())
    }

    fn ask(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn metrics_path_only_and_get_only() {
        let e = Endpoint::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = e.local_addr();
        e.spawn(render()).unwrap();
        let ok = ask(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.contains("Content-Type: text/plain; version=0.0.4"),
            "{ok}"
        );
        assert!(ok.ends_with("\r\n\r\nx 1\n"), "{ok}");
        let head = ask(addr, b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"));
        assert!(head.contains("Content-Length: 4\r\n"), "{head}");
        assert!(ask(addr, b"GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(ask(addr, b"GET /metricsx HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(ask(addr, b"POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        assert!(ask(addr, b"GET /metrics\r\n\r\n").starts_with("HTTP/1.1 400"));
        assert!(ask(addr, b"\x00\xff\r\n\r\n").starts_with("HTTP/1.1 400"));
        let mut huge = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        huge.resize(MAX_REQUEST + 10, b'a');
        assert!(ask(addr, &huge).starts_with("HTTP/1.1 431"));
    }

    #[test]
    fn idle_clients_do_not_block_the_endpoint() {
        let e = Endpoint::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = e.local_addr();
        e.spawn(render()).unwrap();
        // Idle connections beyond the limit are closed at once; those
        // within it hold a slot until the deadline at most.
        let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS + 2)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        let mut extra = TcpStream::connect(addr).unwrap();
        extra
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 16];
        // Closed without a response: the slots are taken.
        assert_eq!(extra.read(&mut buf).unwrap_or(0), 0);
        drop(idle);
        let deadline = Instant::now() + DEADLINE * 2;
        loop {
            let r = ask(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
            if r.starts_with("HTTP/1.1 200") {
                break;
            }
            assert!(Instant::now() < deadline, "endpoint never freed its slots");
            thread::sleep(Duration::from_millis(50));
        }
    }
}

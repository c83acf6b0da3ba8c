//! The few operating-system calls the king and its workers need that the
//! standard library does not offer safely, each wrapped in a safe function.
//!
//! This is the only module of the crate allowed to use `unsafe`
//! (`lib.rs` denies it everywhere else, and the engines forbid it). It
//! exists because handing sockets from the king to a worker across `exec`
//! and sharing a progress slot between them cannot be done without it:
//!
//! - [`inheritable`] / [`adopt`]: a descriptor duplicated without
//!   `FD_CLOEXEC` for one child, and taken over by number in that child;
//! - [`SharedWords`]: a `MAP_SHARED` mapping of a small file, seen as
//!   atomic 64-bit words by both processes (the worker's slot);
//! - [`signal`], [`die_with_parent`], [`lock_exclusive`],
//!   [`try_lock_exclusive`]: `kill(2)`, `prctl(PR_SET_PDEATHSIG)` and
//!   `flock(2)`;
//! - `UdpBatch` (Linux): datagrams received with one `recvmmsg(2)` and
//!   answered with one `sendmmsg(2)`, into buffers allocated once;
//! - `CountingAllocator` (hidden, for `tests/no_alloc.rs`): the system
//!   allocator with a count of allocations, which checks that a query
//!   costs none.
//! - [`release_free_heap`]: glibc's `malloc_trim(3)`, so that the memory a
//!   zone load used for scratch goes back to the system.
//!
//! Every `unsafe` block carries a `SAFETY` comment saying why it holds; the
//! module is declared with `#[allow(unsafe_code)]` in `lib.rs`.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use memmap2::MmapMut;

/// Descriptors already taken over by [`adopt`]; a second adoption of the
/// same number would give two owners of one descriptor.
static ADOPTED: Mutex<Option<HashSet<RawFd>>> = Mutex::new(None);

/// Set or clear `FD_CLOEXEC` on `fd`.
fn set_cloexec(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: `fd` is a live descriptor borrowed for this call; F_GETFD and
    // F_SETFD only read and write its descriptor flags.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let flags = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    // SAFETY: as above.
    if unsafe { libc::fcntl(raw, libc::F_SETFD, flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A duplicate of `fd` that a child started next inherits across `exec`.
/// Drop it once the child is spawned; spawn children from one thread only,
/// or another child could inherit it too.
pub fn inheritable(fd: &impl AsFd) -> io::Result<OwnedFd> {
    let dup = fd.as_fd().try_clone_to_owned()?;
    set_cloexec(dup.as_fd(), false)?;
    Ok(dup)
}

/// Take ownership of descriptor `raw`, inherited from the parent, which
/// named it on the command line. Fails when `raw` is not an open
/// descriptor or was adopted already. The descriptor is marked close-on-exec
/// again, so it is not passed further down.
pub fn adopt(raw: RawFd) -> io::Result<OwnedFd> {
    if raw < 3 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {raw} is a standard stream"),
        ));
    }
    let mut adopted = ADOPTED.lock().unwrap_or_else(|e| e.into_inner());
    let adopted = adopted.get_or_insert_with(HashSet::new);
    if adopted.contains(&raw) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {raw} named twice"),
        ));
    }
    // SAFETY: F_GETFD on any number is harmless; it tells whether the
    // descriptor is open without touching it.
    if unsafe { libc::fcntl(raw, libc::F_GETFD) } < 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "descriptor {raw} is not open: {}",
                io::Error::last_os_error()
            ),
        ));
    }
    adopted.insert(raw);
    // SAFETY: `raw` is open (checked above), was inherited for this process
    // to own (the parent named it), and the set above ensures nothing else
    // in this process claims it, so this is its one owner.
    let owned = unsafe { OwnedFd::from_raw_fd(raw) };
    set_cloexec(owned.as_fd(), true)?;
    Ok(owned)
}

/// A file mapped `MAP_SHARED` and seen as 64-bit atomic words, so two
/// processes mapping the same file share every store.
#[derive(Debug)]
pub struct SharedWords {
    /// The mapping; unmapped on drop.
    map: MmapMut,
}

impl SharedWords {
    /// Map the whole of `file` (its length a non-zero multiple of 8).
    pub fn map(file: &File) -> io::Result<SharedWords> {
        let len = file.metadata()?.len();
        if len == 0 || len % 8 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a shared slot of {len} octets"),
            ));
        }
        // SAFETY: the mapping is only ever read and written through the
        // atomic words of `words`, in this process and in the other one, so
        // concurrent changes to the file are not data races on plain memory.
        // The file is private to the king and its worker (an unlinked
        // temporary file) and is never truncated while mapped.
        let map = unsafe { MmapMut::map_mut(file)? };
        Ok(SharedWords { map })
    }

    /// The mapping as atomic words.
    pub fn words(&self) -> &[AtomicU64] {
        let ptr = self.map.as_ptr().cast::<AtomicU64>();
        // SAFETY: the mapping is page-aligned (so aligned for u64), its
        // length is a multiple of 8 (checked in `map`), it lives as long as
        // `self`, and AtomicU64 has the size and alignment of u64 and may
        // alias memory other processes write (all access is atomic).
        unsafe { std::slice::from_raw_parts(ptr, self.map.len() / 8) }
    }
}

/// Signals the king sends to its workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Stop cleanly.
    Term,
    /// Stop now (a hung worker).
    Kill,
}

/// Send `sig` to process `pid`. Only for the caller's own children that
/// have not been waited for, so the pid cannot name another process.
pub fn signal(pid: u32, sig: Signal) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    let sig = match sig {
        Signal::Term => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    // SAFETY: kill(2) has no memory effects in this process.
    if unsafe { libc::kill(pid, sig) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Ask the kernel to kill this process when its parent (the thread that
/// started it) dies, and exit at once if the parent `king` is already gone,
/// so a worker never outlives its king.
pub fn die_with_parent(king: u32) -> io::Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and changes only this
    // process's own death signal.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) } < 0 {
        return Err(io::Error::last_os_error());
    }
    if std::os::unix::process::parent_id() != king {
        std::process::exit(1);
    }
    Ok(())
}

/// Hold an exclusive advisory lock on `file` until it is closed, so
/// read-modify-write updates of a shared file do not lose each other's
/// changes.
pub fn lock_exclusive(file: &File) -> io::Result<()> {
    // SAFETY: flock(2) on a live descriptor has no memory effects.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Try to take an exclusive advisory lock on `file` without waiting:
/// `Ok(false)` when another open file holds it. The lock lasts until
/// `file` is closed.
pub fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    // SAFETY: flock(2) on a live descriptor has no memory effects.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::WouldBlock {
            return Ok(false);
        }
        return Err(e);
    }
    Ok(true)
}

/// Datagrams received with one `recvmmsg(2)` and answered with one
/// `sendmmsg(2)`: the UDP half of the hot path, on Linux.
///
/// Every buffer is allocated once, in [`UdpBatch::new`]: room for
/// `capacity` datagrams of `size` octets, their senders' addresses, and
/// one answer buffer per datagram (which the caller fills and may grow).
/// A round is [`UdpBatch::recv`], then for each datagram
/// [`UdpBatch::query_and_answer`] and, for those to be answered,
/// [`UdpBatch::reply`], then [`UdpBatch::send`]; none of these allocates.
/// The system calls' pointer arrays are filled from live borrows at each
/// call, so no pointer outlives the call it is made for.
#[cfg(target_os = "linux")]
pub struct UdpBatch {
    /// The datagrams received, one every `size` octets.
    queries: Box<[u8]>,
    /// Octets of room per datagram.
    size: usize,
    /// Each datagram's length.
    lens: Box<[usize]>,
    /// Each datagram's sender, where its answer goes.
    peers: Box<[libc::sockaddr_storage]>,
    /// The length of each sender's address.
    peer_lens: Box<[libc::socklen_t]>,
    /// The answers, one per datagram.
    answers: Box<[Vec<u8>]>,
    /// Which answers are to be sent.
    replies: Box<[bool]>,
    /// Scatter entries of the system calls (rebuilt at each call).
    iovecs: Box<[libc::iovec]>,
    /// Message headers of the system calls (rebuilt at each call).
    headers: Box<[libc::mmsghdr]>,
    /// Datagrams received in this round.
    received: usize,
}

#[cfg(target_os = "linux")]
impl std::fmt::Debug for UdpBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpBatch")
            .field("capacity", &self.lens.len())
            .field("size", &self.size)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

/// An all-zero C structure: no address, no buffer, lengths and flags 0.
#[cfg(target_os = "linux")]
fn zeroed<T: ZeroIsValid>() -> T {
    // SAFETY: `ZeroIsValid` is implemented only for plain C structures of
    // integers and raw pointers, for which all-zero bytes are a valid
    // value (null pointers, zero lengths).
    unsafe { std::mem::zeroed() }
}

/// C structures for which all-zero bytes are a valid value.
#[cfg(target_os = "linux")]
trait ZeroIsValid {}
#[cfg(target_os = "linux")]
impl ZeroIsValid for libc::mmsghdr {}
#[cfg(target_os = "linux")]
impl ZeroIsValid for libc::iovec {}
#[cfg(target_os = "linux")]
impl ZeroIsValid for libc::sockaddr_storage {}

#[cfg(target_os = "linux")]
impl UdpBatch {
    /// Room for `capacity` datagrams (at least 1) of up to `size` octets
    /// each, with answer buffers of `size` octets' capacity.
    pub fn new(capacity: usize, size: usize) -> UdpBatch {
        let capacity = capacity.max(1);
        UdpBatch {
            queries: vec![0u8; capacity * size].into_boxed_slice(),
            size,
            lens: vec![0; capacity].into_boxed_slice(),
            peers: (0..capacity).map(|_| zeroed()).collect(),
            peer_lens: vec![0; capacity].into_boxed_slice(),
            answers: (0..capacity).map(|_| Vec::with_capacity(size)).collect(),
            replies: vec![false; capacity].into_boxed_slice(),
            iovecs: (0..capacity).map(|_| zeroed()).collect(),
            headers: (0..capacity).map(|_| zeroed()).collect(),
            received: 0,
        }
    }

    /// Wait for a datagram on `socket` (as long as its read timeout
    /// allows), then take every datagram already queued, up to the
    /// capacity, in one system call. Returns how many were taken; every
    /// answer is marked not to be sent. Errors are the socket's
    /// (`WouldBlock` or `TimedOut` when the timeout passed).
    pub fn recv(&mut self, socket: &std::net::UdpSocket) -> io::Result<usize> {
        self.received = 0;
        let capacity = self.lens.len();
        for i in 0..capacity {
            let room = &mut self.queries[i * self.size..(i + 1) * self.size];
            self.iovecs[i] = libc::iovec {
                iov_base: room.as_mut_ptr().cast(),
                iov_len: room.len(),
            };
            let header = &mut self.headers[i];
            *header = zeroed();
            header.msg_hdr.msg_name = std::ptr::from_mut(&mut self.peers[i]).cast();
            header.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as _;
            header.msg_hdr.msg_iov = &mut self.iovecs[i];
            header.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: `headers` holds `capacity` initialised headers, each
        // naming one `sockaddr_storage` of `peers` with its true size and
        // one iovec of `iovecs` covering a disjoint `size`-octet part of
        // `queries`. All of them are borrowed from `self`, which is
        // borrowed mutably for the whole call, so they stay valid and
        // unaliased while the kernel writes into them; no timeout pointer
        // is passed.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.headers.as_mut_ptr(),
                capacity as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = (n as usize).min(capacity);
        for i in 0..n {
            let header = &self.headers[i];
            self.lens[i] = (header.msg_len as usize).min(self.size);
            self.peer_lens[i] = header.msg_hdr.msg_namelen;
            self.replies[i] = false;
        }
        self.received = n;
        Ok(n)
    }

    /// Datagrams taken by the last [`UdpBatch::recv`].
    pub fn len(&self) -> usize {
        self.received
    }

    /// True when the last [`UdpBatch::recv`] took nothing.
    pub fn is_empty(&self) -> bool {
        self.received == 0
    }

    /// Datagram `i` of this round.
    ///
    /// # Panics
    ///
    /// When `i` is not below [`UdpBatch::len`] (a bug of the caller).
    pub fn query(&self, i: usize) -> &[u8] {
        assert!(i < self.received, "datagram {i} of {}", self.received);
        &self.queries[i * self.size..i * self.size + self.lens[i]]
    }

    /// Datagram `i` of this round and the buffer for its answer.
    ///
    /// # Panics
    ///
    /// When `i` is not below [`UdpBatch::len`] (a bug of the caller).
    pub fn query_and_answer(&mut self, i: usize) -> (&[u8], &mut Vec<u8>) {
        assert!(i < self.received, "datagram {i} of {}", self.received);
        let query = &self.queries[i * self.size..i * self.size + self.lens[i]];
        (query, &mut self.answers[i])
    }

    /// Send the answer to datagram `i` with the next [`UdpBatch::send`].
    pub fn reply(&mut self, i: usize) {
        if i < self.received {
            self.replies[i] = true;
        }
    }

    /// The sender of datagram `i`, for messages.
    pub fn peer(&self, i: usize) -> Option<std::net::SocketAddr> {
        if i >= self.received {
            return None;
        }
        sockaddr_to_std(&self.peers[i], self.peer_lens[i])
    }

    /// Send every answer marked with [`UdpBatch::reply`], each to the
    /// sender of its datagram, in as few system calls as the kernel
    /// allows. An answer the kernel refuses is skipped and reported to
    /// `failed` with its destination. Returns the answers sent.
    pub fn send(
        &mut self,
        socket: &std::net::UdpSocket,
        mut failed: impl FnMut(Option<std::net::SocketAddr>, io::Error),
    ) -> usize {
        // Headers 0..count name the answers to send, in datagram order.
        let mut count = 0;
        for i in 0..self.received {
            if !self.replies[i] {
                continue;
            }
            let answer = &mut self.answers[i];
            self.iovecs[count] = libc::iovec {
                iov_base: answer.as_mut_ptr().cast(),
                iov_len: answer.len(),
            };
            let header = &mut self.headers[count];
            *header = zeroed();
            header.msg_hdr.msg_name = std::ptr::from_mut(&mut self.peers[i]).cast();
            header.msg_hdr.msg_namelen = self.peer_lens[i];
            header.msg_hdr.msg_iov = &mut self.iovecs[count];
            header.msg_hdr.msg_iovlen = 1;
            // The datagram's number, for error reports.
            header.msg_len = i as libc::c_uint;
            count += 1;
        }
        let mut done = 0;
        let mut sent = 0;
        while done < count {
            let rest = &mut self.headers[done..count];
            // SAFETY: `rest` holds initialised headers, each naming one
            // sender address of `peers` (with the length the kernel gave
            // it) and one iovec of `iovecs` covering an answer's
            // initialised octets. All are borrowed from `self`, borrowed
            // mutably for the whole call, so nothing moves or changes
            // while the kernel reads them.
            let n = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    rest.as_mut_ptr(),
                    rest.len() as libc::c_uint,
                    0,
                )
            };
            if n > 0 {
                done += n as usize;
                sent += n as usize;
                continue;
            }
            let error = io::Error::last_os_error();
            if n < 0 && error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // The first remaining answer failed: report it, go on with
            // the others.
            let i = self.headers[done].msg_len as usize;
            failed(self.peer(i), error);
            done += 1;
        }
        sent
    }
}

/// A socket address as the kernel wrote it, if it is IPv4 or IPv6.
#[cfg(target_os = "linux")]
fn sockaddr_to_std(
    addr: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> Option<std::net::SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    let len = len as usize;
    match i32::from(addr.ss_family) {
        libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a `sockaddr_in`,
            // which fits in a `sockaddr_storage` and needs no stricter
            // alignment; the kernel wrote `len` octets of it.
            let a = unsafe { &*std::ptr::from_ref(addr).cast::<libc::sockaddr_in>() };
            Some(
                SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                    u16::from_be(a.sin_port),
                )
                .into(),
            )
        }
        libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for a `sockaddr_in6`.
            let a = unsafe { &*std::ptr::from_ref(addr).cast::<libc::sockaddr_in6>() };
            Some(
                SocketAddrV6::new(
                    Ipv6Addr::from(a.sin6_addr.s6_addr),
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                )
                .into(),
            )
        }
        _ => None,
    }
}

/// The system allocator, counting every allocation (and reallocation).
/// Only for tests that check a path allocates nothing: install it with
/// `#[global_allocator]` in a test binary of its own.
#[doc(hidden)]
#[derive(Debug)]
pub struct CountingAllocator {
    /// Allocations and reallocations so far.
    count: AtomicU64,
}

impl CountingAllocator {
    /// A counter at zero.
    pub const fn new() -> CountingAllocator {
        CountingAllocator {
            count: AtomicU64::new(0),
        }
    }

    /// Allocations and reallocations so far, in every thread.
    pub fn count(&self) -> u64 {
        self.count.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Allocations and reallocations so far by the calling thread.
    pub fn this_thread(&self) -> u64 {
        THREAD_ALLOCATIONS.with(std::cell::Cell::get)
    }

    /// Count one allocation, globally and for the calling thread (which
    /// may be exiting: then only globally).
    fn counted(&self) {
        self.count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _ = THREAD_ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
    }
}

thread_local! {
    /// Allocations made by this thread (see [`CountingAllocator`]).
    static THREAD_ALLOCATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl Default for CountingAllocator {
    fn default() -> CountingAllocator {
        CountingAllocator::new()
    }
}

// SAFETY: every method forwards to the system allocator with the caller's
// arguments unchanged, so it keeps the system allocator's guarantees; the
// counter is an atomic and allocates nothing.
unsafe impl std::alloc::GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        self.counted();
        // SAFETY: forwarded as received; the caller upholds `alloc`'s
        // contract.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        self.counted();
        // SAFETY: as in `alloc`.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        self.counted();
        // SAFETY: `ptr` was allocated by this allocator, which is the
        // system allocator; the caller upholds `realloc`'s contract.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: as in `realloc`.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

/// Give the heap's free pages back to the system (glibc `malloc_trim`;
/// nothing elsewhere). A zone load frees far more scratch memory than the
/// zone keeps, in pieces between live data that `free` alone never
/// returns; without this a worker's resident memory stays at the load's
/// peak.
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists and
    // releases free pages; it is thread-safe and touches no live
    // allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn shared_words_are_shared_between_mappings() {
        let file = tempfile::tempfile().unwrap();
        file.set_len(4096).unwrap();
        let a = SharedWords::map(&file).unwrap();
        let b = SharedWords::map(&file.try_clone().unwrap()).unwrap();
        assert_eq!(a.words().len(), 512);
        a.words()[7].store(42, Ordering::Release);
        assert_eq!(b.words()[7].load(Ordering::Acquire), 42);
    }

    #[test]
    fn empty_or_odd_files_are_not_mapped() {
        let file = tempfile::tempfile().unwrap();
        assert!(SharedWords::map(&file).is_err());
        file.set_len(12).unwrap();
        assert!(SharedWords::map(&file).is_err());
    }

    #[test]
    fn adopt_refuses_closed_standard_and_repeated_descriptors() {
        assert!(adopt(1).is_err());
        assert!(adopt(1_000_000).is_err());
        let file = tempfile::tempfile().unwrap();
        let dup = inheritable(&file).unwrap();
        let raw = dup.as_raw_fd();
        std::mem::forget(dup);
        let owned = adopt(raw).unwrap();
        assert!(adopt(raw).is_err());
        drop(owned);
    }
}

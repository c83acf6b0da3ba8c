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

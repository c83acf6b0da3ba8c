//! The limits the pipeline puts on the food taster, set in the child
//! between `fork` and `exec`.
//!
//! This is the one module of the library allowed `unsafe` code:
//! [`CommandExt::pre_exec`] is unsafe because the closure runs in the
//! forked child, where only async-signal-safe calls are sound. The closure
//! here makes three system calls (`setrlimit` twice, `prctl`) on plain
//! numbers copied into it; it allocates nothing and takes no lock.
#![allow(unsafe_code)]

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Resource limits for one taster process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Address-space limit in bytes (`RLIMIT_AS`): a bundle that makes the
    /// taster allocate without bound fails its allocations instead of
    /// exhausting the machine.
    pub memory_bytes: u64,
    /// CPU-time limit in seconds (`RLIMIT_CPU`): SIGXCPU at the soft limit,
    /// SIGKILL a second later.
    pub cpu_secs: u64,
}

/// Make `cmd` start its process under `limits`, and die with SIGKILL when
/// the process that spawned it dies (so a killed pipeline leaves no taster
/// behind).
pub fn apply(cmd: &mut Command, limits: Limits) {
    let memory = limits.memory_bytes as libc::rlim_t;
    let cpu = limits.cpu_secs as libc::rlim_t;
    let set = move || -> io::Result<()> {
        let address_space = libc::rlimit {
            rlim_cur: memory,
            rlim_max: memory,
        };
        let cpu_time = libc::rlimit {
            rlim_cur: cpu,
            rlim_max: cpu.saturating_add(1),
        };
        // SAFETY: setrlimit(2) and prctl(2) are async-signal-safe system
        // calls; the pointers are to locals that outlive the calls.
        unsafe {
            if libc::setrlimit(libc::RLIMIT_AS, &address_space) != 0
                || libc::setrlimit(libc::RLIMIT_CPU, &cpu_time) != 0
                || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0
            {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: `set` only makes async-signal-safe system calls (see above),
    // as the child between fork and exec requires.
    unsafe {
        cmd.pre_exec(set);
    }
}

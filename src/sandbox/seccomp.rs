//! The seccomp filter every process of the sandbox runs under: `ioctl(TIOCSTI)` and
//! `ioctl(TIOCLINUX)` fail with EPERM, everything else is allowed.
//!
//! TIOCSTI pushes bytes into a terminal's input queue: a build that inherited the
//! caller's terminal could type a command that the caller's shell runs after fusebox-run
//! exits, outside the sandbox (bubblewrap's CVE-2017-5226). TIOCLINUX on a virtual
//! console can do the same (paste the selection). `dev.tty.legacy_tiocsti = 0` closes
//! the first only on kernels that have it and only when the administrator sets it; a
//! new session (`setsid`) closes both but takes the terminal away, and with it job
//! control. The filter closes both whatever the sysctl, and job control keeps working.
//!
//! A classic BPF program of 13 instructions, written here rather than with a crate
//! (seccompiler, libseccomp): one syscall and two argument values, and the comparison
//! must be on the low 32 bits of the request only, as the kernel reads it (`unsigned
//! int cmd`): a filter comparing all 64 bits let `TIOCSTI | 1 << 32` through
//! (CVE-2019-10063 in flatpak). The native ABI and its 32-bit compat ABI (and x32 on
//! x86_64) are all covered: a compat process reaches `ioctl` under another number.

use libc::sock_filter;

use super::notify::bpf::{ARCH, LD_W_ABS, NR, RET_K, arg_low, audit_arch, jeq, stmt};

/// The ioctl numbers in each ABI.
#[cfg(target_arch = "x86_64")]
mod arch {
    pub const NATIVE_IOCTL: u32 = 16;
    /// x32 reaches the x86_64 table with bit 30 set; its ioctl is entry 514.
    pub const NATIVE_IOCTL_ALT: u32 = 0x4000_0000 | 514;
    pub const COMPAT_IOCTL: u32 = 54;
}

#[cfg(target_arch = "aarch64")]
mod arch {
    pub const NATIVE_IOCTL: u32 = 29;
    pub const NATIVE_IOCTL_ALT: u32 = 29;
    pub const COMPAT_IOCTL: u32 = 54;
}

/// The ioctl requests refused.
pub const REFUSED_IOCTLS: [u32; 2] = [libc::TIOCSTI as u32, libc::TIOCLINUX as u32];

/// The low 32 bits of args[1]: the request, as the kernel reads it.
const ARG1_LOW: u32 = arg_low(1);

/// The program (see the module's doc). Jump offsets are relative, so the layout is
/// written out with each target's index in a comment.
pub fn tty_injection_filter() -> Vec<sock_filter> {
    let [sti, linux] = REFUSED_IOCTLS;
    vec![
        /* 0 */ stmt(LD_W_ABS, ARCH),
        /* 1 */ jeq(audit_arch::NATIVE, 0, 3), // → 2, else → 5
        /* 2 */ stmt(LD_W_ABS, NR),
        /* 3 */ jeq(arch::NATIVE_IOCTL, 4, 0), // → 8, else → 4
        /* 4 */ jeq(arch::NATIVE_IOCTL_ALT, 3, 6), // → 8, else → 11
        /* 5 */ jeq(audit_arch::COMPAT, 0, 5), // → 6, else → 11
        /* 6 */ stmt(LD_W_ABS, NR),
        /* 7 */ jeq(arch::COMPAT_IOCTL, 0, 3), // → 8, else → 11
        /* 8 */ stmt(LD_W_ABS, ARG1_LOW),
        /* 9 */ jeq(sti, 2, 0), // → 12, else → 10
        /* 10 */ jeq(linux, 1, 0), // → 12, else → 11
        /* 11 */ stmt(RET_K, libc::SECCOMP_RET_ALLOW),
        /* 12 */ stmt(RET_K, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::notify::bpf::{run, seccomp_data};

    fn data(arch: u32, nr: u32, arg1: u64) -> [u8; 64] {
        seccomp_data(arch, nr, [0, arg1, 0, 0, 0, 0])
    }

    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;

    #[test]
    fn tiocsti_and_tioclinux_are_refused_on_every_abi() {
        let prog = tty_injection_filter();
        for (a, nr) in [
            (audit_arch::NATIVE, arch::NATIVE_IOCTL),
            (audit_arch::NATIVE, arch::NATIVE_IOCTL_ALT),
            (audit_arch::COMPAT, arch::COMPAT_IOCTL),
        ] {
            for req in REFUSED_IOCTLS {
                assert_eq!(run(&prog, &data(a, nr, req.into())), EPERM);
                // The kernel reads only the low 32 bits of the request.
                let high = u64::from(req) | 1 << 32;
                assert_eq!(run(&prog, &data(a, nr, high)), EPERM);
            }
            let tcgets = u64::from(libc::TCGETS as u32);
            assert_eq!(run(&prog, &data(a, nr, tcgets)), ALLOW);
        }
    }

    #[test]
    fn other_syscalls_and_arches_pass() {
        let prog = tty_injection_filter();
        let sti = u64::from(REFUSED_IOCTLS[0]);
        // write(2) on x86_64 is 1, on aarch64 64: neither is ioctl.
        assert_eq!(run(&prog, &data(audit_arch::NATIVE, 1, sti)), ALLOW);
        assert_eq!(run(&prog, &data(audit_arch::COMPAT, 4, sti)), ALLOW);
        assert_eq!(run(&prog, &data(0x1234, arch::NATIVE_IOCTL, sti)), ALLOW);
    }
}

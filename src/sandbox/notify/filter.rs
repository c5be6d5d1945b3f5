//! The filter: write-class syscalls go to the daemon (`SECCOMP_RET_USER_NOTIF`), every
//! other syscall is allowed, `io_uring_setup` fails with ENOSYS.
//!
//! Both ABIs of the machine are covered: a 32-bit process (or `int 0x80` from a 64-bit
//! one) reaches the compat table under other numbers, and x32 the native table with
//! bit 30 set (cleared before the comparison). Any other arch is allowed: a process
//! cannot run in one. `open`, `openat` and the `access` family are sent only when their
//! flags or mode ask for a write; the comparison is on the low 32 bits, as the kernel
//! reads an `int` (a filter comparing all 64 bits lets `O_WRONLY | 1 << 32` through).
//!
//! The syscalls whose notification depends on nothing but the number are the only ones
//! the kernel cannot pass without running the filter: its per-syscall allow cache
//! (Linux 5.11) skips the filter for every other number, so a read, a stat or an exec
//! costs nothing here.

use libc::sock_filter;

use super::bpf::{ARCH, Asm, NR, To, arg_low, audit_arch};
use super::syscalls::{Abi, X32_BIT};

pub const NOTIFY: u32 = libc::SECCOMP_RET_USER_NOTIF;
pub const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
pub const NO_IO_URING: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

/// The program (see the module's doc).
pub fn write_filter() -> Vec<sock_filter> {
    let mut asm = Asm::default();
    let [native, compat, notify, allow, enosys] = [(); 5].map(|()| asm.label());
    // The argument checks, shared by both ABIs: one label per (argument, bits).
    let mut checks: Vec<((u32, u32), super::bpf::Label)> = Vec::new();

    asm.load(ARCH);
    asm.jump_eq(audit_arch::NATIVE, To::Label(native), To::Next);
    asm.jump_eq(audit_arch::COMPAT, To::Label(compat), To::Label(allow));
    for (abi, start) in [(Abi::Native, native), (Abi::Compat, compat)] {
        asm.place(start);
        asm.load(NR);
        if abi == Abi::Native && X32_BIT != 0 {
            asm.and(!X32_BIT);
        }
        asm.jump_eq(abi.io_uring_setup(), To::Label(enosys), To::Next);
        for &(nr, sys) in abi.table() {
            let target = match sys.only_when() {
                None => notify,
                Some(check) => match checks.iter().find(|(c, _)| *c == check) {
                    Some(&(_, label)) => label,
                    None => {
                        let label = asm.label();
                        checks.push((check, label));
                        label
                    }
                },
            };
            asm.jump_eq(nr, To::Label(target), To::Next);
        }
        asm.ret(ALLOW);
    }
    for &((arg, bits), label) in &checks {
        asm.place(label);
        asm.load(arg_low(arg));
        asm.jump_set(bits, To::Label(notify), To::Label(allow));
    }
    asm.place(notify);
    asm.ret(NOTIFY);
    asm.place(allow);
    asm.ret(ALLOW);
    asm.place(enosys);
    asm.ret(NO_IO_URING);
    asm.finish()
}

#[cfg(test)]
mod tests {
    use super::super::bpf::{run, seccomp_data};
    use super::super::syscalls::Sys;
    use super::*;

    fn verdict(arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        run(&write_filter(), &seccomp_data(arch, nr, args))
    }

    /// Each ABI's arch value, and the number transformations that reach its table.
    fn abis() -> Vec<(Abi, u32, u32)> {
        let mut abis = vec![
            (Abi::Native, audit_arch::NATIVE, 0),
            (Abi::Compat, audit_arch::COMPAT, 0),
        ];
        if X32_BIT != 0 {
            abis.push((Abi::Native, audit_arch::NATIVE, X32_BIT));
        }
        abis
    }

    /// Arguments that make a conditional syscall write-class.
    fn writing_args(sys: Sys) -> [u64; 6] {
        let mut args = [0u64; 6];
        if let Some((arg, bits)) = sys.only_when() {
            args[arg as usize] = u64::from(bits & bits.wrapping_neg()); // one of its bits
        }
        args
    }

    #[test]
    fn every_write_class_syscall_notifies_on_every_abi() {
        for (abi, arch, bit) in abis() {
            assert!(!abi.table().is_empty());
            for &(nr, sys) in abi.table() {
                let got = verdict(arch, nr | bit, writing_args(sys));
                assert_eq!(got, NOTIFY, "{abi:?} {sys:?} nr {nr} bit {bit:#x}");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn open_notifies_only_with_write_flags() {
        let creat = libc::O_CREAT as u64;
        let wr = libc::O_WRONLY as u64;
        let cases: [(u64, bool); 8] = [
            (libc::O_RDONLY as u64, false),
            (libc::O_RDONLY as u64 | libc::O_CLOEXEC as u64, false),
            ((libc::O_DIRECTORY | libc::O_NOFOLLOW) as u64, false),
            (wr, true),
            (libc::O_RDWR as u64, true),
            (creat, true),
            (libc::O_TRUNC as u64, true),
            (libc::O_TMPFILE as u64 | wr, true),
        ];
        // open(path, flags), openat(dirfd, path, flags) in both ABIs.
        for (arch, nr, at) in [
            (audit_arch::NATIVE, 2, 1),
            (audit_arch::NATIVE, 257, 2),
            (audit_arch::COMPAT, 5, 1),
            (audit_arch::COMPAT, 295, 2),
        ] {
            for (flags, notifies) in cases {
                let mut args = [0u64; 6];
                args[at] = flags;
                let want = if notifies { NOTIFY } else { ALLOW };
                assert_eq!(verdict(arch, nr, args), want, "nr {nr} flags {flags:#o}");
                // The kernel reads `int flags`: the high half is noise either way.
                args[at] = flags | 0xFFFF_FFFF_0000_0000;
                assert_eq!(verdict(arch, nr, args), want, "nr {nr} high {flags:#o}");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn access_notifies_only_for_w_ok() {
        for (arch, nr, at) in [
            (audit_arch::NATIVE, 21, 1),
            (audit_arch::NATIVE, 269, 2),
            (audit_arch::NATIVE, 439, 2),
            (audit_arch::COMPAT, 33, 1),
            (audit_arch::COMPAT, 307, 2),
        ] {
            for (mode, want) in [
                (libc::F_OK, ALLOW),
                (libc::R_OK, ALLOW),
                (libc::X_OK | libc::R_OK, ALLOW),
                (libc::W_OK, NOTIFY),
                (libc::R_OK | libc::W_OK, NOTIFY),
            ] {
                let mut args = [0u64; 6];
                args[at] = mode as u64;
                assert_eq!(verdict(arch, nr, args), want, "nr {nr} mode {mode}");
                args[at] = mode as u64 | 1 << 40;
                assert_eq!(verdict(arch, nr, args), want, "nr {nr} high {mode}");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn other_syscalls_and_arches_are_allowed() {
        let all_ones = [u64::MAX; 6];
        // read, write, stat, execve, fchmod, fchown, ftruncate, fsetxattr, ioctl, mmap.
        for nr in [0, 1, 4, 59, 91, 93, 77, 190, 16, 9] {
            assert_eq!(verdict(audit_arch::NATIVE, nr, all_ones), ALLOW, "{nr}");
            assert_eq!(verdict(audit_arch::NATIVE, nr | X32_BIT, all_ones), ALLOW);
        }
        // i386: read, write, stat, execve, fchmod, fchown; 2 is fork (x86_64's open).
        for nr in [3, 4, 106, 11, 94, 95, 2, 257] {
            assert_eq!(verdict(audit_arch::COMPAT, nr, all_ones), ALLOW, "{nr}");
        }
        // An arch that is neither: everything passes, even x86_64's open numbers.
        for arch in [0, 0xC000_00B7, 0x4000_003E] {
            assert_eq!(verdict(arch, 2, all_ones), ALLOW);
            assert_eq!(verdict(arch, 257, all_ones), ALLOW);
        }
    }

    #[test]
    fn io_uring_setup_fails_with_enosys() {
        for (abi, arch, bit) in abis() {
            assert_eq!(
                verdict(arch, abi.io_uring_setup() | bit, [0; 6]),
                NO_IO_URING
            );
        }
    }
}

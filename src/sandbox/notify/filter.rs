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

use super::bpf::{ARCH, Asm, Label, NR, To, arg_low, audit_arch};
use super::syscalls::{Abi, X32_BIT};

pub const NOTIFY: u32 = libc::SECCOMP_RET_USER_NOTIF;
pub const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
pub const NO_IO_URING: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

/// The program (see the module's doc).
pub fn write_filter() -> Vec<sock_filter> {
    let mut asm = Asm::default();
    let [native, compat, notify, allow, enosys] = [(); 5].map(|()| asm.label());
    // The argument checks, shared by both ABIs: one label per (argument, bits).
    let mut checks: Vec<((u32, u32), Label)> = Vec::new();

    asm.load(ARCH);
    asm.jump_eq(audit_arch::NATIVE, To::Label(native), To::Next);
    asm.jump_eq(audit_arch::COMPAT, To::Label(compat), To::Label(allow));
    for (abi, start) in [(Abi::Native, native), (Abi::Compat, compat)] {
        asm.place(start);
        asm.load(NR);
        if abi == Abi::Native && X32_BIT != 0 {
            asm.and(!X32_BIT);
        }
        let mut numbers = vec![(abi.io_uring_setup(), enosys)];
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
            numbers.push((nr, target));
        }
        search(&mut asm, &intervals(numbers, allow));
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

/// The numbers' targets as intervals of numbers that go to the same place: (first
/// number, target), sorted, the first from 0, each up to the next one's first number.
/// The numbers not given go to `otherwise`.
fn intervals(mut numbers: Vec<(u32, Label)>, otherwise: Label) -> Vec<(u32, Label)> {
    numbers.sort_unstable_by_key(|&(nr, _)| nr);
    debug_assert!(
        numbers.windows(2).all(|w| w[0].0 < w[1].0),
        "a number twice"
    );
    let mut intervals = vec![(0, otherwise)];
    for (nr, target) in numbers {
        // Right after the previous number: no gap between them.
        if intervals.last().is_some_and(|&(from, _)| from == nr) {
            intervals.pop();
        }
        for (from, to) in [(nr, target), (nr + 1, otherwise)] {
            if intervals.last().is_none_or(|&(_, last)| last != to) {
                intervals.push((from, to));
            }
        }
    }
    intervals
}

/// Goes to the target of the accumulator's interval among `intervals` (at least two;
/// `io_uring_setup` makes three): a balanced binary search, one `>=` per halving and
/// no instruction at the leaves. The kernel walks the filter for every number of each
/// arch when it is installed, to fill its allow cache (with interrupts off), and
/// compiles every instruction: both lengths are paid by every start.
fn search(asm: &mut Asm, intervals: &[(u32, Label)]) {
    let (low, high) = intervals.split_at(intervals.len() / 2);
    // A half of one interval is its target; a longer one, a search of its own.
    let mut start = |half: &[(u32, Label)]| match *half {
        [(_, target)] => target,
        _ => asm.label(),
    };
    let (to_low, to_high) = (start(low), start(high));
    asm.jump_ge(high[0].0, To::Label(to_high), To::Label(to_low));
    for (half, label) in [(low, to_low), (high, to_high)] {
        if half.len() > 1 {
            asm.place(label);
            search(asm, half);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::bpf::{run, run_counting, seccomp_data};
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

    /// The verdict the filter must give, straight from the syscall tables: the
    /// reference the program is checked against, number by number.
    fn model(arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let (abi, nr) = match arch {
            audit_arch::NATIVE => (Abi::Native, nr & !X32_BIT),
            audit_arch::COMPAT => (Abi::Compat, nr),
            _ => return ALLOW,
        };
        if nr == abi.io_uring_setup() {
            return NO_IO_URING;
        }
        let Some(&(_, sys)) = abi.table().iter().find(|&&(n, _)| n == nr) else {
            return ALLOW;
        };
        match sys.only_when() {
            None => NOTIFY,
            // The low 32 bits, as the kernel reads an `int`.
            Some((arg, bits)) if args[arg as usize] as u32 & bits != 0 => NOTIFY,
            Some(_) => ALLOW,
        }
    }

    /// Arguments all clear, all set, and in each argument: each bit set alone, each bit
    /// an argument check tests cleared alone, and all but a check's bits set.
    fn argument_sets() -> Vec<[u64; 6]> {
        let mut masks: Vec<u32> = [Abi::Native, Abi::Compat]
            .iter()
            .flat_map(|abi| abi.table())
            .filter_map(|&(_, sys)| sys.only_when().map(|(_, bits)| bits))
            .collect();
        masks.sort_unstable();
        masks.dedup();
        let checked = masks.iter().fold(0, |all, bits| all | bits);
        let mut values: Vec<u64> = (0..64).map(|bit| 1 << bit).collect();
        values.extend(
            (0..32)
                .filter(|b| checked & 1 << b != 0)
                .map(|b| !(1u64 << b)),
        );
        values.extend(masks.iter().map(|&bits| !u64::from(bits)));
        let mut sets = vec![[0; 6], [u64::MAX; 6]];
        for arg in 0..6 {
            for &value in &values {
                let mut set = [0; 6];
                set[arg] = value;
                sets.push(set);
            }
        }
        sets
    }

    /// The syscall numbers tried: all those of every table and more, with and without
    /// the x32 bit, and a few with the high bits set.
    fn numbers() -> impl Iterator<Item = u32> {
        let odd = [u32::MAX, 0x8000_0000 | 257, 0xC000_0002, 0x4000_0000 | 425];
        (0..1100)
            .chain((0..1100).map(|nr| nr | 0x4000_0000))
            .chain(odd)
    }

    #[test]
    fn the_program_gives_the_tables_verdict_for_every_number_and_argument() {
        let prog = write_filter();
        let args = argument_sets();
        // Both audit arches, and foreign ones (none, the other width's, riscv64).
        let foreign = [0, audit_arch::NATIVE ^ 0x8000_0000, 0xC000_00F3];
        for arch in [audit_arch::NATIVE, audit_arch::COMPAT]
            .into_iter()
            .chain(foreign)
        {
            for nr in numbers() {
                for &args in &args {
                    let data = seccomp_data(arch, nr, args);
                    let want = model(arch, nr, args);
                    assert_eq!(
                        run(&prog, &data),
                        want,
                        "arch {arch:#x} nr {nr:#x} {args:x?}"
                    );
                }
            }
        }
    }

    /// The kernel walks the program for every number of each arch when it is installed
    /// (to fill its allow cache). On x86_64 a chain of `==` as long as the tables took
    /// up to 48 instructions to allow a syscall, the binary search takes 11 (numbers
    /// 0..470 of both arches: 41,616 instructions walked before, 10,107 now).
    #[test]
    fn a_syscall_that_is_not_write_class_is_allowed_after_few_instructions() {
        let prog = write_filter();
        let mut longest = 0;
        for arch in [audit_arch::NATIVE, audit_arch::COMPAT] {
            for nr in 0..1100 {
                if model(arch, nr, [u64::MAX; 6]) == ALLOW {
                    let (verdict, steps) = run_counting(&prog, &seccomp_data(arch, nr, [0; 6]));
                    assert_eq!(verdict, ALLOW);
                    longest = longest.max(steps);
                }
            }
        }
        assert!(longest <= 13, "{longest} instructions");
        // And every instruction is compiled at install: 119 on x86_64.
        assert!(prog.len() <= 140, "{} instructions", prog.len());
    }
}

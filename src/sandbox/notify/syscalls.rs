//! Which syscalls are write-class, under which number in each ABI, and where their
//! arguments are. One table per ABI serves both the filter (which numbers to send to the
//! daemon) and the decoder (what a notification's syscall is).
//!
//! The numbers are from the kernel's uapi headers: `asm/unistd_64.h` and
//! `asm/unistd_32.h` on x86_64; the syscalls added after the headers this machine ships
//! (fchmodat2 452, setxattrat 463, removexattrat 466) have the same number in every
//! table, from `arch/x86/entry/syscalls/syscall_{32,64}.tbl`.

/// A write-class syscall, whatever its number. The i386 variants that differ only in
/// the width of an argument (`chown32`, `truncate64`, `utimensat_time64`…) are the
/// same entry: they name their paths in the same places.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sys {
    Open,
    Openat,
    Openat2,
    Creat,
    Mkdir,
    Mkdirat,
    Mknod,
    Mknodat,
    Unlink,
    Unlinkat,
    Rmdir,
    Rename,
    Renameat,
    Renameat2,
    Link,
    Linkat,
    Symlink,
    Symlinkat,
    Chmod,
    Fchmodat,
    Fchmodat2,
    Chown,
    Lchown,
    Fchownat,
    Truncate,
    Utime,
    Utimes,
    Futimesat,
    Utimensat,
    Setxattr,
    Lsetxattr,
    Setxattrat,
    Removexattr,
    Lremovexattr,
    Removexattrat,
    Access,
    Faccessat,
    Faccessat2,
}

/// The two ABIs a process on this machine can make syscalls in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abi {
    /// x86_64 (and x32, whose numbers are x86_64's with [`X32_BIT`] set).
    Native,
    /// i386: a 32-bit program, or `int 0x80` from a 64-bit one.
    Compat,
}

/// x32 reaches the x86_64 table with this bit set in the number.
#[cfg(target_arch = "x86_64")]
pub const X32_BIT: u32 = 0x4000_0000;
#[cfg(not(target_arch = "x86_64"))]
pub const X32_BIT: u32 = 0;

impl Abi {
    /// The write-class syscalls' numbers in this ABI.
    pub fn table(self) -> &'static [(u32, Sys)] {
        match self {
            Abi::Native => arch::NATIVE,
            Abi::Compat => arch::COMPAT,
        }
    }

    /// `io_uring_setup`, refused (an io_uring's operations are not syscalls a seccomp
    /// filter sees; programs fall back to plain syscalls on ENOSYS).
    pub fn io_uring_setup(self) -> u32 {
        425
    }

    pub fn identify(self, nr: u32) -> Option<Sys> {
        let nr = match self {
            Abi::Native => nr & !X32_BIT,
            Abi::Compat => nr,
        };
        self.table()
            .iter()
            .find(|&&(n, _)| n == nr)
            .map(|&(_, s)| s)
    }
}

impl Sys {
    /// Syscalls that are write-class only for some argument values: the argument (its
    /// low 32 bits, as the kernel reads an `int`) and the bits of which any makes it one.
    /// Every other entry is always write-class.
    pub fn only_when(self) -> Option<(u32, u32)> {
        const WRITES: u32 = (libc::O_WRONLY | libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC) as u32;
        const W_OK: u32 = libc::W_OK as u32;
        match self {
            Sys::Open => Some((1, WRITES)),
            Sys::Openat => Some((2, WRITES)),
            Sys::Access => Some((1, W_OK)),
            Sys::Faccessat | Sys::Faccessat2 => Some((2, W_OK)),
            _ => None,
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod arch {
    use super::Sys::{self, *};

    /// asm/unistd_64.h.
    pub const NATIVE: &[(u32, Sys)] = &[
        // In any order: the filter sorts them for its binary search.
        (257, Openat),
        (2, Open),
        (21, Access),
        (269, Faccessat),
        (439, Faccessat2),
        (437, Openat2),
        (85, Creat),
        (83, Mkdir),
        (258, Mkdirat),
        (133, Mknod),
        (259, Mknodat),
        (87, Unlink),
        (263, Unlinkat),
        (84, Rmdir),
        (82, Rename),
        (264, Renameat),
        (316, Renameat2),
        (86, Link),
        (265, Linkat),
        (88, Symlink),
        (266, Symlinkat),
        (90, Chmod),
        (268, Fchmodat),
        (452, Fchmodat2),
        (92, Chown),
        (94, Lchown),
        (260, Fchownat),
        (76, Truncate),
        (132, Utime),
        (235, Utimes),
        (261, Futimesat),
        (280, Utimensat),
        (188, Setxattr),
        (189, Lsetxattr),
        (463, Setxattrat),
        (197, Removexattr),
        (198, Lremovexattr),
        (466, Removexattrat),
    ];

    /// asm/unistd_32.h.
    pub const COMPAT: &[(u32, Sys)] = &[
        (295, Openat),
        (5, Open),
        (33, Access),
        (307, Faccessat),
        (439, Faccessat2),
        (437, Openat2),
        (8, Creat),
        (39, Mkdir),
        (296, Mkdirat),
        (14, Mknod),
        (297, Mknodat),
        (10, Unlink),
        (301, Unlinkat),
        (40, Rmdir),
        (38, Rename),
        (302, Renameat),
        (353, Renameat2),
        (9, Link),
        (303, Linkat),
        (83, Symlink),
        (304, Symlinkat),
        (15, Chmod),
        (306, Fchmodat),
        (452, Fchmodat2),
        (182, Chown),  // chown with 16-bit ids
        (212, Chown),  // chown32
        (16, Lchown),  // lchown with 16-bit ids
        (198, Lchown), // lchown32
        (298, Fchownat),
        (92, Truncate),
        (193, Truncate), // truncate64: the length in two registers, the path first
        (30, Utime),
        (271, Utimes),
        (299, Futimesat),
        (320, Utimensat),
        (412, Utimensat), // utimensat_time64
        (226, Setxattr),
        (227, Lsetxattr),
        (463, Setxattrat),
        (235, Removexattr),
        (236, Lremovexattr),
        (466, Removexattrat),
    ];
}

/// aarch64 has only the `*at` forms (asm-generic/unistd.h); its 32-bit compat ABI
/// (arm) is not covered: the filter lets it through.
#[cfg(target_arch = "aarch64")]
mod arch {
    use super::Sys::{self, *};

    pub const NATIVE: &[(u32, Sys)] = &[
        (56, Openat),
        (48, Faccessat),
        (439, Faccessat2),
        (437, Openat2),
        (34, Mkdirat),
        (33, Mknodat),
        (35, Unlinkat),
        (38, Renameat),
        (276, Renameat2),
        (37, Linkat),
        (36, Symlinkat),
        (53, Fchmodat),
        (452, Fchmodat2),
        (54, Fchownat),
        (45, Truncate),
        (88, Utimensat),
        (5, Setxattr),
        (6, Lsetxattr),
        (463, Setxattrat),
        (14, Removexattr),
        (15, Lremovexattr),
        (466, Removexattrat),
    ];

    pub const COMPAT: &[(u32, Sys)] = &[];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_number_is_in_a_table_once() {
        for abi in [Abi::Native, Abi::Compat] {
            let mut numbers: Vec<u32> = abi.table().iter().map(|&(n, _)| n).collect();
            numbers.sort();
            let all = numbers.len();
            numbers.dedup();
            assert_eq!(numbers.len(), all, "{abi:?}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn both_abis_cover_every_write_class_syscall() {
        use Sys::*;
        let all = [
            Open,
            Openat,
            Openat2,
            Creat,
            Mkdir,
            Mkdirat,
            Mknod,
            Mknodat,
            Unlink,
            Unlinkat,
            Rmdir,
            Rename,
            Renameat,
            Renameat2,
            Link,
            Linkat,
            Symlink,
            Symlinkat,
            Chmod,
            Fchmodat,
            Fchmodat2,
            Chown,
            Lchown,
            Fchownat,
            Truncate,
            Utime,
            Utimes,
            Futimesat,
            Utimensat,
            Setxattr,
            Lsetxattr,
            Setxattrat,
            Removexattr,
            Lremovexattr,
            Removexattrat,
            Access,
            Faccessat,
            Faccessat2,
        ];
        for abi in [Abi::Native, Abi::Compat] {
            for sys in all {
                assert!(
                    abi.table().iter().any(|&(_, s)| s == sys),
                    "{abi:?} {sys:?}"
                );
            }
        }
        // i386's 16-bit and 32-bit id forms, and its 64-bit length and time forms.
        for nr in [182, 212, 16, 198, 92, 193, 320, 412] {
            assert!(Abi::Compat.identify(nr).is_some(), "{nr}");
        }
    }

    /// The names a table entry may have in the uapi headers.
    #[cfg(target_arch = "x86_64")]
    fn header_names(sys: Sys) -> &'static [&'static str] {
        match sys {
            Sys::Chown => &["chown", "chown32"],
            Sys::Lchown => &["lchown", "lchown32"],
            Sys::Truncate => &["truncate", "truncate64"],
            Sys::Utimensat => &["utimensat", "utimensat_time64"],
            _ => &[],
        }
    }

    /// Every entry against the installed uapi header, where there is one (the numbers
    /// newer than the header are left out: see the module's doc).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn numbers_agree_with_the_uapi_headers() {
        let dir = std::path::Path::new("/usr/include/x86_64-linux-gnu/asm");
        for (abi, header) in [(Abi::Native, "unistd_64.h"), (Abi::Compat, "unistd_32.h")] {
            let Ok(text) = std::fs::read_to_string(dir.join(header)) else {
                eprintln!("no {header}: not checked");
                continue;
            };
            let names: std::collections::HashMap<u32, &str> = text
                .lines()
                .filter_map(|l| {
                    let mut w = l.strip_prefix("#define __NR_")?.split_whitespace();
                    let name = w.next()?;
                    Some((w.next()?.parse().ok()?, name))
                })
                .collect();
            for &(nr, sys) in abi.table() {
                let Some(&name) = names.get(&nr) else {
                    assert!(matches!(nr, 452 | 463 | 466), "{header}: no {nr} ({sys:?})");
                    continue;
                };
                let plain = format!("{sys:?}").to_lowercase();
                assert!(
                    name == plain || header_names(sys).contains(&name),
                    "{header}: {nr} is {name}, not {sys:?}"
                );
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn numbers_agree_with_libc() {
        let native = [
            (libc::SYS_open, Sys::Open),
            (libc::SYS_openat, Sys::Openat),
            (libc::SYS_openat2, Sys::Openat2),
            (libc::SYS_renameat2, Sys::Renameat2),
            (libc::SYS_fchmodat2, Sys::Fchmodat2),
            (libc::SYS_utimensat, Sys::Utimensat),
            (libc::SYS_lremovexattr, Sys::Lremovexattr),
            (libc::SYS_faccessat2, Sys::Faccessat2),
            (libc::SYS_truncate, Sys::Truncate),
        ];
        for (nr, sys) in native {
            assert_eq!(Abi::Native.identify(nr as u32), Some(sys), "{sys:?}");
            assert_eq!(
                Abi::Native.identify(nr as u32 | X32_BIT),
                Some(sys),
                "x32 {sys:?}"
            );
        }
        assert_eq!(Abi::Native.identify(libc::SYS_write as u32), None);
        assert_eq!(
            Abi::Native.io_uring_setup(),
            libc::SYS_io_uring_setup as u32
        );
        // i386: the same syscall is another number.
        assert_eq!(Abi::Compat.identify(5), Some(Sys::Open));
        assert_eq!(Abi::Compat.identify(2), None); // fork
        assert_eq!(Abi::Compat.identify(212), Some(Sys::Chown));
    }
}

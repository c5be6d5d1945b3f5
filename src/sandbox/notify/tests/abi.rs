//! The 32-bit syscall table: a static i386 program (no libc, assembled here) that
//! opens a file with `int 0x80` and exits with the negated return value; and the same
//! from a 64-bit program, which reaches the same table, with garbage in the registers'
//! high halves (the kernel reads 32 bits).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Isolation, Op, Scene, stderr};

/// `open(PATH, O_WRONLY|O_CREAT, 0644)` with `int 0x80`, then `exit(-result)`: 13 for
/// EACCES, 253 for fd 3.
fn open_program(path: &Path, bits: u32) -> String {
    let setup = if bits == 32 {
        "movl $path, %ebx\n movl $0x41, %ecx\n"
    } else {
        "movq $path, %rbx\n movabsq $0xdeadbeef00000000, %rax\n orq %rax, %rbx\n \
         movabsq $0xdeadbeef00000041, %rcx\n"
    };
    format!(
        ".globl _start\n.text\n_start:\n {setup} movl $5, %eax\n movl $0644, %edx\n \
         int $0x80\n negl %eax\n movl %eax, %ebx\n movl $1, %eax\n int $0x80\n\
         .data\npath: .asciz \"{}\"\n",
        path.display()
    )
}

/// `exit(42)` with `int 0x80`: whether this kernel runs i386 programs at all.
const PROBE: &str = ".globl _start\n.text\n_start:\n movl $1, %eax\n movl $42, %ebx\n int $0x80\n";

/// Assembles and links `source` as a static program; None without binutils.
fn build(dir: &Path, name: &str, source: &str, bits: u32) -> Option<PathBuf> {
    let (as_flag, emulation) = if bits == 32 {
        ("--32", "elf_i386")
    } else {
        ("--64", "elf_x86_64")
    };
    let src = dir.join(format!("{name}.s"));
    let obj = dir.join(format!("{name}.o"));
    let exe = dir.join(name);
    std::fs::write(&src, source).unwrap();
    let status = Command::new("as")
        .arg(as_flag)
        .arg("-o")
        .arg(&obj)
        .arg(&src)
        .status();
    match status {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("no `as` (binutils): the i386 ABI is not tested");
            return None;
        }
        r => assert!(r.unwrap().success(), "as failed"),
    }
    let status = Command::new("ld")
        .args(["-m", emulation, "-static", "-o"])
        .arg(&exe)
        .arg(&obj)
        .status()
        .unwrap();
    assert!(status.success(), "ld failed");
    Some(exe)
}

/// Whether 32-bit programs run here (a kernel without IA32 emulation says ENOEXEC).
fn i386_runs(dir: &Path) -> bool {
    let Some(probe) = build(dir, "probe", PROBE, 32) else {
        return false;
    };
    match Command::new(&probe).status() {
        Ok(status) => {
            assert_eq!(status.code(), Some(42));
            true
        }
        Err(e) => {
            eprintln!("this kernel does not run i386 programs ({e}): not tested");
            false
        }
    }
}

fn run_open(s: &Scene, tools: &Path, bits: u32, rel: &str) -> Option<i32> {
    let name = format!("open{bits}-{}", rel.replace('/', "-"));
    let exe = build(tools, &name, &open_program(&s.p(rel), bits), bits)?;
    let out = s.run(Command::new(exe), Isolation::None);
    assert!(out.status.code().is_some(), "{out:?} {}", stderr(&out));
    out.status.code()
}

#[test]
fn an_i386_process_is_judged_through_its_own_syscall_table() {
    let s = Scene::new();
    let tools = tempfile::tempdir().unwrap();
    if !i386_runs(tools.path()) {
        return;
    }
    assert_eq!(
        run_open(&s, tools.path(), 32, "ro/i386"),
        Some(libc::EACCES)
    );
    assert!(!s.p("ro/i386").exists());
    assert_eq!(run_open(&s, tools.path(), 32, "w/i386"), Some(256 - 3));
    assert!(s.p("w/i386").exists());
    assert_eq!(
        s.seen(),
        [
            (Op::OpenWrCreat, PathBuf::from("ro/i386")),
            (Op::OpenWrCreat, PathBuf::from("w/i386")),
        ]
    );
}

#[test]
fn int_0x80_from_a_64_bit_process_is_judged_on_32_bits() {
    let s = Scene::new();
    let tools = tempfile::tempdir().unwrap();
    if !i386_runs(tools.path()) {
        return;
    }
    assert_eq!(
        run_open(&s, tools.path(), 64, "ro/int80"),
        Some(libc::EACCES)
    );
    assert!(!s.p("ro/int80").exists());
    assert_eq!(run_open(&s, tools.path(), 64, "w/int80"), Some(256 - 3));
    assert!(s.p("w/int80").exists());
    assert_eq!(
        s.seen(),
        [
            (Op::OpenWrCreat, PathBuf::from("ro/int80")),
            (Op::OpenWrCreat, PathBuf::from("w/int80")),
        ]
    );
}

//! The acceptance cases: each ebuild of the tiny repository run with `ebuild … clean
//! install`, and what Portage, its sandbox log and the host show after it.

use std::path::Path;

use super::*;
use crate::common::*;

/// One violation block of a Gentoo sandbox log.
#[derive(Debug, PartialEq, Eq)]
struct Block {
    f: String,
    s: String,
    p: String,
    a: String,
    r: String,
    c: String,
}

/// The blocks of a Gentoo-format log (README, "Violation log"), checking its form:
/// the header, then blocks of exactly the lines F, S, P, A, R, C, each after a blank
/// line.
#[track_caller]
fn parse_log(text: &str) -> Vec<Block> {
    let body = text
        .strip_prefix(LOG_HEADER)
        .unwrap_or_else(|| panic!("the log does not start with Gentoo's header:\n{text}"));
    let mut blocks = Vec::new();
    for chunk in body.split_terminator("\n\n") {
        let chunk = chunk.strip_prefix('\n').unwrap_or(chunk);
        let lines: Vec<&str> = chunk.lines().collect();
        let field = |i: usize, key: &str| -> String {
            lines
                .get(i)
                .and_then(|l| l.strip_prefix(key))
                .unwrap_or_else(|| panic!("line {i} of a block is not `{key}…`:\n{text}"))
                .to_string()
        };
        assert_eq!(lines.len(), 6, "a block of other than 6 lines:\n{text}");
        blocks.push(Block {
            f: field(0, "F: "),
            s: field(1, "S: "),
            p: field(2, "P: "),
            a: field(3, "A: "),
            r: field(4, "R: "),
            c: field(5, "C: "),
        });
    }
    assert!(text.ends_with('\n'), "the log does not end a line:\n{text}");
    blocks
}

/// What Portage printed: its own messages and the phases' output.
fn output(out: &Out) -> String {
    format!("{}{}", out.stdout, out.stderr)
}

/// The ebuild exited 1 after its compile phase, because of the sandbox alone: Portage
/// ran the die hooks, never the install phase; `${T}/sandbox.log` holds exactly one
/// block, a denied write of `target`, by a command line containing `by`; the host has
/// no `target`.
#[track_caller]
fn assert_compile_failed_on(p: &Prefix, name: &str, out: &Out, target: &Path, by: &str) {
    assert_eq!(out.code(), Some(1), "the ebuild should fail\n{out}");
    let b = p.builddir(name);
    assert!(
        b.join(".die_hooks").exists(),
        "Portage ran no die hooks\n{out}"
    );
    assert!(
        !b.join(".installed").exists() && !p.image(name).exists(),
        "the install phase ran after the violation\n{out}"
    );
    assert!(
        !target.exists(),
        "{} was written on the host\n{out}",
        target.display()
    );
    let logs = p.nonempty_sandbox_logs(name);
    let names: Vec<&str> = logs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["sandbox.log"],
        "the non-empty sandbox logs: {logs:#?}\n{out}"
    );
    let text = &logs[0].1;
    let blocks = parse_log(text);
    assert_eq!(
        blocks.len(),
        1,
        "one violation, and only it:\n{text}\n{out}"
    );
    let block = &blocks[0];
    let t = s(target);
    assert!(block.f.starts_with("open_wr"), "{block:?}");
    assert_eq!(block.s, "deny", "{block:?}");
    assert_eq!((&*block.p, &*block.a, &*block.r), (t, t, t), "{block:?}");
    assert!(block.c.contains(by), "C: should name `{by}`: {block:?}");
    // fusebox's summary, for the person reading Portage's output (Portage sends the
    // phases' stderr to its stdout).
    assert!(
        output(out).contains("SANDBOX ACCESS VIOLATION SUMMARY"),
        "no violation summary in Portage's output\n{out}"
    );
}

/// The ebuild installed, and nothing was logged (no sandbox log, or an empty one).
#[track_caller]
fn assert_clean_install(p: &Prefix, name: &str, out: &Out) {
    assert_eq!(out.code(), Some(0), "the ebuild should succeed\n{out}");
    assert!(
        p.builddir(name).join(".installed").exists(),
        "the install phase did not run\n{out}"
    );
    let logs = p.nonempty_sandbox_logs(name);
    assert!(logs.is_empty(), "violations logged:\n{logs:#?}\n{out}");
    assert!(
        !output(out).contains("ACCESS DENIED"),
        "a denial in Portage's output\n{out}"
    );
}

e2e!(shared, portage_clean_ebuild_installs);
/// A clean ebuild: compiles a C program, asks Portage `has_version` over its IPC
/// FIFOs, installs into `${ED}`; nothing is logged.
fn portage_clean_ebuild_installs(h: Helper) {
    let p = prefix(h);
    let out = p.ebuild("clean");
    assert_clean_install(p, "clean", &out);
    let program = p.image("clean").join("usr/bin/clean");
    assert!(
        program.is_file(),
        "no {} in the image\n{out}",
        program.display()
    );
    assert!(
        output(&out).contains("has_version: 1"),
        "has_version did not answer 1\n{out}"
    );
    // The eclass's function made it into the program.
    let ran = native(&[&program], Path::new("/"));
    assert_eq!(ran.stdout, "hello from clean\n", "{ran}");
}

e2e!(shared, portage_writes_outside_fail_the_phase);
/// src_compile writes outside: by an external command, and by a redirection of the
/// ebuild's own shell. Each fails its phase with one F/S/P/A/R/C block naming the
/// path, and the host is unchanged.
fn portage_writes_outside_fail_the_phase(h: Helper) {
    let p = prefix(h);
    let target = p.outside.join("bad-cmd");
    let out = p.ebuild("bad-cmd");
    assert_compile_failed_on(p, "bad-cmd", &out, &target, "touch");

    let target = p.outside.join("bad-redir");
    let out = p.ebuild("bad-redir");
    // The shell that made the redirection is ebuild.sh's, running the phase.
    assert_compile_failed_on(p, "bad-redir", &out, &target, "ebuild.sh compile");
}

e2e!(shared, portage_addwrite_and_addpredict);
/// `addwrite DIR` in an ebuild lets both a command and a redirection write there;
/// `addpredict DIR` makes writes there fail without a log entry.
fn portage_addwrite_and_addpredict(h: Helper) {
    let p = prefix(h);
    let out = p.ebuild("addwrite");
    assert_clean_install(p, "addwrite", &out);
    for made in ["by-redir", "by-cmd"] {
        let f = p.outside.join("addwrite").join(made);
        assert!(f.is_file(), "no {} on the host\n{out}", f.display());
    }
    let predicted: Vec<_> = std::fs::read_dir(p.outside.join("addpredict"))
        .unwrap()
        .collect();
    assert!(
        predicted.is_empty(),
        "predicted writes reached the host: {predicted:?}\n{out}"
    );
    for line in ["predicted redirection: 1", "predicted touch: 1"] {
        assert!(output(&out).contains(line), "no `{line}`\n{out}");
    }
}

e2e!(shared, portage_static_program_is_caught);
/// A statically linked program (Debian's busybox-static), which an LD_PRELOAD sandbox
/// cannot see into, writes outside: caught like any other.
fn portage_static_program_is_caught(h: Helper) {
    let busybox = find_tool(&["/bin/busybox", "/usr/bin/busybox"], "busybox-static");
    assert!(
        !has_elf_interpreter(Path::new(&busybox)),
        "{busybox} is dynamically linked: install the `busybox-static` package"
    );
    let p = prefix(h);
    let target = p.outside.join("static");
    let out = p.ebuild("static");
    assert_compile_failed_on(p, "static", &out, &target, &busybox);
}

/// The network interfaces of a `/proc/net/dev`, sorted, each followed by a space.
fn interface_names(proc_net_dev: &str) -> String {
    let mut names: Vec<&str> = proc_net_dev
        .lines()
        .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim()))
        .collect();
    names.sort_unstable();
    names.iter().map(|n| format!("{n} ")).collect()
}

e2e!(shared, portage_fusebox_opts_isolate_the_network);
/// fusebox's own options reach it from `${EPREFIX}/etc/sandbox.d`, which is where a
/// Prefix user puts them (Portage passes neither make.conf's variables nor its
/// caller's environment to `sandbox`): with `FUSEBOX_OPTS="… --net none"` the phases
/// run in a network namespace of their own, with only `lo`; without it they see the
/// host's interfaces.
fn portage_fusebox_opts_isolate_the_network(h: Helper) {
    let host = interface_names(&std::fs::read_to_string("/proc/net/dev").unwrap());
    assert_ne!(
        host, "lo ",
        "the host has no interface but lo: nothing to tell apart"
    );
    let p = prefix(h);
    let out = p.ebuild("netcheck");
    assert_clean_install(p, "netcheck", &out);
    let expected = if net_none(h) { "lo ".to_string() } else { host };
    let line = format!("interfaces: {expected}");
    assert!(output(&out).contains(&line), "no `{line}`\n{out}");
}

/// Whether the ELF file `path` names a program interpreter (PT_INTERP): a statically
/// linked program does not. Reads 64-bit little-endian ELF only, the only kind this
/// suite runs on.
fn has_elf_interpreter(path: &Path) -> bool {
    const PT_INTERP: u32 = 3;
    let data = std::fs::read(path).unwrap();
    assert!(
        data.len() > 64 && data[..4] == *b"\x7fELF" && data[4] == 2 && data[5] == 1,
        "{}: not a 64-bit little-endian ELF file",
        path.display()
    );
    let u16_at = |o: usize| u16::from_le_bytes(data[o..o + 2].try_into().unwrap()) as usize;
    let phoff = u64::from_le_bytes(data[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    (0..phnum).any(|i| {
        let o = phoff + i * phentsize;
        u32::from_le_bytes(data[o..o + 4].try_into().unwrap()) == PT_INTERP
    })
}

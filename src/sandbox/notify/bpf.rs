//! Classic BPF for seccomp filters: the instructions our filters use, a small assembler
//! with forward labels (so a program of a hundred instructions needs no hand-counted
//! jump offsets), and, for tests, an interpreter that runs a program on a
//! `struct seccomp_data` without installing it.

use libc::sock_filter;

/// `AUDIT_ARCH_*` values (linux/audit.h), which libc does not export: the native ABI of
/// this build's target and its 32-bit compat ABI.
#[cfg(target_arch = "x86_64")]
pub mod audit_arch {
    pub const NATIVE: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
    pub const COMPAT: u32 = 0x4000_0003; // AUDIT_ARCH_I386
}

#[cfg(target_arch = "aarch64")]
pub mod audit_arch {
    pub const NATIVE: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64
    pub const COMPAT: u32 = 0x4000_0028; // AUDIT_ARCH_ARM
}

// Offsets in `struct seccomp_data { int nr; u32 arch; u64 ip; u64 args[6]; }`.
pub const NR: u32 = 0;
pub const ARCH: u32 = 4;
/// The low 32 bits of `args[i]` (little-endian): what the kernel reads for an `int` or
/// `unsigned int` argument.
pub const fn arg_low(i: u32) -> u32 {
    16 + 8 * i
}

pub const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
pub const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
pub const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
pub const JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
pub const AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
pub const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

pub fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// A conditional jump: `jt`/`jf` count the instructions skipped after this one.
pub fn jeq(k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter {
        code: JEQ_K,
        jt,
        jf,
        k,
    }
}

/// A place in a program being assembled, placed once, jumped to from before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

/// Where a conditional jump goes.
#[derive(Clone, Copy, Debug)]
pub enum To {
    Next,
    Label(Label),
}

/// Assembles a program whose conditional jumps name labels; [`Asm::finish`] turns them
/// into the relative offsets classic BPF wants (forward only, at most 255 ahead).
#[derive(Default)]
pub struct Asm {
    code: Vec<sock_filter>,
    /// For each conditional jump: its index and its two targets.
    jumps: Vec<(usize, To, To)>,
    /// Each label's instruction index, once placed.
    placed: Vec<Option<usize>>,
}

impl Asm {
    pub fn label(&mut self) -> Label {
        self.placed.push(None);
        Label(self.placed.len() - 1)
    }

    /// The next instruction is `label`'s.
    pub fn place(&mut self, label: Label) {
        assert!(self.placed[label.0].is_none(), "label placed twice");
        self.placed[label.0] = Some(self.code.len());
    }

    pub fn load(&mut self, offset: u32) {
        self.code.push(stmt(LD_W_ABS, offset));
    }

    pub fn and(&mut self, k: u32) {
        self.code.push(stmt(AND_K, k));
    }

    pub fn ret(&mut self, k: u32) {
        self.code.push(stmt(RET_K, k));
    }

    /// If the accumulator equals `k` go to `yes`, else to `no`.
    pub fn jump_eq(&mut self, k: u32, yes: To, no: To) {
        self.jump(JEQ_K, k, yes, no);
    }

    /// If the accumulator is at least `k` (unsigned) go to `yes`, else to `no`.
    pub fn jump_ge(&mut self, k: u32, yes: To, no: To) {
        self.jump(JGE_K, k, yes, no);
    }

    /// If the accumulator has any bit of `k` go to `yes`, else to `no`.
    pub fn jump_set(&mut self, k: u32, yes: To, no: To) {
        self.jump(JSET_K, k, yes, no);
    }

    fn jump(&mut self, code: u16, k: u32, yes: To, no: To) {
        self.jumps.push((self.code.len(), yes, no));
        self.code.push(sock_filter {
            code,
            jt: 0,
            jf: 0,
            k,
        });
    }

    /// The program. Panics on a label never placed or a jump backwards or too far: the
    /// programs are constant, so their unit tests find those.
    pub fn finish(mut self) -> Vec<sock_filter> {
        for &(at, yes, no) in &self.jumps {
            let offset = |to: To| -> u8 {
                let target = match to {
                    To::Next => return 0,
                    To::Label(l) => self.placed[l.0].expect("label never placed"),
                };
                let skip = target.checked_sub(at + 1).expect("jump backwards");
                u8::try_from(skip).expect("jump over 255 instructions")
            };
            let (jt, jf) = (offset(yes), offset(no));
            self.code[at].jt = jt;
            self.code[at].jf = jf;
        }
        self.code
    }
}

/// A classic BPF interpreter for the instructions above, so a program's jumps are
/// checked without installing it.
#[cfg(test)]
pub fn run(prog: &[sock_filter], data: &[u8; 64]) -> u32 {
    run_counting(prog, data).0
}

/// [`run`], with the number of instructions executed: the path the kernel walks for
/// these data (and, for a number, once per arch when it fills its allow cache).
#[cfg(test)]
pub fn run_counting(prog: &[sock_filter], data: &[u8; 64]) -> (u32, usize) {
    let mut acc = 0u32;
    let mut pc = 0usize;
    let mut steps = 0;
    loop {
        let ins = prog[pc];
        pc += 1;
        steps += 1;
        match ins.code {
            LD_W_ABS => {
                let at = ins.k as usize;
                acc = u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
            }
            AND_K => acc &= ins.k,
            JEQ_K | JGE_K | JSET_K => {
                let hit = match ins.code {
                    JEQ_K => acc == ins.k,
                    JGE_K => acc >= ins.k,
                    _ => acc & ins.k != 0,
                };
                pc += usize::from(if hit { ins.jt } else { ins.jf });
            }
            RET_K => return (ins.k, steps),
            other => panic!("unexpected instruction {other:#x}"),
        }
    }
}

/// A `struct seccomp_data` for [`run`].
#[cfg(test)]
pub fn seccomp_data(arch: u32, nr: u32, args: [u64; 6]) -> [u8; 64] {
    let mut d = [0u8; 64];
    d[0..4].copy_from_slice(&nr.to_le_bytes());
    d[4..8].copy_from_slice(&arch.to_le_bytes());
    for (i, a) in args.iter().enumerate() {
        d[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_become_forward_offsets() {
        let mut asm = Asm::default();
        let (yes, no) = (asm.label(), asm.label());
        asm.load(NR);
        asm.jump_eq(7, To::Label(yes), To::Next);
        asm.jump_set(0x10, To::Label(yes), To::Next);
        asm.jump_ge(0x40, To::Label(yes), To::Label(no));
        asm.place(no);
        asm.ret(1);
        asm.place(yes);
        asm.ret(2);
        let prog = asm.finish();
        assert_eq!((prog[1].jt, prog[1].jf), (3, 0));
        assert_eq!((prog[2].jt, prog[2].jf), (2, 0));
        assert_eq!((prog[3].jt, prog[3].jf), (1, 0));
        assert_eq!(run(&prog, &seccomp_data(0, 7, [0; 6])), 2);
        assert_eq!(run(&prog, &seccomp_data(0, 0x31, [0; 6])), 2);
        assert_eq!(run(&prog, &seccomp_data(0, 0x21, [0; 6])), 1);
        // Unsigned: 0x40 and above, the top bit's numbers too.
        assert_eq!(run(&prog, &seccomp_data(0, 0x40, [0; 6])), 2);
        assert_eq!(run(&prog, &seccomp_data(0, 0x8000_0000, [0; 6])), 2);
        assert_eq!(run(&prog, &seccomp_data(0, 0x3F, [0; 6])), 2); // 0x10 set
        assert_eq!(run(&prog, &seccomp_data(0, 0x2F, [0; 6])), 1);
        assert_eq!(run_counting(&prog, &seccomp_data(0, 0x2F, [0; 6])), (1, 5));
    }

    #[test]
    #[should_panic(expected = "jump backwards")]
    fn a_backward_jump_is_refused() {
        let mut asm = Asm::default();
        let start = asm.label();
        asm.place(start);
        asm.load(NR);
        asm.jump_eq(1, To::Label(start), To::Next);
        asm.finish();
    }
}

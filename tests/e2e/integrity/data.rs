//! File data through the mirror: fallocate's modes, a large sparse file, and O_APPEND from two
//! processes at once.

use std::os::unix::fs::MetadataExt;

use super::*;
use crate::common::*;

// =============================================================================================
// fallocate

const FALLOCATE_SCRIPT: &str = r#"
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
KEEP, PUNCH, ZERO, UNSHARE = 0x01, 0x02, 0x10, 0x40
MiB = 1 << 20
def fa(fd, mode, off, n):
    if libc.fallocate(fd, mode, off, n) == 0:
        return "ok"
    return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
fd = os.open("fa", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"\xab" * 65536)
os.fsync(fd)
def blocks():
    return os.fstat(fd).st_blocks
def size():
    return os.fstat(fd).st_size
def zeros(off, n):
    return os.pread(fd, n, off) == bytes(n)
def ab(off, n):
    return os.pread(fd, n, off) == b"\xab" * n

b0 = blocks()
rc = fa(fd, 0, 0, MiB)
print(f"plain rc={rc} size={size()} allocated={blocks() >= 2048} data_kept={ab(0, 65536)} "
      f"tail_zeros={zeros(65536, MiB - 65536)}")

b1 = blocks()
rc = fa(fd, KEEP, MiB, MiB)
print(f"keep_size rc={rc} size={size()} blocks_grew_by_1MiB={blocks() - b1 >= 2048} "
      f"read_past_eof={len(os.pread(fd, 10, MiB))}")

b2 = blocks()
rc = fa(fd, PUNCH | KEEP, 4096, 8192)
print(f"punch rc={rc} size={size()} hole_zeros={zeros(4096, 8192)} before={ab(0, 4096)} "
      f"after={ab(12288, 4096)} blocks_shrank={blocks() < b2}")

rc = fa(fd, PUNCH, 4096, 8192)
print(f"punch_without_keep rc={rc} size={size()}")

rc = fa(fd, ZERO, 16384, 8192)
print(f"zero_range rc={rc} size={size()} zeros={zeros(16384, 8192)} before={ab(12288, 4096)} "
      f"after={ab(24576, 4096)}")

rc = fa(fd, ZERO | KEEP, 3 * MiB, 4096)
print(f"zero_range_keep_past_eof rc={rc} size={size()}")

rc = fa(fd, ZERO, 3 * MiB, 4096)
print(f"zero_range_past_eof rc={rc} size={size()} zeros={zeros(3 * MiB, 4096)}")

rc = fa(fd, PUNCH | ZERO | KEEP, 0, 4096)
print(f"punch_and_zero rc={rc}")
rc = fa(fd, UNSHARE, 0, 4096)
print(f"unshare rc={rc} size={size()}")
rc = fa(fd, 0, 0, 0)
print(f"zero_length rc={rc}")
rc = fa(fd, 0, -1, 4096)
print(f"negative_offset rc={rc}")
os.close(fd)
rfd = os.open("fa", os.O_RDONLY)
print(f"read_only_fd rc={fa(rfd, 0, 0, 4096)}")
os.close(rfd)
st = os.stat("fa")
print(f"final size={st.st_size}")
"#;

e2e!(shared, integrity_fallocate_modes_match_the_host);
fn integrity_fallocate_modes_match_the_host(h: Helper) {
    let sb = Sandbox::full_mirror(h);
    let host_dir = tmpdir();
    let host = py_native(host_dir.path(), FALLOCATE_SCRIPT, &[]);
    host.ok();
    // Sanity of the oracle: ext4/xfs/btrfs/tmpfs all do these.
    for (tag, key, want) in [
        ("plain", "rc", "ok"),
        ("plain", "size", "1048576"),
        ("keep_size", "size", "1048576"),
        // Python names errno 95 ENOTSUP (= EOPNOTSUPP on Linux).
        ("punch_without_keep", "rc", "ENOTSUP"),
    ] {
        assert_eq!(
            kv(&host, tag, key),
            Some(want),
            "native {tag} {key}\n{host}"
        );
    }
    let inside = py_inside(&sb, FALLOCATE_SCRIPT, &[]);
    assert_same_as_native("fallocate", &host, &inside);
    // And the result natively: the two files are alike.
    let (a, b) = (
        std::fs::read(host_dir.path().join("fa")).unwrap(),
        std::fs::read(sb.dir().join("fa")).unwrap(),
    );
    assert!(
        a == b,
        "the file made inside differs natively from the native one\n{inside}"
    );
}

// =============================================================================================
// A large sparse file

const SPARSE_SCRIPT: &str = r#"
import os
OFF = 5 << 30
fd = os.open("sparse", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
print(f"pwrite={os.pwrite(fd, b'Z', OFF)}")
s = os.fstat(fd)
print(f"fstat size={s.st_size} blocks_small={s.st_blocks <= 64}")
s = os.stat("sparse")
print(f"stat size={s.st_size} blocks_small={s.st_blocks <= 64}")
print(f"byte={os.pread(fd, 1, OFF)!r} at_eof={os.pread(fd, 10, OFF)!r} past_eof={os.pread(fd, 10, OFF + 1)!r}")
print(f"zeros_before={os.pread(fd, 1 << 20, OFF - (1 << 20)) == bytes(1 << 20)}")
print(f"zeros_start={os.pread(fd, 65536, 0) == bytes(65536)}")
print(f"zeros_at_4GiB={os.pread(fd, 65536, (4 << 30) - 32768) == bytes(65536)}")
print(f"last_two={os.pread(fd, 2, OFF - 1)!r}")
print(f"seek_data={os.lseek(fd, 0, os.SEEK_DATA)} seek_hole={os.lseek(fd, 0, os.SEEK_HOLE)}")
os.close(fd)
"#;

e2e!(shared, integrity_large_sparse_file);
fn integrity_large_sparse_file(h: Helper) {
    let sb = Sandbox::full_mirror(h);
    let host_dir = tmpdir();
    let host = py_native(host_dir.path(), SPARSE_SCRIPT, &[]);
    let inside = py_inside(&sb, SPARSE_SCRIPT, &[]);
    assert_same_as_native("a 5 GiB sparse file", &host, &inside);
    let want_size = (5u64 << 30) + 1;
    assert_eq!(
        kv(&inside, "fstat", "size"),
        Some(want_size.to_string().as_str()),
        "{inside}"
    );
    assert_eq!(
        kv(&inside, "stat", "size"),
        Some(want_size.to_string().as_str()),
        "{inside}"
    );
    assert_eq!(kv(&inside, "", "byte"), Some("b'Z'"), "{inside}");
    assert_eq!(kv(&inside, "", "zeros_before"), Some("True"), "{inside}");
    let m = std::fs::metadata(sb.dir().join("sparse")).unwrap();
    assert_eq!(m.len(), want_size, "size natively\n{inside}");
    assert!(
        m.blocks() <= 64,
        "natively the file should stay sparse, has {} blocks of 512 bytes\n{inside}",
        m.blocks()
    );
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(sb.dir().join("sparse")).unwrap();
    let mut b = [0u8; 2];
    f.read_exact_at(&mut b, (5u64 << 30) - 1).unwrap();
    assert_eq!(&b, b"\0Z", "the last two bytes natively");
}

// =============================================================================================
// O_APPEND from two processes at once

const LINE_WIDTH: usize = 64;
const LINES_EACH: usize = 2000;

const APPEND_SCRIPT: &str = r#"
import os, sys
W, N = int(sys.argv[1]), int(sys.argv[2])
r, w = os.pipe()
pids = []
for tag in "AB":
    pid = os.fork()
    if pid == 0:
        os.close(w)
        fd = os.open("log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.read(r, 1)  # both start together
        for i in range(N):
            line = f"{tag} {i:06d} ".ljust(W - 1, tag).encode() + b"\n"
            n = os.write(fd, line)
            if n != W:
                print(f"FAIL {tag}: short write {n} at line {i}", flush=True)
                os._exit(1)
        os._exit(0)
    pids.append(pid)
os.close(r)
os.write(w, b"go")
os.close(w)
codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]
print("codes=" + ",".join(map(str, codes)))
s = os.stat("log")
with open("log", "rb") as f:
    data = f.read()
lines = data.split(b"\n")[:-1]
switches = sum(1 for a, b in zip(lines, lines[1:]) if a[:1] != b[:1])
print(f"inside size={s.st_size} read={len(data)} lines={len(lines)} switches={switches}")
"#;

e2e!(shared, integrity_concurrent_o_append_loses_nothing);
fn integrity_concurrent_o_append_loses_nothing(h: Helper) {
    let sb = Sandbox::full_mirror(h);
    let (w, n) = (LINE_WIDTH.to_string(), LINES_EACH.to_string());
    let out = py_inside(&sb, APPEND_SCRIPT, &[&w, &n]);
    assert_no_fail_lines("O_APPEND inside", &out);
    assert_eq!(
        kv(&out, "", "codes"),
        Some("0,0"),
        "both writers exit 0\n{out}"
    );
    let want_size = (2 * LINES_EACH * LINE_WIDTH).to_string();
    assert_eq!(
        kv(&out, "inside", "size"),
        Some(want_size.as_str()),
        "stat inside\n{out}"
    );
    assert_eq!(
        kv(&out, "inside", "read"),
        Some(want_size.as_str()),
        "read inside\n{out}"
    );

    let data = std::fs::read(sb.dir().join("log")).unwrap();
    assert_eq!(
        data.len(),
        2 * LINES_EACH * LINE_WIDTH,
        "natively the log should hold exactly {} lines of {LINE_WIDTH} bytes\n{out}",
        2 * LINES_EACH
    );
    let mut next = [0usize; 2];
    for (k, line) in data.chunks(LINE_WIDTH).enumerate() {
        let text = String::from_utf8_lossy(line);
        let tag = line[0];
        let who = match tag {
            b'A' => 0,
            b'B' => 1,
            _ => panic!("natively: line {k} is torn: {text:?}\n{out}"),
        };
        let want = format!("{} {:06} ", tag as char, next[who]);
        let want = format!(
            "{want}{}\n",
            (tag as char)
                .to_string()
                .repeat(LINE_WIDTH - 1 - want.len())
        );
        assert_eq!(
            text, want,
            "natively: line {k} should be the next whole line of process {}\n{out}",
            tag as char
        );
        next[who] += 1;
    }
    assert_eq!(next, [LINES_EACH; 2], "{out}");
}

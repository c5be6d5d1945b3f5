//! The only `unsafe` of the stress program: what neither std nor the nix features this
//! crate enables wrap — a shared file mapping (mmap) and copy_file_range. Everything else
//! goes through std and nix.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;

/// copy_file_range(2) of up to `len` bytes from `off_in` in `from` to `off_out` in `to`;
/// returns the bytes copied (fewer than `len` is legal).
pub fn copy_file_range(
    from: &File,
    off_in: u64,
    to: &File,
    off_out: u64,
    len: usize,
) -> io::Result<usize> {
    let mut off_in = i64::try_from(off_in).map_err(|_| io::ErrorKind::InvalidInput)?;
    let mut off_out = i64::try_from(off_out).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: both offsets are live, exclusively borrowed i64s (loff_t) the kernel updates;
    // both fds are open for the call; flags must be 0.
    let n = unsafe {
        libc::copy_file_range(
            from.as_raw_fd(),
            &mut off_in,
            to.as_raw_fd(),
            &mut off_out,
            len,
            0,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// A `MAP_SHARED` mapping of part of a file, unmapped on drop.
pub struct Mapping {
    base: NonNull<u8>,
    /// Bytes mapped, from the page boundary at or below the requested offset.
    mapped: usize,
    /// Where the requested range starts in the mapping.
    skip: usize,
    len: usize,
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).unwrap_or(4096)
}

impl Mapping {
    /// Maps `len` (> 0) bytes of `file` at `offset`, readable (and writable when `write`).
    /// The range must lie within the file: touching a page past its end is SIGBUS.
    pub fn new(file: &File, offset: u64, len: usize, write: bool) -> io::Result<Mapping> {
        let page = page_size() as u64;
        let start = offset - offset % page;
        let skip = (offset - start) as usize;
        let mapped = skip + len;
        let prot = if write {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        let file_offset = libc::off_t::try_from(start).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: a fresh mapping chosen by the kernel (no fixed address), of an fd that is
        // open for the duration of the call; the result is checked before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mapped,
                prot,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                file_offset,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(p.cast::<u8>()).ok_or(io::ErrorKind::Other)?;
        Ok(Mapping {
            base,
            mapped,
            skip,
            len,
        })
    }

    /// The requested range.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `mapped` bytes from `base` stay mapped until drop, and `skip + len` is
        // `mapped`; the caller kept the range within the file, so no access faults.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(self.skip), self.len) }
    }

    /// The requested range, writable (the mapping must have been made with `write`).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`; `&mut self` makes this the only live view of the range.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().add(self.skip), self.len) }
    }

    /// Writes the mapping's dirty pages back to the file and waits (msync MS_SYNC).
    pub fn sync(&self) -> io::Result<()> {
        // SAFETY: exactly the range this mapping owns.
        let r = unsafe { libc::msync(self.base.as_ptr().cast(), self.mapped, libc::MS_SYNC) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the range mmap returned; no slice of it outlives `self`.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.mapped) };
    }
}

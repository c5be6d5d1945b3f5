//! The open handles of the virtual files: each reads the text it was opened with (the
//! policy as it was then, or a static file) and gathers what is written to it. What
//! the build can make the daemon hold through them is bounded: at most
//! [`MAX_HANDLES`] open at once, and [`MAX_PENDING_TOTAL`] bytes of unfinished
//! declarations across them all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use fuser::Errno;

use super::control::{MAX_DECLARATION, Writes, Written};
use crate::policy::Declarations;

/// Virtual handles are numbered from here, apart from the host files' handles.
pub const FIRST_HANDLE: u64 = 1 << 63;

/// All open handles together buffer at most this much of unfinished declarations; a
/// write beyond it fails with ENOMEM (and drops that handle's unfinished declaration).
/// 16 declarations of the largest size at once.
pub const MAX_PENDING_TOTAL: usize = 16 * MAX_DECLARATION;

/// At most this many virtual handles are open at once (ENFILE beyond): each holds the
/// text it was opened with.
pub const MAX_HANDLES: usize = 1024;

/// Whether `fh` is a virtual file's handle.
pub fn is_virtual_handle(fh: u64) -> bool {
    fh >= FIRST_HANDLE
}

#[derive(Debug)]
pub struct Handles {
    open: Mutex<Open>,
    next: AtomicU64,
}

#[derive(Debug, Default)]
struct Open {
    files: HashMap<u64, OpenFile>,
    /// The sum of the open handles' unfinished declarations.
    pending: usize,
}

#[derive(Debug)]
struct OpenFile {
    text: Arc<Vec<u8>>,
    writes: Writes,
}

impl Default for Handles {
    fn default() -> Self {
        Handles {
            open: Mutex::default(),
            next: AtomicU64::new(FIRST_HANDLE),
        }
    }
}

impl Handles {
    /// A new handle reading `text`; ENFILE when [`MAX_HANDLES`] are open.
    pub fn open(&self, text: Vec<u8>) -> Result<u64, Errno> {
        let mut open = self.lock();
        if open.files.len() >= MAX_HANDLES {
            return Err(Errno::ENFILE);
        }
        let fh = self.next.fetch_add(1, Ordering::Relaxed);
        let file = OpenFile {
            text: Arc::new(text),
            writes: Writes::default(),
        };
        open.files.insert(fh, file);
        Ok(fh)
    }

    /// Up to `size` bytes of the handle's text from `offset`.
    pub fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        let text = self
            .lock()
            .files
            .get(&fh)
            .map(|f| f.text.clone())
            .ok_or(Errno::EBADF)?;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(text.len());
        let end = start.saturating_add(size as usize).min(text.len());
        Ok(text[start..end].to_vec())
    }

    /// What a write on `fh` completes (see [`Writes::take`]); ENOMEM when buffering
    /// `data` would pass [`MAX_PENDING_TOTAL`].
    pub fn write(
        &self,
        fh: u64,
        data: &[u8],
        form: Option<&dyn Declarations>,
    ) -> Result<Vec<Written>, Errno> {
        let mut open = self.lock();
        let Open { files, pending } = &mut *open;
        let writes = &mut files.get_mut(&fh).ok_or(Errno::EBADF)?.writes;
        let before = writes.pending();
        if writes.buffers(data, form) && *pending + data.len() > MAX_PENDING_TOTAL {
            *pending -= before;
            *writes = Writes::default();
            return Err(Errno::ENOMEM);
        }
        let result = writes.take(data, form);
        *pending = *pending - before + writes.pending();
        result
    }

    pub fn release(&self, fh: u64) {
        let mut open = self.lock();
        if let Some(file) = open.files.remove(&fh) {
            open.pending -= file.writes.pending();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mirror::virtual_files::control::Command;
    use crate::policy::{Caller, DeclarationError};

    /// A form for the tests: `<` starts a declaration, `>` ends it.
    struct Angles;

    impl Declarations for Angles {
        fn starts(&self, data: &[u8]) -> bool {
            data.starts_with(b"<")
        }
        fn complete(&self, bytes: &[u8]) -> Option<usize> {
            bytes.iter().position(|&b| b == b'>').map(|i| i + 1)
        }
        fn declare(&self, _: Caller, _: &[u8]) -> Result<(), DeclarationError> {
            Ok(())
        }
    }

    #[test]
    fn handles_and_pending_declarations_are_bounded() {
        let handles = Handles::default();
        let fhs: Vec<u64> = (0..MAX_HANDLES)
            .map(|_| handles.open(Vec::new()).unwrap())
            .collect();
        assert_eq!(handles.open(Vec::new()), Err(Errno::ENFILE));
        let mut chunk = b"<".to_vec();
        chunk.resize(MAX_DECLARATION - 16, b'a');
        let full = MAX_PENDING_TOTAL / chunk.len();
        let write = |fh| handles.write(fh, &chunk, Some(&Angles));
        for &fh in &fhs[..full] {
            assert_eq!(write(fh), Ok(Vec::new()));
        }
        assert_eq!(write(fhs[full]), Err(Errno::ENOMEM));
        assert!(handles.lock().pending <= MAX_PENDING_TOTAL);
        // Closing a handle gives its share back.
        handles.release(fhs[0]);
        assert_eq!(write(fhs[full]), Ok(Vec::new()));
        for fh in fhs {
            handles.release(fh);
        }
        assert_eq!(handles.lock().pending, 0);
        assert!(handles.open(Vec::new()).is_ok());
    }

    #[test]
    fn reads_follow_offsets() {
        let handles = Handles::default();
        let fh = handles.open(b"read /\n".to_vec()).unwrap();
        assert!(is_virtual_handle(fh));
        assert_eq!(handles.read(fh, 0, 4).unwrap(), b"read");
        assert_eq!(handles.read(fh, 4, 100).unwrap(), b" /\n");
        assert_eq!(handles.read(fh, 99, 100).unwrap(), b"");
        assert_eq!(
            handles.write(fh, b"lock\n", None),
            Ok(vec![Written::Command(Command::Lock)])
        );
        handles.release(fh);
        assert_eq!(handles.read(fh, 0, 1), Err(Errno::EBADF));
        assert_eq!(handles.write(fh, b"lock\n", None), Err(Errno::EBADF));
    }
}

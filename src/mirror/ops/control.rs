//! The ops of the control file (see [`crate::mirror::control`]): every other op module
//! hands requests for [`CONTROL_ID`] here first.

use std::ffi::OsStr;

use fuser::Errno;

use super::Call;
use crate::mirror::cache::FileIo;
use crate::mirror::control::{CONTROL_ID, CONTROL_NAME, Command, Control, parse_command};
use crate::mirror::errno::OpResult;
use crate::mirror::inode::ROOT_ID;
use crate::mirror::resolve::{AttrOut, EntryOut};
use crate::policy::PolicyError;

impl Call<'_> {
    /// The control file's entry, when `name` in `parent` names it.
    pub(crate) fn control_lookup(&self, parent: u64, name: &OsStr) -> Option<EntryOut> {
        (parent == ROOT_ID && name == CONTROL_NAME).then(|| EntryOut {
            attr: self.control.attr(),
            generation: 0,
            ttls: self.res.freshness().ttls(),
        })
    }

    /// Attributes (and, for setattr, nothing to change: `> /dev/fusebox` truncates).
    pub(crate) fn control_attr(&self, id: u64) -> Option<AttrOut> {
        (id == CONTROL_ID).then(|| AttrOut {
            attr: self.control.attr(),
            ttl: self.res.freshness().ttls().attr,
        })
    }

    /// Opens the control file: reads see the policy as it is now. Direct I/O, because
    /// its size (0) says nothing of what a read returns.
    pub(crate) fn control_open(&self, id: u64) -> Option<(u64, FileIo)> {
        (id == CONTROL_ID).then(|| (self.control.open(self.res.policy_text()), FileIo::Direct))
    }

    pub(crate) fn control_read(
        &self,
        fh: u64,
        offset: u64,
        size: u32,
    ) -> Option<OpResult<Vec<u8>>> {
        Control::is_handle(fh).then(|| self.control.read(fh, offset, size))
    }

    /// Carries out each line written: EINVAL for a bad one, EPERM once locked.
    pub(crate) fn control_write(&self, fh: u64, data: &[u8]) -> Option<OpResult<u32>> {
        Control::is_handle(fh).then(|| {
            let text = std::str::from_utf8(data).map_err(|_| Errno::EINVAL)?;
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                match parse_command(line)? {
                    Command::Lock => self.res.lock_policy(),
                    Command::Add(list, path) => match self.res.add_to_policy(list, &path) {
                        Ok(()) => {}
                        Err(PolicyError::Locked) => return Err(Errno::EPERM),
                        Err(_) => return Err(Errno::EINVAL),
                    },
                }
            }
            u32::try_from(data.len()).map_err(|_| Errno::EIO)
        })
    }

    /// Releases a control handle; false when `fh` is not one.
    pub(crate) fn control_release(&self, fh: u64) -> bool {
        let mine = Control::is_handle(fh);
        if mine {
            self.control.release(fh);
        }
        mine
    }
}

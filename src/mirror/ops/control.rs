//! The ops of the virtual files (see [`crate::mirror::control`]): the control file and,
//! in Gentoo mode, the shell startup file. Every other op module hands requests for
//! them here first.

use std::ffi::OsStr;

use fuser::Errno;

use super::Call;
use crate::mirror::cache::FileIo;
use crate::mirror::control::{BASHRC_ID, CONTROL_ID, Command, Control};
use crate::mirror::errno::OpResult;
use crate::mirror::inode::ROOT_ID;
use crate::mirror::resolve::{AttrOut, EntryOut};
use crate::policy::PolicyError;

impl Call<'_> {
    /// A virtual file's entry, when `name` in `parent` names one.
    pub(crate) fn control_lookup(&self, parent: u64, name: &OsStr) -> Option<EntryOut> {
        if parent != ROOT_ID {
            return None;
        }
        let id = self.control.id_of(name)?;
        Some(EntryOut {
            attr: self.control.attr(id)?,
            generation: 0,
            ttls: self.res.freshness().ttls(),
        })
    }

    /// Attributes (and, for setattr, nothing to change: `> /dev/fusebox` truncates).
    pub(crate) fn control_attr(&self, id: u64) -> Option<AttrOut> {
        Some(AttrOut {
            attr: self.control.attr(id)?,
            ttl: self.res.freshness().ttls().attr,
        })
    }

    /// Opens a virtual file: reads of the control file see the policy as it is now,
    /// for this caller; the startup file is read-only. Direct I/O, because the control
    /// file's size (0) says nothing of what a read returns.
    pub(crate) fn control_open(&self, id: u64, writes: bool) -> Option<OpResult<(u64, FileIo)>> {
        let text = match id {
            CONTROL_ID => self.res.policy_text(self.caller),
            BASHRC_ID if writes => return Some(Err(Errno::EACCES)),
            BASHRC_ID => self.control.bashrc()?.to_owned(),
            _ => return None,
        };
        Some(self.control.open(text).map(|fh| (fh, FileIo::Direct)))
    }

    pub(crate) fn control_read(
        &self,
        fh: u64,
        offset: u64,
        size: u32,
    ) -> Option<OpResult<Vec<u8>>> {
        Control::is_handle(fh).then(|| self.control.read(fh, offset, size))
    }

    /// Carries out each command written: EINVAL for a bad one, EPERM once locked.
    pub(crate) fn control_write(&self, fh: u64, data: &[u8]) -> Option<OpResult<u32>> {
        Control::is_handle(fh).then(|| {
            for command in self.control.write(fh, data)? {
                self.carry_out(command)?;
            }
            u32::try_from(data.len()).map_err(|_| Errno::EIO)
        })
    }

    fn carry_out(&self, command: Command) -> OpResult<()> {
        match command {
            Command::Lock => self.res.lock_policy(),
            Command::Add(list, path) => match self.res.add_to_policy(list, &path) {
                Ok(()) => {}
                Err(PolicyError::Locked) => return Err(Errno::EPERM),
                Err(_) => return Err(Errno::EINVAL),
            },
            // The declaring process is the one writing: a shell, from its own pid.
            Command::Declare(vars) => self.res.declare(self.caller, &vars)?,
        }
        Ok(())
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

//! The ops a virtual file supports (see [`crate::mirror::virtual_files`]): lookup,
//! attributes, open, read, write and release. Reads of the control file see the
//! policy as it is now, for this caller; writes carry out its commands. The router
//! (`route.rs`) sends them here and answers every other op itself.

use fuser::Errno;

use super::Call;
use crate::mirror::cache::FileIo;
use crate::mirror::errno::OpResult;
use crate::mirror::host_path::host_realpath;
use crate::mirror::resolve::{AttrOut, EntryOut};
use crate::mirror::virtual_files::CONTROL_ID;
use crate::mirror::virtual_files::control::{Command, Written};
use crate::policy::PolicyError;

impl Call<'_> {
    /// The entry of the virtual file `id`.
    pub(crate) fn virtual_lookup(&self, id: u64) -> OpResult<EntryOut> {
        Ok(EntryOut {
            attr: self.virtual_files.attr(id).ok_or(Errno::ENOENT)?,
            generation: 0,
            ttls: self.resolver.freshness().ttls(),
        })
    }

    /// Attributes (and, for setattr, nothing to change: `> /dev/fusebox` truncates).
    pub(crate) fn virtual_attr(&self, id: u64) -> OpResult<AttrOut> {
        Ok(AttrOut {
            attr: self.virtual_files.attr(id).ok_or(Errno::ENOENT)?,
            ttl: self.resolver.freshness().ttls().attr,
        })
    }

    /// Opens a virtual file; static files are read-only. Direct I/O, because the
    /// control file's size (0) says nothing of what a read returns.
    pub(crate) fn virtual_open(&self, id: u64, writes: bool) -> OpResult<(u64, FileIo)> {
        let text = match self.virtual_files.static_file(id) {
            _ if id == CONTROL_ID => self.run.policy_text(self.caller),
            Some(_) if writes => return Err(Errno::EACCES),
            Some(file) => file.text.to_owned(),
            None => return Err(Errno::ENOENT),
        };
        let fh = self.virtual_files.handles.open(text.into_bytes())?;
        Ok((fh, FileIo::Direct))
    }

    pub(crate) fn virtual_read(&self, fh: u64, offset: u64, size: u32) -> OpResult<Vec<u8>> {
        self.virtual_files.handles.read(fh, offset, size)
    }

    /// Carries out each command written: EINVAL for a bad one, EPERM once locked.
    pub(crate) fn virtual_write(&self, fh: u64, data: &[u8]) -> OpResult<u32> {
        let form = self.run.declarations();
        for written in self.virtual_files.handles.write(fh, data, form)? {
            self.carry_out(written)?;
        }
        u32::try_from(data.len()).map_err(|_| Errno::EIO)
    }

    fn carry_out(&self, written: Written) -> OpResult<()> {
        match written {
            Written::Command(Command::Lock) => self.run.lock_policy(),
            Written::Command(Command::Add(list, path)) => {
                let root = self.resolver.root();
                match (self.run).add_to_policy(list, &path, |p| host_realpath(root, p)) {
                    Ok(()) => {}
                    Err(PolicyError::Locked) => return Err(Errno::EPERM),
                    Err(PolicyError::NotApplied(_)) => return Err(Errno::EIO),
                    Err(_) => return Err(Errno::EINVAL),
                }
            }
            // The declaring process is the one writing: a shell, from its own pid.
            Written::Declaration(whole) => self.run.declare(self.caller, &whole)?,
        }
        Ok(())
    }
}

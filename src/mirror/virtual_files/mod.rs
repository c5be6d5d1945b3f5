//! The mirror's virtual files: names in its root that no host object backs. The
//! control file ([`CONTROL_NAME`], bind-mounted by the sandbox's PID 1 onto
//! /dev/fusebox; its protocol in [`control`]) is always there; a front end adds
//! read-only files of its own ([`StaticFile`]: Gentoo mode's shell startup file).
//! Listings do not show them.
//!
//! They own the node ids no host object gets ([`RESERVED_IDS`]) and a range of file
//! handles. [`VirtualFiles::claim`] is the one place that tells a request about a
//! virtual file from one about a host object: the router (`route.rs`) serves the few
//! ops a virtual file supports and answers every other op with [`refusal`].

pub mod control;
mod handles;

use std::ffi::OsStr;
use std::time::SystemTime;

use fuser::{Errno, FileAttr, FileType, INodeNo};

pub use handles::{Handles, MAX_HANDLES, MAX_PENDING_TOTAL, is_virtual_handle};

use super::inode::{RESERVED_IDS, ROOT_ID};
use super::stats::Opcode;

/// The control file's node id: the first of the ids no host object gets.
pub const CONTROL_ID: u64 = RESERVED_IDS.start;

/// Its name in the mirror's root, where PID 1 finds it to bind it onto /dev/fusebox.
pub const CONTROL_NAME: &str = ".fusebox-control";

/// A read-only file a front end serves in the mirror's root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaticFile {
    /// Its name in the root (the build sees `/NAME`).
    pub name: &'static str,
    pub text: &'static str,
}

/// What a request names, as far as routing goes.
#[derive(Clone, Copy, Debug)]
pub enum Object<'a> {
    /// A node itself.
    Node(u64),
    /// A node as a directory to work in (opendir, O_TMPFILE).
    Dir(u64),
    /// An open file.
    Handle(u64),
    /// A name in a directory.
    Entry(u64, &'a OsStr),
}

/// How a request names a virtual file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The file itself, by node id.
    Node(u64),
    /// An open virtual file.
    Handle(u64),
    /// Its name in the root.
    Name(u64),
    /// The file as a directory: it is none.
    AsDir,
}

/// The virtual files of one mirror.
#[derive(Debug)]
pub struct VirtualFiles {
    statics: Vec<StaticFile>,
    pub handles: Handles,
    created: SystemTime,
    uid: u32,
    gid: u32,
}

impl VirtualFiles {
    /// The control file and `statics`, owned by `uid`/`gid` (the daemon's, i.e. the
    /// user's).
    pub fn new(uid: u32, gid: u32, statics: Vec<StaticFile>) -> Self {
        VirtualFiles {
            statics,
            handles: Handles::default(),
            created: SystemTime::now(),
            uid,
            gid,
        }
    }

    /// Whether `object` is (in) a virtual file, and how.
    pub fn claim(&self, object: Object) -> Option<Claim> {
        match object {
            Object::Node(id) => self.is_virtual(id).then_some(Claim::Node(id)),
            Object::Dir(id) => self.is_virtual(id).then_some(Claim::AsDir),
            Object::Handle(fh) => is_virtual_handle(fh).then_some(Claim::Handle(fh)),
            Object::Entry(parent, _) if self.is_virtual(parent) => Some(Claim::AsDir),
            Object::Entry(ROOT_ID, name) => self.id_of(name).map(Claim::Name),
            Object::Entry(..) => None,
        }
    }

    /// The first claim among `objects`.
    pub fn claim_any(&self, objects: &[Object]) -> Option<Claim> {
        objects.iter().find_map(|&o| self.claim(o))
    }

    /// The static file with node id `id`.
    pub fn static_file(&self, id: u64) -> Option<&StaticFile> {
        let index = id.checked_sub(CONTROL_ID + 1)?;
        self.statics.get(usize::try_from(index).ok()?)
    }

    /// The attributes of the virtual file `id`, when it is one that exists.
    pub fn attr(&self, id: u64) -> Option<FileAttr> {
        let (perm, size) = match id {
            CONTROL_ID => (0o666, 0),
            _ => (0o444, self.static_file(id)?.text.len() as u64),
        };
        Some(FileAttr {
            ino: INodeNo(id),
            size,
            blocks: 0,
            atime: self.created,
            mtime: self.created,
            ctime: self.created,
            crtime: self.created,
            kind: FileType::RegularFile,
            perm,
            nlink: 1,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }

    /// The virtual file `name` in the root names, if any.
    fn id_of(&self, name: &OsStr) -> Option<u64> {
        if name == CONTROL_NAME {
            return Some(CONTROL_ID);
        }
        let index = self.statics.iter().position(|f| name == f.name)?;
        Some(CONTROL_ID + 1 + index as u64)
    }

    /// Whether node id `id` is in the virtual range (an id that names no file there
    /// is still never a host object's).
    fn is_virtual(&self, id: u64) -> bool {
        RESERVED_IDS.contains(&id)
    }
}

/// The errno for an op a virtual file does not support, as a file of its kind would
/// answer it natively.
pub fn refusal(opcode: Opcode, claim: Claim) -> Errno {
    if claim == Claim::AsDir {
        return Errno::ENOTDIR;
    }
    match opcode {
        // The name exists.
        Opcode::Mknod | Opcode::Mkdir | Opcode::Symlink | Opcode::Create | Opcode::Link
            if matches!(claim, Claim::Name(_)) =>
        {
            Errno::EEXIST
        }
        Opcode::Readlink | Opcode::Fsync | Opcode::Lseek => Errno::EINVAL,
        Opcode::Opendir | Opcode::Readdir | Opcode::Readdirplus | Opcode::Fsyncdir => {
            Errno::ENOTDIR
        }
        Opcode::Releasedir => Errno::EBADF,
        // No host object, so no attributes: as on a filesystem without xattr support.
        Opcode::Getxattr | Opcode::Listxattr | Opcode::Setxattr | Opcode::Removexattr => {
            Errno::ENOTSUP
        }
        // The kernel then copies or allocates by itself where it can.
        Opcode::Fallocate | Opcode::CopyFileRange => Errno::EOPNOTSUPP,
        // Renaming, removing or linking it.
        _ => Errno::EPERM,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RC: StaticFile = StaticFile {
        name: ".rc",
        text: "true\n",
    };

    #[test]
    fn the_control_file_and_static_files_are_named_in_the_root() {
        let plain = VirtualFiles::new(1, 1, Vec::new());
        let control = Object::Entry(ROOT_ID, OsStr::new(CONTROL_NAME));
        assert_eq!(plain.claim(control), Some(Claim::Name(CONTROL_ID)));
        assert_eq!(plain.claim(Object::Entry(ROOT_ID, OsStr::new(".rc"))), None);
        assert_eq!(plain.attr(CONTROL_ID).unwrap().perm, 0o666);
        assert!(plain.attr(CONTROL_ID + 1).is_none());
        let with_rc = VirtualFiles::new(1, 1, vec![RC]);
        let id = CONTROL_ID + 1;
        assert_eq!(
            with_rc.claim(Object::Entry(ROOT_ID, OsStr::new(".rc"))),
            Some(Claim::Name(id))
        );
        let attr = with_rc.attr(id).unwrap();
        assert_eq!((attr.perm, attr.size), (0o444, 5));
        assert_eq!(with_rc.static_file(id), Some(&RC));
        assert!(with_rc.attr(77).is_none());
    }

    #[test]
    fn host_objects_are_never_claimed() {
        let files = VirtualFiles::new(1, 1, vec![RC]);
        let host_id = (1 << 48) | 1234;
        for object in [
            Object::Node(ROOT_ID),
            Object::Node(host_id),
            Object::Dir(host_id),
            Object::Handle(7),
            Object::Entry(host_id, OsStr::new(CONTROL_NAME)),
            Object::Entry(ROOT_ID, OsStr::new("etc")),
        ] {
            assert_eq!(files.claim(object), None, "{object:?}");
        }
    }

    #[test]
    fn every_other_op_gets_a_clear_errno() {
        let files = VirtualFiles::new(1, 1, Vec::new());
        let inside = Object::Entry(CONTROL_ID, OsStr::new("x"));
        assert_eq!(files.claim(inside), Some(Claim::AsDir));
        assert_eq!(refusal(Opcode::Mkdir, Claim::AsDir), Errno::ENOTDIR);
        let name = Claim::Name(CONTROL_ID);
        assert_eq!(refusal(Opcode::Mkdir, name), Errno::EEXIST);
        assert_eq!(refusal(Opcode::Unlink, name), Errno::EPERM);
        assert_eq!(refusal(Opcode::Rename, name), Errno::EPERM);
        let node = Claim::Node(CONTROL_ID);
        assert_eq!(refusal(Opcode::Link, node), Errno::EPERM);
        assert_eq!(refusal(Opcode::Getxattr, node), Errno::ENOTSUP);
        assert_eq!(refusal(Opcode::Readlink, node), Errno::EINVAL);
        assert_eq!(refusal(Opcode::Opendir, node), Errno::ENOTDIR);
        assert_eq!(
            refusal(Opcode::CopyFileRange, Claim::Handle(1 << 63)),
            Errno::EOPNOTSUPP
        );
    }
}

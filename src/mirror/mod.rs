//! The FUSE mirror of the host root (being written).

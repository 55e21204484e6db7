//! The SQLite database file: created readable by its owner only, and watched, so that a file
//! deleted or replaced while serving fails writes instead of taking them into a file no one
//! will read again (issue 12).

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use crate::error::StorageError;

/// The database file this process opened: its path and identity (device and inode).
#[derive(Debug, Clone)]
pub(crate) struct DatabaseFile {
    path: Arc<PathBuf>,
    identity: Option<(u64, u64)>,
}

impl DatabaseFile {
    /// Creates the file (and its folder) if missing, with mode 0600; narrows an existing
    /// file's and its -wal and -shm files' mode to 0600.
    pub(crate) fn open(path: &Path) -> Result<Self, StorageError> {
        let io = |context: &'static str| {
            move |e: std::io::Error| StorageError::Database {
                context,
                source: sqlx::Error::Io(e),
            }
        };
        let in_memory = path.as_os_str().is_empty() || path == Path::new(":memory:");
        if in_memory {
            return Ok(Self {
                path: Arc::new(path.to_owned()),
                identity: None,
            });
        }
        if let Some(folder) = path.parent().filter(|f| !f.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(io("creating the database folder"))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(path)
            .map_err(io("creating the database file"))?;
        #[cfg(unix)]
        for suffix in ["", "-wal", "-shm"] {
            use std::os::unix::fs::PermissionsExt as _;
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            if let Ok(metadata) = std::fs::metadata(&file) {
                if metadata.permissions().mode() & 0o077 != 0 {
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                        .map_err(io("narrowing the database file's permissions"))?;
                }
            }
        }
        let identity = identity(path).map_err(io("reading the database file's identity"))?;
        Ok(Self {
            path: Arc::new(path.to_owned()),
            identity: Some(identity),
        })
    }

    /// An error if the file at the path is no longer the one opened (deleted or replaced):
    /// writes there would be acknowledged into a file no one sees again.
    pub(crate) fn check(&self) -> Result<(), StorageError> {
        match self.identity {
            None => Ok(()),
            Some(opened) => match identity(&self.path) {
                Ok(now) if now == opened => Ok(()),
                _ => Err(StorageError::Unavailable(
                    "the database file was deleted or replaced while serving",
                )),
            },
        }
    }
}

#[cfg(unix)]
fn identity(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let metadata = std::fs::metadata(path)?;
    Ok((metadata.dev(), metadata.ino()))
}

#[cfg(not(unix))]
fn identity(path: &Path) -> std::io::Result<(u64, u64)> {
    std::fs::metadata(path).map(|_| (0, 0))
}

impl From<StorageError> for sqlx::Error {
    fn from(error: StorageError) -> Self {
        sqlx::Error::Io(std::io::Error::other(error))
    }
}

//! Files written whole or not at all: a temporary file in the same directory, synced, then
//! renamed over the target, so that a reader (node_exporter, a scheduler reading the JSON
//! files, skopeo reading a layout) never sees half a file.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Writes `bytes` to `path` atomically. The file is readable by all (0644): output files
/// are read by other users (node_exporter, a helm-update job) and never hold a secret.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".acr-sync")
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(dir_of(path))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Checks up front that `path` can be written (its directory exists and takes a new
/// file), so that a run can refuse to start rather than fail after it changed things.
pub fn check_writable(path: &Path) -> std::io::Result<()> {
    tempfile::Builder::new()
        .prefix(".acr-sync")
        .tempfile_in(dir_of(path))
        .map(drop)
}

fn dir_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_readable_by_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write(&path, b"one").unwrap();
        write(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
        assert!(check_writable(&path).is_ok());
        assert!(check_writable(&dir.path().join("missing/x")).is_err());
    }
}

//! Atomic, write-if-changed file replacement.
//!
//! The new content goes to a temp file in the destination's directory, is synced, and is renamed
//! over the destination. A reader sees the old file or the new one, never a partial one. A
//! failure at any step leaves the old file in place. Unchanged content is not written, so the
//! file keeps its mtime and file watchers (Prometheus file_sd) see no event.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Readable by a Prometheus container running under another user on the same volume.
const FILE_MODE: u32 = 0o644;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    Unchanged,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Replaces `path` with `contents` atomically, unless it already holds exactly that.
pub fn write_if_changed(path: &Path, contents: &[u8]) -> Result<WriteOutcome, WriteError> {
    let error = |source: io::Error| WriteError {
        path: path.to_path_buf(),
        source,
    };
    match fs::read(path) {
        Ok(existing) if existing == contents => return Ok(WriteOutcome::Unchanged),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(error(e)),
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(error)?;
    temp.write_all(contents).map_err(error)?;
    temp.as_file().sync_all().map_err(error)?;
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(FILE_MODE))
        .map_err(error)?;
    temp.persist(path).map_err(|e| error(e.error))?;
    Ok(WriteOutcome::Written)
}

/// Creates `path` with `contents` only if it does not exist yet (e.g. an empty `[]` file_sd
/// file at start-up, so Prometheus finds the file before the first cycle).
pub fn create_if_missing(path: &Path, contents: &[u8]) -> Result<WriteOutcome, WriteError> {
    if path.exists() {
        return Ok(WriteOutcome::Unchanged);
    }
    write_if_changed(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_then_skips_identical_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.json");
        assert_eq!(
            write_if_changed(&path, b"[]").expect("write"),
            WriteOutcome::Written
        );
        let mtime = fs::metadata(&path)
            .and_then(|m| m.modified())
            .expect("mtime");
        assert_eq!(
            write_if_changed(&path, b"[]").expect("write"),
            WriteOutcome::Unchanged
        );
        assert_eq!(
            fs::metadata(&path)
                .and_then(|m| m.modified())
                .expect("mtime"),
            mtime
        );
        assert_eq!(
            write_if_changed(&path, b"[1]").expect("write"),
            WriteOutcome::Written
        );
        assert_eq!(fs::read(&path).expect("read"), b"[1]");
    }

    #[test]
    fn leaves_no_temp_files_and_sets_a_readable_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.json");
        write_if_changed(&path, b"x").expect("write");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.json")]);
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, FILE_MODE);
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_path() {
        let err = write_if_changed(Path::new("/nonexistent-dir-for-test/out.json"), b"x")
            .expect_err("must fail");
        assert!(
            err.to_string()
                .contains("/nonexistent-dir-for-test/out.json")
        );
    }

    #[test]
    fn create_if_missing_keeps_existing_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tasks.json");
        fs::write(&path, b"[{\"targets\":[]}]").expect("seed");
        assert_eq!(
            create_if_missing(&path, b"[]").expect("ok"),
            WriteOutcome::Unchanged
        );
        assert_eq!(fs::read(&path).expect("read"), b"[{\"targets\":[]}]");
    }
}

//! Atomic, write-if-changed file replacement.
//!
//! The new content goes to a temp file in the destination's directory, is synced, and is renamed
//! over the destination. A reader sees the old file or the new one, never a partial one. A
//! failure at any step leaves the old file in place. Unchanged content is not written, so the
//! file keeps its mtime and file watchers (Prometheus file_sd) see no event.
//!
//! Content can be streamed ([`write_with_if_changed`]): it is compared with the old file while
//! it is written, so neither the old nor the new content is ever held in memory whole.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Readable by a Prometheus container running under another user on the same volume.
const FILE_MODE: u32 = 0o644;
const STREAM_BUFFER: usize = 64 * 1024;

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
    write_with_if_changed(path, |out| out.write_all(contents))
}

/// Replaces `path` atomically with what `produce` writes, unless that is exactly what the file
/// already holds. An error from `produce` leaves the old file in place.
pub fn write_with_if_changed(
    path: &Path,
    produce: impl FnOnce(&mut Streamed) -> io::Result<()>,
) -> Result<WriteOutcome, WriteError> {
    let error = |source: io::Error| WriteError {
        path: path.to_path_buf(),
        source,
    };
    let old = match File::open(path) {
        Ok(file) => Some(BufReader::with_capacity(STREAM_BUFFER, file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(error(e)),
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(error)?;
    let mut out = Streamed(BufWriter::with_capacity(
        STREAM_BUFFER,
        Comparing {
            file: temp,
            old,
            same: true,
        },
    ));
    produce(&mut out).map_err(error)?;
    let Comparing { file, old, same } = out.0.into_inner().map_err(|e| error(e.into_error()))?;
    let old_ended = match old {
        Some(mut old) => old.fill_buf().map_err(error)?.is_empty(),
        None => false,
    };
    if same && old_ended {
        return Ok(WriteOutcome::Unchanged); // the temp file is removed on drop
    }
    file.as_file().sync_all().map_err(error)?;
    file.as_file()
        .set_permissions(fs::Permissions::from_mode(FILE_MODE))
        .map_err(error)?;
    file.persist(path).map_err(|e| error(e.error))?;
    Ok(WriteOutcome::Written)
}

/// What [`write_with_if_changed`]'s producer writes into: a concrete type rather than a
/// `dyn Write`, so a serializer's many small writes inline into the buffer's fast path.
#[derive(Debug)]
pub struct Streamed(BufWriter<Comparing>);

impl Write for Streamed {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    #[inline]
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Writes to the temp file and compares what it writes with the old file as it goes.
#[derive(Debug)]
struct Comparing {
    file: tempfile::NamedTempFile,
    /// The old file, read up to where the new content has been written; `None` if there is none.
    old: Option<BufReader<File>>,
    /// Everything written so far equals the old file's start.
    same: bool,
}

impl Comparing {
    fn compare(&mut self, mut written: &[u8]) -> io::Result<()> {
        let Some(old) = self.old.as_mut().filter(|_| self.same) else {
            self.same = false;
            return Ok(());
        };
        while !written.is_empty() {
            let available = old.fill_buf()?;
            let n = available.len().min(written.len());
            if n == 0 || available[..n] != written[..n] {
                self.same = false;
                self.old = None;
                return Ok(());
            }
            old.consume(n);
            written = &written[n..];
        }
        Ok(())
    }
}

impl Write for Comparing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.compare(&buf[..n])?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
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
        assert_eq!(
            write_if_changed(&path, b"x").expect("write"),
            WriteOutcome::Unchanged
        );
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
    fn streamed_content_is_compared_with_the_old_file_however_it_is_chunked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big.json");
        let content: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let in_chunks = |chunk: usize, content: Vec<u8>| {
            move |out: &mut Streamed| content.chunks(chunk).try_for_each(|c| out.write_all(c))
        };
        assert_eq!(
            write_with_if_changed(&path, in_chunks(7, content.clone())).expect("write"),
            WriteOutcome::Written
        );
        assert_eq!(
            write_with_if_changed(&path, in_chunks(100_003, content.clone())).expect("write"),
            WriteOutcome::Unchanged
        );
        let mut longer = content.clone();
        longer.push(0);
        let mut changed_at_end = content.clone();
        *changed_at_end.last_mut().expect("content") ^= 1;
        let shorter = content[..content.len() - 1].to_vec();
        for (other, expected) in [
            (longer, WriteOutcome::Written),
            (changed_at_end, WriteOutcome::Written),
            (shorter.clone(), WriteOutcome::Written),
            (shorter, WriteOutcome::Unchanged),
            (content, WriteOutcome::Written),
        ] {
            assert_eq!(
                write_with_if_changed(&path, in_chunks(4096, other.clone())).expect("write"),
                expected
            );
            assert_eq!(fs::read(&path).expect("read"), other);
        }
    }

    #[test]
    fn a_failing_producer_leaves_the_old_file_and_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.json");
        write_if_changed(&path, b"[1]").expect("write");
        let err = write_with_if_changed(&path, |out| {
            out.write_all(b"[2")?;
            Err(io::Error::other("render failed"))
        })
        .expect_err("must fail");
        assert!(err.to_string().contains("render failed"), "{err}");
        assert_eq!(fs::read(&path).expect("read"), b"[1]");
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 1);
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

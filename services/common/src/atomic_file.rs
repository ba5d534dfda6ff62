//! Atomic, write-if-changed file replacement.
//!
//! The new content goes to a temp file in the destination's directory, is synced, and is renamed
//! over the destination. A reader sees the old file or the new one, never a partial one. A
//! failure at any step leaves the old file in place. Unchanged content is not written, so the
//! file keeps its mtime and file watchers (Prometheus file_sd) see no event.
//!
//! Content can be streamed ([`write_with_if_changed`]): it is compared with the old file while
//! it is written, so neither the old nor the new content is ever held in memory whole. One
//! rendering can be streamed into several files that hold the same content
//! ([`write_copies_with_if_changed`]).

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
    write_copies_with_if_changed(&[path], produce)
        .pop()
        .unwrap_or(Ok(WriteOutcome::Unchanged))
}

/// [`write_with_if_changed`] for several files that get the same content, produced once and
/// streamed into each (a renderer's work is done once however many files hold its output). Each
/// file is compared with its own old content and has its own outcome, in the order of `paths`:
/// one that cannot be written doesn't stop the others.
pub fn write_copies_with_if_changed(
    paths: &[&Path],
    produce: impl FnOnce(&mut Streamed) -> io::Result<()>,
) -> Vec<Result<WriteOutcome, WriteError>> {
    let copies = Copies(paths.iter().map(|path| Copy::open(path)).collect());
    let mut out = Streamed(BufWriter::with_capacity(STREAM_BUFFER, copies));
    let produced = produce(&mut out);
    // A failed flush has failed every copy already (each records its own error).
    let Copies(copies) = match out.0.into_inner() {
        Ok(copies) => copies,
        Err(failed) => failed.into_inner().into_parts().0,
    };
    let mut failed = produced.err();
    let last_open = copies.iter().rposition(|c| c.comparing.is_ok());
    copies
        .into_iter()
        .enumerate()
        .map(|(i, Copy { path, comparing })| {
            let comparing = comparing.map_err(|source| WriteError {
                path: path.clone(),
                source,
            })?;
            let error = |source: io::Error| WriteError {
                path: path.clone(),
                source,
            };
            if failed.is_some() {
                // The last open copy gets the producer's own error, the others an equal one.
                let source = if Some(i) == last_open {
                    failed.take()
                } else {
                    failed
                        .as_ref()
                        .map(|e| io::Error::new(e.kind(), e.to_string()))
                };
                return Err(error(source.expect("the producer failed")));
            }
            comparing.finish(&path).map_err(error)
        })
        .collect()
}

/// What [`write_with_if_changed`]'s producer writes into: a concrete type rather than a
/// `dyn Write`, so a serializer's many small writes inline into the buffer's fast path.
#[derive(Debug)]
pub struct Streamed(BufWriter<Copies>);

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

/// One destination of a streamed write: its temp file and old content, or why it can't be
/// written.
#[derive(Debug)]
struct Copy {
    path: PathBuf,
    comparing: Result<Comparing, io::Error>,
}

impl Copy {
    fn open(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            comparing: Comparing::open(path),
        }
    }
}

/// Every destination of a streamed write. A destination that fails to take a chunk is dropped
/// from the rest of the stream with its error; the stream fails only when none is left.
#[derive(Debug)]
struct Copies(Vec<Copy>);

impl Write for Copies {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut open = 0;
        for copy in &mut self.0 {
            if let Ok(comparing) = &mut copy.comparing {
                match comparing.write_all(buf) {
                    Ok(()) => open += 1,
                    Err(e) => copy.comparing = Err(e),
                }
            }
        }
        if open == 0 {
            return Err(io::Error::other("no destination left to write to"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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
    /// The old file of `path` (if any) and a temp file beside it.
    fn open(path: &Path) -> io::Result<Self> {
        let old = match File::open(path) {
            Ok(file) => Some(BufReader::with_capacity(STREAM_BUFFER, file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let file = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
        Ok(Self {
            file,
            old,
            same: true,
        })
    }

    /// Everything is written: keeps the old file if the content is the same (the temp file is
    /// removed on drop), else syncs the temp file and renames it over `path`.
    fn finish(self, path: &Path) -> io::Result<WriteOutcome> {
        let Comparing { file, old, same } = self;
        let old_ended = match old {
            Some(mut old) => old.fill_buf()?.is_empty(),
            None => false,
        };
        if same && old_ended {
            return Ok(WriteOutcome::Unchanged);
        }
        file.as_file().sync_all()?;
        file.as_file()
            .set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
        file.persist(path).map_err(|e| e.error)?;
        Ok(WriteOutcome::Written)
    }

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
    fn each_copy_is_compared_with_its_own_old_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let [same, other, missing] =
            ["same.json", "other.json", "missing.json"].map(|name| dir.path().join(name));
        fs::write(&same, b"[1]").expect("seed");
        fs::write(&other, b"[2]").expect("seed");
        let outcomes: Vec<WriteOutcome> =
            write_copies_with_if_changed(&[&same, &other, &missing], |out| out.write_all(b"[1]"))
                .into_iter()
                .map(|outcome| outcome.expect("written"))
                .collect();
        assert_eq!(
            outcomes,
            [
                WriteOutcome::Unchanged,
                WriteOutcome::Written,
                WriteOutcome::Written
            ]
        );
        for path in [&same, &other, &missing] {
            assert_eq!(fs::read(path).expect("read"), b"[1]", "{}", path.display());
        }
        assert_eq!(
            fs::read_dir(dir.path()).expect("list").count(),
            3,
            "no temp file left"
        );
    }

    #[test]
    fn a_copy_that_cannot_be_written_does_not_stop_the_others() {
        let dir = tempfile::tempdir().expect("tempdir");
        let unwritable = Path::new("/nonexistent-dir-for-test/out.json");
        let good = dir.path().join("out.json");
        let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut outcomes = write_copies_with_if_changed(&[unwritable, &good], |out| {
            content.chunks(1000).try_for_each(|c| out.write_all(c))
        })
        .into_iter();
        let error = outcomes
            .next()
            .expect("first")
            .expect_err("no such directory");
        assert!(
            error
                .to_string()
                .contains("/nonexistent-dir-for-test/out.json"),
            "{error}"
        );
        assert_eq!(
            outcomes.next().expect("second").expect("written"),
            WriteOutcome::Written
        );
        assert_eq!(fs::read(&good).expect("read"), content);
    }

    #[test]
    fn a_failing_producer_leaves_every_old_copy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let [a, b] = ["a.json", "b.json"].map(|name| dir.path().join(name));
        fs::write(&a, b"[1]").expect("seed");
        let outcomes = write_copies_with_if_changed(&[&a, &b], |out| {
            out.write_all(b"[2")?;
            Err(io::Error::other("render failed"))
        });
        for outcome in outcomes {
            let error = outcome.expect_err("must fail");
            assert!(error.to_string().contains("render failed"), "{error}");
        }
        assert_eq!(fs::read(&a).expect("read"), b"[1]");
        assert!(!b.exists());
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

//! Files that appear whole or not at all.
//!
//! Every file the host writes for later use (run folders, exported and quantised models, keys'
//! signatures, reports, plots, caches) goes through [`replace_with`]: the writer fills a temporary
//! file beside the target (same folder, so the rename cannot cross file systems), the file is
//! synced, then renamed over the target, then the folder is synced. A process stopped at any
//! point leaves either the old file or the new one under the real name, never a prefix; a failed
//! writer leaves no temporary file behind. The temporary name starts with a dot and keeps the
//! target's extension, because some writers (PNG plots) choose the format from it.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh temporary path beside `path`: `.NAME.PID-N.partial.EXT` in the same folder.
pub fn temp_path(path: &Path) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().map_or_else(OsString::new, OsString::from);
    let mut temp = OsString::from(".");
    temp.push(&name);
    temp.push(format!(".{}-{n}.partial", std::process::id()));
    if let Some(ext) = path.extension() {
        temp.push(".");
        temp.push(ext);
    }
    path.with_file_name(temp)
}

/// Whether `name` is a temporary file of [`temp_path`] (what a killed writer may leave).
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(".partial")
}

/// Runs `write` on a temporary path beside `path`, then syncs it and renames it to `path`.
///
/// On an error from `write`, or from the sync and rename (turned into an `E` by `io_error`, given
/// the target path), the temporary file is removed and `path` is untouched.
pub fn replace_with<T, E>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<T, E>,
    io_error: impl FnOnce(PathBuf, io::Error) -> E,
) -> Result<T, E> {
    let temp = temp_path(path);
    let result = write(&temp).and_then(|value| match commit(&temp, path) {
        Ok(()) => Ok(value),
        Err(e) => Err(io_error(path.to_path_buf(), e)),
    });
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Writes `bytes` to `path` through [`replace_with`].
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_with(
        path,
        |temp| fs::File::create(temp)?.write_all(bytes),
        |_, e| e,
    )
}

fn commit(temp: &Path, path: &Path) -> io::Result<()> {
    fs::File::open(temp)?.sync_all()?;
    fs::rename(temp, path)?;
    // The rename is durable once the folder is synced; not every platform can open a folder.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(dir) = fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_replaces_the_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.fgm");
        write(&path, b"old").unwrap();
        write(&path, b"new contents").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new contents");
        assert_eq!(names(dir.path()), ["model.fgm"]);
    }

    #[test]
    fn a_failing_writer_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        write(&path, b"{\"old\":1}").unwrap();
        let err = replace_with(
            &path,
            |temp| -> io::Result<()> {
                fs::write(temp, b"{\"half")?;
                Err(io::Error::other("disk full"))
            },
            |_, e| e,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(fs::read(&path).unwrap(), b"{\"old\":1}");
        assert_eq!(names(dir.path()), ["report.json"]);
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_nothing_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/folder/out.onnx");
        assert!(write(&path, b"x").is_err());
        assert!(!path.exists());
    }

    #[test]
    fn temp_paths_keep_the_extension_and_are_unique() {
        let a = temp_path(Path::new("/runs/r/roc.png"));
        let b = temp_path(Path::new("/runs/r/roc.png"));
        assert_ne!(a, b);
        assert_eq!(a.extension().unwrap(), "png");
        assert_eq!(a.parent().unwrap(), Path::new("/runs/r"));
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(is_temp_name(name), "{name}");
        assert!(!is_temp_name("roc.png"));
        // Two targets that differ only by extension never share a temporary file.
        assert_ne!(
            temp_path(Path::new("m.onnx")).file_stem(),
            temp_path(Path::new("m.json")).file_stem()
        );
    }
}

//! Atomic file replacement: a temporary file in the target's directory, written in full and
//! fsynced, renamed over the target, then the directory fsynced. A kill at any moment leaves
//! either the old contents or the new ones under the target's name, never a partial file.

use std::io::Write;
use std::path::Path;

use rand::distr::{Alphanumeric, SampleString};

/// Replaces `path` with `bytes` atomically. `private`: the file is readable by its owner
/// only (0600 on unix), from its creation on.
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} names no file", path.display()),
            )
        })?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(
        ".{name}.{}.tmp",
        Alphanumeric.sample_string(&mut rand::rng(), 12)
    ));
    let r = write_then_rename(&tmp, path, bytes, private);
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r?;
    sync_dir(dir);
    Ok(())
}

fn write_then_rename(tmp: &Path, path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = opts.open(tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(tmp, path)
}

/// Makes the rename durable. Directories cannot be opened or synced on every platform; a
/// failure there is ignored (the rename itself is still atomic).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_whole_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        write_atomic(&p, b"first version, quite long", false).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"first version, quite long");
        write_atomic(&p, b"second", false).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn a_reader_never_sees_a_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        let a = vec![b'a'; 256 * 1024];
        let b = vec![b'b'; 256 * 1024];
        write_atomic(&p, &a, false).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (p, stop) = (p.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut reads = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let got = std::fs::read(&p).unwrap();
                    assert_eq!(got.len(), 256 * 1024, "a partial file was visible");
                    assert!(got.iter().all(|&c| c == got[0]), "a mixed file was visible");
                    reads += 1;
                }
                reads
            })
        };
        for i in 0..40 {
            write_atomic(&p, if i % 2 == 0 { &b } else { &a }, false).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret");
        write_atomic(&p, b"x", true).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Replacing a public file with a private one makes it private.
        let q = dir.path().join("public");
        write_atomic(&q, b"x", false).unwrap();
        write_atomic(&q, b"y", true).unwrap();
        let mode = std::fs::metadata(&q).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_missing_directory_is_an_error_and_the_target_is_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("no-such-dir").join("f");
        assert!(write_atomic(&p, b"x", false).is_err());
        assert!(!p.exists());
    }
}

//! File output shared by every writer in alignrl: atomic replacement of a file.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temporary file in the same folder is written, synced and
/// renamed over `path`, so a reader sees the old file or the new one, never a partial one. Missing
/// parent folders are created; the temporary file is removed on failure.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a file path", path.display()))
    })?;
    let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("alignrl-fsio-{}", std::process::id()));
        let p = dir.join("sub/out.csv");
        atomic_write(&p, b"a").unwrap();
        atomic_write(&p, b"bc").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"bc");
        let names: Vec<_> =
            fs::read_dir(p.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(atomic_write(&dir.join("sub"), b"x").is_err(), "a folder cannot be replaced by a file");
        fs::remove_dir_all(&dir).unwrap();
    }
}

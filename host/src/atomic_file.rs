//! Writing a file so that a crash never leaves half of it: a temporary file in the same
//! directory, flushed to disk, then renamed over the destination.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `dest` atomically, creating the directory if needed.
pub fn write(dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(dest).map(|_| ()).map_err(|e| e.error)
}

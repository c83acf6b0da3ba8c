//! Bundles: a directory of zone files, its id, and the paths it may touch.
//!
//! A bundle is a directory holding one `<origin>.zone` file per zone
//! (`example.com.zone` holds the zone `example.com.`), optionally a
//! `bundle.toml`, and any files those zones `$INCLUDE`. Its [`BundleId`] is a
//! blake3 hash over the sorted relative paths and contents of every regular
//! file in it, so two copies of the same data have the same id wherever they
//! sit.
//!
//! This module is shared by both engines, so it stays small: it lists zone
//! files, reads bytes, and refuses any path (an `$INCLUDE`, a symlink) that
//! leads outside the bundle directory. Parsing the zone text is each
//! engine's own business.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use thiserror::Error;

/// Why a bundle cannot be loaded. Every variant names the file; zone-file
/// errors also name the line.
#[derive(Debug, Error)]
pub enum BundleError {
    /// The bundle directory does not exist or is not a directory.
    #[error("{}: not a bundle directory: {reason}", path.display())]
    NotADirectory {
        /// The directory that was asked for.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// A file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The directory holds no `<origin>.zone` file.
    #[error("{}: no zone files in the bundle (expected files named <origin>.zone)", path.display())]
    NoZones {
        /// The bundle directory.
        path: PathBuf,
    },
    /// A zone file's name does not give a valid origin.
    #[error("{}: file name is not a valid zone origin: {reason}", path.display())]
    BadOrigin {
        /// The zone file.
        path: PathBuf,
        /// What is wrong with the name.
        reason: String,
    },
    /// A path (a symlink or an `$INCLUDE`) leads outside the bundle.
    #[error("{}:{line}: {what} leads outside the bundle directory", path.display())]
    Escapes {
        /// The file holding the offending reference (or the symlink itself).
        path: PathBuf,
        /// The line of the reference, 0 for a symlink.
        line: usize,
        /// The reference, as written.
        what: String,
    },
    /// A zone file's content is wrong.
    #[error("{}:{line}: {message}", file.display())]
    Zone {
        /// The zone file (or included file) holding the error.
        file: PathBuf,
        /// The 1-based line of the record or directive, 0 for the whole zone.
        line: usize,
        /// What is wrong, naming the record where there is one.
        message: String,
    },
}

/// A bundle's identity: blake3 over its sorted relative paths and contents.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BundleId([u8; 32]);

impl BundleId {
    /// The id as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The id's 32 octets.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The id with these 32 octets.
    pub fn from_bytes(bytes: [u8; 32]) -> BundleId {
        BundleId(bytes)
    }
}

impl std::str::FromStr for BundleId {
    type Err = String;

    /// Parse 64 hex digits, as [`BundleId::to_hex`] writes them (the names
    /// of the pipeline's bundle directories).
    fn from_str(s: &str) -> Result<BundleId, String> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 || !bytes.iter().all(u8::is_ascii_hexdigit) {
            return Err(format!("`{s}` is not a bundle id (64 hex digits)"));
        }
        let mut id = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let digit = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
            id[i] = digit(pair[0]) << 4 | digit(pair[1]);
        }
        Ok(BundleId(id))
    }
}

impl fmt::Display for BundleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for BundleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BundleId({})", self.to_hex())
    }
}

/// One zone of a bundle: its origin (from the file name) and its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneFile {
    /// The origin in presentation form, always ending in `.`.
    pub origin: String,
    /// The zone file's path.
    pub path: PathBuf,
}

/// A bundle directory, checked to exist and to hold at least one zone.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The directory as given.
    root: PathBuf,
    /// The directory with symlinks resolved, for confinement checks.
    canonical_root: PathBuf,
    /// The zones, sorted by file name.
    zones: Vec<ZoneFile>,
    /// Hash over every file of the bundle.
    id: BundleId,
}

impl Bundle {
    /// Open the bundle directory `root`: list its zones, refuse links that
    /// lead outside it, and compute its id.
    pub fn open(root: impl AsRef<Path>) -> Result<Bundle, BundleError> {
        let root = root.as_ref().to_path_buf();
        let meta = fs::metadata(&root).map_err(|e| BundleError::NotADirectory {
            path: root.clone(),
            reason: e.to_string(),
        })?;
        if !meta.is_dir() {
            return Err(BundleError::NotADirectory {
                path: root,
                reason: "it is a file".into(),
            });
        }
        let canonical_root = fs::canonicalize(&root).map_err(|source| BundleError::Io {
            path: root.clone(),
            source,
        })?;
        let mut files = Vec::new();
        collect_files(&canonical_root, &canonical_root, &root, &mut files)?;
        files.sort();

        let mut hasher = blake3::Hasher::new();
        let mut zones = Vec::new();
        for rel in &files {
            let path = root.join(rel);
            let bytes = fs::read(&path).map_err(|source| BundleError::Io {
                path: path.clone(),
                source,
            })?;
            let rel_text = rel.to_string_lossy();
            hasher.update(&(rel_text.len() as u64).to_le_bytes());
            hasher.update(rel_text.as_bytes());
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
            if rel.components().count() == 1
                && let Some(stem) = rel_text.strip_suffix(".zone")
            {
                let origin = origin_from_stem(stem).map_err(|reason| BundleError::BadOrigin {
                    path: path.clone(),
                    reason,
                })?;
                zones.push(ZoneFile { origin, path });
            }
        }
        if zones.is_empty() {
            return Err(BundleError::NoZones { path: root });
        }
        Ok(Bundle {
            root,
            canonical_root,
            zones,
            id: BundleId(*hasher.finalize().as_bytes()),
        })
    }

    /// The bundle directory as given to [`Bundle::open`].
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The zones of the bundle, sorted by file name.
    pub fn zones(&self) -> &[ZoneFile] {
        &self.zones
    }

    /// The bundle's id.
    pub fn id(&self) -> BundleId {
        self.id
    }

    /// Read a file of the bundle (a zone file or an included file).
    pub fn read(&self, path: &Path) -> Result<Vec<u8>, BundleError> {
        fs::read(path).map_err(|source| BundleError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Resolve an `$INCLUDE` target written on `line` of `from`. A relative
    /// target is taken from the directory of the including file, as Knot DNS
    /// and NSD do; the result must lie inside the bundle directory, or the
    /// include is refused.
    pub fn resolve_include(
        &self,
        from: &Path,
        line: usize,
        target: &str,
    ) -> Result<PathBuf, BundleError> {
        let escapes = || BundleError::Escapes {
            path: from.to_path_buf(),
            line,
            what: format!("$INCLUDE {target}"),
        };
        let target_path = Path::new(target);
        let joined = if target_path.is_absolute() {
            target_path.to_path_buf()
        } else {
            from.parent().unwrap_or(Path::new(".")).join(target_path)
        };
        let canonical = match fs::canonicalize(&joined) {
            Ok(p) => p,
            Err(source) => {
                // A missing file: refuse `..` escapes before reporting it.
                if lexically_escapes(target_path) {
                    return Err(escapes());
                }
                return Err(BundleError::Zone {
                    file: from.to_path_buf(),
                    line,
                    message: format!("$INCLUDE {target}: {source}"),
                });
            }
        };
        if !canonical.starts_with(&self.canonical_root) {
            return Err(escapes());
        }
        Ok(joined)
    }
}

/// True when a relative path climbs above its starting point.
fn lexically_escapes(path: &Path) -> bool {
    let mut depth: i64 = 0;
    for c in path.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::RootDir | Component::Prefix(_) => return true,
            Component::CurDir => {}
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

/// Every regular file below `dir`, as paths relative to `base`. Symlinks are
/// followed only when they stay inside the bundle.
fn collect_files(
    base: &Path,
    dir: &Path,
    shown_root: &Path,
    out: &mut Vec<PathBuf>,
) -> Result<(), BundleError> {
    let shown = |p: &Path| shown_root.join(p.strip_prefix(base).unwrap_or(p));
    let entries = fs::read_dir(dir).map_err(|source| BundleError::Io {
        path: shown(dir),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| BundleError::Io {
            path: shown(dir),
            source,
        })?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            // Hidden files (editor swap files, temporary names) are not data.
            continue;
        }
        let target = fs::canonicalize(&path).map_err(|source| BundleError::Io {
            path: shown(&path),
            source,
        })?;
        if !target.starts_with(base) {
            return Err(BundleError::Escapes {
                path: shown(&path),
                line: 0,
                what: "symlink".into(),
            });
        }
        let meta = fs::metadata(&target).map_err(|source| BundleError::Io {
            path: shown(&path),
            source,
        })?;
        if meta.is_dir() {
            collect_files(base, &path, shown_root, out)?;
        } else if meta.is_file() {
            out.push(path.strip_prefix(base).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

/// The origin named by a zone file's stem: `example.com` gives
/// `example.com.`. The text is taken as a presentation-format name.
fn origin_from_stem(stem: &str) -> Result<String, String> {
    let name = stem.strip_suffix('.').unwrap_or(stem);
    if name.is_empty() {
        return Err("empty name (the root zone is not served)".into());
    }
    // RFC 1035 2.3.4: labels of 63 octets or less, names of 255 or less.
    let mut wire_len = 1;
    for label in name.split('.') {
        if label.is_empty() {
            return Err(format!("empty label in `{stem}`"));
        }
        if label.len() > 63 {
            return Err(format!("label `{label}` is longer than 63 octets"));
        }
        if label
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(format!(
                "label `{label}` holds white space or control characters"
            ));
        }
        wire_len += label.len() + 1;
    }
    if wire_len > 255 {
        return Err("name is longer than 255 octets".into());
    }
    Ok(format!("{name}."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_from_file_stem() {
        assert_eq!(origin_from_stem("example.com").unwrap(), "example.com.");
        assert_eq!(origin_from_stem("example.com.").unwrap(), "example.com.");
        assert!(origin_from_stem("").is_err());
        assert!(origin_from_stem("a..b").is_err());
        assert!(origin_from_stem(&"a".repeat(64)).is_err());
        let long = vec!["abcdefghi"; 26].join(".");
        assert!(origin_from_stem(&long).is_err());
    }

    #[test]
    fn bundle_id_hex_round_trip() {
        let id = BundleId([0xab; 32]);
        assert_eq!(id.to_hex().parse::<BundleId>().unwrap(), id);
        assert!("ab".parse::<BundleId>().is_err());
        assert!("zz".repeat(32).parse::<BundleId>().is_err());
    }

    #[test]
    fn parent_dir_escape_is_lexical() {
        assert!(lexically_escapes(Path::new("../x")));
        assert!(lexically_escapes(Path::new("a/../../x")));
        assert!(!lexically_escapes(Path::new("a/../x")));
        assert!(lexically_escapes(Path::new("/etc/passwd")));
    }
}

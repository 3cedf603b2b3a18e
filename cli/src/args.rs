//! The command line, as clap definitions: the one source of the parser, the help, the shell
//! completions and the man page.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use nix_ingest::Want;
use nix_ingest::git::Mode as GitMode;
use nix_ingest::hash::{Algorithm, Format};
use nix_ingest::method::FileIngestionMethod;

/// Nix's file ingestion (flat, NAR and git hashing), content addresses and store paths, without
/// Nix.
///
/// Each subcommand named after a Nix command prints what that command prints, byte for byte.
#[derive(Debug, Parser)]
#[command(name = "nix-ingest", version, propagate_version = true)]
#[command(arg_required_else_help = false)]
#[command(after_help = "Exit status: 0 on success, 1 on an error, 2 on a bad command line.")]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes; a subcommand's `--help` lists them after its own.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Threads to hash directories on (0: one per core, the default; 1: the calling thread only).
    #[arg(long, short = 'j', global = true, value_name = "N")]
    pub threads: Option<usize>,
    /// Hash SHA-1 without detecting collision attacks (as Nix does; faster).
    #[arg(long, global = true)]
    pub no_collision_detection: bool,
    /// Reuse the git ids of unchanged files from FILE, and save them there (git hashing only).
    #[arg(long, global = true, value_name = "FILE")]
    pub cache: Option<PathBuf>,
    /// Let --cache replace a file that is not a nix-ingest cache.
    #[arg(long, global = true, requires = "cache")]
    pub cache_overwrite: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Hash file system objects or NARs (`nix hash path`, and more).
    #[command(subcommand, arg_required_else_help = false)]
    Hash(HashCommand),
    /// Compute store paths (`nix store add --dry-run`).
    #[command(subcommand, arg_required_else_help = false)]
    Store(StoreCommand),
    /// Write and read NARs (`nix-store --dump`, `nix-store --restore`).
    #[command(subcommand, arg_required_else_help = false)]
    Nar(NarCommand),
    /// Print the narinfo a binary cache holds for a path (`nix path-info`, `.narinfo`).
    PathInfo(PathInfoArgs),
    /// Check that a NAR has the content address it claims, and print its store path.
    Verify(VerifyArgs),
    /// Git objects in and out (not in Nix).
    #[command(subcommand, arg_required_else_help = false)]
    Git(GitCommand),
    /// The IPFS CIDv1 (codec git-raw) naming the git object of a path or NAR.
    Cid(CidArgs),
    /// Print a shell completion script to standard output.
    Completions(CompletionsArgs),
    /// Print the man page of nix-ingest or of a subcommand (roff), or write them all.
    Man(ManArgs),
}

#[derive(Debug, Subcommand)]
pub enum HashCommand {
    /// Print the hash of each path, as `nix hash path` does.
    Path(HashPathArgs),
    /// Several hashes of one path or NAR in one pass, one `METHOD-ALGO HASH` line each.
    Multi(HashMultiArgs),
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Print the store path `nix store add --dry-run` prints, without a store.
    Add(StoreAddArgs),
}

#[derive(Debug, Subcommand)]
pub enum NarCommand {
    /// Write the NAR of a path to standard output (`nix-store --dump PATH`).
    Dump(NarDumpArgs),
    /// Unpack a NAR into a new path (`nix-store --restore PATH < NAR`); a failed unpack leaves
    /// nothing behind.
    Restore(NarRestoreArgs),
}

#[derive(Debug, Subcommand)]
pub enum GitCommand {
    /// Hash a path with git and store every blob and tree in a git repository as loose objects;
    /// print the id, then how many objects were written.
    Export(GitExportArgs),
    /// Write the NAR of a git tree or blob to standard output (the inverse of `git export`).
    ToNar(GitToNarArgs),
    /// What Nix's git fetcher records for a revision of a local repository: the JSON
    /// `nix flake prefetch --json 'git+file://REPO?rev=…'` prints (`?ref=…` for a ref name).
    Prefetch(GitPrefetchArgs),
}

/// The hash format flags older Nix versions had, still accepted by Nix 2.34's `nix hash path`:
/// each is `--format` with a value, and the last of them (or of `--format`) wins.
#[derive(Debug, Args)]
pub struct LegacyFormat {
    #[arg(long, hide = true, overrides_with_all = LEGACY_FORMATS)]
    base16: bool,
    #[arg(long, hide = true, overrides_with_all = LEGACY_FORMATS)]
    base32: bool,
    #[arg(long, hide = true, overrides_with_all = LEGACY_FORMATS)]
    base64: bool,
    #[arg(long, hide = true, overrides_with_all = LEGACY_FORMATS)]
    sri: bool,
}

/// `--format` and the legacy flags: whichever comes last overrides the others.
const LEGACY_FORMATS: [&str; 5] = ["format", "base16", "base32", "base64", "sri"];

impl LegacyFormat {
    /// The format asked for: the legacy flag given last, if it was after any `--format`.
    pub fn or(&self, format: HashFormat) -> HashFormat {
        match (self.base16, self.base32, self.base64, self.sri) {
            (true, ..) => HashFormat::Base16,
            (_, true, ..) => HashFormat::Nix32,
            (.., true, _) => HashFormat::Base64,
            (.., true) => HashFormat::Sri,
            _ => format,
        }
    }
}

/// Where the object comes from: a path on disk, or a NAR.
#[derive(Debug, Args)]
pub struct Source {
    /// Read PATH as a NAR file (`-`: standard input), streamed, never read whole.
    #[arg(long)]
    pub nar: bool,
}

#[derive(Debug, Args)]
pub struct HashPathArgs {
    /// The ingestion method.
    #[arg(long, value_enum, default_value_t = Mode::Nar)]
    pub mode: Mode,
    /// The hash algorithm (Nix's older spelling `--type` is accepted too).
    #[arg(long, alias = "type", value_enum, default_value_t = Algo::Sha256)]
    pub algo: Algo,
    /// The output format (Nix's older flags --base16, --base32, --base64 and --sri are accepted
    /// too; the last format given wins, as in Nix).
    #[arg(long, value_enum, default_value_t = HashFormat::Sri, overrides_with_all = LEGACY_FORMATS)]
    pub format: HashFormat,
    #[command(flatten)]
    pub legacy_format: LegacyFormat,
    #[command(flatten)]
    pub source: Source,
    /// The paths to hash (with --nar: NAR files, or `-`).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct HashMultiArgs {
    /// The hashes to compute, as METHOD:ALGO (repeat, or separate with commas).
    #[arg(
        long = "hash",
        value_name = "METHOD:ALGO",
        value_delimiter = ',',
        value_parser = parse_method_algo,
        default_value = "git:sha1,git:sha256,nar:sha256"
    )]
    pub hashes: Vec<Want<'static>>,
    /// The output format.
    #[arg(long, value_enum, default_value_t = HashFormat::Sri)]
    pub format: HashFormat,
    #[command(flatten)]
    pub source: Source,
    /// The path to hash (with --nar: a NAR file, or `-`).
    pub path: OsString,
}

#[derive(Debug, Args)]
pub struct StoreAddArgs {
    /// Print the store path without adding anything (required: nix-ingest has no store).
    #[arg(long, required = true)]
    pub dry_run: bool,
    /// How to ingest the path: flat, nar, git or text.
    #[arg(long, value_enum, default_value_t = StoreMode::Nar)]
    pub mode: StoreMode,
    /// The hash algorithm of the content address.
    #[arg(long, value_enum, default_value_t = Algo::Sha256)]
    pub hash_algo: Algo,
    /// The store path name (default: the base name of PATH; with --nar, of the NAR file
    /// without `.nar`).
    #[arg(long, short = 'n')]
    pub name: Option<String>,
    #[command(flatten)]
    pub store: StoreOpts,
    #[command(flatten)]
    pub source: Source,
    /// The path to add (with --nar: a NAR file, or `-`).
    pub path: OsString,
}

/// The store directory, as a Nix store URL or as a directory.
#[derive(Debug, Args)]
pub struct StoreOpts {
    /// The store URL; only its store directory matters (`dummy://?store=/gnu/store`).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// The store directory (default: /nix/store).
    #[arg(long, value_name = "DIR", conflicts_with = "store")]
    pub store_dir: Option<String>,
}

#[derive(Debug, Args)]
pub struct PathInfoArgs {
    /// Print what `nix path-info --json --store file://CACHE PATH` prints instead.
    #[arg(long)]
    pub json: bool,
    /// The JSON shape, as Nix 2.34's `--json-format`.
    #[arg(long, value_enum, default_value_t = JsonFormat::V1, requires = "json")]
    pub json_format: JsonFormat,
    /// How the path is added: flat, nar, git or text (its content address).
    #[arg(long, value_enum, default_value_t = StoreMode::Nar)]
    pub mode: StoreMode,
    /// The hash algorithm of the content address.
    #[arg(long, value_enum, default_value_t = Algo::Sha256)]
    pub hash_algo: Algo,
    /// The store path name (default: as `store add`).
    #[arg(long, short = 'n')]
    pub name: Option<String>,
    #[command(flatten)]
    pub store: StoreOpts,
    #[command(flatten)]
    pub source: Source,
    /// The path (with --nar: a NAR file, or `-`).
    pub path: std::ffi::OsString,
}

#[derive(Debug, Args)]
pub struct NarRestoreArgs {
    /// Where to create the object (it must not exist).
    pub path: PathBuf,
    /// The NAR file (default `-`: standard input).
    #[arg(default_value = "-")]
    pub nar: std::ffi::OsString,
}

#[derive(Debug, Args)]
pub struct NarDumpArgs {
    /// The path to serialise.
    pub path: OsString,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The content address the NAR claims, e.g. `fixed:git:sha1:<hash>` or `fixed:r:sha256:<hash>`.
    pub ca: String,
    /// The NAR file, or `-` for standard input.
    pub nar: OsString,
    /// The store path name (default: the NAR's file name without `.nar`).
    #[arg(long, short = 'n')]
    pub name: Option<String>,
    #[command(flatten)]
    pub store: StoreOpts,
}

#[derive(Debug, Args)]
pub struct GitExportArgs {
    /// The git repository to write into (its object format picks the algorithm).
    pub repo: PathBuf,
    /// The path to hash (with --nar: a NAR file, or `-`).
    pub path: OsString,
    /// The output format of the id.
    #[arg(long, value_enum, default_value_t = HashFormat::Base16)]
    pub format: HashFormat,
    /// Refuse entries `git fsck --strict` rejects (`.git` in any spelling, a `.gitmodules`
    /// symlink, …) instead of warning about them.
    #[arg(long)]
    pub refuse_fsck_names: bool,
    #[command(flatten)]
    pub source: Source,
}

#[derive(Debug, Args)]
pub struct GitPrefetchArgs {
    /// The git repository (a work tree or a bare repository; loose and packed objects).
    pub repo: PathBuf,
    /// A full or abbreviated commit, tag or tree id, or a ref name (branch, tag, `HEAD`).
    /// Without it, as `nix flake prefetch git+file://REPO`: a work tree with uncommitted
    /// changes gives its tracked files as they are on disk (with a warning), else `HEAD` on its
    /// branch.
    pub revision: Option<String>,
    /// Include submodules (Nix's `submodules = true`), read from the repository's modules
    /// directory; without it a submodule is an empty directory, as in Nix.
    #[arg(long)]
    pub submodules: bool,
    /// Leave out what `.gitattributes` marks `export-ignore` (Nix's `exportIgnore`).
    #[arg(long)]
    pub export_ignore: bool,
    /// `builtins.fetchGit`'s defaults: export-ignore unless --submodules.
    #[arg(long)]
    pub fetch_git: bool,
    /// Accept a shallow repository (Nix's `shallow`), leaving revCount out.
    #[arg(long)]
    pub shallow: bool,
    /// The store path name.
    #[arg(long, short = 'n', default_value = "source")]
    pub name: String,
    /// The repository URL to print in `locked` and `original` (default: file:// and the
    /// absolute path of REPO).
    #[arg(long)]
    pub url: Option<String>,
    /// Print the git-hashing content address and store path of the tree instead (two lines).
    #[arg(long)]
    pub git_ca: bool,
    #[command(flatten)]
    pub store: StoreOpts,
}

#[derive(Debug, Args)]
pub struct GitToNarArgs {
    /// The git repository to read (loose and packed objects).
    pub repo: PathBuf,
    /// The id of the tree or blob, full or abbreviated (at least 4 hex digits, naming one
    /// object).
    pub id: String,
    /// What the object is (default: a directory for a tree, a file for a blob).
    #[arg(long, value_enum)]
    pub root_type: Option<RootType>,
}

#[derive(Debug, Args)]
pub struct CidArgs {
    /// The git hash algorithm.
    #[arg(long, value_enum, default_value_t = CidAlgo::Sha1)]
    pub algo: CidAlgo,
    #[command(flatten)]
    pub source: Source,
    /// The path (with --nar: a NAR file, or `-`).
    pub path: OsString,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The subcommand whose page to print, e.g. `hash path` (default: the main page).
    #[arg(value_name = "SUBCOMMAND")]
    pub command: Vec<String>,
    /// Write every page (nix-ingest.1, nix-ingest-hash.1, nix-ingest-hash-path.1, …) into DIR
    /// instead, and print their names.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub out_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// `--json-format` of `nix path-info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JsonFormat {
    #[value(name = "1")]
    V1,
    #[value(name = "2")]
    V2,
}

/// `--mode` of `nix hash path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Flat,
    Nar,
    Git,
}

impl From<Mode> for FileIngestionMethod {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Flat => FileIngestionMethod::Flat,
            Mode::Nar => FileIngestionMethod::Nar,
            Mode::Git => FileIngestionMethod::Git,
        }
    }
}

/// `--mode` of `nix store add`: the file ingestion methods, and text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreMode {
    Flat,
    Nar,
    Git,
    Text,
}

/// Nix's hash algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Algo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl From<Algo> for Algorithm {
    fn from(algo: Algo) -> Self {
        match algo {
            Algo::Md5 => Algorithm::Md5,
            Algo::Sha1 => Algorithm::Sha1,
            Algo::Sha256 => Algorithm::Sha256,
            Algo::Sha512 => Algorithm::Sha512,
        }
    }
}

/// The git algorithms (the ones a CID can name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CidAlgo {
    Sha1,
    Sha256,
}

impl From<CidAlgo> for Algorithm {
    fn from(algo: CidAlgo) -> Self {
        match algo {
            CidAlgo::Sha1 => Algorithm::Sha1,
            CidAlgo::Sha256 => Algorithm::Sha256,
        }
    }
}

/// Nix's hash formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HashFormat {
    Sri,
    #[value(alias = "base32")]
    Nix32,
    Base16,
    Base64,
}

impl From<HashFormat> for Format {
    fn from(format: HashFormat) -> Self {
        match format {
            HashFormat::Sri => Format::Sri,
            HashFormat::Nix32 => Format::Nix32,
            HashFormat::Base16 => Format::Base16,
            HashFormat::Base64 => Format::Base64,
        }
    }
}

/// What a git object stands for at the root of a NAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RootType {
    #[value(alias = "tree")]
    Directory,
    #[value(alias = "regular")]
    File,
    Executable,
    Symlink,
}

impl From<RootType> for GitMode {
    fn from(root: RootType) -> Self {
        match root {
            RootType::Directory => GitMode::Directory,
            RootType::File => GitMode::File,
            RootType::Executable => GitMode::Executable,
            RootType::Symlink => GitMode::Symlink,
        }
    }
}

/// `METHOD:ALGO`, e.g. `git:sha1`.
fn parse_method_algo(item: &str) -> Result<Want<'static>, String> {
    let (method, algo) = item
        .split_once(':')
        .ok_or_else(|| format!("{} is not METHOD:ALGO (e.g. git:sha1)", crate::quote(item)))?;
    let method = method.parse().map_err(|_| {
        format!(
            "unknown method {} (expected flat, nar or git)",
            crate::quote(method)
        )
    })?;
    let algo = algo.parse().map_err(|e| format!("{e}"))?;
    Ok(Want::new(method, algo))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }
}

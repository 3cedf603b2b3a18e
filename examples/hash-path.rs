//! `hash-path`: a short tour of the library — every way Nix hashes a store object, from one pass.
//!
//! ```text
//! cargo run --release --example hash-path            # the shipped sample store object
//! cargo run --release --example hash-path -- PATH    # a file, directory or symlink on disk
//! cargo run --release --example hash-path -- x.nar   # a NAR file (by its .nar extension)
//! ```
//!
//! Without an argument it hashes `examples/sample/sample.nar`, a NAR made by `nix-store --dump`
//! (see `examples/sample/README.md`, which lists what Nix answers for it). For every subcommand
//! Nix has (`nix hash path`, `nix store add --dry-run`, `nix-store --dump`/`--restore`, …),
//! install the command-line tool: `cargo install --path cli`, then `nix-ingest --help`.

use std::error::Error;
use std::fs::File;
use std::path::PathBuf;

use nix_ingest::store_path::References;
use nix_ingest::{
    Algorithm, ContentAddress, FileIngestionMethod, Format, Hash, Options, StoreDir, Want,
};

/// The sample store object and the name Nix gives its store path (`nix store add sample`).
const SAMPLE_NAR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sample/sample.nar");

/// Prints an error as one line, with every cause after a colon (the library's errors keep their
/// cause in `source()`, so `{}` alone would say only "cannot unpack NAR" or the like).
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let mut line = format!("error: {e}");
            let mut cause = e.source();
            while let Some(c) = cause {
                line.push_str(&format!(": {c}"));
                cause = c.source();
            }
            eprintln!("{line}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let (path, name) = match std::env::args_os().nth(1) {
        None => {
            println!("the sample store object (examples/sample/sample.nar)");
            (PathBuf::from(SAMPLE_NAR), "sample".to_owned())
        }
        Some(arg) => {
            let path = PathBuf::from(arg);
            println!("{}", path.display());
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().trim_end_matches(".nar").to_owned())
                .unwrap_or_default();
            (path, name)
        }
    };
    let is_nar = path.extension().is_some_and(|e| e == "nar");

    // One pass over the object computes every hash Nix would compute in a separate run.
    use FileIngestionMethod::{Git, Nar};
    let wants = [
        Want::new(Git, Algorithm::Sha1),
        Want::new(Git, Algorithm::Sha256),
        Want::new(Nar, Algorithm::Sha256),
    ];
    let options = Options::new();
    let hashes: Vec<Hash> = if is_nar {
        options.hash_nar_multi(File::open(&path)?, &wants)?
    } else {
        options.hash_path_multi(&path, &wants)?
    };
    let [git_sha1, git_sha256, nar_sha256] = [&hashes[0], &hashes[1], &hashes[2]];

    println!(
        "  nix hash path --mode git --algo sha1 --format base16    {}",
        git_sha1.encode(Format::Base16)
    );
    println!(
        "  nix hash path --mode git --algo sha256 --format base16  {}",
        git_sha256.encode(Format::Base16)
    );
    println!(
        "  nix hash path --mode nar --algo sha256 --format base16  {}",
        nar_sha256.encode(Format::Base16)
    );
    println!("  nix hash path                                           {nar_sha256}");

    // Content addresses and the store paths `nix store add --dry-run` prints for them.
    let store = StoreDir::default();
    for (flags, ca) in [
        ("", ContentAddress::fixed(Nar, *nar_sha256)),
        (
            "--mode git --hash-algo sha1 ",
            ContentAddress::fixed(Git, *git_sha1),
        ),
    ] {
        let store_path = store.make_path_from_ca(&name, &ca, &References::default())?;
        println!("  content address  {ca}");
        println!(
            "  nix store add --dry-run {flags:<28} {}",
            store.display_path(&store_path)
        );
    }
    Ok(())
}

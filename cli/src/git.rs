//! `git export` and `git to-nar`: git objects in and out.

use std::fmt::Write as _;

use nix_ingest::git::loose::LooseObjectWriter;
use nix_ingest::git::objects_dir::ObjectsDir;
use nix_ingest::git::source::{ObjectSource, Repository};
use nix_ingest::git::{GitHasher, Mode as GitMode, ObjectKind};
use nix_ingest::hash::{Format, Hash};

use nix_ingest::event::Tee;
use nix_ingest::fetch::Fetch;
use nix_ingest::git::names::FsckNames;

use crate::args::{GitExportArgs, GitPrefetchArgs, GitToNarArgs};
use crate::input::Input;
use crate::{Failure, Settings, chain, fail, refuse_terminal};

/// `git export REPO PATH`: hash with git, writing every object into REPO.
pub fn export(settings: &Settings, args: &GitExportArgs) -> Result<String, Failure> {
    let input = Input::new(&args.path, args.source.nar)?;
    let objects = ObjectsDir::locate(&args.repo).map_err(|e| fail(chain(&e)))?;
    let algo = objects.algorithm;
    let writer = LooseObjectWriter::with_objects_dir(objects.path, Some(algo));
    let hasher = GitHasher::with_objects(algo, writer)
        .collision_detection(settings.options().settings().collision_detection());
    let names = FsckNames::new().refuse(args.refuse_fsck_names);
    let mut tee = Tee::new(names, hasher);
    input.feed(&mut tee, settings.options())?;
    let (names, hasher) = tee.into_inner();
    let (id, writer) = hasher
        .finish_with_objects()
        .map_err(|e| fail(format!("{}: {}", input.display(), chain(&e))))?;
    for (path, problem) in names.found() {
        crate::eprintln_safe(&format!(
            "warning: '{path}' is {problem}: git fsck --strict (and a push to a remote that checks objects) rejects the tree holding it"
        ));
    }
    let more = names.count().saturating_sub(names.found().len() as u64);
    if more > 0 {
        crate::eprintln_safe(&format!("warning: {more} more such entries"));
    }
    let format: Format = args.format.into();
    let mut out = format!("{}\n", id.encode(format));
    let _ = writeln!(
        out,
        "objects: {} written, {} already present",
        writer.written(),
        writer.already_present()
    );
    Ok(out)
}

/// `git to-nar REPO ID`: the NAR of a git tree or blob, streamed to standard output.
pub fn to_nar(settings: &Settings, args: &GitToNarArgs) -> Result<String, Failure> {
    let repo = &args.repo;
    let id_text = &args.id;
    let mut source = Repository::open(repo).map_err(|e| fail(chain(&e)))?;
    let algo = source.algorithm();
    let digits = algo.len().saturating_mul(2);
    if !(4..=digits).contains(&id_text.len()) || !id_text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(fail(format!(
            "{id_text:?} is not a git object id of {repo:?} (4 to {digits} hex digits: the repository uses {algo})"
        )));
    }
    let id = if id_text.len() == digits {
        Hash::parse_unprefixed(id_text, algo).map_err(|e| fail(chain(&e)))?
    } else {
        // An abbreviation, as `git prefetch` and git take it: exactly one object starts so.
        match source.lookup_prefix(&id_text.to_ascii_lowercase()) {
            Ok(Some(Ok(id))) => id,
            Ok(Some(Err(()))) => {
                return Err(fail(format!(
                    "abbreviated id {id_text:?} names several objects of {repo:?}"
                )));
            }
            Ok(None) => {
                return Err(fail(format!(
                    "no object of {repo:?} has an id starting {id_text:?}"
                )));
            }
            Err(e) => return Err(fail(format!("{repo:?}: {}", chain(&e)))),
        }
    };
    let mode = match args.root_type {
        Some(root) => root.into(),
        // A blob is a file unless told otherwise; anything else is read as a tree (and a
        // missing or bad object is reported below, where it is read again).
        None => match source.read(&id) {
            Ok(object) if object.kind == ObjectKind::Blob => GitMode::File,
            _ => GitMode::Directory,
        },
    };
    refuse_terminal()?;
    // Blobs inflated ahead on the threads `-j` allows while this one writes the NAR.
    let mut source = source
        .read_ahead()
        .threads(settings.options().settings().threads());
    let what = format!("cannot restore git object {id_text} of {repo:?} as a NAR");
    crate::nar::to_stdout("restoring", &what, |sink| {
        nix_ingest::git::events::to_events(
            &id,
            mode,
            &mut source,
            sink,
            settings.options().settings().limits(),
        )
    })
}

/// `git prefetch REPO [REVISION]`: what Nix's git fetcher records, as `nix flake prefetch --json`.
pub fn prefetch(settings: &Settings, args: &GitPrefetchArgs) -> Result<String, Failure> {
    let mut fetch = if args.fetch_git {
        Fetch::fetch_git()
    } else {
        Fetch::new()
    };
    fetch = fetch
        .settings(*settings.options().settings())
        .submodules(args.submodules)
        .shallow(args.shallow)
        .name(args.name.clone())
        .store_dir(crate::input::store_dir(&args.store)?);
    if args.export_ignore {
        fetch = fetch.export_ignore(true);
    }
    let fetched = match &args.revision {
        Some(revision) => fetch.fetch(&args.repo, revision),
        None => fetch.fetch_work_tree(&args.repo),
    }
    .map_err(|e| fail(format!("{:?}: {}", args.repo, chain(&e))))?;
    if fetched.dirty {
        // As Nix says it, naming the repository as its URL does.
        let path = std::fs::canonicalize(&args.repo).unwrap_or_else(|_| args.repo.clone());
        crate::warn(&format!("Git tree '{}' is dirty", path.display()));
    }
    if args.git_ca {
        return match (&fetched.git_ca, &fetched.git_store_path) {
            (Some(ca), Some(path)) => Ok(format!(
                "{ca}\n{}\n",
                crate::input::store_dir(&args.store)?.display_path(path)
            )),
            _ => Err(fail(
                "the tree Nix sees differs from the revision's git tree (a submodule or an export-ignored path), so it has no git content address",
            )),
        };
    }
    let url = match &args.url {
        Some(url) => url.clone(),
        None => {
            let path = std::fs::canonicalize(&args.repo)
                .map_err(|e| fail(format!("{:?}: {e}", args.repo)))?;
            format!("file://{}", path.display())
        }
    };
    Ok(format!("{}\n", fetched.prefetch_json(&url)))
}

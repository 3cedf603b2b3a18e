//! `nix-ingest`: Nix's file ingestion, content addresses and store paths, without Nix.
//!
//! Every subcommand named after a Nix command prints what that command prints; see
//! `nix-ingest --help`, `nix-ingest man` and the README.
#![forbid(unsafe_code)]

mod args;
mod git;
mod hash;
mod input;
mod nar;
mod path_info;
mod progress;

use std::error::Error as StdError;
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use args::{Cli, Command, GitCommand, Global, HashCommand, ManArgs, NarCommand, StoreCommand};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(&e),
    };
    let settings = Settings::new(&cli.global);
    let result = match &cli.command {
        Command::Hash(HashCommand::Path(a)) => hash::path(&settings, a),
        Command::Hash(HashCommand::Multi(a)) => hash::multi(&settings, a),
        Command::Store(StoreCommand::Add(a)) => hash::store_add(&settings, a),
        Command::Nar(NarCommand::Dump(a)) => nar::dump(&settings, a),
        Command::Nar(NarCommand::Restore(a)) => nar::restore(&settings, a),
        Command::PathInfo(a) => path_info::path_info(&settings, a),
        Command::Verify(a) => hash::verify(&settings, a),
        Command::Git(GitCommand::Export(a)) => git::export(&settings, a),
        Command::Git(GitCommand::ToNar(a)) => git::to_nar(&settings, a),
        Command::Git(GitCommand::Prefetch(a)) => git::prefetch(&settings, a),
        Command::Cid(a) => hash::cid(&settings, a),
        Command::Completions(a) => completions(a.shell),
        Command::Man(a) => man(a),
    };
    match result {
        Ok(out) => {
            let mut stdout = io::stdout().lock();
            match stdout
                .write_all(out.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln_safe(&format!("error: cannot write to standard output: {e}"));
                    ExitCode::from(1)
                }
            }
        }
        Err(Failure::Usage(msg)) => usage_error(&msg, &command_path_of_args()),
        Err(Failure::Error(msg)) => {
            eprintln_safe(&format!("error: {msg}"));
            ExitCode::from(1)
        }
    }
}

/// Help and version go to standard output (status 0); a bad command line prints one line and a
/// pointer to `--help` (status 2), not clap's usage block.
fn clap_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
        }
        _ => {
            // clap's message up to its usage block, on one line: the first paragraph, then
            // its tips.
            let rendered = e.render().to_string();
            let mut msg = String::new();
            let mut first_paragraph = true;
            for line in rendered.lines() {
                let line = line.trim();
                if line.starts_with("Usage:") || line.starts_with("For more information") {
                    break;
                }
                if line.is_empty() {
                    first_paragraph = false;
                    continue;
                }
                if first_paragraph || line.starts_with("tip:") {
                    if !msg.is_empty() {
                        msg.push_str(if line.starts_with("tip:") { "; " } else { " " });
                    }
                    msg.push_str(line.strip_prefix("error: ").unwrap_or(line));
                }
            }
            usage_error(&msg, &command_path_of_args())
        }
    }
}

/// The subcommands named on the command line (`nix-ingest hash path`), for the pointer to
/// their `--help`.
fn command_path_of_args() -> String {
    let mut cmd = Cli::command();
    cmd.build();
    let mut words = vec![cmd.get_name().to_owned()];
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        let Some(arg) = arg.to_str() else { break };
        if let Some(flag) = arg.strip_prefix('-') {
            // Skip the value of an option that takes one (`--threads 2`, `-j 2`).
            let takes_value = |a: &clap::Arg| a.get_action().takes_values();
            let option = match flag.strip_prefix('-') {
                Some(long) if !long.contains('=') => {
                    cmd.get_arguments().find(|a| a.get_long() == Some(long))
                }
                Some(_) => None,
                None => flag
                    .chars()
                    .last()
                    .filter(|_| flag.chars().count() == 1)
                    .and_then(|c| cmd.get_arguments().find(|a| a.get_short() == Some(c))),
            };
            if option.is_some_and(takes_value) {
                args.next();
            }
            continue;
        }
        match cmd.find_subcommand(arg) {
            Some(sub) => {
                words.push(sub.get_name().to_owned());
                let sub = sub.clone();
                cmd = sub;
            }
            None => break,
        }
    }
    words.join(" ")
}

/// `error: MSG` and where to read more, status 2.
fn usage_error(msg: &str, command: &str) -> ExitCode {
    eprintln_safe(&format!(
        "error: {}\nFor more information, try '{command} --help'.",
        msg.trim_end().replace('\n', "\\n")
    ));
    ExitCode::from(2)
}

/// `completions SHELL`.
fn completions(shell: clap_complete::Shell) -> Result<String, Failure> {
    const BIN: &str = "nix-ingest";
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    if shell != clap_complete::Shell::Bash {
        clap_complete::generate(shell, &mut cmd, BIN, &mut out);
        return String::from_utf8(out).map_err(|_| fail("the completion script is not UTF-8"));
    }
    // clap_complete's bash script names the state of a subcommand one way where it is entered
    // and another way where it is completed when the binary name holds a hyphen, so nothing
    // below the top level completes (clap-rs/clap#6421). Generated for a name without a
    // hyphen, the two agree; then the script is registered for the binary's real name.
    let plain = BIN.replace('-', "_");
    clap_complete::generate(shell, &mut cmd, &plain, &mut out);
    let script = String::from_utf8(out).map_err(|_| fail("the completion script is not UTF-8"))?;
    let mut registered = 0;
    let mut fixed = String::with_capacity(script.len());
    for line in script.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        match body.strip_suffix(&format!(" {plain}")) {
            Some(head) if body.trim_start().starts_with("complete -F ") => {
                fixed.push_str(head);
                fixed.push(' ');
                fixed.push_str(BIN);
                fixed.push_str(&line[body.len()..]);
                registered += 1;
            }
            _ => fixed.push_str(line),
        }
    }
    if registered == 0 {
        return Err(fail("cannot register the bash completion function"));
    }
    Ok(fixed)
}

/// The command line as the man pages describe it (no `help` subcommands: `--help` is there).
fn man_command() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// `man [SUBCOMMAND…]`: the roff man page of nix-ingest or of one subcommand;
/// `man --out-dir DIR`: every page, written into DIR.
fn man(args: &ManArgs) -> Result<String, Failure> {
    let root = man_command();
    if let Some(dir) = &args.out_dir {
        let mut written = String::new();
        let mut todo = vec![root];
        while let Some(cmd) = todo.pop() {
            todo.extend(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
            let page = clap_mangen::Man::new(cmd);
            let file = page.generate_to(dir).map_err(|e| {
                fail(format!(
                    "cannot write {}: {}",
                    quote_path(&dir.join(page.get_filename())),
                    chain(&e)
                ))
            })?;
            written.push_str(&format!("{}\n", file.display()));
        }
        return Ok(written);
    }
    let mut cmd = &root;
    for word in &args.command {
        cmd = cmd.find_subcommand(word).ok_or_else(|| {
            usage(format!(
                "no subcommand {} in {}",
                quote(word),
                quote(cmd.get_display_name().unwrap_or(cmd.get_name()))
            ))
        })?;
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .map_err(|e| fail(format!("cannot render the man page: {}", chain(&e))))?;
    String::from_utf8(out).map_err(|_| fail("the man page is not UTF-8"))
}

/// Text echoed in a message: in single quotes (as Nix quotes), control characters, quotes and
/// backslashes escaped.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.escape_debug())
}

/// A path echoed in a message, as [`quote`] (bytes that are not UTF-8 as U+FFFD).
pub fn quote_path(path: &std::path::Path) -> String {
    quote(&path.to_string_lossy())
}

/// `warning: MSG` on standard error.
pub fn warn(msg: &str) {
    eprintln_safe(&format!("warning: {}", msg.replace('\n', "\\n")));
}

/// Writes to standard error, ignoring failure (there is nowhere left to report it).
pub fn eprintln_safe(msg: &str) {
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "{}", msg.trim_end());
}

/// The global options, as the library takes them.
pub struct Settings {
    options: nix_ingest::Options,
}

impl Settings {
    fn new(global: &Global) -> Self {
        let mut options =
            nix_ingest::Options::new().collision_detection(!global.no_collision_detection);
        if let Some(threads) = global.threads {
            options = options.threads(threads);
        }
        if let Some(file) = &global.cache {
            options = options.cache(
                nix_ingest::cache::HashCache::new(file).replace_foreign(global.cache_overwrite),
            );
        }
        Settings { options }
    }

    /// Threads, collision detection and the defaults of everything else.
    pub fn options(&self) -> &nix_ingest::Options {
        &self.options
    }
}

/// Why the program failed: a bad command line (status 2) or a failed command (status 1).
#[derive(Debug)]
pub enum Failure {
    Usage(String),
    Error(String),
}

pub fn usage(msg: impl Into<String>) -> Failure {
    Failure::Usage(msg.into())
}

pub fn fail(msg: impl Into<String>) -> Failure {
    Failure::Error(msg.into())
}

/// One line for an error and its causes (each cause only if its text is not already there).
pub fn chain(e: &(dyn StdError + 'static)) -> String {
    chain_with(e, &|p| quote_path(p)).0
}

/// [`chain`], with the paths of walk errors as `path_text` says, and whether one was named.
/// The library's words for a sink (the part that hashes or writes what is read) are left out:
/// its cause says what is wrong.
pub fn chain_with(
    e: &(dyn StdError + 'static),
    path_text: &dyn Fn(&std::path::Path) -> String,
) -> (String, bool) {
    use nix_ingest::fs::{WalkError as FsError, WalkErrorKind as ErrorKind};
    let mut msg = String::new();
    let mut named_path = false;
    let mut next = Some(unwrap_transparent(e));
    while let Some(e) = next {
        let text = if let Some(walk) = e.downcast_ref::<FsError>() {
            named_path = true;
            match &walk.kind {
                ErrorKind::Sink(_) => path_text(&walk.path),
                kind => format!("{}: {kind}", path_text(&walk.path)),
            }
        } else if let Some(nix_ingest::nar::ReadError::Sink { offset, .. }) = e.downcast_ref() {
            format!("NAR byte {offset}")
        } else if let Some(text) = requoted(e, path_text) {
            text
        } else {
            e.to_string()
        };
        if !msg.contains(&text) {
            if !msg.is_empty() {
                msg.push_str(": ");
            }
            msg.push_str(&text);
        }
        next = e.source();
    }
    (msg.replace('\n', "\\n"), named_path)
}

/// The library's messages that echo a path in Rust's `Debug` quotes, in this tool's quoting
/// (Nix's single quotes) with the path as `path_text` says.
fn requoted(
    e: &(dyn StdError + 'static),
    path_text: &dyn Fn(&std::path::Path) -> String,
) -> Option<String> {
    use nix_ingest::cache::CacheError;
    use nix_ingest::nar::UnpackError;
    if let Some(e) = e.downcast_ref::<UnpackError>() {
        return match e {
            UnpackError::TargetExists { path } => Some(format!(
                "cannot unpack NAR to {}: it already exists",
                path_text(path)
            )),
            UnpackError::BadTarget { path } => Some(format!(
                "cannot unpack NAR to {}: not a path a new entry can be created at",
                path_text(path)
            )),
            UnpackError::Io {
                action,
                path,
                offset,
                ..
            } => Some(format!(
                "cannot unpack NAR: cannot {action} {} (NAR byte {offset})",
                path_text(path)
            )),
            _ => None,
        };
    }
    match e.downcast_ref::<CacheError>()? {
        CacheError::Invalid { path, .. } => {
            Some(format!("cache file {} is not trusted", quote_path(path)))
        }
        CacheError::Read { path, .. } => {
            Some(format!("cannot read cache file {}", quote_path(path)))
        }
        CacheError::InsideTree { cache, root } => Some(format!(
            "cache file {} lies inside the tree {} it would describe",
            quote_path(cache),
            path_text(root)
        )),
        _ => None,
    }
}

/// The error a transparent wrapper of the library stands for (the wrapper's text and causes are
/// that error's).
fn unwrap_transparent<'a>(e: &'a (dyn StdError + 'static)) -> &'a (dyn StdError + 'static) {
    use nix_ingest::{cache, ingest, path_info};
    match e.downcast_ref::<ingest::IngestError>() {
        Some(ingest::IngestError::Fs(inner)) => return inner,
        Some(ingest::IngestError::Nar(inner)) => return inner,
        Some(ingest::IngestError::Cache(inner)) => return unwrap_transparent(inner),
        _ => {}
    }
    match e.downcast_ref::<path_info::PathInfoError>() {
        Some(path_info::PathInfoError::Walk(inner)) => return inner,
        Some(path_info::PathInfoError::Nar(inner)) => return inner,
        _ => {}
    }
    if let Some(cache::CacheError::Fs(inner)) = e.downcast_ref::<cache::CacheError>() {
        return inner;
    }
    e
}

/// Whether `e` or one of its causes is a broken pipe (the reader of our output went away).
pub fn is_broken_pipe(e: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// Refuses to write a NAR to a terminal.
pub fn refuse_terminal() -> Result<(), Failure> {
    if io::stdout().is_terminal() {
        return Err(fail(
            "refusing to write a NAR to a terminal: redirect standard output (e.g. > out.nar)",
        ));
    }
    Ok(())
}

/// A writer that counts the bytes it passes on.
pub struct CountingWriter<W> {
    inner: W,
    count: u64,
}

impl<W> CountingWriter<W> {
    pub fn new(inner: W) -> Self {
        CountingWriter { inner, count: 0 }
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count = self.count.saturating_add(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

//! `nar dump` (`nix-store --dump`) and `nar restore` (`nix-store --restore`).

use std::error::Error as StdError;
use std::io::{self, Write};

use nix_ingest::event::Sink;
use nix_ingest::nar::NarWriter;

use crate::args::{NarDumpArgs, NarRestoreArgs};
use crate::input::Input;
use crate::progress::{Meter, Progress};
use crate::{
    CountingWriter, Failure, Settings, chain_with, fail, is_broken_pipe, quote_path,
    refuse_terminal,
};

/// `nar dump PATH`: the NAR of PATH on standard output.
pub fn dump(settings: &Settings, args: &NarDumpArgs) -> Result<String, Failure> {
    let input = Input::new(&args.path, false)?;
    let Some(resolved) = input.path()? else {
        return Err(fail("no path to dump"));
    };
    refuse_terminal()?;
    to_stdout_with(
        "dumping",
        &format!("cannot dump {}", input.display()),
        &|p| input.path_text(p),
        |sink| nix_ingest::fs::dump(&resolved, sink, settings.options().settings()),
    )
}

/// Writes the NAR of the events `produce` emits to standard output, with progress on a
/// terminal. A reader that goes away ends it quietly; any other failure is `what: cause`, and
/// says how many bytes of the NAR went out already.
pub fn to_stdout<E: Into<Box<dyn StdError>>>(
    label: &str,
    what: &str,
    produce: impl FnOnce(&mut dyn Sink) -> Result<(), E>,
) -> Result<String, Failure> {
    to_stdout_with(label, what, &|p| quote_path(p), produce)
}

/// [`to_stdout`], naming the paths of walk errors as `path_text` says.
pub fn to_stdout_with<E: Into<Box<dyn StdError>>>(
    label: &str,
    what: &str,
    path_text: &dyn Fn(&std::path::Path) -> String,
    produce: impl FnOnce(&mut dyn Sink) -> Result<(), E>,
) -> Result<String, Failure> {
    // The NAR writer buffers; count what it hands on, to say how much of a failed NAR went out.
    let mut out = CountingWriter::new(io::stdout().lock());
    let mut nar = NarWriter::new(&mut out);
    let produced = {
        let mut sink = Progress::new(&mut nar, Meter::on_terminal(label, true));
        produce(&mut sink)
    };
    let error: Box<dyn StdError> = match produced {
        Ok(()) => match nar.finish() {
            Ok(_) => match out.flush() {
                Ok(()) => return Ok(String::new()),
                Err(e) => e.into(),
            },
            Err(e) => e.into(),
        },
        // What the NAR writer still holds is dropped with it, never written.
        Err(e) => e.into(),
    };
    // The reader of the NAR went away: nothing left to say, as for the other outputs.
    if is_broken_pipe(&*error) {
        return Ok(String::new());
    }
    let mut msg = format!("{what}: {}", chain_with(&*error, path_text).0);
    if out.count() > 0 {
        msg.push_str(&format!(
            " (the first {} bytes of the NAR were written already: discard them)",
            out.count()
        ));
    }
    Err(fail(msg))
}

/// `nar restore PATH [NAR]`: the object a NAR holds, created at PATH.
pub fn restore(settings: &Settings, args: &NarRestoreArgs) -> Result<String, Failure> {
    let input = Input::new(&args.nar, true)?;
    let reader = input.open_nar_with_progress("restoring")?;
    settings
        .options()
        .unpack_nar(reader, &args.path)
        .map_err(|e| fail(input.error(&e)))?;
    Ok(String::new())
}

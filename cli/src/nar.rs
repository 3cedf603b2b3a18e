//! `nar dump` (`nix-store --dump`).

use std::error::Error as StdError;
use std::io::{self, Write};

use nix_ingest::nar::NarWriter;

use crate::args::NarDumpArgs;
use crate::input::Input;
use crate::progress::{Meter, Progress};
use crate::{CountingWriter, Failure, Settings, chain, fail, is_broken_pipe, refuse_terminal};

/// `nar dump PATH`: the NAR of PATH on standard output.
pub fn dump(settings: &Settings, args: &NarDumpArgs) -> Result<String, Failure> {
    let input = Input::new(&args.path, false)?;
    let Some(resolved) = input.path()? else {
        return Err(fail("no path to dump"));
    };
    refuse_terminal()?;
    let mut out = CountingWriter::new(io::stdout().lock());
    let mut nar = NarWriter::new(&mut out);
    let dumped = {
        let mut sink = Progress::new(&mut nar, Meter::on_terminal("dumping", true));
        nix_ingest::fs::dump(&resolved, &mut sink, settings.options())
    };
    let error: Box<dyn StdError> = match dumped {
        Ok(()) => match nar.finish() {
            Ok(_) => match out.flush() {
                Ok(()) => return Ok(String::new()),
                Err(e) => e.into(),
            },
            Err(e) => e.into(),
        },
        Err(e) => e.into(),
    };
    if is_broken_pipe(&*error) {
        return Ok(String::new());
    }
    let mut msg = format!("cannot dump {}: {}", input.display(), chain(&*error));
    if out.count() > 0 {
        msg.push_str(&format!(
            " (the first {} bytes of the NAR were written already: discard them)",
            out.count()
        ));
    }
    Err(fail(msg))
}

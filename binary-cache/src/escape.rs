//! Text from the wire, made safe to write into a log line.
//!
//! A decoded URL, a user name or a refusal's reason can hold anything: `%0a` would start a forged
//! log line, `%1b` a terminal escape, `%00` a NUL. [`Escaped`] prints printable ASCII as is and
//! every other character as `\u{…}` (a backslash as `\\`), so one field is always one line of
//! plain ASCII.
//!
//! ```
//! use nix_ingest_binary_cache::escape::Escaped;
//!
//! assert_eq!(Escaped("/a\nb\u{1b}[31m\0é\\").to_string(), r"/a\u{a}b\u{1b}[31m\u{0}\u{e9}\\");
//! ```

use std::fmt;

/// Displays a string with everything but printable ASCII escaped (see the [module docs](self)).
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                ' '..='~' => fmt::Write::write_char(f, c)?,
                _ => write!(f, "\\u{{{:x}}}", c as u32)?,
            }
        }
        Ok(())
    }
}

//! Reading objects through `git cat-file --batch`, streamed and checked by the crate's readers.

use super::serve::CHUNK;
use super::*;

/// Git objects read through one `git cat-file --batch` process: each body streams from git's
/// output as it is read (git itself streams large blobs), so no object is held whole here; git
/// also finds objects that a concurrent repack moved. The crate's readers check every object
/// against its id.
pub(super) struct CatFile {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: Option<io::BufReader<std::process::ChildStdout>>,
    algorithm: Algorithm,
    /// Bytes of the previous answer not read yet (the rest of its body and its newline).
    pending: u64,
}

impl CatFile {
    pub(super) fn open(repo: &Path, algorithm: Algorithm) -> io::Result<CatFile> {
        let mut command = git_command(repo);
        command
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().map_err(|e| {
            io::Error::new(e.kind(), format!("cannot run git (is it installed?): {e}"))
        })?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .map(|out| io::BufReader::with_capacity(CHUNK, out));
        Ok(CatFile {
            child,
            stdin,
            stdout,
            algorithm,
            pending: 0,
        })
    }

    /// Asks for `id`: its kind and size, or `None` if git has no such object.
    pub(super) fn ask(&mut self, id: &Hash) -> io::Result<Option<(ObjectKind, u64)>> {
        use std::io::BufRead;
        let (Some(stdin), Some(stdout)) = (self.stdin.as_mut(), self.stdout.as_mut()) else {
            return Err(io::Error::other("git cat-file is gone"));
        };
        io::copy(&mut stdout.by_ref().take(self.pending), &mut io::sink())?;
        self.pending = 0;
        writeln!(stdin, "{}", hex(id))?;
        stdin.flush()?;
        let mut line = String::new();
        stdout.by_ref().take(4096).read_line(&mut line)?;
        let line = line
            .strip_suffix('\n')
            .ok_or_else(|| bad("git cat-file: answer cut short"))?;
        if line.ends_with(" missing") {
            return Ok(None);
        }
        let mut fields = line.split(' ');
        let (Some(got), Some(kind), Some(size), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad(format!("git cat-file: unexpected answer {line:?}")));
        };
        if got != hex(id) {
            return Err(bad(format!("git cat-file answered {got} for {}", hex(id))));
        }
        let kind = ObjectKind::from_name(kind.as_bytes())
            .ok_or_else(|| bad(format!("git cat-file: unknown kind {kind:?}")))?;
        let size: u64 = size
            .parse()
            .map_err(|_| bad(format!("git cat-file: bad size {size:?}")))?;
        self.pending = size + 1;
        Ok(Some((kind, size)))
    }
}

/// The body of the object `CatFile` answered last.
pub(super) struct CatBody<'a> {
    stdout: &'a mut io::BufReader<std::process::ChildStdout>,
    pending: &'a mut u64,
    remaining: u64,
}

impl Read for CatBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.stdout.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "git cat-file ended in the middle of an object",
            ));
        }
        self.remaining -= n as u64;
        *self.pending -= n as u64;
        Ok(n)
    }
}

impl ObjectSource for CatFile {
    fn read(&mut self, id: &Hash) -> Result<git_source::Object<'_>, git_source::ObjectError> {
        if id.algorithm() != self.algorithm {
            return Err(git_source::ObjectError::WrongAlgorithm {
                id: *id,
                expected: self.algorithm,
            });
        }
        let (kind, size) = match self.ask(id) {
            Ok(Some(found)) => found,
            Ok(None) => return Err(git_source::ObjectError::NotFound { id: *id, hint: "" }),
            Err(source) => return Err(git_source::ObjectError::Read { id: *id, source }),
        };
        let Some(stdout) = self.stdout.as_mut() else {
            return Err(git_source::ObjectError::Read {
                id: *id,
                source: io::Error::other("git cat-file is gone"),
            });
        };
        Ok(git_source::Object {
            kind,
            size,
            body: Box::new(CatBody {
                stdout,
                pending: &mut self.pending,
                remaining: size,
            }),
        })
    }
}

impl Drop for CatFile {
    fn drop(&mut self) {
        // Closing both pipes ends git (at its next read or write); then it is reaped.
        self.stdin.take();
        self.stdout.take();
        let _ = self.child.wait();
    }
}

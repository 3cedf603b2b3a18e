//! Parsing NARs from tokio's [`AsyncRead`] (feature `tokio`): a thin loop around the same
//! [`Parser`] that [`nar::read`](super::read) drives.

use ::tokio::io::{AsyncRead, AsyncReadExt};

use super::{Parser, READ_BUFFER_SIZE, ReadError};
use crate::event::Sink;
use crate::limits::Limits;

/// Parses a whole NAR from `reader` into `sink`, returning its length in bytes; as
/// [`nar::read`](super::read), extra bytes after the archive give [`ReadError::TrailingData`].
///
/// The sink runs on the calling task: keep it fast (hashing is) or move heavy work elsewhere.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use nix_ingest::event::Recorder;
/// use nix_ingest::{nar, Limits};
///
/// let mut rec = Recorder::default();
/// let err = nar::tokio::read(&b"nix-archive-1"[..], &mut rec, &Limits::default()).await;
/// assert!(matches!(err, Err(nar::ReadError::BadMagic { offset: 0 })));
/// # }
/// ```
pub async fn read<R, S>(mut reader: R, sink: &mut S, limits: &Limits) -> Result<u64, ReadError>
where
    R: AsyncRead + Unpin,
    S: Sink + ?Sized,
{
    let mut parser = Parser::new(*limits);
    let mut buf = crate::buffer::ReadBuffer::new(READ_BUFFER_SIZE);
    loop {
        let read = reader.read(&mut buf).await;
        if !super::feed(&mut parser, read, &buf, sink)? {
            return parser.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, Recorder};
    use crate::nar::NarWriter;

    fn sample() -> (Vec<u8>, Recorder) {
        let mut rec = Recorder::default();
        let mut w = NarWriter::new(Vec::new());
        let events = [
            Event::DirectoryStart { name: None },
            Event::FileStart {
                name: Some(b"big"),
                executable: true,
                size: 300_001,
            },
        ];
        for e in events {
            w.event(e).unwrap();
            rec.event(e).unwrap();
        }
        let data: Vec<u8> = (0..300_001u32).map(|i| (i % 251) as u8).collect();
        for e in [
            Event::FileData(&data),
            Event::FileEnd,
            Event::Symlink {
                name: Some(b"link"),
                target: b"big",
            },
            Event::DirectoryEnd,
        ] {
            w.event(e).unwrap();
            rec.event(e).unwrap();
        }
        (w.finish().unwrap(), rec)
    }

    #[::tokio::test]
    async fn reads_the_same_events_as_the_blocking_reader() {
        let (nar, expected) = sample();
        let mut rec = Recorder::default();
        let len = read(&nar[..], &mut rec, &Limits::default()).await.unwrap();
        assert_eq!(len, nar.len() as u64);
        assert_eq!(rec, expected);
    }

    #[::tokio::test]
    async fn reports_truncation_and_trailing_data() {
        let (mut nar, _) = sample();
        let full = nar.len() as u64;
        let cut = &nar[..nar.len() - 3];
        let err = read(cut, &mut Recorder::default(), &Limits::default())
            .await
            .unwrap_err();
        assert!(matches!(err, ReadError::Truncated { offset } if offset == full - 3));

        nar.push(0);
        let err = read(&nar[..], &mut Recorder::default(), &Limits::default())
            .await
            .unwrap_err();
        assert!(matches!(err, ReadError::TrailingData { offset } if offset == full));
    }

    #[::tokio::test]
    async fn reports_reader_errors_with_the_offset() {
        let (nar, _) = sample();
        // A reader that yields 100 bytes, then fails.
        let reader = AsyncReadExt::chain(&nar[..100], FailingReader);
        let err = read(reader, &mut Recorder::default(), &Limits::default())
            .await
            .unwrap_err();
        assert!(matches!(err, ReadError::Io { offset: 100, .. }));
    }

    struct FailingReader;

    impl AsyncRead for FailingReader {
        fn poll_read(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            _: &mut ::tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Err(std::io::Error::other("boom")))
        }
    }
}

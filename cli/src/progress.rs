//! Progress on standard error (entries, bytes, rate, and the share done when the size is
//! known) through indicatif: on a terminal only, and only once the work has taken more than
//! half a second ($NIX_INGEST_PROGRESS_DELAY_MS overrides the delay, e.g. `0` in tests).

use std::io::{self, IsTerminal, Read};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nix_ingest::event::{Event, Sink, SinkError};

/// Nothing is drawn before the work has taken this long.
const DELAY: Duration = Duration::from_millis(500);

/// The delay before progress shows: [`DELAY`], or $NIX_INGEST_PROGRESS_DELAY_MS.
fn delay() -> Duration {
    std::env::var("NIX_INGEST_PROGRESS_DELAY_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(DELAY, Duration::from_millis)
}
/// Redraws per second, at most.
const HZ: u8 = 5;
/// The counters are handed to the bar once per this many entries…
const EVERY_ENTRIES: u64 = 256;
/// …or this many bytes, never per event.
const EVERY_BYTES: u64 = 1 << 20;

/// Counts entries and bytes into a progress bar drawn on standard error (a terminal).
pub struct Meter {
    bar: ProgressBar,
    start: Instant,
    delay: Duration,
    shown: bool,
    count_entries: bool,
    entries: u64,
    bytes: u64,
    next_entries: u64,
    next_bytes: u64,
}

impl Meter {
    /// A meter, if standard error is a terminal (else progress is not shown at all).
    pub fn on_terminal(label: &str, count_entries: bool) -> Option<Meter> {
        if !io::stderr().is_terminal() {
            return None;
        }
        let style = ProgressStyle::with_template(
            "{prefix}: {msg}{binary_bytes} ({binary_bytes_per_sec}), {elapsed}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
            .with_style(style)
            .with_prefix(label.to_owned());
        Some(Meter {
            bar,
            start: Instant::now(),
            delay: delay(),
            shown: false,
            count_entries,
            entries: 0,
            bytes: 0,
            next_entries: EVERY_ENTRIES,
            next_bytes: EVERY_BYTES,
        })
    }

    /// Shows the share done of `total` bytes, and the time left.
    pub fn with_total(self, total: u64) -> Meter {
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix}: {msg}{binary_bytes}/{binary_total_bytes} ({percent}%), \
             {binary_bytes_per_sec}, {eta} left",
        ) {
            self.bar.set_style(style);
        }
        self.bar.set_length(total);
        self
    }

    #[inline]
    fn entry(&mut self) {
        self.entries = self.entries.saturating_add(1);
        if self.entries >= self.next_entries {
            self.tick();
        }
    }

    #[inline]
    fn add_bytes(&mut self, n: usize) {
        self.bytes = self.bytes.saturating_add(n as u64);
        if self.bytes >= self.next_bytes {
            self.tick();
        }
    }

    #[cold]
    fn tick(&mut self) {
        self.next_entries = self.entries.saturating_add(EVERY_ENTRIES);
        self.next_bytes = self.bytes.saturating_add(EVERY_BYTES);
        self.update();
    }

    /// Hands the counters to the bar, and shows it once the delay has passed.
    fn update(&mut self) {
        if self.count_entries {
            let plural = if self.entries == 1 {
                "entry"
            } else {
                "entries"
            };
            self.bar.set_message(format!("{} {plural}, ", self.entries));
        }
        self.bar.set_position(self.bytes);
        if !self.shown && self.start.elapsed() >= self.delay {
            self.shown = true;
            self.bar
                .set_draw_target(ProgressDrawTarget::stderr_with_hz(HZ));
            self.bar.tick();
        }
    }
}

impl Drop for Meter {
    /// Clears the line, if one was drawn.
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// A sink that counts what passes through it into a [`Meter`].
pub struct Progress<S> {
    inner: S,
    meter: Option<Meter>,
}

impl<S> Progress<S> {
    pub fn new(inner: S, meter: Option<Meter>) -> Self {
        Progress { inner, meter }
    }
}

impl<S: Sink> Sink for Progress<S> {
    #[inline]
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        if let Some(meter) = &mut self.meter {
            match event {
                Event::FileData(data) => meter.add_bytes(data.len()),
                Event::DirectoryStart { .. } | Event::FileStart { .. } | Event::Symlink { .. } => {
                    meter.entry()
                }
                Event::DirectoryEnd | Event::FileEnd => {}
            }
        }
        self.inner.event(event)
    }
}

/// A reader that counts the bytes read through it into a [`Meter`], and for a NAR the entries
/// it holds (parsed a second time, only while progress is shown).
pub struct ProgressReader<R> {
    inner: R,
    meter: Option<Meter>,
    /// The parser counting entries, until the NAR ends (or fails: the real parse says why).
    entries: Option<nix_ingest::nar::Parser>,
}

impl<R> ProgressReader<R> {
    /// A reader of a NAR: bytes and entries counted.
    pub fn nar(inner: R, meter: Option<Meter>) -> Self {
        let entries = meter
            .as_ref()
            .map(|_| nix_ingest::nar::Parser::new(nix_ingest::Limits::default()));
        ProgressReader {
            inner,
            meter,
            entries,
        }
    }
}

/// Counts the entries a NAR parser emits into a meter.
struct EntryCounter<'a>(&'a mut Meter);

impl Sink for EntryCounter<'_> {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        if let Event::DirectoryStart { .. } | Event::FileStart { .. } | Event::Symlink { .. } =
            event
        {
            self.0.entry();
        }
        Ok(())
    }
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(meter) = &mut self.meter {
            if let Some(parser) = &mut self.entries {
                let data = buf.get(..n).unwrap_or_default();
                // The real parse reports any error; counting just stops.
                if parser.push(data, &mut EntryCounter(meter)).is_err() || parser.is_done() {
                    self.entries = None;
                }
            }
            meter.add_bytes(n);
        }
        Ok(n)
    }
}

/// Runs `work` while a thread updates progress from the bytes this process has read (for work
/// that emits no events, such as hashing on several threads); on a terminal only.
pub fn with_background_progress<T>(label: &str, work: impl FnOnce() -> T) -> T {
    let Some(mut meter) = Meter::on_terminal(label, false) else {
        return work();
    };
    let Some(base) = bytes_read_by_this_process() else {
        return work();
    };
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let drawer = std::thread::Builder::new().spawn_scoped(scope, move || {
            let interval = Duration::from_millis(1000 / u64::from(HZ));
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                if let Some(now) = bytes_read_by_this_process() {
                    meter.bytes = now.saturating_sub(base);
                }
                meter.update();
            }
            // The meter drops here, clearing the line.
        });
        let out = work();
        drop(stop);
        if let Ok(drawer) = drawer {
            let _ = drawer.join();
        }
        out
    })
}

/// The bytes this process has read so far (`rchar` of `/proc/self/io`, Linux only).
fn bytes_read_by_this_process() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/io").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|v| v.trim().parse().ok())
}

//! Prometheus metrics, served at `/metrics` in the text exposition format: uploads accepted and
//! refused (by kind and HTTP status, which names the reason: 401 no credentials, 403 no trusted
//! signature, 409 missing NAR or reference, 413 too large, 422 content not as claimed, 507
//! staging full, …), bytes received, and how long uploads took.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// What an upload was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A NAR file.
    Nar,
    /// A narinfo.
    Narinfo,
    /// A NAR listing (`<hash>.ls`).
    Listing,
    /// A realisation (`realisations/<id>.doi`).
    Realisation,
    /// Anything else (`nix-cache-info`, unknown names).
    Other,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Nar => "nar",
            Kind::Narinfo => "narinfo",
            Kind::Listing => "listing",
            Kind::Realisation => "realisation",
            Kind::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Outcome {
    kind: &'static str,
    outcome: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

/// The service's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    uploads: Family<Outcome, Counter>,
    bytes: Counter,
    seconds: Family<KindLabel, Histogram>,
    staged_bytes: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("nix_ingest_binary_cache");
        let uploads = Family::<Outcome, Counter>::default();
        registry.register(
            "uploads",
            "Uploads (PUTs) by kind, outcome (accepted, refused) and HTTP status",
            uploads.clone(),
        );
        let bytes = Counter::default();
        registry.register(
            "upload_bytes",
            "Bytes of NAR files received and staged",
            bytes.clone(),
        );
        let seconds = Family::<KindLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 4.0, 10))
        });
        registry.register(
            "upload_seconds",
            "How long uploads took, from their headers to the answer",
            seconds.clone(),
        );
        let staged_bytes = Gauge::default();
        registry.register(
            "staged_bytes",
            "Bytes of NAR files waiting for their narinfo, and of uploads in flight",
            staged_bytes.clone(),
        );
        Metrics {
            registry,
            uploads,
            bytes,
            seconds,
            staged_bytes,
        }
    }
}

impl Metrics {
    /// Counts an upload answered with `status` after `seconds`.
    pub fn upload(&self, kind: Kind, status: u16, seconds: f64) {
        let outcome = if (200..300).contains(&status) {
            "accepted"
        } else {
            "refused"
        };
        self.uploads
            .get_or_create(&Outcome {
                kind: kind.name(),
                outcome,
                status,
            })
            .inc();
        self.seconds
            .get_or_create(&KindLabel { kind: kind.name() })
            .observe(seconds);
    }

    /// Counts NAR bytes staged.
    pub fn received(&self, bytes: u64) {
        self.bytes.inc_by(bytes);
    }

    /// The metrics in Prometheus's text format, with `staged` as the staging gauge.
    pub fn render(&self, staged: u64) -> String {
        self.staged_bytes
            .set(i64::try_from(staged).unwrap_or(i64::MAX));
        let mut text = String::new();
        // Writing into a String does not fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

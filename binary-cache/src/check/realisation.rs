//! What a realisation (`realisations/<id>.doi`) must be to be kept: parsed, its output in this
//! cache, and signed by a trusted key (checked where one is uploaded, and where one is
//! replicated).

use axum::http::StatusCode;
use nix_ingest::realisation::{DrvOutput, Realisation};

use crate::refusal::{Refusal, chain};
use crate::signature::Signature;

/// The largest realisation accepted, in bytes.
pub(crate) const MAX_SIZE: usize = 64 << 10;

/// The id of a `<id>.doi` name.
pub(crate) fn id_of(name: &str) -> Result<DrvOutput, Refusal> {
    name.strip_suffix(".doi")
        .ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, format!("{name:?} is not <id>.doi")))?
        .parse()
        .map_err(|e| Refusal::new(StatusCode::NOT_FOUND, chain(&e)))
}

/// Parses `data`, given as the realisation `name`.
pub(crate) fn parse(name: &str, data: &[u8]) -> Result<Realisation, Refusal> {
    serde_json::from_slice(data)
        .map_err(|e| Refusal::bad_request(format!("{name} is not a realisation: {e}")))
}

/// 409: the output of `r` (printed `out`) is not in this cache.
pub(crate) fn missing(r: &Realisation, out: &str) -> Refusal {
    Refusal::conflict(format!(
        "realisation {}: its output {out} is not in this cache; upload the output first",
        r.id
    ))
}

/// The name of the trusted key that signed `r` (output printed `out`), or 403 (400 for a
/// signature that does not parse).
pub(crate) fn trusted<'a>(
    config: &'a crate::config::Config,
    r: &Realisation,
    out: &str,
) -> Result<&'a str, Refusal> {
    let id = &r.id;
    let signatures: Vec<Signature> = r
        .signatures
        .iter()
        .map(|s| {
            s.parse::<Signature>()
                .map_err(|e| Refusal::bad_request(format!("realisation {id}: {}", chain(&e))))
        })
        .collect::<Result<_, _>>()?;
    config
        .trusted_keys
        .verify(&r.fingerprint(), &signatures)
        .ok_or_else(|| {
            let names: Vec<&str> = signatures.iter().map(|s| s.key_name()).collect();
            let signed = if names.is_empty() {
                "it has no signature".to_owned()
            } else {
                format!("it is signed by {} only", names.join(", "))
            };
            Refusal::new(
                StatusCode::FORBIDDEN,
                format!(
                    "realisation {id} (output {out}) is not signed by a key this cache trusts: {signed}; \
                     realisations are kept only with a trusted signature"
                ),
            )
        })
}

/// Whether `kept`, the realisation this cache keeps under the id of `r`, has the same output
/// (409 if not).
pub(crate) fn same_output(
    kept: &Realisation,
    r: &Realisation,
    store_dir: &nix_ingest::store_path::StoreDir,
) -> Result<(), Refusal> {
    if kept.out_path == r.out_path {
        return Ok(());
    }
    Err(Refusal::conflict(format!(
        "realisation {}: this cache keeps output {}, not {}",
        r.id,
        store_dir.display_path(&kept.out_path),
        store_dir.display_path(&r.out_path)
    )))
}

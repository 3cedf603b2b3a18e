//! Hostile NARs judged by real Nix, both versions: every archive of [`corpus`] went through
//! `nix-store --restore` of Nix 2.26.3 and of Nix 2.34.8, whose verdicts are golden data in
//! `tests/data/hostile_nars/oracle.txt`. Our parser must agree with each version under that
//! version's rule: [`Limits::DEFAULT`] with 2.34.8, [`Limits::NIX_2_26`] with 2.26.3, except
//! where a difference is on purpose and documented ([`DEVIATIONS`]; the `nar` module's
//! "Where this differs from Nix").
//!
//! ```text
//! cargo test --test hostile_nars                       # against the golden verdicts
//! NIX_INGEST_ORACLE=1 cargo test --test hostile_nars   # also asks the oracle (NIX_ORACLE_VERSION)
//! NIX_INGEST_ORACLE=1 NIX_INGEST_REGENERATE=1 cargo test --test hostile_nars -- oracle
//!                                                      # rewrites the golden file from both
//! ```
//!
//! With the oracle, the inputs in `tests/data/fuzz/` are judged too (the `nar_parse` ones
//! without their control byte).

#[path = "support/nar.rs"]
mod nar_support;
#[allow(dead_code)]
#[path = "differential/oracle.rs"]
mod oracle;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use nix_ingest::Limits;
use nix_ingest::event::Recorder;
use nix_ingest::nar;

use nar_support::Nar;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const GOLDEN: &str = "tests/data/hostile_nars/oracle.txt";

/// Named archives, each probing one rule of the grammar or one limit.
fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let mut v: Vec<(&'static str, Vec<u8>)> = Vec::new();
    let mut add = |name, n: Nar| v.push((name, n.bytes));
    let file = |exec: bool, data: &[u8]| {
        let mut n = Nar::magic();
        n.file(exec, data);
        n
    };
    let link = |target: &[u8]| {
        let mut n = Nar::magic();
        n.symlink(target);
        n
    };
    // A directory holding one entry per name given, each a file `x`.
    let dir = |names: &[&[u8]]| {
        let mut n = Nar::magic();
        n.dir_open();
        for name in names {
            n.entry(name);
            n.file(false, b"x");
            n.close();
        }
        n.close();
        n
    };

    // Valid archives.
    add("ok-file", file(false, b"Hello World!\n"));
    add("ok-empty-file", file(false, b""));
    add("ok-executable", file(true, b"#!/bin/sh\n"));
    add("ok-symlink", link(b"../somewhere/else"));
    add("ok-symlink-absolute", link(b"/etc/passwd"));
    add("ok-empty-dir", {
        let mut n = Nar::magic();
        n.dir_open().close();
        n
    });
    add("ok-dir", {
        let mut n = Nar::magic();
        n.dir_open();
        n.entry(b"bin").dir_open();
        n.entry(b"run").file(true, b"exec").close();
        n.close().close();
        n.entry(b"data").file(false, &[7; 100]).close();
        n.entry(b"link").symlink(b"data").close();
        n.close();
        n
    });
    add("ok-case-names", dir(&[b"A", b"a"]));
    add("ok-non-utf8-name", dir(&[b"\xff\xfe"]));
    add("ok-name-255", dir(&[&[b'n'; 255]]));
    add("ok-target-4095", link(&[b't'; 4095]));

    // Framing.
    add("bad-magic", {
        let mut n = Nar::empty();
        n.ss(&[
            b"nix-archive-2",
            b"(",
            b"type",
            b"regular",
            b"contents",
            b"",
            b")",
        ]);
        n
    });
    add("magic-length-u64-max", {
        let mut n = Nar::empty();
        n.len_field(u64::MAX);
        n
    });
    add("truncated", {
        let mut n = file(false, b"x");
        n.bytes.truncate(n.bytes.len() - 8);
        n
    });
    add("contents-length-u64-max", {
        let mut n = Nar::magic();
        n.ss(&[b"(", b"type", b"regular", b"contents"]);
        n.len_field(u64::MAX);
        n.raw(b"short");
        n
    });
    add("non-zero-padding", {
        let mut n = file(false, b"x");
        // The contents "x" sit at 24 + 4 × 16 + 8; its padding follows.
        let at = 24 + 4 * 16 + 8 + 1;
        n.bytes[at] = 1;
        n
    });
    add("trailing-bytes", {
        let mut n = file(false, b"x");
        n.raw(b"garbage!");
        n
    });
    add("trailing-node", {
        let mut n = file(false, b"x");
        n.file(false, b"y");
        n
    });

    // Keywords and types.
    add("unknown-type", {
        let mut n = Nar::magic();
        n.ss(&[b"(", b"type", b"fifo", b")"]);
        n
    });
    add("type-32-bytes", {
        let mut n = Nar::magic();
        n.ss(&[b"(", b"type", &[b'x'; 32], b")"]);
        n
    });
    add("type-33-bytes", {
        let mut n = Nar::magic();
        n.ss(&[b"(", b"type", &[b'x'; 33], b")"]);
        n
    });
    add("entry-keyword-wrong", {
        let mut n = Nar::magic();
        n.dir_open();
        n.ss(&[b"entry", b"(", b"nom", b"a", b"node"]);
        n.file(false, b"x").close().close();
        n
    });
    add("regular-unknown-tag", {
        let mut n = Nar::magic();
        n.ss(&[b"(", b"type", b"regular", b"foo", b")"]);
        n
    });
    add("regular-without-contents", {
        let mut n = Nar::magic();
        n.ss(&[b"(", b"type", b"regular", b")"]);
        n
    });
    add("executable-with-value", {
        let mut n = Nar::magic();
        n.ss(&[b"(", b"type", b"regular", b"executable", b"x"]);
        n.ss(&[b"contents", b"", b")"]);
        n
    });
    add("executable-twice", {
        let mut n = Nar::magic();
        n.ss(&[
            b"(",
            b"type",
            b"regular",
            b"executable",
            b"",
            b"executable",
            b"",
        ]);
        n.ss(&[b"contents", b"", b")"]);
        n
    });
    add("executable-after-contents", {
        let mut n = Nar::magic();
        n.ss(&[b"(", b"type", b"regular", b"contents", b"x"]);
        n.ss(&[b"executable", b"", b")"]);
        n
    });

    // Names.
    add("unsorted-entries", dir(&[b"b", b"a"]));
    add("duplicate-entries", dir(&[b"a", b"a"]));
    add("name-empty", dir(&[b""]));
    add("name-dot", dir(&[b"."]));
    add("name-dot-dot", dir(&[b".."]));
    add("name-with-slash", dir(&[b"a/b"]));
    add("name-with-nul", dir(&[b"a\0b"]));
    add("name-256", dir(&[&[b'n'; 256]]));

    // Symlink targets.
    add("target-empty", link(b""));
    add("target-with-nul", link(b"a\0b"));
    add("target-4096", link(&[b't'; 4096]));

    // Nesting: `chain-<k>` is k directories (the root counts), the innermost holding a file, a
    // symlink, or nothing, which then lies k levels below the root.
    let leaf_file = |n: &mut Nar| {
        n.entry(b"f").file(false, b"x").close();
    };
    let leaf_link = |n: &mut Nar| {
        n.entry(b"l").symlink(b"x").close();
    };
    add("chain-63-file", Nar::chain(63, leaf_file));
    add("chain-63-symlink", Nar::chain(63, leaf_link));
    add("chain-64-empty", Nar::chain(64, |_| {}));
    add("chain-64-file", Nar::chain(64, leaf_file));
    add("chain-64-symlink", Nar::chain(64, leaf_link));
    add("chain-65-empty", Nar::chain(65, |_| {}));
    add("chain-200-file", Nar::chain(200, leaf_file));
    v
}

/// A verdict: `ok`, or `refused: <first line of the error>`.
type Verdict = String;

fn accepted(v: &str) -> bool {
    v == "ok"
}

/// Differences on purpose, for (case, Nix version prefix): why ours refuses what Nix restores.
const DEVIATIONS: [(&str, &str, &str); 4] = [
    (
        "trailing-bytes",
        "",
        "nix-store --restore ignores bytes after the archive; nar::read refuses them",
    ),
    (
        "trailing-node",
        "",
        "nix-store --restore ignores bytes after the archive; nar::read refuses them",
    ),
    (
        "target-with-nul",
        "2.26",
        "Nix 2.26 restores the target cut at the NUL; 2.34 refuses it, and so does the parser",
    ),
    (
        "regular-unknown-tag",
        "2.26",
        "Nix 2.26 takes any tag after \"regular\" (an empty file); 2.34 refuses it, and so does the parser",
    ),
];

fn deviation(case: &str, version: &str) -> Option<&'static str> {
    DEVIATIONS
        .iter()
        .find(|(c, v, _)| *c == case && version.starts_with(v))
        .map(|(_, _, why)| *why)
}

/// The limits that follow `version`'s rule.
fn limits_for(version: &str) -> Limits {
    if oracle::at_least(version, 2, 34) {
        Limits::DEFAULT
    } else {
        Limits::NIX_2_26
    }
}

/// Our verdict: the whole input through [`nar::read`].
fn ours(bytes: &[u8], limits: &Limits) -> Verdict {
    let mut rec = Recorder::default();
    match nar::read(bytes, &mut rec, limits) {
        Ok(_) => "ok".to_owned(),
        Err(e) => format!("refused: {e}"),
    }
}

/// The golden file: the versions (e.g. `2.26.3`) and, per case, one verdict per version.
struct Golden {
    versions: Vec<String>,
    verdicts: BTreeMap<String, Vec<Verdict>>,
}

fn read_golden() -> Golden {
    let text = fs::read_to_string(Path::new(MANIFEST_DIR).join(GOLDEN)).expect("golden file");
    let mut versions = Vec::new();
    let mut verdicts = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# versions:") {
            versions = rest.split_whitespace().map(str::to_owned).collect();
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut f = line.split('\t');
        let case = f.next().unwrap().to_owned();
        let vs: Vec<Verdict> = f.map(str::to_owned).collect();
        assert_eq!(vs.len(), versions.len(), "golden line {line:?}");
        verdicts.insert(case, vs);
    }
    assert!(
        !versions.is_empty(),
        "the golden file names its Nix versions"
    );
    Golden { versions, verdicts }
}

/// Each archive through `nix-store --restore` of the Nix `version` (as `--nix` takes it), in one
/// chroot call. Paths in messages are replaced by `OUT`.
fn judge(work: &Path, version: &str, cases: &[(String, Vec<u8>)]) -> Vec<Verdict> {
    let dir = work.join(format!("nix-{version}"));
    fs::create_dir_all(&dir).unwrap();
    let mut list = String::new();
    for (i, (_, bytes)) in cases.iter().enumerate() {
        fs::write(dir.join(format!("{i}.nar")), bytes).unwrap();
        list.push_str(&format!("{i}\n"));
    }
    fs::write(dir.join("list"), list).unwrap();
    let inside = oracle::inside(&dir);
    let script = r#"
cd "$1" || exit 99
while read -r i; do
  nix-store --restore "$1/out-$i" <"$i.nar" >/dev/null 2>"$i.err"
  st=$?
  msg=$(tr -d '\000' <"$i.err" | grep -a -v '^warning:' | grep -a -v '^[[:space:]]*$' | head -n 1)
  printf '%s\t%s\t%s\n' "$i" "$st" "$msg"
done <list
"#;
    let out = oracle::oracle_at(
        version,
        [
            "sh".as_ref(),
            "-c".as_ref(),
            script.as_ref(),
            "sh".as_ref(),
            inside.as_os_str(),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let prefix = inside.display().to_string();
    let mut verdicts = vec![String::from("no answer"); cases.len()];
    for line in text.lines() {
        let mut f = line.splitn(3, '\t');
        let (Some(i), Some(st), msg) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Ok(i) = i.parse::<usize>() else { continue };
        let msg = msg
            .unwrap_or("")
            .replace(&format!("{prefix}/out-{i}"), "OUT");
        let msg = shorten(&msg);
        verdicts[i] = if st == "0" {
            "ok".to_owned()
        } else {
            format!("refused: {msg}")
        };
    }
    verdicts
}

/// Long names and targets echoed in messages, cut to keep the golden file readable.
fn shorten(msg: &str) -> String {
    let mut out = String::new();
    let mut run: Option<(char, usize)> = None;
    let flush = |out: &mut String, run: Option<(char, usize)>| {
        if let Some((c, n)) = run {
            if n > 8 {
                out.push_str(&format!("{c}…({n}×)"));
            } else {
                out.extend(std::iter::repeat_n(c, n));
            }
        }
    };
    for c in msg.chars() {
        run = match run {
            Some((r, n)) if r == c => Some((r, n + 1)),
            other => {
                flush(&mut out, other);
                Some((c, 1))
            }
        };
    }
    flush(&mut out, run);
    out
}

fn named_corpus() -> Vec<(String, Vec<u8>)> {
    corpus()
        .into_iter()
        .map(|(n, b)| (n.to_owned(), b))
        .collect()
}

/// Every case has golden verdicts, and ours agree with each version under its rule.
#[test]
fn verdicts_agree_with_both_nix_versions() {
    let golden = read_golden();
    let cases = corpus();
    let names: Vec<&str> = cases.iter().map(|(n, _)| *n).collect();
    let golden_names: Vec<&str> = golden.verdicts.keys().map(String::as_str).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted, golden_names,
        "the golden file covers exactly the corpus (regenerate it: see the module docs)"
    );
    let mut failures = Vec::new();
    let mut table = String::new();
    for (name, bytes) in &cases {
        for (k, version) in golden.versions.iter().enumerate() {
            let nix = &golden.verdicts[*name][k];
            let mine = ours(bytes, &limits_for(version));
            table.push_str(&format!(
                "{name} (Nix {version}):\n    nix:  {nix}\n    ours: {mine}\n"
            ));
            match (accepted(nix), accepted(&mine), deviation(name, version)) {
                (a, b, None) if a == b => {}
                (true, false, Some(_)) => {}
                (_, _, Some(why)) => failures.push(format!(
                    "{name}: documented deviation with Nix {version} no longer holds ({why}): nix {nix}, ours {mine}"
                )),
                (_, _, None) => failures.push(format!(
                    "{name}: Nix {version} says {nix}, ours {mine}"
                )),
            }
        }
    }
    eprintln!("{table}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The oracle of `NIX_ORACLE_VERSION` judges the corpus as the golden file says (and the fuzz
/// inputs as we do); with `NIX_INGEST_REGENERATE=1`, both versions rewrite the golden file.
#[test]
fn oracle() {
    if !nix_ingest_test_support::oracle_or_skip("ask real Nix") {
        return;
    }
    let work = tempfile::Builder::new()
        .prefix("nix-ingest-hostile.")
        .tempdir_in("/tmp")
        .unwrap();
    let cases = named_corpus();
    if std::env::var_os("NIX_INGEST_REGENERATE").is_some_and(|v| v == "1") {
        let mut text = String::from(
            "# Verdicts of `nix-store --restore OUT < CASE.nar` on the archives of tests/hostile_nars.rs,\n\
             # one column per Nix (scripts/nix-oracle.sh run --nix <version>; `OUT` stands for the path).\n\
             # Written by: NIX_INGEST_ORACLE=1 NIX_INGEST_REGENERATE=1 cargo test --test hostile_nars -- oracle\n",
        );
        let mut versions = Vec::new();
        let mut columns = Vec::new();
        for v in oracle::VERSIONS.iter().rev() {
            let full = oracle::nix_version(Some(v)).expect("the Nix oracle answers");
            columns.push(judge(work.path(), v, &cases));
            versions.push(full);
        }
        text.push_str(&format!("# versions: {}\n", versions.join(" ")));
        for (i, (name, _)) in cases.iter().enumerate() {
            let row: Vec<&str> = columns.iter().map(|c| c[i].as_str()).collect();
            text.push_str(&format!("{name}\t{}\n", row.join("\t")));
        }
        let path = Path::new(MANIFEST_DIR).join(GOLDEN);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        eprintln!("wrote {}", path.display());
        return;
    }

    let golden = read_golden();
    let full = oracle::nix_version(None).expect("the Nix oracle answers");
    let short: String = full.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
    let k = golden
        .versions
        .iter()
        .position(|v| *v == full)
        .unwrap_or_else(|| panic!("no golden column for Nix {full}"));
    let verdicts = judge(work.path(), &short, &cases);
    let mut failures = Vec::new();
    for ((name, _), nix) in cases.iter().zip(&verdicts) {
        let want = &golden.verdicts[name][k];
        if nix != want {
            failures.push(format!("{name}: Nix {full} now says {nix}, golden {want}"));
        }
    }
    eprintln!(
        "[hostile NARs] Nix {full}: {} archives judged by nix-store --restore, {} differ from the golden file",
        cases.len(),
        failures.len()
    );

    // The fuzz inputs: Nix's verdict against ours, under Nix's rule.
    let fuzz_dir = Path::new(MANIFEST_DIR).join("tests/data/fuzz");
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut files: Vec<PathBuf> = fs::read_dir(&fuzz_dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            continue;
        }
        let data = fs::read(&f).unwrap();
        let nar = if name.starts_with("nar_parse-") {
            data.get(1..).unwrap_or_default().to_vec()
        } else {
            data
        };
        inputs.push((name, nar));
    }
    let fuzz_verdicts = judge(work.path(), &short, &inputs);
    for ((name, bytes), nix) in inputs.iter().zip(&fuzz_verdicts) {
        let mine = ours(bytes, &limits_for(&full));
        let trailing = mine.contains("after the end of the NAR");
        if accepted(nix) != accepted(&mine) && !(accepted(nix) && trailing) {
            failures.push(format!(
                "fuzz input {name}: Nix {full} says {nix}, ours {mine}"
            ));
        }
    }
    eprintln!(
        "[hostile NARs] Nix {full}: {} fuzz inputs judged",
        inputs.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

//! The references: real Nix (through `scripts/nix-oracle.sh`, a chroot that sees the host's
//! `/tmp` as `/host-tmp`) and real git (on the host).

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The oracle's view of a host path under `/tmp`.
pub fn inside(host: &Path) -> PathBuf {
    // Byte for byte: `Path::strip_prefix` would drop a trailing `/.`, which Nix must see.
    let rest = host
        .as_os_str()
        .as_bytes()
        .strip_prefix(b"/tmp/")
        .expect("oracle trees live under /tmp");
    PathBuf::from(OsString::from_vec([&b"/host-tmp/"[..], rest].concat()))
}

pub fn oracle<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(Path::new(MANIFEST_DIR).join("scripts/nix-oracle.sh"))
        .arg("run")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("scripts/nix-oracle.sh runs")
}

/// [`oracle`] with the Nix of `version` (`2.34`, `2.26`, as `scripts/nix-oracle.sh --nix`
/// takes), whatever `NIX_ORACLE_VERSION` says.
pub fn oracle_at<I, S>(version: &str, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(Path::new(MANIFEST_DIR).join("scripts/nix-oracle.sh"))
        .args(["run", "--nix", version])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("scripts/nix-oracle.sh runs")
}

/// The versions `scripts/nix-oracle.sh` provides, newest first (`2.34`, `2.26`).
#[allow(dead_code)] // used by tests/hostile_nars.rs
pub const VERSIONS: [&str; 2] = ["2.34", "2.26"];

/// The full version (e.g. `2.34.8`) of the Nix [`oracle`] runs (`NIX_ORACLE_VERSION`, default
/// the newest), or of `version`; `None` if it does not answer.
pub fn nix_version(version: Option<&str>) -> Option<String> {
    let out = match version {
        Some(v) => oracle_at(v, ["nix", "--version"]),
        None => oracle(["nix", "--version"]),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    // `nix (Nix) 2.34.8`
    let v = text.split_whitespace().last()?;
    (out.status.success() && v.starts_with("2.")).then(|| v.to_owned())
}

/// Whether `version` (e.g. `2.34.8`) is at least `major.minor`.
pub fn at_least(version: &str, major: u32, minor: u32) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

/// Nix's answer for one command: stdout (trimmed) or the first line of its error.
pub type Answer = Result<String, String>;

fn first_error_line(stderr: &[u8], status: Option<i32>) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with("warning:"))
        .unwrap_or("")
        .to_owned();
    format!("[exit {}] {line}", status.unwrap_or(-1))
}

/// `nix hash path --mode M --algo A --format F P1 P2 …`: one answer per path. One call for all
/// paths; Nix stops at the first path it refuses, having printed the answers before it, so that
/// path is asked alone (for its error) and the rest in one call again.
pub fn hash_path_batch(mode: &str, algo: &str, format: &str, paths: &[PathBuf]) -> Vec<Answer> {
    let base = [
        "nix", "hash", "path", "--mode", mode, "--algo", algo, "--format", format,
    ];
    let ask = |paths: &[PathBuf]| {
        let mut args: Vec<OsString> = base.iter().map(OsString::from).collect();
        args.extend(paths.iter().map(|p| inside(p).into_os_string()));
        oracle(&args)
    };
    let mut answers = Vec::with_capacity(paths.len());
    let mut rest = paths;
    while !rest.is_empty() {
        let out = ask(rest);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        if out.status.success() && lines.len() == rest.len() {
            answers.extend(lines.into_iter().map(|l| Ok(l.to_owned())));
            break;
        }
        // The answers printed before the refusal, then the refused path alone.
        let done = lines.len().min(rest.len() - 1);
        answers.extend(lines[..done].iter().map(|l| Ok((*l).to_owned())));
        let alone = ask(&rest[done..=done]);
        answers.push(if alone.status.success() {
            Ok(String::from_utf8_lossy(&alone.stdout).trim_end().to_owned())
        } else {
            Err(first_error_line(&alone.stderr, alone.status.code()))
        });
        rest = &rest[done + 1..];
    }
    answers
}

/// A task for the task runner inside the oracle.
pub enum Task {
    /// `nix store add --dry-run --mode M --hash-algo A PATH`
    StoreAdd {
        mode: &'static str,
        algo: &'static str,
        path: PathBuf,
    },
    /// `nix-store --dump PATH > OUT`
    Dump { path: PathBuf, out: PathBuf },
}

const RUNNER: &str = r#"#!/bin/sh
# Runs the differential suite's tasks inside the Nix oracle, one result line per task:
# <id> TAB <exit status> TAB <stdout> TAB <first line of stderr that is not a warning>
tasks=$1
err=$2
tab=$(printf '\t')
while IFS="$tab" read -r id kind a b path; do
  out=
  case $kind in
    add) out=$(nix store add --dry-run --mode "$a" --hash-algo "$b" "$path" </dev/null 2>"$err"); st=$? ;;
    dump) nix-store --dump "$path" </dev/null >"$a" 2>"$err"; st=$? ;;
    *) st=99; echo "unknown task $kind" >"$err" ;;
  esac
  msg=$(grep -v '^warning:' "$err" | head -n 1 | tr '\t' ' ')
  printf '%s\t%s\t%s\t%s\n' "$id" "$st" "$(printf '%s' "$out" | tr '\t\n' '  ')" "$msg"
done <"$tasks"
"#;

/// Runs `tasks` inside the oracle on `jobs` parallel shells; one answer per task (a dump's
/// answer is `Ok("")`; its bytes are in its `out` file).
pub fn run_tasks(work: &Path, tasks: &[Task], jobs: usize) -> Vec<Answer> {
    let runner = work.join("run-tasks.sh");
    fs::write(&runner, RUNNER).unwrap();
    let jobs = jobs.max(1);
    let mut lists = vec![Vec::<u8>::new(); jobs];
    for (id, task) in tasks.iter().enumerate() {
        let line = match task {
            Task::StoreAdd { mode, algo, path } => [
                format!("{id}\tadd\t{mode}\t{algo}\t").into_bytes(),
                path_bytes(&inside(path)),
            ]
            .concat(),
            Task::Dump { path, out } => [
                format!("{id}\tdump\t").into_bytes(),
                path_bytes(&inside(out)),
                b"\t-\t".to_vec(),
                path_bytes(&inside(path)),
            ]
            .concat(),
        };
        assert!(
            !line.contains(&b'\n') && line.iter().filter(|&&b| b == b'\t').count() == 4,
            "task paths must not hold tabs or newlines"
        );
        let list = &mut lists[id % jobs];
        list.extend_from_slice(&line);
        list.push(b'\n');
    }
    let handles: Vec<_> = lists
        .into_iter()
        .enumerate()
        .map(|(j, list)| {
            let file = work.join(format!("tasks-{j}.tsv"));
            fs::write(&file, list).unwrap();
            let err = work.join(format!("tasks-{j}.err"));
            let runner = inside(&runner);
            std::thread::spawn(move || {
                oracle([
                    OsStr::new("sh"),
                    runner.as_os_str(),
                    inside(&file).as_os_str(),
                    inside(&err).as_os_str(),
                ])
            })
        })
        .collect();
    let mut answers: Vec<Option<Answer>> = (0..tasks.len()).map(|_| None).collect();
    for h in handles {
        let out = h.join().expect("task runner thread");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut f = line.splitn(4, '\t');
            let (Some(id), Some(st), Some(stdout), msg) = (f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            let Ok(id) = id.parse::<usize>() else {
                continue;
            };
            let answer = if st == "0" {
                Ok(stdout.to_owned())
            } else {
                Err(format!("[exit {st}] {}", msg.unwrap_or("")))
            };
            if let Some(slot) = answers.get_mut(id) {
                *slot = Some(answer);
            }
        }
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err("the task runner gave no answer".to_owned())))
        .collect()
}

fn path_bytes(p: &Path) -> Vec<u8> {
    p.as_os_str().as_bytes().to_vec()
}

// ---------------------------------------------------------------------------------------------
// git
// ---------------------------------------------------------------------------------------------

/// A scratch repository of one object format, used through plumbing commands only.
pub struct Git {
    repo: PathBuf,
    home: PathBuf,
}

impl Git {
    pub fn init(work: &Path, format: &'static str) -> Git {
        let repo = work.join(format!("repo-{format}"));
        let home = work.join("git-home");
        fs::create_dir_all(&home).unwrap();
        let git = Git {
            repo: repo.clone(),
            home,
        };
        let out = git
            .command()
            .arg("init")
            .arg("-q")
            .arg(format!("--object-format={format}"))
            .arg(&repo)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        git
    }

    /// `git` with a clean environment (no user or system configuration).
    fn command(&self) -> Command {
        let mut c = Command::new("git");
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .args([
                "-c",
                "core.fileMode=true",
                "-c",
                "core.symlinks=true",
                "-c",
                "core.autocrlf=false",
                "-c",
                "safe.directory=*",
            ]);
        c
    }

    fn in_repo(&self) -> Command {
        let mut c = self.command();
        c.arg(format!("--git-dir={}", self.repo.join(".git").display()));
        c
    }

    /// `git hash-object --no-filters --stdin-paths` of every file (read through symlinks).
    pub fn blob_ids(&self, files: &[PathBuf]) -> Vec<String> {
        let mut child = self
            .in_repo()
            .args(["hash-object", "--no-filters", "--stdin-paths"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("git hash-object runs");
        let mut stdin = child.stdin.take().unwrap();
        let input: Vec<u8> = files
            .iter()
            .flat_map(|f| {
                let mut q = c_quote(f.as_os_str().as_bytes());
                q.push(b'\n');
                q
            })
            .collect();
        let writer = std::thread::spawn(move || {
            stdin.write_all(&input).unwrap();
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(out.status.success(), "git hash-object failed");
        let ids: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(
            ids.len(),
            files.len(),
            "git hash-object gave one id per path"
        );
        ids
    }

    /// A `git mktree -z --missing --batch` session.
    pub fn mktree(&self) -> MkTree {
        let mut child = self
            .in_repo()
            .args(["mktree", "-z", "--missing", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("git mktree runs");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        MkTree {
            child,
            stdin,
            stdout,
        }
    }

    /// `git add -A` of `root` into a fresh index, then `git write-tree`.
    pub fn write_tree(&self, root: &Path, index: &Path) -> Result<String, String> {
        let run = |args: &[&str]| {
            let out = self
                .in_repo()
                .arg(format!("--work-tree={}", root.display()))
                .args(args)
                .env("GIT_INDEX_FILE", index)
                .current_dir(root)
                .stdin(Stdio::null())
                .output()
                .expect("git runs");
            if out.status.success() {
                Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
            } else {
                Err(format!(
                    "git {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        run(&["add", "-A", "--", "."])?;
        run(&["write-tree"])
    }
}

/// git's C-style quoting, which `--stdin-paths` undoes: any byte but NUL gets through.
fn c_quote(bytes: &[u8]) -> Vec<u8> {
    let mut q = vec![b'"'];
    for &b in bytes {
        match b {
            b'"' | b'\\' => q.extend_from_slice(&[b'\\', b]),
            0x20..=0x7e => q.push(b),
            _ => q.extend_from_slice(format!("\\{b:03o}").as_bytes()),
        }
    }
    q.push(b'"');
    q
}

pub struct MkTree {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// One entry of a tree for [`MkTree::tree`].
pub struct MkEntry {
    pub mode: &'static str,
    pub id: String,
    pub name: Vec<u8>,
}

impl MkTree {
    /// The id git gives the tree of `entries` (git sorts them itself).
    pub fn tree(&mut self, entries: &[MkEntry]) -> String {
        let mut buf = Vec::new();
        for e in entries {
            let kind = if e.mode == "40000" { "tree" } else { "blob" };
            buf.extend_from_slice(format!("{} {kind} {}\t", e.mode, e.id).as_bytes());
            buf.extend_from_slice(&e.name);
            buf.push(0);
        }
        buf.push(0);
        self.stdin.write_all(&buf).unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "git mktree ended early");
        line.trim().to_owned()
    }
}

impl Drop for MkTree {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `OsString` from raw bytes.
pub fn os(bytes: &[u8]) -> OsString {
    OsString::from_vec(bytes.to_vec())
}

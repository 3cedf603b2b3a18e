//! `path-info` against the binary caches real Nix wrote (`tests/data/narinfo`, made by its
//! `gen.sh` with `nix copy --to file://…?compression=none` and `nix path-info --json --store
//! file://…`): the same objects, rebuilt here byte for byte as `gen.sh` makes them, must give
//! the same `.narinfo` files and the same JSON.

use nix_ingest_test_support as support;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use support::{Input, assert_error, assert_ok, os, repo, run_cli, run_raw};

/// The objects of `tests/data/narinfo/gen.sh`: `src/tree` and `src/hello`.
fn objects(dir: &Path) {
    fs::create_dir_all(dir.join("tree/bla")).unwrap();
    fs::write(dir.join("tree/foo"), "Hello World!\n").unwrap();
    symlink("foo", dir.join("tree/bar")).unwrap();
    fs::write(dir.join("tree/exe"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(dir.join("tree/exe"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(dir.join("hello"), "hello\n").unwrap();
    fs::set_permissions(dir.join("hello"), fs::Permissions::from_mode(0o444)).unwrap();
}

/// `gen.sh`'s `nix store add` of each object, and the narinfo Nix wrote for it.
const CASES: [(&[&str], &str); 3] = [
    (
        &["--mode", "git", "--hash-algo", "sha1", "tree"],
        "dz5dmrv0qv9cfdvrz8mm76qqx7zgvcaz",
    ),
    (
        &[
            "--mode",
            "nar",
            "--hash-algo",
            "sha256",
            "--name",
            "tree-nar",
            "tree",
        ],
        "b1rslwaw98n6nrv5wdgk1q3l139zlvy1",
    ),
    (
        &["--mode", "flat", "--hash-algo", "sha256", "hello"],
        "8zv8i345w2xn27jrxj4cyjc6x3b4am1q",
    ),
];

#[test]
fn narinfo_and_json_are_what_nix_wrote() {
    let dir = tempfile::tempdir().unwrap();
    objects(dir.path());
    for version in ["2.34", "2.26"] {
        let data = repo().join("tests/data/narinfo").join(version);
        for (args, hash_part) in CASES {
            let narinfo =
                fs::read_to_string(data.join("cache-none").join(format!("{hash_part}.narinfo")))
                    .unwrap();
            let mut ours = os(&["path-info"]);
            ours.extend(os(args));
            let run = run_cli(&ours, dir.path(), None);
            assert_ok(&run, &format!("{ours:?}"));
            assert_eq!(run.stdout, narinfo, "{version} {ours:?}");

            // The same from the NAR Nix wrote into the cache, on standard input.
            let url = narinfo
                .lines()
                .find_map(|l| l.strip_prefix("URL: "))
                .unwrap();
            let nar = data.join("cache-none").join(url);
            let mut from_nar = ours.clone();
            from_nar.pop();
            let name = narinfo.lines().next().unwrap().rsplit_once('-').unwrap().1;
            if !args.contains(&"--name") {
                from_nar.extend(os(&["--name", name]));
            }
            from_nar.extend(os(&["--nar", "-"]));
            let run = run_raw(&from_nar, dir.path(), Input::File(&nar));
            assert_eq!(run.status, 0, "{}", run.stderr);
            assert_eq!(
                String::from_utf8(run.stdout).unwrap(),
                narinfo,
                "{from_nar:?}"
            );

            // `nix path-info --json` of the cache: this path's entry, as Nix 2.34 prints it
            // (format 1 by default; format 2 keyed by base name, under `info`).
            if version == "2.34" {
                let store_path = format!("/nix/store/{hash_part}-{name}");
                let base = format!("{hash_part}-{name}");
                for (format, file) in [
                    (None, "path-info-cache-none.json"),
                    (Some("1"), "path-info-cache-none-format-1.json"),
                    (Some("2"), "path-info-cache-none-format-2.json"),
                ] {
                    let nix: serde_json::Value =
                        serde_json::from_slice(&fs::read(data.join(file)).unwrap()).unwrap();
                    let mut args = ours.clone();
                    args.insert(1, "--json".into());
                    if let Some(f) = format {
                        args.insert(2, "--json-format".into());
                        args.insert(3, f.into());
                    }
                    let run = run_cli(&args, dir.path(), None);
                    let lines = assert_ok(&run, &format!("{args:?}"));
                    let ours: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
                    if format == Some("2") {
                        assert_eq!(ours["info"][&base], nix["info"][&base], "{args:?}");
                        assert_eq!(ours["storeDir"], nix["storeDir"]);
                        assert_eq!(ours["version"], nix["version"]);
                    } else {
                        assert_eq!(ours[&store_path], nix[&store_path], "{args:?}");
                        assert_eq!(ours.as_object().unwrap().len(), 1);
                    }
                }
            }
        }
    }
    // Flat of a directory, text with another algorithm: refused as `nix store add` refuses.
    for args in [
        &["path-info", "--mode", "flat", "tree"][..],
        &[
            "path-info",
            "--mode",
            "text",
            "--hash-algo",
            "sha1",
            "hello",
        ],
    ] {
        assert_error(&run_cli(&os(args), dir.path(), None), &format!("{args:?}"));
    }
}

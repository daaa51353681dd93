//! Our Nix formats against the real Nix 2.8: NAR bytes, NAR hashes, restores, store paths,
//! narinfos and signatures, over a generated corpus of awkward trees.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::common::realnix::RealNix;
use devenv::nix::hash::Sha256Hash;
use devenv::nix::nar;
use devenv::nix::narinfo::{CacheInfo, Compression, NarInfo};
use devenv::nix::signature::{PublicKey, SecretKey, TrustedKeys};
use devenv::nix::store_path::StorePath;
use rand::{Rng, RngExt, SeedableRng};

fn file(path: &Path, contents: &[u8], mode: u32) {
    fs::write(path, contents).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn random_bytes(rng: &mut impl Rng, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

/// A random directory tree: nested dirs, files of many sizes, symlinks.
fn random_tree(rng: &mut rand::rngs::StdRng, dir: &Path, depth: usize) {
    fs::create_dir(dir).unwrap();
    for i in 0..rng.random_range(0..7) {
        let name = format!(
            "{}-{i}",
            ["a", "B", "_x", "z.txt", "0"][rng.random_range(0..5)]
        );
        let p = dir.join(name);
        match rng.random_range(0..10) {
            0..=4 => {
                let len = [0, 1, 7, 8, 9, 4096, 65537][rng.random_range(0..7)];
                let mode = if rng.random_bool(0.3) { 0o755 } else { 0o644 };
                file(&p, &random_bytes(rng, len), mode);
            }
            5..=6 => symlink(format!("../target-{}", rng.random::<u16>()), &p).unwrap(),
            _ if depth < 4 => random_tree(rng, &p, depth + 1),
            _ => fs::create_dir(&p).unwrap(),
        }
    }
}

/// The corpus: (name, root path). Names are valid store-path names.
fn corpus(root: &Path) -> Vec<PathBuf> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6e6172);
    let mut out = Vec::new();
    let mut add = |name: &str| {
        let p = root.join(name);
        out.push(p.clone());
        p
    };

    file(&add("empty-file"), b"", 0o644);
    file(&add("exec-file"), b"#!/bin/sh\necho hi\n", 0o755);
    file(&add("owner-x-only"), b"x", 0o710);
    file(&add("others-x-only"), b"x", 0o601);
    symlink("/nix/store/somewhere-else", add("abs-link")).unwrap();
    symlink("../relative/target", add("rel-link")).unwrap();
    symlink("dangling", add("dangling-link")).unwrap();

    let t = add("awkward-tree");
    fs::create_dir(&t).unwrap();
    fs::create_dir(t.join("empty-dir")).unwrap();
    file(&t.join("empty"), b"", 0o644);
    file(&t.join("seven"), b"1234567", 0o644);
    file(&t.join("eight"), b"12345678", 0o755);
    for name in [
        "ünïcødé",
        "日本語",
        "B",
        "a",
        "_",
        "Z",
        "é",
        "-dash",
        "~tilde",
        "sp ace",
        "new\nline",
        "q\"uote",
        "back\\slash",
        "tab\tx",
    ] {
        file(&t.join(name), name.as_bytes(), 0o644);
    }
    for bytes in [&b"\x01ctl"[..], b"\xff\xfe-not-utf8", b"\x7fdel", b"a\x80b"] {
        file(&t.join(OsStr::from_bytes(bytes)), bytes, 0o644);
    }
    symlink("/abs/target", t.join("l-abs")).unwrap();
    symlink("empty", t.join("l-rel")).unwrap();
    symlink("does/not/exist", t.join("l-dangling")).unwrap();
    symlink("l-loop", t.join("l-loop")).unwrap();
    symlink("x".repeat(1000), t.join("l-long")).unwrap();
    fs::write(t.join("n".repeat(255)), b"long name").unwrap();
    let mut deep = t.join("deep");
    for i in 0..40 {
        deep = deep.join(format!("d{i}"));
    }
    fs::create_dir_all(&deep).unwrap();
    file(&deep.join("bottom"), b"deep", 0o755);

    let big = add("large-files");
    fs::create_dir(&big).unwrap();
    file(
        &big.join("three-mb"),
        &random_bytes(&mut rng, 3 << 20),
        0o644,
    );
    file(
        &big.join("one-mb-odd"),
        &random_bytes(&mut rng, (1 << 20) + 13),
        0o755,
    );

    for i in 0..4 {
        random_tree(&mut rng, &add(&format!("random-{i}")), 0);
    }
    out
}

fn our_nar(path: &Path) -> Vec<u8> {
    let mut v = Vec::new();
    nar::dump(path, &mut v).unwrap();
    v
}

fn name_of(path: &Path) -> String {
    path.file_name().unwrap().to_str().unwrap().to_owned()
}

#[test]
fn nar_dump_restore_hash_and_store_paths_match_nix() {
    let nix = RealNix::new();
    let src = nix.dir().join("src");
    fs::create_dir(&src).unwrap();
    let store = nix.store("s");
    let store_arg = store.to_str().unwrap();
    for path in corpus(&src) {
        let name = name_of(&path);
        let p = path.to_str().unwrap();
        let ours = our_nar(&path);
        let theirs = nix.run("nix-store", &["--dump", p]);
        assert!(
            ours == theirs,
            "{name}: our NAR differs from `nix-store --dump`"
        );

        let hash = Sha256Hash::digest(&ours);
        assert_eq!(
            hash.to_nix32(),
            nix.run_str("nix-hash", &["--type", "sha256", "--base32", p]),
            "{name}: NAR hash"
        );
        assert_eq!(
            nar::dump_hash(&path).unwrap(),
            (hash, ours.len() as u64),
            "{name}: dump_hash"
        );

        // Nix restores our NAR, we unpack Nix's NAR: both trees dump to the same bytes.
        let by_nix = nix.dir().join(format!("restored-by-nix-{name}"));
        nix.run_with_input("nix-store", &["--restore", by_nix.to_str().unwrap()], &ours);
        let by_us = nix.dir().join(format!("restored-by-us-{name}"));
        let stats = nar::unpack(&theirs[..], &by_us).unwrap();
        assert_eq!(stats.nar_size, theirs.len() as u64);
        assert!(
            our_nar(&by_nix) == ours,
            "{name}: nix-store --restore of our NAR"
        );
        assert!(
            nix.run("nix-store", &["--dump", by_us.to_str().unwrap()]) == theirs,
            "{name}: our unpack of Nix's NAR"
        );
        check_canonical(&by_us);

        let added = nix.run_str("nix-store", &["--store", store_arg, "--add", p]);
        let expected = StorePath::make_source(&name, &hash, &[], false).unwrap();
        assert_eq!(added, expected.to_absolute(), "{name}: nix-store --add");
        let recursive = nix.run_str(
            "nix-store",
            &[
                "--store",
                store_arg,
                "--add-fixed",
                "--recursive",
                "sha256",
                p,
            ],
        );
        let expected = StorePath::make_fixed_output(&name, &hash, true).unwrap();
        assert_eq!(
            recursive,
            expected.to_absolute(),
            "{name}: --add-fixed --recursive"
        );
        if fs::symlink_metadata(&path).unwrap().is_file() {
            let flat = nix.run_str(
                "nix-store",
                &["--store", store_arg, "--add-fixed", "sha256", p],
            );
            let file_hash = Sha256Hash::digest(fs::read(&path).unwrap());
            let expected = StorePath::make_fixed_output(&name, &file_hash, false).unwrap();
            assert_eq!(flat, expected.to_absolute(), "{name}: --add-fixed (flat)");
        }
    }
}

/// Every node has Nix's canonical metadata: mode 0444/0555 (symlinks untouched), mtime 1.
fn check_canonical(root: &Path) {
    for entry in walkdir::WalkDir::new(root).follow_root_links(false) {
        let entry = entry.unwrap();
        let meta = entry.path().symlink_metadata().unwrap();
        let mtime = filetime::FileTime::from_last_modification_time(&meta).unix_seconds();
        assert_eq!(mtime, 1, "{}: mtime", entry.path().display());
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_dir() {
            assert_eq!(mode, 0o555, "{}", entry.path().display());
        } else if meta.is_file() {
            assert!(
                mode == 0o444 || mode == 0o555,
                "{}: {mode:o}",
                entry.path().display()
            );
        }
    }
}

#[test]
fn text_paths_match_builtins_to_file() {
    let nix = RealNix::new();
    let store = nix.store("s");
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for i in 0..4 {
        let contents: String = (0..rng.random_range(0..200))
            .map(|_| rng.random_range(b'a'..=b'z') as char)
            .collect();
        let name = format!("text-{i}");
        let expr = format!(
            "let dep = builtins.toFile \"dep-{i}\" \"{contents}\"; in builtins.toFile \"{name}\" \"${{dep}} {contents}\""
        );
        let theirs = nix.run_str(
            "nix",
            &[
                "eval",
                "--store",
                store.to_str().unwrap(),
                "--raw",
                "--expr",
                &expr,
            ],
        );
        let dep =
            StorePath::make_text(&format!("dep-{i}"), &Sha256Hash::digest(&contents), &[]).unwrap();
        let body = format!("{} {contents}", dep.to_absolute());
        let ours = StorePath::make_text(&name, &Sha256Hash::digest(&body), &[dep]).unwrap();
        assert_eq!(theirs, ours.to_absolute());
    }
}

/// A store with a few signed paths (a file, a tree, a text path with a reference), copied by
/// `nix copy` into a file:// binary cache with the given compression.
struct NixCache {
    dir: PathBuf,
    pk: String,
    sk: String,
}

fn nix_made_cache(nix: &RealNix, compression: &str) -> NixCache {
    let store = nix.store("signed");
    let store_arg = store.to_str().unwrap().to_owned();
    let src = nix.dir().join("cache-src");
    if !src.exists() {
        fs::create_dir_all(src.join("tree/bin")).unwrap();
        file(&src.join("tree/bin/hi"), b"#!/bin/sh\necho hi\n", 0o755);
        symlink("bin/hi", src.join("tree/link")).unwrap();
        file(&src.join("hello.txt"), b"Hello World!", 0o644);
    }
    let mut paths = Vec::new();
    for p in ["tree", "hello.txt"] {
        let p = src.join(p);
        paths.push(nix.run_str(
            "nix-store",
            &["--store", &store_arg, "--add", p.to_str().unwrap()],
        ));
    }
    paths.push(nix.run_str(
        "nix",
        &[
            "eval",
            "--store",
            &store_arg,
            "--raw",
            "--expr",
            "let foo = builtins.toFile \"foo\" \"bar\"; in builtins.toFile \"baz\" \"${foo}\"",
        ],
    ));
    let keys = nix.dir().join("keys");
    fs::create_dir_all(&keys).unwrap();
    let (sk, pk) = (keys.join("sk"), keys.join("pk"));
    if !sk.exists() {
        nix.run(
            "nix-store",
            &[
                "--generate-binary-cache-key",
                "nix-made-1",
                sk.to_str().unwrap(),
                pk.to_str().unwrap(),
            ],
        );
    }
    let mut sign = vec![
        "store",
        "sign",
        "--store",
        &store_arg,
        "-r",
        "-k",
        sk.to_str().unwrap(),
    ];
    sign.extend(paths.iter().map(String::as_str));
    nix.run("nix", &sign);
    let dir = nix.dir().join(format!("cache-{compression}"));
    let to = format!("file://{}?compression={compression}", dir.display());
    let mut copy = vec!["copy", "--store", &store_arg, "--to", &to];
    copy.extend(paths.iter().map(String::as_str));
    nix.run("nix", &copy);
    NixCache {
        dir,
        pk: fs::read_to_string(pk).unwrap(),
        sk: fs::read_to_string(sk).unwrap(),
    }
}

fn decompress(c: &Compression, data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    match c {
        Compression::None => out.extend_from_slice(data),
        Compression::Xz => {
            liblzma::read::XzDecoder::new(data)
                .read_to_end(&mut out)
                .unwrap();
        }
        Compression::Zstd => {
            zstd::stream::read::Decoder::new(data)
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
        }
        Compression::Bzip2 => {
            bzip2::read::BzDecoder::new(data)
                .read_to_end(&mut out)
                .unwrap();
        }
        other => panic!("unexpected compression {other}"),
    }
    out
}

#[test]
fn narinfos_and_signatures_written_by_nix() {
    let nix = RealNix::new();
    for compression in ["none", "xz", "zstd", "bzip2"] {
        let cache = nix_made_cache(&nix, compression);
        let info = CacheInfo::parse(&fs::read_to_string(cache.dir.join("nix-cache-info")).unwrap())
            .unwrap();
        assert_eq!(info.store_dir, "/nix/store");
        let trusted = TrustedKeys::from_strings(std::slice::from_ref(&cache.pk)).unwrap();
        let our_sk = SecretKey::parse(&cache.sk).unwrap();
        assert_eq!(our_sk.public(), PublicKey::parse(&cache.pk).unwrap());
        let mut seen = 0;
        for entry in fs::read_dir(&cache.dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension() != Some(OsStr::new("narinfo")) {
                continue;
            }
            seen += 1;
            let text = fs::read_to_string(&path).unwrap();
            let info = NarInfo::parse(&text).unwrap();
            assert_eq!(
                info.to_string(),
                text,
                "narinfo round trip is byte-identical"
            );
            assert_eq!(
                path.file_stem().unwrap().to_str().unwrap(),
                info.store_path.hash_part()
            );
            assert!(
                trusted.verify_narinfo(&info),
                "{}: Nix's signature verifies",
                info.store_path
            );
            assert!(!TrustedKeys::nixos_default().verify_narinfo(&info));
            // Our signing with Nix's key reproduces Nix's signature (ed25519 is deterministic).
            assert_eq!(info.sigs, vec![our_sk.sign(&info.fingerprint())]);
            let mut tampered = info.clone();
            tampered.nar_size += 1;
            assert!(!trusted.verify_narinfo(&tampered));

            let file = fs::read(cache.dir.join(&info.url)).unwrap();
            assert_eq!(Some(file.len() as u64), info.file_size);
            assert_eq!(Some(Sha256Hash::digest(&file)), info.file_hash);
            assert_eq!(info.compression.as_str(), compression);
            let nar_bytes = decompress(&info.compression, &file);
            assert_eq!(Sha256Hash::digest(&nar_bytes), info.nar_hash);
            assert_eq!(nar_bytes.len() as u64, info.nar_size);
            let stats = nar::validate(&nar_bytes[..]).unwrap();
            assert_eq!(stats.nar_size, info.nar_size);

            // The CA claim reproduces the store path.
            let ca = info.ca.as_deref().expect("Nix writes CA for added paths");
            let computed = if let Some(h) = ca.strip_prefix("fixed:r:sha256:") {
                let h = Sha256Hash::parse_unprefixed(h).unwrap();
                assert_eq!(h, info.nar_hash);
                StorePath::make_fixed_output(&info.store_path.name, &h, true).unwrap()
            } else if let Some(h) = ca.strip_prefix("text:sha256:") {
                let h = Sha256Hash::parse_unprefixed(h).unwrap();
                StorePath::make_text(&info.store_path.name, &h, &info.references).unwrap()
            } else {
                panic!("unexpected CA {ca}");
            };
            assert_eq!(computed, info.store_path);
        }
        assert_eq!(seen, 4, "tree, hello.txt, foo, baz");
    }
}

#[test]
fn nix_substitutes_from_a_cache_we_signed() {
    let nix = RealNix::new();
    let src = nix.dir().join("src");
    fs::create_dir_all(src.join("pkg/bin")).unwrap();
    file(&src.join("pkg/bin/tool"), b"#!/bin/sh\necho tool\n", 0o755);
    file(&src.join("dep"), b"a dependency", 0o644);

    // Two paths, `pkg` referring to `dep`. No CA field: only the signature can make Nix trust them.
    let dep_nar = our_nar(&src.join("dep"));
    let dep = StorePath::make_source("dep", &Sha256Hash::digest(&dep_nar), &[], false).unwrap();
    symlink(dep.to_absolute(), src.join("pkg/dep-link")).unwrap();
    let pkg_nar = our_nar(&src.join("pkg"));
    let pkg = StorePath::make_source("pkg", &Sha256Hash::digest(&pkg_nar), &[], false).unwrap();

    let key = SecretKey::generate("ours-1");
    let cache = nix.dir().join("our-cache");
    fs::create_dir_all(cache.join("nar")).unwrap();
    fs::write(
        cache.join("nix-cache-info"),
        CacheInfo::default().to_string(),
    )
    .unwrap();
    for (path, nar_bytes, refs) in [
        (&dep, &dep_nar, vec![]),
        (&pkg, &pkg_nar, vec![dep.clone()]),
    ] {
        let mut xz = Vec::new();
        {
            use std::io::Write;
            let mut enc = liblzma::write::XzEncoder::new(&mut xz, 6);
            enc.write_all(nar_bytes).unwrap();
            enc.finish().unwrap();
        }
        let file_hash = Sha256Hash::digest(&xz);
        let url = format!("nar/{}.nar.xz", file_hash.to_nix32());
        fs::write(cache.join(&url), &xz).unwrap();
        let mut info = NarInfo {
            store_path: path.clone(),
            url,
            compression: Compression::Xz,
            file_hash: Some(file_hash),
            file_size: Some(xz.len() as u64),
            nar_hash: Sha256Hash::digest(nar_bytes),
            nar_size: nar_bytes.len() as u64,
            references: refs,
            deriver: None,
            sigs: vec![],
            ca: None,
            system: None,
        };
        key.sign_narinfo(&mut info);
        fs::write(
            cache.join(format!("{}.narinfo", path.hash_part())),
            info.to_string(),
        )
        .unwrap();
    }
    let substituters = format!("file://{}", cache.display());

    // Trusting some other key, Nix refuses the unsigned-for-it paths.
    let other = SecretKey::generate("other-1").public().to_string();
    let store = nix.store("refuse");
    let (ok, _, stderr) = nix.try_run(
        "nix-store",
        &[
            "--store",
            store.to_str().unwrap(),
            "-r",
            &pkg.to_absolute(),
            "--option",
            "substituters",
            &substituters,
            "--option",
            "trusted-public-keys",
            &other,
        ],
    );
    assert!(!ok, "Nix must refuse paths not signed by a trusted key");
    assert!(
        stderr.contains("not signed") || stderr.contains("don't know how to build"),
        "{stderr}"
    );

    // Trusting our key, Nix substitutes both paths and they hold exactly our NARs.
    let store = nix.store("accept");
    let store_arg = store.to_str().unwrap();
    let ours_pk = key.public().to_string();
    nix.run(
        "nix-store",
        &[
            "--store",
            store_arg,
            "-r",
            &pkg.to_absolute(),
            "--option",
            "substituters",
            &substituters,
            "--option",
            "trusted-public-keys",
            &ours_pk,
        ],
    );
    let physical = store.join(pkg.to_absolute().trim_start_matches('/'));
    let dumped = nix.run("nix-store", &["--dump", physical.to_str().unwrap()]);
    assert!(dumped == pkg_nar);
    let refs = nix.run_str(
        "nix-store",
        &[
            "--store",
            store_arg,
            "-q",
            "--references",
            &pkg.to_absolute(),
        ],
    );
    assert_eq!(refs, dep.to_absolute());
    let sigs = nix.run_str(
        "nix",
        &[
            "path-info",
            "--store",
            store_arg,
            "--sigs",
            &pkg.to_absolute(),
        ],
    );
    assert!(sigs.contains("ours-1:"), "{sigs}");
}

#[test]
fn derivation_output_paths_match_nix() {
    // For a derivation without inputs, the hash modulo is the sha256 of its ATerm with every
    // output path blanked; written out by hand here, since ATerm itself is not part of `devenv::nix`.
    let nix = RealNix::new();
    let store = nix.store("drv");
    for (name, outputs) in [("plain", vec!["out"]), ("split", vec!["out", "dev", "man"])] {
        let mut sorted = outputs.clone();
        sorted.sort();
        let outs: Vec<String> = sorted
            .iter()
            .map(|o| format!("(\"{o}\",\"\",\"\",\"\")"))
            .collect();
        let mut env: Vec<(String, String)> = vec![
            ("builder".into(), "/bin/sh".into()),
            ("name".into(), name.into()),
            ("system".into(), "x86_64-linux".into()),
        ];
        env.extend(outputs.iter().map(|o| (o.to_string(), String::new())));
        env.push(("outputs".into(), outputs.join(" ")));
        env.sort();
        let env: Vec<String> = env
            .iter()
            .map(|(k, v)| format!("(\"{k}\",\"{v}\")"))
            .collect();
        let aterm = format!(
            "Derive([{}],[],[],\"x86_64-linux\",\"/bin/sh\",[],[{}])",
            outs.join(","),
            env.join(",")
        );
        let modulo = Sha256Hash::digest(&aterm);
        let list: Vec<String> = outputs.iter().map(|o| format!("\"{o}\"")).collect();
        for out in &outputs {
            let expr = format!(
                "(derivation {{ name = \"{name}\"; builder = \"/bin/sh\"; system = \"x86_64-linux\"; outputs = [ {} ]; }}).{out}.outPath",
                list.join(" ")
            );
            let theirs = nix.run_str(
                "nix",
                &[
                    "eval",
                    "--store",
                    store.to_str().unwrap(),
                    "--raw",
                    "--expr",
                    &expr,
                ],
            );
            let ours = StorePath::make_output(name, out, &modulo).unwrap();
            assert_eq!(theirs, ours.to_absolute(), "{name}.{out}");
        }
    }
}

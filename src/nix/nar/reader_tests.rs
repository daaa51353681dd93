//! Golden vectors and round trips for the NAR writer and reader.

use super::*;
use crate::nix::hash::Sha256Hash;
use crate::nix::nar::{dump, wire};
use proptest::prelude::*;
use std::os::unix::fs::{symlink, PermissionsExt};

fn nar_of(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    dump(path, &mut out).unwrap();
    out
}

fn tokens(ts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    wire::write_tokens(&mut out, ts).unwrap();
    out
}

#[test]
fn hello_world_vector() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("hello.txt");
    fs::write(&f, "Hello World!").unwrap();
    let nar = nar_of(&f);
    assert_eq!(nar.len(), 128);
    assert_eq!(
        Sha256Hash::digest(&nar).to_nix32(),
        "0h40zg6hakjv951nyhdad7mv9za56m3za5gnpiw5s1hbwcxzdrq3"
    );
    let out = dir.path().join("out");
    let stats = unpack(&nar[..], &out).unwrap();
    assert_eq!(stats.nar_size, 128);
    assert_eq!(stats.files, 1);
    assert_eq!(fs::read(&out).unwrap(), b"Hello World!");
    let meta = fs::symlink_metadata(&out).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o444);
    assert_eq!(
        filetime::FileTime::from_last_modification_time(&meta).unix_seconds(),
        1
    );
}

#[test]
fn symlink_and_complicated_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let l = dir.path().join("l");
    symlink("/nix/store/somewhereelse", &l).unwrap();
    let nar = nar_of(&l);
    assert_eq!(nar.len(), 136);
    assert_eq!(
        Sha256Hash::digest(&nar).to_hex(),
        "097d397e9b5826384eaa16c457715d1c1a51670313ead0f58566e0b232539cf1"
    );

    let c = dir.path().join("c");
    fs::create_dir_all(c.join("keep")).unwrap();
    fs::write(c.join(".keep"), "").unwrap();
    fs::write(c.join("keep/.keep"), "").unwrap();
    symlink("/nix/store/somewhereelse", c.join("aa")).unwrap();
    let nar = nar_of(&c);
    assert_eq!(nar.len(), 840);
    assert_eq!(
        Sha256Hash::digest(&nar).to_hex(),
        "ebd52279a8df024c9fd5718de4103bf5e760dc7f2cf49044ee7dea87ab16911a"
    );

    let t = dir.path().join("tree");
    fs::create_dir_all(t.join("bin")).unwrap();
    fs::create_dir_all(t.join("share")).unwrap();
    fs::write(t.join("bin/hi"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(t.join("bin/hi"), fs::Permissions::from_mode(0o755)).unwrap();
    symlink("bin/hi", t.join("link")).unwrap();
    fs::write(t.join("share/a"), "x").unwrap();
    let nar = nar_of(&t);
    assert_eq!(nar.len(), 1056);
    assert_eq!(
        Sha256Hash::digest(&nar).to_nix32(),
        "022rb08m5s4j3wkpik7l7dfqg0pi75wcaxby54826x9xliy1v6dk"
    );
    assert_eq!(
        super::super::dump_hash(&t).unwrap(),
        (Sha256Hash::digest(&nar), 1056)
    );

    let out = dir.path().join("out");
    let stats = unpack(&nar[..], &out).unwrap();
    assert_eq!((stats.files, stats.directories, stats.symlinks), (2, 3, 1));
    assert_eq!(nar_of(&out), nar);
    let mode = |p: &str| {
        fs::symlink_metadata(out.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("bin/hi"), 0o555);
    assert_eq!(mode("share/a"), 0o444);
    assert_eq!(mode("bin"), 0o555);
    assert_eq!(mode(""), 0o555);
    let link_meta = fs::symlink_metadata(out.join("link")).unwrap();
    assert_eq!(
        filetime::FileTime::from_last_modification_time(&link_meta).unix_seconds(),
        1
    );
    remove_partial(&out);
}

#[test]
fn refuses_existing_target_and_cleans_up_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t");
    fs::create_dir_all(t.join("d")).unwrap();
    fs::write(t.join("d/f"), "data").unwrap();
    let nar = nar_of(&t);
    assert!(matches!(
        unpack(&nar[..], &t),
        Err(NarError::TargetExists(_))
    ));
    let out = dir.path().join("out");
    let err = unpack(&nar[..nar.len() - 8], &out).unwrap_err();
    assert_eq!(err.rule(), Some(&Rule::Truncated));
    assert!(!out.exists(), "a failed unpack leaves nothing behind");
}

#[test]
fn error_names_rule_and_path() {
    let mut nar = tokens(&[
        b"nix-archive-1",
        b"(",
        b"type",
        b"directory",
        b"entry",
        b"(",
        b"name",
        b"b",
        b"node",
        b"(",
        b"type",
        b"directory",
        b"entry",
        b"(",
        b"name",
        b"y",
        b"node",
        b"(",
        b"type",
        b"symlink",
        b"target",
        b"t",
        b")",
        b")",
        b"entry",
        b"(",
        b"name",
        b"x",
        b"node",
        b"(",
        b"type",
        b"symlink",
        b"target",
        b"t",
        b")",
        b")",
    ]);
    nar.extend(tokens(&[b")", b")", b")"]));
    let err = validate(&nar[..]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid NAR at `b`: directory entries are not sorted and unique: `x` comes after `y` (byte offset 456)"
    );
}

/// A random tree: each node is a file (contents, executable), a symlink, or a directory.
#[derive(Debug, Clone)]
enum Node {
    File(Vec<u8>, bool),
    Link(String),
    Dir(Vec<(String, Node)>),
}

fn node_strategy() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        (
            proptest::collection::vec(any::<u8>(), 0..300),
            any::<bool>()
        )
            .prop_map(|(c, x)| Node::File(c, x)),
        "[a-z./]{1,20}".prop_map(Node::Link),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        proptest::collection::btree_map("[a-zA-Z0-9._ -]{1,12}", inner, 0..6).prop_map(|m| {
            Node::Dir(
                m.into_iter()
                    .filter(|(k, _)| k != "." && k != "..")
                    .collect(),
            )
        })
    })
}

fn create(path: &Path, node: &Node) {
    match node {
        Node::File(c, x) => {
            fs::write(path, c).unwrap();
            let mode = if *x { 0o755 } else { 0o644 };
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
        }
        Node::Link(t) => symlink(t, path).unwrap(),
        Node::Dir(entries) => {
            fs::create_dir(path).unwrap();
            for (name, n) in entries {
                create(&path.join(name), n);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn write_read_round_trip(node in node_strategy()) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        create(&src, &node);
        let nar = nar_of(&src);
        let stats = validate(&nar[..]).unwrap();
        prop_assert_eq!(stats.nar_size, nar.len() as u64);
        let out = dir.path().join("out");
        unpack(&nar[..], &out).unwrap();
        let again = nar_of(&out);
        remove_partial(&out); // read-only directories: a non-root TempDir could not delete them
        prop_assert_eq!(again, nar);
    }
}

#[test]
fn dump_refuses_special_files_and_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t");
    fs::create_dir(&t).unwrap();
    let fifo = Mode::from_raw_mode(0o644);
    rustix::fs::mknodat(CWD, t.join("fifo"), rustix::fs::FileType::Fifo, fifo, 0).unwrap();
    let err = dump(&t, io::sink()).unwrap_err().to_string();
    assert!(err.contains("unsupported file type"), "{err}");
    assert!(err.contains("t/fifo"), "{err}");
    let err = dump(&dir.path().join("missing"), io::sink()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(err.to_string().contains("missing"), "{err}");
}

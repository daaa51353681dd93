//! The store's metadata database: which paths are valid, their NAR hash and size, signatures,
//! deriver, registration time, references, and the GC roots that keep them alive.
//!
//! SQLite at `<root>/nix/var/devenv/db.sqlite`. The `ValidPaths`/`Refs` tables follow Nix's own
//! schema (so the rows mean exactly what Nix's rows mean and can be handed to
//! `nix-store --register-validity`); `GcRoots` is ours. Every process opens its own connection in
//! WAL mode with a long busy timeout, so any number of `devenv` processes can share one store.
//! A row exists only for a path that is complete on disk: registration is the last step.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use rusqlite::{params, Connection, OptionalExtension};

use crate::diagnostic::ResultExt as _;

const SCHEMA: &str = r#"
create table if not exists ValidPaths (
    id               integer primary key autoincrement not null,
    path             text unique not null,
    hash             text not null,
    registrationTime integer not null,
    deriver          text,
    narSize          integer,
    ultimate         integer,
    sigs             text,
    ca               text
);
create table if not exists Refs (
    referrer  integer not null,
    reference integer not null,
    primary key (referrer, reference),
    foreign key (referrer)  references ValidPaths(id) on delete cascade,
    foreign key (reference) references ValidPaths(id) on delete restrict
);
create index if not exists IndexReferrer  on Refs(referrer);
create index if not exists IndexReference on Refs(reference);
create trigger if not exists DeleteSelfRefs before delete on ValidPaths
  begin delete from Refs where referrer = old.id and reference = old.id; end;
create table if not exists GcRoots (
    name     text not null,
    path     text not null,
    link     text,
    created  integer not null,
    primary key (name, path)
);
create index if not exists IndexGcRootsName on GcRoots(name);
create table if not exists Unflushed (
    path   text primary key not null,
    bootId text not null
);
create table if not exists CheckedOnDisk (
    root  text primary key not null,
    stamp text not null
);
"#;

/// Everything recorded about one valid store path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathInfo {
    /// `/nix/store/<hash>-<name>`.
    pub path: String,
    /// `sha256:<base16>` of the NAR, as Nix stores it.
    pub nar_hash_hex: String,
    pub nar_size: u64,
    /// Full store paths, possibly including `path` itself.
    pub references: Vec<String>,
    /// Full `.drv` path, if known.
    pub deriver: Option<String>,
    /// `name:base64` signatures.
    pub sigs: Vec<String>,
    pub ca: Option<String>,
    /// Unix seconds.
    pub registration_time: i64,
}

/// One GC root: a name (a project, a generation) holding some paths, optionally tied to a file
/// that must still exist for the root to count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcRoot {
    pub name: String,
    pub paths: Vec<String>,
    pub link: Option<PathBuf>,
    pub created: i64,
}

/// A path registered while its files may not have reached the disk yet (see
/// `store::durability`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unflushed {
    pub path: String,
    /// The kernel boot it was registered in.
    pub boot_id: String,
    /// Unix seconds.
    pub registration_time: i64,
}

/// An open connection to the metadata database.
pub struct Db {
    conn: Connection,
}

impl Db {
    /// Open (creating if needed) the database file.
    pub fn open(path: &Path) -> Result<Db> {
        if let Some(parent) = path.parent() {
            crate::fsutil::create_private_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        // Processes opening a new database at the same moment would race to switch it to WAL,
        // which needs an exclusive lock and fails at once (no busy timeout) for the loser; one
        // process at a time sets it up.
        let mut init_lock = path.as_os_str().to_owned();
        init_lock.push(".init-lock");
        let _init = super::locks::exclusive(Path::new(&init_lock))?;
        // SQLite creates a new database 0644 and its -wal and -shm files with the database's
        // mode: created here first, all three are private.
        crate::fsutil::create_private_file(path)
            .with_context(|| format!("cannot create the store database `{}`", path.display()))?;
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the store database `{}`", path.display()))?;
        conn.busy_timeout(Duration::from_secs(3600))?;
        conn.pragma_update(None, "journal_mode", "wal")
            .and_then(|()| conn.pragma_update(None, "synchronous", "normal"))
            .and_then(|()| conn.pragma_update(None, "foreign_keys", 1))
            .with_context(|| format!("cannot set up the store database `{}`", path.display()))?;
        // One immediate transaction: it waits (busy timeout) for the write lock up front, where
        // a deferred one could fail at once when another process creates the tables first.
        conn.execute_batch(&format!("begin immediate;\n{SCHEMA}commit;"))
            .with_context(|| format!("cannot initialise `{}`", path.display()))?;
        Ok(Db { conn })
    }

    /// Open an existing database without writing anything, for a store this user cannot write
    /// (a read-only mount, an immutable or someone else's directory): no init lock, no schema,
    /// no switch to WAL.
    ///
    /// SQLite reads a WAL database only with its `-shm` index, which a read-only directory
    /// cannot get when the last writer removed it on close. Then, if no log is pending (the
    /// `-wal` file is absent or empty), the database file alone is the whole database and is
    /// opened as immutable; a pending log that cannot be read is an error with the way out.
    pub fn open_read_only(path: &Path) -> Result<Db> {
        use rusqlite::OpenFlags;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let uri = |parameter: &str| format!("file:{}?{parameter}", uri_path(path));
        let probe = |conn: &Connection| {
            conn.query_row("select count(*) from ValidPaths", [], |r| {
                r.get::<_, i64>(0)
            })
        };
        let context = || format!("cannot read the store database `{}`", path.display());
        let conn = Connection::open_with_flags(uri("mode=ro"), flags).with_context(context)?;
        conn.busy_timeout(Duration::from_secs(3600))?;
        let Err(first) = probe(&conn) else {
            return Ok(Db { conn });
        };
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
            return Err(first).with_context(context).hint(format!(
                "its write-ahead log `{}` holds changes that can only be read where the \
                 directory is writable: opening the store there once folds them in",
                Path::new(&wal).display()
            ));
        }
        let conn = Connection::open_with_flags(uri("immutable=1"), flags).with_context(context)?;
        probe(&conn).with_context(context)?;
        Ok(Db { conn })
    }

    /// Start a write transaction that takes the write lock at once. A deferred transaction
    /// that reads first and then writes fails immediately (SQLITE_BUSY, no busy timeout) when
    /// another process committed in between, which concurrent installs do all the time.
    fn write_transaction(&mut self) -> rusqlite::Result<rusqlite::Transaction<'_>> {
        self.conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
    }

    pub fn is_valid(&self, path: &str) -> Result<bool> {
        Ok(self.id_of(path)?.is_some())
    }

    fn id_of(&self, path: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "select id from ValidPaths where path = ?1",
                params![path],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The recorded metadata of `path`, if valid.
    pub fn info(&self, path: &str) -> Result<Option<PathInfo>> {
        Ok(read_path_info(&self.conn, path)?)
    }

    /// Register a complete path whose references are all valid already (or itself), in one
    /// transaction. Registering an already valid path is a no-op.
    pub fn register(&mut self, info: &PathInfo) -> Result<()> {
        self.register_in_boot(info, None)
    }

    /// [`Db::register`], and when `unflushed_in` names a boot, record in the same transaction
    /// that the path's files may not be on disk yet.
    pub fn register_in_boot(&mut self, info: &PathInfo, unflushed_in: Option<&str>) -> Result<()> {
        let tx = self.write_transaction()?;
        let exists: Option<i64> = tx
            .query_row(
                "select id from ValidPaths where path = ?1",
                params![info.path],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_some() {
            return Ok(());
        }
        let sigs = (!info.sigs.is_empty()).then(|| info.sigs.join(" "));
        tx.execute(
            "insert into ValidPaths (path, hash, registrationTime, deriver, narSize, sigs, ca) \
             values (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                info.path,
                info.nar_hash_hex,
                info.registration_time,
                info.deriver,
                info.nar_size as i64,
                sigs,
                info.ca
            ],
        )?;
        let id = tx.last_insert_rowid();
        for reference in &info.references {
            let ref_id: i64 = if *reference == info.path {
                id
            } else {
                tx.query_row(
                    "select id from ValidPaths where path = ?1",
                    params![reference],
                    |r| r.get(0),
                )
                .optional()?
                .with_context(|| {
                    format!(
                        "cannot register `{}`: its reference `{reference}` is not valid",
                        info.path
                    )
                })?
            };
            tx.execute(
                "insert or ignore into Refs (referrer, reference) values (?1, ?2)",
                params![id, ref_id],
            )?;
        }
        if let Some(boot_id) = unflushed_in {
            tx.execute(
                "insert or replace into Unflushed (path, bootId) values (?1, ?2)",
                params![info.path, boot_id],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Paths registered without a flush and not settled yet, sorted.
    pub fn unflushed(&self) -> Result<Vec<Unflushed>> {
        self.unflushed_where("1", [])
    }

    /// The unflushed rows due for settling: from a boot other than `boot` (any boot, when None)
    /// or registered at or before `registered_by`. One query, run by every install.
    pub fn unflushed_due(&self, boot: Option<&str>, registered_by: i64) -> Result<Vec<Unflushed>> {
        self.unflushed_where(
            "?1 is null or u.bootId != ?1 or v.registrationTime <= ?2",
            params![boot, registered_by],
        )
    }

    fn unflushed_where(
        &self,
        condition: &str,
        values: impl rusqlite::Params,
    ) -> Result<Vec<Unflushed>> {
        let mut stmt = self.conn.prepare(&format!(
            "select u.path, u.bootId, v.registrationTime from Unflushed u \
             join ValidPaths v on v.path = u.path where {condition} order by u.path"
        ))?;
        let rows = stmt
            .query_map(values, |r| {
                Ok(Unflushed {
                    path: r.get(0)?,
                    boot_id: r.get(1)?,
                    registration_time: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Forget that `paths` may not be on disk (they are now, or were checked).
    pub fn clear_unflushed(&mut self, paths: &[String]) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let tx = self.write_transaction()?;
        for p in paths {
            tx.execute("delete from Unflushed where path = ?1", params![p])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The valid ones among `paths` and every valid path they reference, directly or not,
    /// sorted; one query, however deep the closure.
    pub fn closure_of(&self, paths: &[String]) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "with recursive closure(id) as ( \
               select id from ValidPaths where path in (select value from json_each(?1)) \
               union \
               select r.reference from Refs r join closure c on r.referrer = c.id \
             ) \
             select v.path from closure c join ValidPaths v on v.id = c.id order by v.path",
        )?;
        let list = serde_json::to_string(paths)?;
        let rows = stmt
            .query_map(params![list], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// `paths` and every valid path referring to them, directly or not, sorted.
    pub fn with_referrers(&self, paths: &[String]) -> Result<Vec<String>> {
        let mut referrers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (referrer, references) in self.all_edges()? {
            for reference in references {
                if reference != referrer {
                    referrers
                        .entry(reference)
                        .or_default()
                        .insert(referrer.clone());
                }
            }
        }
        let mut found: BTreeSet<String> = BTreeSet::new();
        let mut stack: Vec<String> = paths.to_vec();
        while let Some(p) = stack.pop() {
            if found.insert(p.clone()) {
                stack.extend(referrers.get(&p).into_iter().flatten().cloned());
            }
        }
        Ok(found.into_iter().collect())
    }

    /// All valid paths, sorted.
    pub fn all_paths(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("select path from ValidPaths order by path")?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// `(path, registration time, NAR size)` of every valid path, sorted by path.
    pub fn all_brief(&self) -> Result<Vec<(String, i64, u64)>> {
        let mut stmt = self
            .conn
            .prepare("select path, registrationTime, narSize from ValidPaths order by path")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?.unwrap_or(0) as u64,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Every reference edge `referrer -> reference`, as full paths.
    pub fn all_edges(&self) -> Result<BTreeMap<String, BTreeSet<String>>> {
        let mut stmt = self.conn.prepare(
            "select a.path, b.path from Refs r join ValidPaths a on a.id = r.referrer \
             join ValidPaths b on b.id = r.reference",
        )?;
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            let (a, b) = row?;
            edges.entry(a).or_default().insert(b);
        }
        Ok(edges)
    }

    /// Remove paths from the database in one transaction. Their referrers must be among them.
    pub fn unregister(&mut self, paths: &[String]) -> Result<()> {
        let tx = self.write_transaction()?;
        // Drop the edges among the doomed paths first so the `restrict` on references never
        // fires for a referrer that is itself being removed.
        for p in paths {
            tx.execute(
                "delete from Refs where referrer = (select id from ValidPaths where path = ?1)",
                params![p],
            )?;
        }
        for p in paths {
            tx.execute("delete from ValidPaths where path = ?1", params![p])
                .with_context(|| format!("cannot unregister `{p}`: still referenced"))?;
            tx.execute("delete from Unflushed where path = ?1", params![p])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The store directory's stamp when the closure of root `name` was last found complete on
    /// disk (see `Store::forget_missing`).
    pub fn checked_stamp(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("select stamp from CheckedOnDisk where root = ?1")?
            .query_row(params![name], |r| r.get(0))
            .optional()?)
    }

    pub fn set_checked_stamp(&mut self, name: &str, stamp: &str) -> Result<()> {
        self.conn.execute(
            "insert or replace into CheckedOnDisk (root, stamp) values (?1, ?2)",
            params![name, stamp],
        )?;
        Ok(())
    }

    /// Replace the paths held by root `name`.
    pub fn set_root(&mut self, name: &str, paths: &[String], link: Option<&Path>) -> Result<()> {
        let now = now_secs();
        let link = link.map(|l| l.to_string_lossy().to_string());
        let wanted: BTreeSet<&String> = paths.iter().collect();
        {
            // Unchanged roots are the common case (every install): skip the write transaction.
            let mut stmt = self
                .conn
                .prepare_cached("select path, link from GcRoots where name = ?1")?;
            let current = stmt
                .query_map(params![name], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            if current.len() == wanted.len()
                && current
                    .iter()
                    .all(|(p, l)| wanted.contains(p) && *l == link)
            {
                return Ok(());
            }
        }
        let tx = self.write_transaction()?;
        tx.execute("delete from GcRoots where name = ?1", params![name])?;
        for p in wanted {
            tx.execute(
                "insert into GcRoots (name, path, link, created) values (?1, ?2, ?3, ?4)",
                params![name, p, link, now],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn remove_root(&mut self, name: &str) -> Result<bool> {
        let tx = self.write_transaction()?;
        let removed = tx.execute("delete from GcRoots where name = ?1", params![name])?;
        tx.execute("delete from CheckedOnDisk where root = ?1", params![name])?;
        tx.commit()?;
        Ok(removed > 0)
    }

    /// All roots, sorted by name.
    pub fn roots(&self) -> Result<Vec<GcRoot>> {
        let mut stmt = self
            .conn
            .prepare("select name, path, link, created from GcRoots order by name, path")?;
        let mut roots: Vec<GcRoot> = Vec::new();
        for row in stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })? {
            let (name, path, link, created) = row?;
            match roots.last_mut() {
                Some(last) if last.name == name => last.paths.push(path),
                _ => roots.push(GcRoot {
                    name,
                    paths: vec![path],
                    link: link.map(PathBuf::from),
                    created,
                }),
            }
        }
        Ok(roots)
    }
}

/// `path` for an SQLite `file:` URI: the characters URIs reserve are percent-encoded.
fn uri_path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &b in path.as_os_str().as_bytes() {
        match b {
            b'%' | b'?' | b'#' => out.push_str(&format!("%{b:02X}")),
            b if b.is_ascii_graphic() => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A valid path's metadata from a database with Nix's schema (`ValidPaths` + `Refs`): ours, or
/// the one of a Nix installation sharing the store.
pub(super) fn read_path_info(conn: &Connection, path: &str) -> rusqlite::Result<Option<PathInfo>> {
    let row = conn
        .query_row(
            "select id, hash, narSize, deriver, sigs, ca, registrationTime from ValidPaths \
             where path = ?1",
            params![path],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            },
        )
        .optional()?;
    let Some((id, hash, size, deriver, sigs, ca, time)) = row else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "select v.path from Refs r join ValidPaths v on v.id = r.reference \
         where r.referrer = ?1 order by v.path",
    )?;
    let references = stmt
        .query_map(params![id], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(PathInfo {
        path: path.to_string(),
        nar_hash_hex: hash,
        nar_size: size.unwrap_or(0) as u64,
        references,
        deriver,
        sigs: sigs
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        ca,
        registration_time: time,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(path: &str, refs: &[&str]) -> PathInfo {
        PathInfo {
            path: path.into(),
            nar_hash_hex: "sha256:00".into(),
            nar_size: 8,
            references: refs.iter().map(|s| s.to_string()).collect(),
            deriver: None,
            sigs: vec!["k:sig".into()],
            ca: None,
            registration_time: 1,
        }
    }

    #[test]
    fn registers_references_and_roots() {
        let tmp = tempfile::tempdir().unwrap();
        let mut db = Db::open(&tmp.path().join("db.sqlite")).unwrap();
        db.register(&info("/nix/store/a-a", &[])).unwrap();
        db.register(&info(
            "/nix/store/b-b",
            &["/nix/store/a-a", "/nix/store/b-b"],
        ))
        .unwrap();
        let b = db.info("/nix/store/b-b").unwrap().unwrap();
        assert_eq!(b.references, vec!["/nix/store/a-a", "/nix/store/b-b"]);
        assert_eq!(b.sigs, vec!["k:sig"]);
        // A reference that is not valid yet is refused, and nothing is written.
        assert!(db
            .register(&info("/nix/store/c-c", &["/nix/store/x-x"]))
            .is_err());
        assert!(!db.is_valid("/nix/store/c-c").unwrap());
        // Removing a referenced path alone is refused; with its referrer it works.
        assert!(db.unregister(&["/nix/store/a-a".into()]).is_err());
        db.unregister(&["/nix/store/a-a".into(), "/nix/store/b-b".into()])
            .unwrap();
        assert!(db.all_paths().unwrap().is_empty());

        db.set_root("p", &["/nix/store/a-a".into()], None).unwrap();
        db.set_root("p", &["/nix/store/b-b".into()], None).unwrap();
        let roots = db.roots().unwrap();
        assert_eq!(roots.len(), 1);
        assert_eq!(roots[0].paths, vec!["/nix/store/b-b"]);
        assert!(db.remove_root("p").unwrap());
        assert!(db.roots().unwrap().is_empty());
    }

    #[test]
    fn the_closure_follows_references_in_one_query() {
        let tmp = tempfile::tempdir().unwrap();
        let mut db = Db::open(&tmp.path().join("db.sqlite")).unwrap();
        db.register(&info("/nix/store/a-a", &["/nix/store/a-a"]))
            .unwrap();
        db.register(&info("/nix/store/b-b", &["/nix/store/a-a"]))
            .unwrap();
        db.register(&info("/nix/store/c-c", &["/nix/store/b-b"]))
            .unwrap();
        db.register(&info("/nix/store/d-d", &[])).unwrap();
        let closure = |p: &[&str]| {
            let p: Vec<String> = p.iter().map(|s| s.to_string()).collect();
            db.closure_of(&p).unwrap()
        };
        assert_eq!(
            closure(&["/nix/store/c-c", "/nix/store/x-unknown"]),
            vec!["/nix/store/a-a", "/nix/store/b-b", "/nix/store/c-c"]
        );
        assert_eq!(closure(&["/nix/store/d-d"]), vec!["/nix/store/d-d"]);
        assert!(closure(&[]).is_empty());
    }

    #[test]
    fn reads_a_database_read_only() {
        let tmp = tempfile::tempdir().unwrap();
        // A directory name that needs escaping in a `file:` URI.
        let path = tmp.path().join("odd ?#% dir/db.sqlite");
        let mut db = Db::open(&path).unwrap();
        db.register(&info("/nix/store/a-a", &[])).unwrap();
        drop(db);
        let mut ro = Db::open_read_only(&path).unwrap();
        assert_eq!(ro.all_paths().unwrap(), vec!["/nix/store/a-a"]);
        let err = ro.register(&info("/nix/store/b-b", &[])).unwrap_err();
        assert!(format!("{err:#}").contains("readonly"), "{err:#}");
        assert!(Db::open_read_only(&tmp.path().join("none/db.sqlite")).is_err());
    }
}

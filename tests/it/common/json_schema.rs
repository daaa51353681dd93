//! JSON Schema validation for the tests, by the reference implementation (Python's `jsonschema`)
//! run as an external validator, the way the suite runs real Nix: `validate_json.py` next to this
//! file validates a whole batch of instances in one process, with formats asserted. A test hands
//! all its instances to one [`Schema::errors`] or [`Checks::run`] call, so each test starts the
//! interpreter once.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// A schema file and the files its `$ref`s to other URIs resolve to.
pub struct Schema {
    path: PathBuf,
    resources: Vec<(String, PathBuf)>,
}

/// The interpreter `python3` on PATH runs, asked once: PATH may hold a wrapper (a version
/// manager's shim) that costs more to start than the validation itself.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run python3 ({e}); scripts/test.sh installs it with jsonschema")
            });
        assert!(
            out.status.success(),
            "python3 fails: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = String::from_utf8(out.stdout).unwrap().trim().to_string();
        if path.is_empty() {
            PathBuf::from("python3")
        } else {
            PathBuf::from(path)
        }
    })
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/common/validate_json.py")
}

impl Schema {
    /// The schema in `path`; `extra` maps URIs that `$ref`s name to the files holding them.
    pub fn load(path: impl Into<PathBuf>, extra: &[(&str, &Path)]) -> Schema {
        Schema {
            path: path.into(),
            resources: extra
                .iter()
                .map(|(uri, file)| (uri.to_string(), file.to_path_buf()))
                .collect(),
        }
    }

    /// One of devenv's own schemas in `schemas/`.
    pub fn devenv(name: &str) -> Schema {
        Schema::load(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("schemas")
                .join(name),
            &[],
        )
    }

    /// Per instance, its errors as "message at /instance/path" (empty: valid). Panics if the
    /// schema is not a valid schema or the validator cannot run.
    pub fn errors(&self, instances: &[Value]) -> Vec<Vec<String>> {
        let mut cmd = Command::new(python());
        cmd.arg(script()).arg(&self.path);
        for (uri, file) in &self.resources {
            cmd.arg(format!("{uri}={}", file.display()));
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {} ({e})", python().display()));
        let input = serde_json::to_vec(instances).unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // Written from a thread: a large batch must not deadlock against a full stdout pipe.
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().expect("writing the instances");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "validating against {} failed ({}):\n{stderr}",
            self.path.display(),
            out.status
        );
        let results: Vec<Vec<Value>> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "the validator's output is not JSON ({e}):\n{}\n{stderr}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        assert_eq!(results.len(), instances.len(), "one result per instance");
        results
            .into_iter()
            .map(|errs| {
                errs.iter()
                    .map(|e| {
                        let text = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                        format!("{} at {}", text("message"), text("path"))
                    })
                    .collect()
            })
            .collect()
    }

    /// A batch of instances to check against this schema in one run.
    pub fn checks(&self) -> Checks<'_> {
        Checks {
            schema: self,
            cases: Vec::new(),
        }
    }
}

/// Instances that must validate and instances that must be rejected, checked together.
pub struct Checks<'a> {
    schema: &'a Schema,
    cases: Vec<(String, Value, bool)>,
}

impl Checks<'_> {
    /// `value` (described by `what` in failure messages) must validate with no error.
    pub fn valid(&mut self, what: impl Into<String>, value: Value) -> &mut Self {
        self.cases.push((what.into(), value, true));
        self
    }

    /// `value` must be rejected with at least one error.
    pub fn invalid(&mut self, what: impl Into<String>, value: Value) -> &mut Self {
        self.cases.push((what.into(), value, false));
        self
    }

    /// Validates every case in one run; panics naming each case that went the wrong way.
    pub fn run(&mut self) {
        let values: Vec<Value> = self.cases.iter().map(|(_, v, _)| v.clone()).collect();
        let results = self.schema.errors(&values);
        let mut failures = Vec::new();
        for ((what, value, valid), errs) in self.cases.iter().zip(results) {
            if *valid && !errs.is_empty() {
                failures.push(format!(
                    "{what} does not validate:\n{}\n{value:#}",
                    errs.join("\n")
                ));
            } else if !*valid && errs.is_empty() {
                failures.push(format!("the schema accepts {what}: {value}"));
            }
        }
        assert!(
            failures.is_empty(),
            "against {}:\n\n{}",
            self.schema.path.display(),
            failures.join("\n\n")
        );
    }
}

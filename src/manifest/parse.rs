//! Walks the JSONC syntax tree of a manifest into [`Manifest`], so every problem can name the
//! line and column of the value that caused it (a serde derive would lose positions).

use jsonc_parser::ast::{Array, Object, ObjectProp, Value};
use jsonc_parser::common::Ranged;
use jsonc_parser::{CollectOptions, ParseOptions};

use super::{validate_name, validate_system, Dialect, Manifest, PackageSpec};
use crate::shell::vars;
use crate::version::Constraint;

/// A problem at a position: an error or a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issue {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

pub(crate) struct Parsed {
    pub manifest: Manifest,
    pub warnings: Vec<Issue>,
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The JSONC options devenv accepts: comments and trailing commas, but property names must be
/// quoted strings as in JSON.
pub(crate) fn parse_options() -> ParseOptions {
    ParseOptions {
        allow_comments: true,
        allow_loose_object_property_names: false,
        allow_trailing_commas: true,
    }
}

/// Parse text to a syntax tree, converting syntax errors to an [`Issue`].
pub(crate) fn parse_ast(text: &str) -> Result<Value<'_>, Issue> {
    // The parser recurses once per level, and so do the checks below and dropping the tree.
    crate::limits::check_depth(text.as_bytes(), crate::limits::MAX_DEPTH).map_err(|e| Issue {
        line: e.line,
        column: e.column,
        message: e.to_string(),
    })?;
    let result = jsonc_parser::parse_to_ast(text, &CollectOptions::default(), &parse_options())
        .map_err(|e| {
            let (line, column) = line_col(text, e.range().start);
            Issue {
                line,
                column,
                message: format!("invalid JSON: {}", e.kind()),
            }
        })?;
    let value = result.value.ok_or_else(|| Issue {
        line: 1,
        column: 1,
        message: "the file is empty; a manifest is a JSON object like `{\"packages\": []}`"
            .to_string(),
    })?;
    check_structure(text, &value)?;
    Ok(value)
}

/// The parser accepts entries without a comma between them (`["a" "b"]`), repeated keys and
/// single-quoted strings; other JSON tools reject or disagree on them and they are usually
/// mistakes, so all three are errors here.
fn check_structure(text: &str, value: &Value) -> Result<(), Issue> {
    // The parser also takes 'single-quoted' strings, which JSON tools reject.
    let double_quoted = |at: usize| -> Result<(), Issue> {
        if text.as_bytes().get(at) == Some(&b'"') {
            return Ok(());
        }
        let (line, column) = line_col(text, at);
        Err(Issue {
            line,
            column,
            message: "invalid JSON: strings must be in double quotes".to_string(),
        })
    };
    // The parser also takes raw control characters (a line break, NUL) inside strings, which
    // JSON and Devbox's HuJSON reject, and which make a later edit of the file misread it.
    let no_control = |range: jsonc_parser::common::Range| -> Result<(), Issue> {
        let raw = &text.as_bytes()[range.start..range.end.min(text.len())];
        match raw.iter().position(|b| *b < 0x20) {
            None => Ok(()),
            Some(i) => {
                let (line, column) = line_col(text, range.start + i);
                Err(Issue {
                    line,
                    column,
                    message: format!(
                        "invalid JSON: a string holds a raw control character (U+{:04X}); write it escaped, e.g. `\\n` or `\\u0000`",
                        raw[i]
                    ),
                })
            }
        }
    };
    if let Value::StringLit(s) = value {
        double_quoted(s.range.start)?;
        no_control(s.range)?;
    }
    if let Value::Object(o) = value {
        for p in &o.properties {
            double_quoted(p.name.range().start)?;
            no_control(p.name.range())?;
        }
        let mut seen = std::collections::HashSet::new();
        for p in &o.properties {
            if !seen.insert(p.name.as_str()) {
                let (line, column) = line_col(text, p.range.start);
                return Err(Issue {
                    line,
                    column,
                    message: format!(
                        "the key `{}` appears twice in the same object",
                        p.name.as_str()
                    ),
                });
            }
        }
    }
    let ranges: Vec<jsonc_parser::common::Range> = match value {
        Value::Array(a) => a.elements.iter().map(|e| e.range()).collect(),
        Value::Object(o) => o.properties.iter().map(|p| p.range).collect(),
        _ => return Ok(()),
    };
    for pair in ranges.windows(2) {
        let at = skip_trivia(text, pair[0].end);
        if text.as_bytes().get(at) != Some(&b',') {
            let (line, column) = line_col(text, pair[1].start);
            return Err(Issue {
                line,
                column,
                message: "invalid JSON: expected a comma before this entry".to_string(),
            });
        }
    }
    match value {
        Value::Array(a) => a.elements.iter().try_for_each(|e| check_structure(text, e)),
        Value::Object(o) => o
            .properties
            .iter()
            .try_for_each(|p| check_structure(text, &p.value)),
        _ => Ok(()),
    }
}

/// Skip whitespace and comments from `pos`.
pub(crate) fn skip_trivia(text: &str, mut pos: usize) -> usize {
    let b = text.as_bytes();
    loop {
        while pos < b.len() && b[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if text[pos..].starts_with("//") {
            pos = text[pos..].find('\n').map_or(b.len(), |i| pos + i);
        } else if text[pos..].starts_with("/*") {
            pos = text[pos + 2..]
                .find("*/")
                .map_or(b.len(), |i| pos + 2 + i + 2);
        } else {
            return pos;
        }
    }
}

struct Walker<'t> {
    text: &'t str,
    dialect: Dialect,
    warnings: Vec<Issue>,
}

/// Keys of Devbox's manifest that only `devbox.json` may use (read in [`Walker::devbox_key`]).
const DEVBOX_TOP_KEYS: [&str; 6] = [
    "name",
    "description",
    "env_from",
    "include",
    "nixpkgs",
    "aliases",
];
const DEVBOX_PACKAGE_KEYS: [&str; 5] = [
    "disable_plugin",
    "patch",
    "patch_glibc",
    "glibc_patch",
    "allow_insecure",
];

/// A UTF-8 byte-order mark some Windows editors write; invisible, so positions start after it.
pub(crate) const BOM: &str = "\u{feff}";

pub(crate) fn parse(text: &str, dialect: Dialect) -> Result<Parsed, Issue> {
    let text = text.strip_prefix(BOM).unwrap_or(text);
    let root = parse_ast(text)?;
    let mut w = Walker {
        text,
        dialect,
        warnings: Vec::new(),
    };
    let manifest = w.root(&root)?;
    Ok(Parsed {
        manifest,
        warnings: w.warnings,
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::StringLit(_) => "a string",
        Value::NumberLit(_) => "a number",
        Value::BooleanLit(_) => "a boolean",
        Value::Object(_) => "an object",
        Value::Array(_) => "a list",
        Value::NullKeyword(_) => "null",
    }
}

/// Devbox reads its manifest with Go's `encoding/json`, where `null` leaves a field unset; so does
/// devenv, in both dialects, so `"init_hook": null` means no hook.
fn is_null(v: &Value) -> bool {
    matches!(v, Value::NullKeyword(_))
}

impl Walker<'_> {
    fn issue(&self, at: &impl Ranged, message: String) -> Issue {
        let (line, column) = line_col(self.text, at.range().start);
        Issue {
            line,
            column,
            message,
        }
    }

    fn warn(&mut self, at: &impl Ranged, message: String) {
        let issue = self.issue(at, message);
        self.warnings.push(issue);
    }

    fn ignore_key(&mut self, prop: &ObjectProp, devbox_keys: &[&str], place: &str) {
        let key = prop.name.as_str();
        let message = if devbox_keys.contains(&key) {
            format!("`{key}` is a Devbox setting devenv does not use; it is ignored")
        } else {
            format!("unknown key `{key}` in {place} is ignored")
        };
        self.warn(&prop.name, message);
    }

    fn string(&self, v: &Value, what: &str) -> Result<String, Issue> {
        match v {
            Value::StringLit(s) => Ok(s.value.to_string()),
            other => Err(self.issue(
                other,
                format!("{what} must be a string, not {}", kind(other)),
            )),
        }
    }

    fn object<'a, 'b>(&self, v: &'b Value<'a>, what: &str) -> Result<&'b Object<'a>, Issue> {
        match v {
            Value::Object(o) => Ok(o),
            other => Err(self.issue(
                other,
                format!("{what} must be an object, not {}", kind(other)),
            )),
        }
    }

    fn string_list(&self, v: &Value, what: &str) -> Result<Vec<String>, Issue> {
        if is_null(v) {
            return Ok(Vec::new());
        }
        let Value::Array(a) = v else {
            return Err(self.issue(
                v,
                format!("{what} must be a list of strings, not {}", kind(v)),
            ));
        };
        a.elements
            .iter()
            .map(|e| self.string(e, &format!("each entry of {what}")))
            .collect()
    }

    /// `init_hook` and script bodies: one string or a list of strings.
    fn commands(&self, v: &Value, what: &str) -> Result<Vec<String>, Issue> {
        match v {
            Value::StringLit(s) => Ok(vec![s.value.to_string()]),
            Value::Array(_) | Value::NullKeyword(_) => self.string_list(v, what),
            other => Err(self.issue(
                other,
                format!(
                    "{what} must be a string or a list of strings, not {}",
                    kind(other)
                ),
            )),
        }
    }

    fn root(&mut self, v: &Value) -> Result<Manifest, Issue> {
        let obj = self.object(v, "the manifest")?;
        let mut m = Manifest::default();
        for prop in &obj.properties {
            if is_null(&prop.value) {
                continue;
            }
            let key = prop.name.as_str();
            match key {
                "$schema" => m.schema = Some(self.string(&prop.value, "`$schema`")?),
                "packages" => m.packages = self.packages(&prop.value, &mut m.disabled_plugins)?,
                "env" => m.env = self.env(&prop.value)?,
                "shell" => self.shell(&prop.value, &mut m)?,
                _ if self.dialect == Dialect::Devbox && DEVBOX_TOP_KEYS.contains(&key) => {
                    self.devbox_key(prop, &mut m)?
                }
                _ => self.ignore_key(prop, &DEVBOX_TOP_KEYS, "the manifest"),
            }
        }
        Ok(m)
    }

    /// The keys only Devbox's manifest has: each is read with the type Devbox's schema gives
    /// it, and what devenv cannot honour gets one warning saying what happens instead.
    fn devbox_key(&mut self, prop: &ObjectProp, m: &mut Manifest) -> Result<(), Issue> {
        let key = prop.name.as_str();
        let v = &prop.value;
        match key {
            // Descriptions for people; there is nothing to honour.
            "name" | "description" => {
                self.string(v, &format!("`{key}`"))?;
            }
            "include" => {
                let list = self.string_list(v, "`include`")?;
                if let Value::Array(a) = v {
                    for (entry, at) in list.into_iter().zip(&a.elements) {
                        let (line, column) = line_col(self.text, at.range().start);
                        m.include.push(super::Include {
                            reference: entry,
                            line,
                            column,
                        });
                    }
                }
            }
            "env_from" => {
                let file = self.string(v, "`env_from`")?;
                self.warn(
                    &prop.name,
                    format!("`env_from` is not supported yet: the variables in `{file}` are not set; copy the ones the project needs into `env`"),
                );
            }
            "aliases" => {
                let aliases = self.object(v, "`aliases`")?;
                let mut names = Vec::new();
                for alias in &aliases.properties {
                    let name = alias.name.as_str();
                    if !is_null(&alias.value) {
                        self.string(&alias.value, &format!("alias `{name}`"))?;
                    }
                    names.push(format!("`{name}`"));
                }
                if !names.is_empty() {
                    self.warn(
                        &prop.name,
                        format!("`aliases` are not set up by devenv yet: no alias is defined for {}; write them as `shell.scripts` and run them with `devenv run`", names.join(", ")),
                    );
                }
            }
            "nixpkgs" => {
                let nixpkgs = self.object(v, "`nixpkgs`")?;
                for field in &nixpkgs.properties {
                    if field.name.as_str() == "commit" && !is_null(&field.value) {
                        self.string(&field.value, "`nixpkgs.commit`")?;
                        self.warn(
                            &field.name,
                            "`nixpkgs.commit` is not used: every package comes from the index at the version the lock records (an unversioned one at the newest version)".to_string(),
                        );
                    } else if field.name.as_str() != "commit" {
                        self.ignore_key(field, &[], "`nixpkgs`");
                    }
                }
            }
            _ => self.ignore_key(prop, &[], "the manifest"),
        }
        Ok(())
    }

    fn packages(
        &mut self,
        v: &Value,
        disabled_plugins: &mut Vec<String>,
    ) -> Result<Vec<PackageSpec>, Issue> {
        let specs = match v {
            Value::Array(a) => self.package_list(a)?,
            Value::Object(o) => self.package_map(o, disabled_plugins)?,
            other => {
                return Err(self.issue(
                    other,
                    format!(
                        "`packages` must be a list like [\"jq@1.7\"] or an object like {{\"jq\": \"1.7\"}}, not {}",
                        kind(other)
                    ),
                ))
            }
        };
        Ok(specs.into_iter().map(|(_, spec)| spec).collect())
    }

    fn package_list(&mut self, a: &Array) -> Result<Vec<(usize, PackageSpec)>, Issue> {
        let mut out: Vec<(usize, PackageSpec)> = Vec::new();
        for e in &a.elements {
            if is_null(e) {
                self.warn(
                    e,
                    "a `null` entry of `packages` names no package; it is ignored".to_string(),
                );
                continue;
            }
            let s = self.string(e, "each entry of `packages`")?;
            if self.dialect == Dialect::Devbox && super::devbox::is_foreign(&s) {
                self.warn(e, format!("the package `{s}` is a flake or runx reference, which devenv does not support; it is ignored"));
                continue;
            }
            let (name, version) = super::split_package(&s).map_err(|msg| self.issue(e, msg))?;
            // Devbox writes unversioned packages as a bare name; devenv reads them as `latest`.
            let spec = PackageSpec::new(name, version);
            self.push_unique(&mut out, e, spec)?;
        }
        Ok(out)
    }

    fn push_unique(
        &self,
        out: &mut Vec<(usize, PackageSpec)>,
        at: &impl Ranged,
        spec: PackageSpec,
    ) -> Result<(), Issue> {
        if out.iter().any(|(_, s)| s.name == spec.name) {
            return Err(self.issue(
                at,
                format!(
                    "the package `{}` is listed twice; keep one entry",
                    spec.name
                ),
            ));
        }
        out.push((at.range().start, spec));
        Ok(())
    }

    fn package_map(
        &mut self,
        o: &Object,
        disabled_plugins: &mut Vec<String>,
    ) -> Result<Vec<(usize, PackageSpec)>, Issue> {
        let mut out = Vec::new();
        for prop in &o.properties {
            let name = prop.name.as_str().to_string();
            if self.dialect == Dialect::Devbox && super::devbox::is_foreign(&name) {
                self.warn(&prop.name, format!("the package `{name}` is a flake or runx reference, which devenv does not support; it is ignored"));
                continue;
            }
            validate_name(&name).map_err(|msg| self.issue(&prop.name, msg))?;
            let mut spec = PackageSpec::new(name.clone(), "latest");
            match &prop.value {
                Value::StringLit(s) => spec.version = s.value.to_string(),
                // Unversioned, like `""`.
                Value::NullKeyword(_) => {}
                Value::Object(entry) => {
                    for field in &entry.properties {
                        if is_null(&field.value) {
                            continue;
                        }
                        let what = format!("`{}` of package `{name}`", field.name.as_str());
                        match field.name.as_str() {
                            "version" => spec.version = self.string(&field.value, &what)?,
                            "platforms" => {
                                spec.platforms = self.systems(&field.value, &what)?;
                            }
                            "excluded_platforms" => {
                                spec.excluded_platforms = self.systems(&field.value, &what)?;
                            }
                            "outputs" => spec.outputs = self.string_list(&field.value, &what)?,
                            key if self.dialect == Dialect::Devbox
                                && DEVBOX_PACKAGE_KEYS.contains(&key) =>
                            {
                                if self.devbox_package_key(field, &name, &what)? {
                                    disabled_plugins.push(name.clone());
                                }
                            }
                            _ => self.ignore_key(
                                field,
                                &DEVBOX_PACKAGE_KEYS,
                                &format!("package `{name}`"),
                            ),
                        }
                    }
                }
                other => {
                    return Err(self.issue(
                        other,
                        format!(
                            "package `{name}` must be a version string or an object like {{\"version\": \"1.7\"}}, not {}",
                            kind(other)
                        ),
                    ))
                }
            }
            // Devbox writes `""` for an unversioned package.
            if spec.version.is_empty() {
                spec.version = "latest".to_string();
            }
            Constraint::parse(&spec.version)
                .map_err(|e| self.issue(&prop.value, format!("package `{name}`: {e}")))?;
            spec.validate()
                .map_err(|msg| self.issue(&prop.value, msg))?;
            self.push_unique(&mut out, &prop.name, spec)?;
        }
        Ok(out)
    }

    /// A package option only Devbox has; returns whether it disables the package's plugin.
    fn devbox_package_key(
        &mut self,
        field: &ObjectProp,
        name: &str,
        what: &str,
    ) -> Result<bool, Issue> {
        let v = &field.value;
        let boolean = |w: &Self| match v {
            Value::BooleanLit(b) => Ok(b.value),
            other => Err(w.issue(
                other,
                format!("{what} must be true or false, not {}", kind(other)),
            )),
        };
        match field.name.as_str() {
            "disable_plugin" => return boolean(self),
            "patch_glibc" | "glibc_patch" => {
                if boolean(self)? {
                    self.warn(&field.name, format!("`{}` is not supported: package `{name}` is installed as the binary cache has it, without patching", field.name.as_str()));
                }
            }
            "patch" => {
                let mode = self.string(v, what)?;
                match mode.as_str() {
                    "auto" | "never" | "" => {}
                    "always" => self.warn(&field.name, format!("`patch` is not supported: package `{name}` is installed as the binary cache has it, without patching")),
                    other => return Err(self.issue(v, format!("{what} must be \"auto\", \"always\" or \"never\", not \"{other}\""))),
                }
            }
            // Insecure packages matter when evaluating nixpkgs; devenv installs the store paths the
            // lock records, so there is nothing to allow.
            _ => {
                self.string_list(v, what)?;
            }
        }
        Ok(false)
    }

    fn systems(&self, v: &Value, what: &str) -> Result<Vec<String>, Issue> {
        let list = self.string_list(v, what)?;
        if let Value::Array(a) = v {
            for (s, e) in list.iter().zip(&a.elements) {
                validate_system(s).map_err(|msg| self.issue(e, msg))?;
            }
        }
        Ok(list)
    }

    /// `env`, checked against the rules for variables a project may set (see
    /// [`crate::shell::vars`]), so a refused name or value names its line and column.
    fn env(&mut self, v: &Value) -> Result<Vec<(String, String)>, Issue> {
        if is_null(v) {
            return Ok(Vec::new());
        }
        let obj = self.object(v, "`env`")?;
        let mut out = Vec::new();
        let mut total = 0;
        for prop in &obj.properties {
            let key = prop.name.as_str();
            vars::check_name(key)
                .map_err(|why| self.issue(&prop.name, format!("`{key}` {why}")))?;
            // Go reads `null` into a string as "", so Devbox sets the variable to nothing.
            let value = if is_null(&prop.value) {
                String::new()
            } else {
                self.string(&prop.value, &format!("`env.{key}`"))?
            };
            vars::check_value(&value)
                .map_err(|why| self.issue(&prop.value, format!("`env.{key}` {why}")))?;
            total += vars::entry_bytes(key, &value);
            if total > vars::MAX_TOTAL_BYTES {
                return Err(self.issue(
                    &prop.name,
                    format!(
                        "`env` takes {total} bytes up to `{key}`; all of `env` together may take at most {} bytes (128 KiB)",
                        vars::MAX_TOTAL_BYTES
                    ),
                ));
            }
            out.push((key.to_string(), value));
        }
        Ok(out)
    }

    fn shell(&mut self, v: &Value, m: &mut Manifest) -> Result<(), Issue> {
        let obj = self.object(v, "`shell`")?;
        for prop in &obj.properties {
            if is_null(&prop.value) {
                continue;
            }
            match prop.name.as_str() {
                "init_hook" => m.init_hook = self.commands(&prop.value, "`shell.init_hook`")?,
                "scripts" => {
                    let scripts = self.object(&prop.value, "`shell.scripts`")?;
                    for script in &scripts.properties {
                        let name = script.name.as_str();
                        if name.is_empty() || name.contains(char::is_whitespace) {
                            return Err(self.issue(
                                &script.name,
                                format!("`{name}` is not a valid script name (it must be non-empty without spaces)"),
                            ));
                        }
                        if is_null(&script.value) {
                            self.warn(&script.value, format!("script `{name}` is `null`, so it has no commands; it is left out"));
                            continue;
                        }
                        let body = self.commands(&script.value, &format!("script `{name}`"))?;
                        if body.iter().all(|line| line.trim().is_empty()) {
                            return Err(self
                                .issue(&script.value, format!("script `{name}` has no commands")));
                        }
                        m.scripts.insert(name.to_string(), body);
                    }
                }
                _ => self.ignore_key(prop, &[], "`shell`"),
            }
        }
        Ok(())
    }
}

//! Names as users type them, shared by every index backend so they give the same answers for
//! the same data: the names a derivation is found under besides its attribute path
//! ([`names`]), and which of several attributes carrying one version a name resolves to
//! ([`attr_rank`], [`best_attr`]). `devenv index build` files each version under these names
//! with the attribute chosen; the Nixhub client makes the same choice among the attributes a
//! search answer lists.

/// The names a derivation is found under, besides its attribute path (none when its version is
/// not [`plain_version`]): its `pname`; that name
/// without a leading `python<version>-` (Python packages: `python2.7-ansible` → `ansible`) and
/// without a trailing `-wrapper` (`gcc-wrapper` → `gcc`); and, when the name ends in the
/// digits its version starts with, the name without them (`python3` 3.11.4 → `python`,
/// `libpng12` 1.2.56 → `libpng`; `x264` 0.148 keeps its digits).
pub fn names(pname: &str, version: &str) -> Vec<String> {
    if !plain_version(version) {
        return Vec::new();
    }
    let mut out = vec![pname.to_owned()];
    let mut base = pname;
    if let Some(rest) = base.strip_prefix("python") {
        let digits = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
        if digits.len() < rest.len() && rest.starts_with(|c: char| c.is_ascii_digit()) {
            if let Some(name) = digits.strip_prefix('-').filter(|n| !n.is_empty()) {
                base = name;
            }
        }
    }
    if let Some(name) = base.strip_suffix("-wrapper").filter(|n| !n.is_empty()) {
        base = name;
    }
    out.push(base.to_owned());
    let stem = base.trim_end_matches(|c: char| c.is_ascii_digit());
    let number = &base[stem.len()..];
    let version_digits: String = version
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .filter(char::is_ascii_digit)
        .collect();
    if !number.is_empty()
        && stem.ends_with(|c: char| c.is_ascii_alphabetic() || c == '+')
        && version_digits.starts_with(number)
    {
        out.push(stem.to_owned());
    }
    out.sort();
    out.dedup();
    out
}

/// Whether `version` is a version of the package itself, not a name-and-version that Nix's
/// `parseDrvName` split in the wrong place (`nodejs-0.10-statsd-0.7.2` gives `nodejs`
/// `0.10-statsd-0.7.2`): no word of three or more letters between its dashes, except the words
/// versions use (`beta`, `unstable`, `pre`, …).
fn plain_version(version: &str) -> bool {
    const WORDS: &[&str] = &[
        "alpha", "beta", "pre", "rc", "git", "svn", "hg", "bzr", "cvs", "darcs", "unstable",
        "stable", "dev", "snapshot", "nightly", "preview", "final", "release", "patch",
    ];
    version.split('-').skip(1).all(|part| {
        part.len() < 3
            || !part.chars().all(|c| c.is_ascii_alphabetic() || c == '_')
            || WORDS.contains(&part.to_ascii_lowercase().as_str())
    })
}

/// What [`attr_rank`] orders by; lower is preferred.
pub type AttrRank<'a> = (bool, bool, usize, usize, usize, &'a str);

/// Which attribute a name resolves to for one version; lower is preferred:
///
/// 1. the attribute equal to the name (`git` for `git`, whatever `gitFull` has);
/// 2. not a `…Full` / `…Minimal` variant;
/// 3. top level before nested (`ansible` before `python27Packages.ansible`);
/// 4. the attribute whose trailing number says more of the version (`python311` for 3.11.4
///    before `python3`; `nodejs_16` for 16.20.2 before `nodejs`);
/// 5. shorter, then alphabetical.
pub fn attr_rank<'a>(attr: &'a str, name: &str, version: &str) -> AttrRank<'a> {
    let last = attr.rsplit('.').next().unwrap_or(attr);
    let variant = last.ends_with("Full") || last.ends_with("Minimal");
    (
        attr != name,
        variant,
        attr.matches('.').count(),
        usize::MAX - version_digits_named(last, version),
        attr.len(),
        attr,
    )
}

/// How many leading digits of `version` the end of an attribute name spells (`python311` and
/// 3.11.4: 3; `nodejs-16_x` and 16.20.2: 2; `go_1_7` and 1.7.6: 2); 0 when it spells other ones.
fn version_digits_named(attr: &str, version: &str) -> usize {
    let attr = attr
        .strip_suffix("_x")
        .or_else(|| attr.strip_suffix(".x"))
        .unwrap_or(attr);
    let tail = attr.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_' || c == '-');
    let digits: String = attr[tail.len()..]
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let version: String = version
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .filter(char::is_ascii_digit)
        .collect();
    if !digits.is_empty() && version.starts_with(&digits) {
        digits.len()
    } else {
        0
    }
}

/// The attribute `name` resolves to for `version` among `candidates` (the [`attr_rank`] rule);
/// `None` when there are none.
pub fn best_attr<'a>(
    name: &str,
    version: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .min_by(|a, b| attr_rank(a, name, version).cmp(&attr_rank(b, name, version)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_derivation_is_found_under_the_names_users_type() {
        assert_eq!(
            names("python2.7-ansible", "2.1.1.0"),
            ["ansible", "python2.7-ansible"]
        );
        assert_eq!(names("python3", "3.11.4"), ["python", "python3"]);
        assert_eq!(names("gcc-wrapper", "5.4.0"), ["gcc", "gcc-wrapper"]);
        assert_eq!(names("libpng12", "1.2.56"), ["libpng", "libpng12"]);
        assert_eq!(names("gtk+3", "3.22.1"), ["gtk+", "gtk+3"]);
        // Digits that are not the version's, and names parseDrvName split wrongly, stay as they are.
        assert_eq!(names("x264", "0.148"), ["x264"]);
        assert!(names("nodejs", "0.10-statsd-0.7.2").is_empty());
        assert_eq!(names("ruby", "2.3.1-p0"), ["ruby"]);
        assert_eq!(names("python", "2.7.12"), ["python"]);
        assert_eq!(
            names("python3.11-requests", "2.31.0"),
            ["python3.11-requests", "requests"]
        );
    }

    #[test]
    fn one_attribute_per_version_by_the_documented_rule() {
        let best = |name: &str, version: &str, attrs: &[&'static str]| {
            *attrs
                .iter()
                .min_by_key(|a| attr_rank(a, name, version))
                .unwrap()
        };
        // The typed name wins when it has the version.
        assert_eq!(
            best("git", "2.44.0", &["gitFull", "git", "gitMinimal"]),
            "git"
        );
        assert_eq!(
            best("nodejs", "16.20.2", &["nodejs_16", "nodejs"]),
            "nodejs"
        );
        // Otherwise: never a variant when a plain one has it, top level first, the attribute
        // naming most of the version, then the shortest.
        assert_eq!(best("git", "2.44.0", &["gitFull", "gitSVN"]), "gitSVN");
        assert_eq!(best("git", "2.44.0", &["gitFull"]), "gitFull");
        assert_eq!(
            best(
                "python",
                "3.11.4",
                &["python311Full", "python3", "python311"]
            ),
            "python311"
        );
        assert_eq!(
            best(
                "nodejs",
                "16.20.2",
                &["nodejs-16_x", "nodejs_16", "nodejs_18"]
            ),
            "nodejs_16"
        );
        assert_eq!(best("gcc", "4.9.4", &["gcc49", "gcc_multi"]), "gcc49");
        assert_eq!(best("go", "1.6.3", &["go_1_6", "go16"]), "go16");
        assert_eq!(
            best(
                "ansible",
                "2.1.1.0",
                &["python27Packages.ansible", "ansible2"]
            ),
            "ansible2"
        );
        assert_eq!(best("x", "1", &["b", "a"]), "a");
    }
}

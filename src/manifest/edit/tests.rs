//! Golden tests: each edit changes only the touched entry; everything else survives byte-for-byte.

use super::*;
use crate::manifest::{parse, Dialect};

fn spec(name: &str, version: &str) -> PackageSpec {
    PackageSpec::new(name, version)
}

fn add(text: &str, s: &PackageSpec) -> String {
    let out = add_package(text, s).unwrap_or_else(|e| panic!("add {s:?}: {e:#}"));
    // The result is always a valid manifest that contains the package.
    let (m, _) = parse(&out, "devenv.json", Dialect::Devenv).expect("edited manifest parses");
    assert_eq!(m.package(&s.name), Some(s), "in:\n{out}");
    out
}

fn rm(text: &str, name: &str) -> String {
    let out = remove_package(text, name)
        .unwrap()
        .unwrap_or_else(|| panic!("{name} not found"));
    let (m, _) = parse(&out, "devenv.json", Dialect::Devenv).expect("edited manifest parses");
    assert!(m.package(name).is_none());
    out
}

const COMMENTED: &str = r#"{
  // Tools for the CentOS 7 fleet.
  "$schema": "https://example.invalid/devenv.schema.json",
  "packages": [
    "ansible@2.16.5", // 2.17 dropped CentOS 7
    /* keep jq */ "jq@latest",
  ],
  "env": {"ANSIBLE_CONFIG": "$DEVENV_PROJECT_ROOT/ansible.cfg"},
  "shell": {
      "init_hook": "echo ready"
  }
}
"#;

#[test]
fn add_to_multiline_list_with_trailing_comma_and_comments() {
    let out = add(COMMENTED, &spec("ripgrep", "14"));
    assert_eq!(
        out,
        COMMENTED.replace(
            "/* keep jq */ \"jq@latest\",\n",
            "/* keep jq */ \"jq@latest\",\n    \"ripgrep@14\",\n"
        )
    );
}

#[test]
fn replace_existing_entry_in_place() {
    let out = add(COMMENTED, &spec("ansible", "2.16"));
    assert_eq!(
        out,
        COMMENTED.replace("\"ansible@2.16.5\"", "\"ansible@2.16\"")
    );
}

#[test]
fn add_after_a_line_comment_keeps_the_comment_with_its_entry() {
    let text = "{\n  \"packages\": [\n    \"a@1\" // first\n  ]\n}\n";
    assert_eq!(
        add(text, &spec("b", "latest")),
        "{\n  \"packages\": [\n    \"a@1\", // first\n    \"b@latest\"\n  ]\n}\n"
    );
}

#[test]
fn add_to_inline_and_empty_lists() {
    assert_eq!(
        add(r#"{"packages": ["a@1","b@2"]}"#, &spec("c", "3")),
        r#"{"packages": ["a@1","b@2","c@3"]}"#
    );
    assert_eq!(
        add(r#"{"packages": ["a@1", "b@2"]}"#, &spec("c", "3")),
        r#"{"packages": ["a@1", "b@2", "c@3"]}"#
    );
    assert_eq!(
        add(r#"{"packages": []}"#, &spec("c", "3")),
        r#"{"packages": ["c@3"]}"#
    );
    assert_eq!(
        add("{\n  \"packages\": [\n  ]\n}", &spec("c", "3")),
        "{\n  \"packages\": [\n    \"c@3\"\n  ]\n}"
    );
}

#[test]
fn add_without_packages_key() {
    assert_eq!(
        add("{}", &spec("jq", "1.7")),
        "{\"packages\": [\"jq@1.7\"]}"
    );
    assert_eq!(
        add("{\n  \"env\": {} // none\n}\n", &spec("jq", "1.7")),
        "{\n  \"env\": {}, // none\n  \"packages\": [\"jq@1.7\"]\n}\n"
    );
}

#[test]
fn template_takes_packages() {
    let t = crate::manifest::template();
    let out = add(&t, &spec("ansible", "2.16.5"));
    assert_eq!(
        out,
        t.replace("\"packages\": []", "\"packages\": [\"ansible@2.16.5\"]")
    );
}

#[test]
fn map_form_add_and_replace() {
    let text = "{\n  \"packages\": {\n    \"go\": \"latest\", // compiler\n    \"nodejs\": {\n      \"version\": \"20\"\n    }\n  }\n}\n";
    let out = add(text, &spec("jq", "1.7"));
    assert_eq!(
        out,
        text.replace("    }\n  }", "    },\n    \"jq\": \"1.7\"\n  }")
    );
    let mut node = spec("nodejs", "18");
    node.platforms = vec!["x86_64-linux".into()];
    let out = add(text, &node);
    assert_eq!(
        out,
        text.replace(
            "{\n      \"version\": \"20\"\n    }",
            "{ \"version\": \"18\", \"platforms\": [\"x86_64-linux\"] }"
        )
    );
}

#[test]
fn options_convert_a_list_to_the_map_form() {
    let text = "{\n  \"$schema\": \"x\", // schema\n  \"packages\": [\"hello\", \"jq@1.7\"],\n  \"env\": {}\n}\n";
    let mut rg = spec("ripgrep", "latest");
    rg.excluded_platforms = vec!["x86_64-darwin".into()];
    rg.outputs = vec!["out".into(), "man".into()];
    let out = add(text, &rg);
    assert_eq!(
        out,
        "{\n  \"$schema\": \"x\", // schema\n  \"packages\": {\"hello\": \"latest\", \"jq\": \"1.7\", \"ripgrep\": { \"version\": \"latest\", \"excluded_platforms\": [\"x86_64-darwin\"], \"outputs\": [\"out\", \"man\"] }},\n  \"env\": {}\n}\n"
    );
    // In a multi-line list, comments and layout stay; the touched entry is replaced in place.
    let text = "{\n  \"packages\": [\n    // pinned for CentOS 7\n    \"ansible@2.16.5\",\n    \"jq\", /* json */\n  ]\n}\n";
    let mut jq = spec("jq", "1.7");
    jq.platforms = vec!["x86_64-linux".into()];
    assert_eq!(
        add(text, &jq),
        "{\n  \"packages\": {\n    // pinned for CentOS 7\n    \"ansible\": \"2.16.5\",\n    \"jq\": { \"version\": \"1.7\", \"platforms\": [\"x86_64-linux\"] }, /* json */\n  }\n}\n"
    );
}

#[test]
fn add_rejects_bad_specs() {
    let mut both = spec("jq", "1.7");
    both.platforms = vec!["x86_64-linux".into()];
    both.excluded_platforms = vec!["aarch64-linux".into()];
    let err = format!("{:#}", add_package("{}", &both).unwrap_err());
    assert!(
        err.contains("both `platforms` and `excluded_platforms`"),
        "{err}"
    );
    let mut bad = spec("jq", "1.7");
    bad.platforms = vec!["x86_64-windows".into()];
    let err = format!("{:#}", add_package("{}", &bad).unwrap_err());
    assert!(
        err.contains("`x86_64-windows` is not a known platform"),
        "{err}"
    );
    let err = format!("{:#}", add_package("{}", &spec("a b", "1")).unwrap_err());
    assert!(err.contains("`a b` is not a valid package name"), "{err}");
}

#[test]
fn remove_from_multiline_list() {
    let out = rm(COMMENTED, "ansible");
    assert_eq!(
        out,
        COMMENTED.replace("    \"ansible@2.16.5\", // 2.17 dropped CentOS 7\n", "")
    );
    // The last entry without a trailing comma: the previous entry loses its comma.
    let text = "{\n  \"packages\": [\n    \"a@1\", // first\n    \"b@2\"\n  ]\n}\n";
    assert_eq!(
        rm(text, "b"),
        "{\n  \"packages\": [\n    \"a@1\" // first\n  ]\n}\n"
    );
    assert_eq!(rm(text, "a"), "{\n  \"packages\": [\n    \"b@2\"\n  ]\n}\n");
}

#[test]
fn remove_from_inline_lists_and_maps() {
    assert_eq!(
        rm(r#"{"packages": ["a@1", "b@2", "c"]}"#, "b"),
        r#"{"packages": ["a@1", "c"]}"#
    );
    assert_eq!(
        rm(r#"{"packages": ["a@1", "b@2"]}"#, "b"),
        r#"{"packages": ["a@1"]}"#
    );
    assert_eq!(
        rm(r#"{"packages": ["a@1", "b@2",]}"#, "b"),
        r#"{"packages": ["a@1",]}"#
    );
    assert_eq!(rm(r#"{"packages": ["a@1"]}"#, "a"), r#"{"packages": []}"#);
    assert_eq!(
        rm(r#"{"packages": { "a": "1", }}"#, "a"),
        r#"{"packages": { }}"#
    );
    assert_eq!(
        rm(r#"{"packages": {"a": "1", "b": {"version": "2"}}}"#, "a"),
        r#"{"packages": {"b": {"version": "2"}}}"#
    );
    let text =
        "{\n  \"packages\": {\n    \"go\": \"latest\", // compiler\n    \"jq\": \"1.7\"\n  }\n}\n";
    assert_eq!(
        rm(text, "jq"),
        "{\n  \"packages\": {\n    \"go\": \"latest\" // compiler\n  }\n}\n"
    );
}

#[test]
fn remove_entries_whose_comma_is_on_a_later_line() {
    let text = "{\n  \"packages\": [\n    \"a@1\"\n    , \"b@2\"\n    , \"c@3\"\n  ]\n}\n";
    assert_eq!(
        rm(text, "a"),
        "{\n  \"packages\": [\n    \"b@2\"\n    , \"c@3\"\n  ]\n}\n"
    );
    assert_eq!(
        rm(text, "b"),
        "{\n  \"packages\": [\n    \"a@1\"\n    , \"c@3\"\n  ]\n}\n"
    );
    assert_eq!(
        rm(text, "c"),
        "{\n  \"packages\": [\n    \"a@1\"\n    , \"b@2\"\n  ]\n}\n"
    );
    // The only entry, its trailing comma on the next line or after a bare carriage return.
    let text = "{\n  \"packages\": [\n    \"a@1\"\n    ,\n  ]\n}\n";
    assert_eq!(rm(text, "a"), "{\n  \"packages\": [\n  ]\n}\n");
    let text = "{\"packages\": {\"a\": \"1\"\r,\n}}";
    assert_eq!(rm(text, "a"), "{\"packages\": {\n}}");
}

#[test]
fn remove_keeps_a_block_comment_that_runs_past_the_entry_line() {
    let text =
        "{\n  \"packages\": [\n    \"a@1\", /* about a\n       and b */\n    \"b@2\"\n  ]\n}\n";
    assert_eq!(
        rm(text, "a"),
        "{\n  \"packages\": [/* about a\n       and b */\n    \"b@2\"\n  ]\n}\n"
    );
    // Comments that end on the entry's line go with it, as before.
    let text = "{\n  \"packages\": [\n    \"a@1\", /* a */ // a\n    \"b@2\"\n  ]\n}\n";
    assert_eq!(rm(text, "a"), "{\n  \"packages\": [\n    \"b@2\"\n  ]\n}\n");
}

#[test]
fn remove_unknown_package_is_none() {
    assert_eq!(remove_package(COMMENTED, "nope").unwrap(), None);
    assert_eq!(remove_package("{}", "nope").unwrap(), None);
}

#[test]
fn add_then_remove_restores_the_file() {
    for text in [
        COMMENTED,
        "{\"packages\": [\"a@1\"]}",
        "{\n\t\"packages\": [\n\t\t\"a@1\"\n\t]\n}\n",
        // The trailing comma on a line of its own.
        "{\n\t\"packages\": {\n\t\t\"a\": \"1\"\n\t,}\n}\n",
        "{\"packages\": [\"a@1\"\n, ]}",
    ] {
        let added = add(text, &spec("zz", "1.0"));
        assert_eq!(rm(&added, "zz"), text, "after adding:\n{added}");
    }
}

#[test]
fn tabs_are_kept() {
    let text = "{\n\t\"packages\": [\n\t\t\"a@1\"\n\t]\n}\n";
    assert_eq!(
        add(text, &spec("b", "2")),
        "{\n\t\"packages\": [\n\t\t\"a@1\",\n\t\t\"b@2\"\n\t]\n}\n"
    );
}

#[test]
fn crlf_files_keep_crlf() {
    let text = "{\r\n  \"packages\": [\r\n    \"a@1\" // first\r\n  ]\r\n}\r\n";
    let out = add(text, &spec("b", "2"));
    assert_eq!(
        out,
        "{\r\n  \"packages\": [\r\n    \"a@1\", // first\r\n    \"b@2\"\r\n  ]\r\n}\r\n"
    );
    assert_eq!(rm(&out, "b"), text);
    let mut opts = spec("c", "3");
    opts.outputs = vec!["out".into()];
    let out = add(text, &opts);
    assert!(!out.replace("\r\n", "").contains('\n'), "{out:?}");
}

#[test]
fn byte_order_mark_is_kept() {
    let text = "\u{feff}{\n  \"packages\": [\"a@1\"]\n}\n";
    let out = add(text, &spec("b", "2"));
    assert_eq!(out, "\u{feff}{\n  \"packages\": [\"a@1\", \"b@2\"]\n}\n");
    assert_eq!(rm(&out, "b"), text);
}

#[test]
fn options_without_a_packages_list_use_the_map_form() {
    let mut rg = spec("ripgrep", "14");
    rg.outputs = vec!["out".into()];
    assert_eq!(
        add("{}", &rg),
        "{\"packages\": {\"ripgrep\": { \"version\": \"14\", \"outputs\": [\"out\"] }}}"
    );
    assert_eq!(
        add("{\"packages\": null}", &rg),
        "{\"packages\": {\"ripgrep\": { \"version\": \"14\", \"outputs\": [\"out\"] }}}"
    );
    assert_eq!(
        add("{\"packages\": null}", &spec("jq", "1")),
        "{\"packages\": [\"jq@1\"]}"
    );
}

#[test]
fn add_then_rm_keeps_the_line_breaks_of_a_file_that_mixes_them() {
    // One `\r\n` makes `add` write `\r\n`; `rm` must still give back the `\n` that was there.
    let text = "{\r\n  \"packages\": {\n    \"go\": \"1.22\"\n  }\n}\n";
    let added = add(text, &spec("jq", "1.7"));
    assert_eq!(
        added,
        "{\r\n  \"packages\": {\n    \"go\": \"1.22\",\r\n    \"jq\": \"1.7\"\n  }\n}\n"
    );
    assert_eq!(rm(&added, "jq"), text);
    // Blank lines after the previous entry stay blank.
    let text = "{\n  \"packages\": [\n    \"a@1\",\n\n    \"b@2\"\n  ]\n}\n";
    assert_eq!(
        rm(text, "b"),
        "{\n  \"packages\": [\n    \"a@1\"\n\n  ]\n}\n"
    );
}

#[test]
fn rm_of_an_added_entry_after_a_trailing_comma_keeps_the_line_breaks_of_a_mixed_file() {
    let text = "{\r\n  \"packages\": [\n    \"a@1\",\n  ]\n}\n";
    let added = add(text, &spec("jq", "1.7"));
    assert_eq!(
        added,
        "{\r\n  \"packages\": [\n    \"a@1\",\r\n    \"jq@1.7\",\n  ]\n}\n"
    );
    assert_eq!(rm(&added, "jq"), text);
    // Any line of a consistent file goes with exactly one line break.
    let text = "{\n  \"packages\": [\n    \"a@1\",\n    \"b@2\",\n    \"c@3\"\n  ]\n}\n";
    assert_eq!(
        rm(text, "b"),
        "{\n  \"packages\": [\n    \"a@1\",\n    \"c@3\"\n  ]\n}\n"
    );
}

#[test]
fn add_then_rm_in_an_empty_multiline_container_keeps_the_closing_brackets_indentation() {
    for text in [
        "{\n  \"packages\": {\n}\n}\n",
        "{\n  \"packages\": {\n  }\n}\n",
        "{\r\n  \"packages\": [\r\n  ]\r\n}\r\n",
    ] {
        let added = add(text, &spec("jq", "1.7"));
        assert_eq!(rm(&added, "jq"), text, "after add: {added:?}");
    }
    assert_eq!(
        add("{\n  \"packages\": {\n}\n}\n", &spec("jq", "1.7")),
        "{\n  \"packages\": {\n    \"jq\": \"1.7\"\n}\n}\n"
    );
}

#[test]
fn add_then_rm_keeps_spaces_that_ended_the_last_entrys_line() {
    for text in [
        "{\n\t\"packages\": {\n\t\t\"go\": \"1.22\"\t\n}\n}\n",
        "{\n  \"packages\": [\n    \"a@1\",  \n  ]\n}\n",
    ] {
        let added = add(text, &spec("jq", "1.7"));
        assert_eq!(rm(&added, "jq"), text, "after add: {added:?}");
    }
}

#[test]
fn add_then_rm_in_an_empty_single_line_container_keeps_its_padding() {
    for text in [
        r#"{"packages": {}}"#,
        r#"{"packages": { }}"#,
        r#"{"packages": [  ]}"#,
        "{\"packages\":{\r\r\r}}",
        "{\"packages\":[\t]}",
    ] {
        let added = add(text, &spec("jq", "1.7"));
        assert_eq!(rm(&added, "jq"), text, "after add: {added:?}");
    }
    assert_eq!(
        add(r#"{"packages": { }}"#, &spec("jq", "1.7")),
        r#"{"packages": { "jq": "1.7" }}"#
    );
    // An entry the user wrote alone on the line: its padding stays, once when both sides match.
    assert_eq!(
        rm(r#"{"packages": [ "jq@1.7" ]}"#, "jq"),
        r#"{"packages": [ ]}"#
    );
    assert_eq!(
        rm(r#"{"packages": ["jq@1.7", ]}"#, "jq"),
        r#"{"packages": [ ]}"#
    );
    assert_eq!(
        rm(r#"{"packages": [/* note */ "jq@1.7"]}"#, "jq"),
        r#"{"packages": []}"#
    );
}

//! The bad-input corpus: every case runs the real binary and checks the exit code (2 for bad
//! input, 1 for failures), that stderr names the file and line:column or the offending value,
//! and that devenv.json and devenv.lock are byte-for-byte what they were. The cases themselves
//! are a table (`crate::common::bad_input`) that `snapshots.rs` also records; the tests here add the
//! facts particular to a case (retries, files that must not appear, what stdout shows).

use crate::common::bad_input::{self as corpus, assert_no_raw_controls, case, check_case};

/// One test per case whose checks are all in the table.
macro_rules! table_cases {
    ($($name:ident),* $(,)?) => {
        const TABLE_CASES: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                check_case(&case(stringify!($name)));
            }
        )*
    };
}

table_cases!(
    // manifest
    manifest_broken_json,
    manifest_packages_of_wrong_type,
    manifest_package_entry_of_wrong_type,
    manifest_env_value_of_wrong_type,
    manifest_init_hook_of_wrong_type,
    manifest_package_with_empty_version,
    manifest_platforms_and_excluded_platforms_together,
    manifest_unknown_system,
    manifest_unknown_key_is_a_warning_not_an_error,
    no_manifest_anywhere,
    // command-line packages
    argument_with_empty_version,
    argument_with_empty_name,
    argument_with_a_space,
    argument_with_a_slash,
    argument_empty,
    argument_with_a_broken_range,
    argument_with_an_unknown_platform,
    unknown_package_name_suggests_and_changes_nothing,
    unknown_version_lists_what_exists,
    rm_and_update_of_a_package_not_in_the_manifest,
    requested_output_that_does_not_exist,
    package_built_for_none_of_the_wanted_systems,
    // lock
    lock_from_a_newer_devenv,
    lock_edited_into_invalid_json,
    lock_with_merge_conflict_markers,
    lock_with_wrong_types,
    // index
    index_directory_missing,
    index_package_file_is_not_json,
    index_in_a_newer_format,
    index_http_404_for_index_json,
    index_http_garbage,
    index_http_truncated,
    index_http_slow,
    http_timeout_that_is_not_a_number,
    unsupported_index_url_scheme,
    // deep and huge files
    manifest_nested_thirty_thousand_deep,
    manifest_nested_thirty_thousand_deep_in_the_hook,
    lock_nested_thirty_thousand_deep,
    config_nested_thirty_thousand_deep,
    index_file_nested_thirty_thousand_deep,
    a_sparse_gigabyte_manifest_is_refused_quickly_with_bounded_memory,
    a_sparse_gigabyte_index_file_is_refused_quickly_with_bounded_memory,
    // sbom, image, provenance
    supply_lock_path_in_no_store_and_no_cache,
    supply_system_the_lock_does_not_cover,
    index_shard_not_k_of_n,
    index_merge_of_a_directory_that_is_no_index,
    index_merge_without_every_shard,
    index_merge_of_indexes_that_disagree,
);

/// The cases checked by a test below, with facts the table does not hold.
const CASES_WITH_MORE_FACTS: &[&str] = &[
    "index_http_500",
    "a_bad_entry_among_good_ones_is_ignored_with_a_warning",
    "info_and_search_never_print_raw_control_characters",
    "lock_with_code_in_resolved_is_refused_naming_the_field",
    "supply_output_nobody_can_write",
];

#[test]
fn every_case_of_the_corpus_is_checked_here() {
    let entries: Vec<&str> = corpus::index_entry_cases().iter().map(|c| c.name).collect();
    for c in corpus::cases() {
        assert!(
            TABLE_CASES.contains(&c.name)
                || CASES_WITH_MORE_FACTS.contains(&c.name)
                || entries.contains(&c.name),
            "bad-input case {} has no test in this file",
            c.name
        );
    }
}

#[test]
fn index_http_500() {
    let (setup, _) = check_case(&case("index_http_500"));
    // Retried (bounded), not hammered.
    let tries = setup
        .server
        .unwrap()
        .requests()
        .iter()
        .filter(|r| r.as_str() == "/packages/hello.json")
        .count();
    assert_eq!(tries, 3);
}

#[test]
fn index_entries_that_break_the_lock_rules_are_refused_and_nothing_is_written() {
    let cases = corpus::index_entry_cases();
    assert_eq!(cases.len(), 7);
    for c in cases {
        let (setup, _) = check_case(&c);
        let w = setup.w;
        assert!(!w.t.project.join("x").exists(), "{}", c.name);
        // The project is as usable as before.
        w.ok(&["update", "--no-install"]);
    }
}

#[test]
fn a_bad_entry_among_good_ones_is_ignored_with_a_warning() {
    let (setup, _) = check_case(&case(
        "a_bad_entry_among_good_ones_is_ignored_with_a_warning",
    ));
    let w = setup.w;
    assert_eq!(w.lock()["packages"]["evil@latest"]["version"], "1.0");
    w.ok(&["update", "--no-install"]);
    w.ok(&["rm", "evil", "--no-install"]);
    assert!(w.lock()["packages"].get("evil@latest").is_none());
}

#[test]
fn info_and_search_never_print_raw_control_characters() {
    let (_, outs) = check_case(&case("info_and_search_never_print_raw_control_characters"));
    let (info, search) = (&outs[0].stdout, &outs[1].stdout);
    assert_no_raw_controls("info stdout", info);
    assert!(
        info.contains("calm\\e[2J\\e]0;owned\\u{7} \\u{202e}txt.exe"),
        "{info}"
    );
    assert_no_raw_controls("search stdout", search);
    assert!(search.contains("calm\\e[2J"), "{search}");
}

#[test]
fn lock_with_code_in_resolved_is_refused_naming_the_field() {
    let (setup, outs) = check_case(&case(
        "lock_with_code_in_resolved_is_refused_naming_the_field",
    ));
    assert_eq!(outs.len(), 3);
    assert!(!setup.w.t.project.join("x").exists());
}

/// The project directory's entries other than the manifest and the lock.
fn project_leftovers(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "devenv.json" && n != "devenv.lock")
        .collect();
    names.sort();
    names
}

#[test]
fn supply_output_nobody_can_write() {
    let (setup, _) = check_case(&case("supply_output_nobody_can_write"));
    // Refused before any work: nothing fetched, no directory made, no temp file left.
    assert_eq!(project_leftovers(&setup.w.t.project), Vec::<String>::new());
    // Nor does an image of a closure nobody has.
    let (setup, _) = check_case(&case("supply_lock_path_in_no_store_and_no_cache"));
    assert_eq!(project_leftovers(&setup.w.t.project), Vec::<String>::new());
}

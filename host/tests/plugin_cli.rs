//! End-to-end tests of `hpo plugin`: the bundled plugins, install / list / info / remove /
//! verify, and every bad input the platform issue names (one clear line, exit code 2, the
//! registry unchanged).

mod common;

use common::{Home, native, stderr, stdout, wasm, with_api_version};

/// A home whose registry already holds the bundled plugins.
fn home_with_bundled() -> Home {
    let home = Home::new();
    let out = home.hpo(&["plugin", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    home
}

/// Runs `args`, expecting the bad-input contract: exit code 2, one line on stderr that
/// contains every piece of `expected`, and the registry untouched.
fn assert_refused(home: &Home, args: &[&str], expected: &[&str]) {
    let before = home.registry_bytes();
    let out = home.hpo(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: stderr {err}");
    assert_eq!(
        err.trim().lines().count(),
        1,
        "{args:?}: one line expected, got {err}"
    );
    for piece in expected {
        assert!(
            err.contains(piece),
            "{args:?}: {err:?} should mention {piece:?}"
        );
    }
    assert_eq!(
        home.registry_bytes(),
        before,
        "{args:?} changed the registry"
    );
}

#[test]
fn bundled_plugins_are_listed_with_no_install_step() {
    let home = Home::new();
    let out = home.hpo(&["plugin", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("random") && text.contains("RANDOM/RANDOM"),
        "{text}"
    );
    assert!(
        text.contains("bandit") && text.contains("SEQ, RANDOM"),
        "{text}"
    );
    assert!(text.contains("bundled"), "{text}");
    let verify = home.hpo(&["plugin", "verify"]);
    assert!(verify.status.success(), "{}", stdout(&verify));
}

#[test]
fn install_list_info_verify_remove_a_wasm_plugin() {
    let home = home_with_bundled();
    let artifact = wasm("example_local_search");
    let out = home.hpo(&["plugin", "install", artifact.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("installed local-search 0.1.0 (wasm"));

    let list = stdout(&home.hpo(&["plugin", "list"]));
    assert!(
        list.contains("local-search") && list.contains("LOCAL/NEAREST"),
        "{list}"
    );

    let info = stdout(&home.hpo(&["plugin", "info", "local-search"]));
    assert!(info.contains("kind:        wasm"), "{info}");
    assert!(info.contains("precompiled: cache/"), "{info}");
    let copied = home.path().join("plugins").join("local-search-0.1.0.wasm");
    assert!(
        copied.exists(),
        "the artifact is copied under the registry directory"
    );

    let verify = home.hpo(&["plugin", "verify"]);
    assert!(verify.status.success(), "{}", stdout(&verify));
    assert!(stdout(&verify).contains(" plugins checked, 0 failed"));

    let removed = home.hpo(&["plugin", "remove", "local-search"]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert!(!copied.exists(), "remove deletes the copied artifact");
    let cache: Vec<_> = std::fs::read_dir(home.path().join("cache"))
        .unwrap()
        .collect();
    assert!(cache.is_empty(), "remove deletes the precompiled code");
    assert!(!stdout(&home.hpo(&["plugin", "list"])).contains("local-search"));
}

#[test]
fn install_of_a_directory_installs_every_artifact_in_it() {
    let home = home_with_bundled();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(wasm("example_local_search"), dir.path().join("a.wasm")).unwrap();
    std::fs::copy(wasm("example_hostile"), dir.path().join("b.wasm")).unwrap();
    std::fs::write(dir.path().join("README.txt"), "not a plugin").unwrap();
    let out = home.hpo(&["plugin", "install", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list = stdout(&home.hpo(&["plugin", "list"]));
    assert!(
        list.contains("local-search") && list.contains("hostile"),
        "{list}"
    );
}

#[test]
fn path_that_does_not_exist_is_refused() {
    let home = home_with_bundled();
    assert_refused(
        &home,
        &["plugin", "install", "/no/such/plugin.wasm"],
        &["/no/such/plugin.wasm", "No such file"],
    );
}

#[test]
fn a_file_that_is_not_a_plugin_is_refused() {
    let home = home_with_bundled();
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    assert_refused(
        &home,
        &["plugin", "install", text.to_str().unwrap()],
        &["notes.txt", "not a plugin"],
    );
    let fake = dir.path().join("fake.wasm");
    std::fs::write(&fake, "hello").unwrap();
    assert_refused(
        &home,
        &["plugin", "install", fake.to_str().unwrap()],
        &["fake.wasm", "not a valid wasm component"],
    );
    let fake_native = dir.path().join("libfake.so");
    std::fs::write(&fake_native, "hello").unwrap();
    assert_refused(
        &home,
        &[
            "plugin",
            "install",
            "--allow-native",
            fake_native.to_str().unwrap(),
        ],
        &["libfake.so", "not a loadable hpo native plugin"],
    );
    let empty = tempfile::tempdir().unwrap();
    assert_refused(
        &home,
        &["plugin", "install", empty.path().to_str().unwrap()],
        &["no plugin artifacts"],
    );
}

#[test]
fn wrong_api_major_is_refused_with_both_versions() {
    let home = home_with_bundled();
    let dir = tempfile::tempdir().unwrap();
    let patched = dir.path().join("future.wasm");
    with_api_version(&wasm("example_local_search"), &patched, "2.0.0");
    assert_refused(
        &home,
        &["plugin", "install", patched.to_str().unwrap()],
        &["plugin API 2.0.0", "host's API 1.2.0", "major"],
    );
    let native_patched = dir.path().join("libfuture.so");
    with_api_version(&native("hpo_random"), &native_patched, "2.0.0");
    assert_refused(
        &home,
        &[
            "plugin",
            "install",
            "--allow-native",
            native_patched.to_str().unwrap(),
        ],
        &["plugin API 2.0.0", "host's API 1.2.0"],
    );
    assert!(
        std::fs::read_dir(home.path().join("cache"))
            .map(|d| d.count() == 0)
            .unwrap_or(true),
        "a refused install leaves no precompiled code behind"
    );
}

#[test]
fn minor_newer_than_the_host_is_refused() {
    let home = home_with_bundled();
    let dir = tempfile::tempdir().unwrap();
    let patched = dir.path().join("newer.wasm");
    with_api_version(&wasm("example_local_search"), &patched, "1.9.0");
    assert_refused(
        &home,
        &["plugin", "install", patched.to_str().unwrap()],
        &["plugin API 1.9.0", "host's API 1.2.0", "upgrade hpo"],
    );
}

#[test]
fn tampered_artifact_fails_its_checksum() {
    let home = home_with_bundled();
    let artifact = wasm("example_local_search");
    assert!(
        home.hpo(&["plugin", "install", artifact.to_str().unwrap()])
            .status
            .success()
    );
    let copied = home.path().join("plugins").join("local-search-0.1.0.wasm");
    let mut bytes = std::fs::read(&copied).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&copied, bytes).unwrap();
    let before = home.registry_bytes();
    let out = home.hpo(&["plugin", "verify"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let text = stdout(&out);
    let failed: Vec<&str> = text.lines().filter(|l| l.starts_with("FAILED")).collect();
    assert_eq!(failed.len(), 1, "{text}");
    assert!(
        failed[0].contains("local-search") && failed[0].contains("checksum mismatch"),
        "{text}"
    );
    assert_eq!(home.registry_bytes(), before);
}

#[test]
fn duplicate_name_needs_force() {
    let home = home_with_bundled();
    let artifact = wasm("example_local_search");
    let path = artifact.to_str().unwrap();
    assert!(home.hpo(&["plugin", "install", path]).status.success());
    assert_refused(
        &home,
        &["plugin", "install", path],
        &["local-search", "--force"],
    );
    let forced = home.hpo(&["plugin", "install", "--force", path]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    // The earlier install's files are intact: it still verifies and loads from the cache.
    let verify = home.hpo(&["plugin", "verify"]);
    assert!(verify.status.success(), "{}", stdout(&verify));
}

#[test]
fn corrupt_registry_names_the_line() {
    let home = home_with_bundled();
    let mut text = String::from_utf8(home.registry_bytes()).unwrap();
    text.push_str("\n[[plugin]]\nname = = \"broken\"\n");
    std::fs::write(home.registry(), &text).unwrap();
    let line = text.lines().count();
    assert_refused(
        &home,
        &["plugin", "list"],
        &["registry.toml", &format!(":{line}:")],
    );
}

#[test]
fn removing_an_unknown_name_lists_what_is_installed() {
    let home = home_with_bundled();
    assert_refused(
        &home,
        &["plugin", "remove", "nope"],
        &["no plugin named 'nope'", "bandit", "random"],
    );
}

#[test]
fn native_third_party_plugins_need_allow_native() {
    let home = home_with_bundled();
    let hostile = native("example_hostile");
    assert_refused(
        &home,
        &["plugin", "install", hostile.to_str().unwrap()],
        &["--allow-native", "unsandboxed"],
    );
    let out = home.hpo(&[
        "plugin",
        "install",
        "--allow-native",
        hostile.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&home.hpo(&["plugin", "list"])).contains("hostile"));
}

#[test]
fn bundled_plugins_cannot_be_removed() {
    let home = home_with_bundled();
    assert_refused(&home, &["plugin", "remove", "random"], &["bundled"]);
}

/// A native plugin built against API 1.0, before the contract's records were generated by a
/// macro (`host/tests/fixtures/api-1.0/`), still loads (abi_stable checks the layout of every
/// type it exchanges) and runs.
#[test]
fn a_native_plugin_built_against_api_1_0_still_loads_and_runs() {
    let home = home_with_bundled();
    let artifact = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/api-1.0/libexample_local_search.so");
    let out = home.hpo(&[
        "plugin",
        "install",
        "--allow-native",
        artifact.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("api 1.0"), "{}", stdout(&out));
    let results = home.path().join("out");
    let run = home.hpo(&[
        "run",
        "-m",
        "LOCAL",
        "-s",
        "NEAREST",
        "--objective",
        "fn:branin",
        "--evals",
        "12",
        "--out",
        results.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(
        stdout(&run).contains("after 12 evaluations"),
        "{}",
        stdout(&run)
    );
}

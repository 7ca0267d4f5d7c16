//! Bad input at the command line, as a user meets it: each case runs the `facegate` binary on
//! something broken (a missing, empty, malformed or truncated file, a corrupt image, an empty
//! identity folder, a device that drops the connection mid-command) and checks that it fails
//! with a message naming the file and line, or the command, and that no output — not even a
//! temporary file — is left half-written. Where an input can be skipped (a corrupt image in a
//! dataset), the command goes on and says what it skipped.

mod robustness;

use robustness::{facegate, Fixture};
use std::path::Path;

/// Asserts that a run failed and that its stderr holds every needle.
#[track_caller]
fn assert_fails(case: &str, out: &std::process::Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{case}: succeeded, but should have failed\nstderr:\n{stderr}"
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{case}: stderr lacks {needle:?}\nstderr:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("panicked"),
        "{case}: a panic, not an error\n{stderr}"
    );
}

fn text(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn broken_pairs_files_are_named_with_the_line_and_the_fault() {
    let fx = Fixture::new();
    let cases: &[(&str, &str, &[&str])] = &[
        ("empty", "", &["pairs file is empty"]),
        (
            "bad header",
            "two\n",
            &[
                "line 1:",
                "header pair count `two` is not a positive integer",
            ],
        ),
        (
            "malformed line 3",
            "2\nperson_000\t1\t2\nperson_001\t1\tx\n",
            &["line 3:", "image number `x` of person_001"],
        ),
        (
            "wrong kind of pair",
            "1\nperson_000\t1\tperson_001\t2\n",
            &["line 2:", "expected a same-person pair"],
        ),
        (
            "truncated",
            "3\nperson_000\t1\t2\nperson_001\t1\t2\n",
            &["pairs file ends after 2 pairs, its header announces 6"],
        ),
        (
            "extra line",
            "1\nperson_000\t1\t2\nperson_000\t1\tperson_001\t1\nperson_001\t1\t2\n",
            &["line 4:", "extra line"],
        ),
    ];
    for (i, &(case, contents, needles)) in cases.iter().enumerate() {
        let pairs = fx.dir.path().join(format!("pairs-{i}.txt"));
        std::fs::write(&pairs, contents).unwrap();
        let out = fx.eval(&pairs);
        let mut all = vec![text(&pairs)];
        all.extend(needles.iter().map(|s| s.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        assert_fails(case, &out, &all);
    }
    let missing = fx.dir.path().join("no-such-pairs.txt");
    assert_fails(
        "missing pairs file",
        &fx.eval(&missing),
        &["cannot read pairs file", &text(&missing)],
    );
}

#[test]
fn pairs_naming_missing_or_corrupt_images_say_which() {
    let fx = Fixture::new();
    let pairs = fx.pairs_with_same("person_001\t1\t9");
    assert_fails(
        "image number past the folder",
        &fx.eval(&pairs),
        &["person_001 #9", "not found"],
    );
    let pairs = fx.pairs_with_same("person_002\t1\t3");
    assert_fails(
        "pair names the corrupt image",
        &fx.eval(&pairs),
        &[
            "pair image person_002 #3 not found",
            "person_002_0003.jpg was skipped",
        ],
    );
}

#[test]
fn a_dataset_with_corrupt_images_and_empty_folders_is_evaluated_and_the_skips_named() {
    let fx = Fixture::new();
    let out = fx.eval(&fx.good_pairs());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "eval failed on a dataset it can use\n{stderr}"
    );
    assert!(stdout.contains("accuracy"), "{stdout}");
    for skipped in ["person_002_0003.jpg", "person_003_0003.png"] {
        assert!(
            stderr.contains(skipped),
            "skip of {skipped} not reported\n{stderr}"
        );
    }
}

#[test]
fn missing_dataset_model_and_images_are_named() {
    let fx = Fixture::new();
    let root = fx.dir.path().join("no-such-dataset");
    let out = facegate(&[
        "eval",
        "--model",
        &text(&fx.release_onnx()),
        "--data",
        &text(&root),
        "--pairs",
        &text(&fx.good_pairs()),
    ]);
    assert_fails("missing dataset", &out, &[&text(&root)]);
    let model = fx.dir.path().join("no-such-model.onnx");
    let out = facegate(&[
        "eval",
        "--model",
        &text(&model),
        "--data",
        &text(&fx.data),
        "--pairs",
        &text(&fx.good_pairs()),
    ]);
    assert_fails("missing model", &out, &[&text(&model)]);
    let truncated = fx.truncated_copy(&fx.release_onnx(), "truncated.onnx", 1000);
    let out = facegate(&[
        "compare",
        "--model",
        &text(&truncated),
        &text(&fx.image(0, 1)),
        &text(&fx.image(0, 2)),
    ]);
    assert_fails("truncated ONNX model", &out, &[&text(&truncated)]);
    let corrupt = fx.image(2, 3);
    let out = facegate(&[
        "compare",
        "--model",
        &text(&fx.release_onnx()),
        &text(&fx.image(0, 1)),
        &text(&corrupt),
    ]);
    assert_fails("corrupt image", &out, &[&text(&corrupt), "cannot decode"]);
    let empty = fx.image(3, 3);
    let out = facegate(&[
        "compare",
        "--model",
        &text(&fx.release_onnx()),
        &text(&empty),
        &text(&fx.image(0, 1)),
    ]);
    assert_fails("empty image file", &out, &[&text(&empty)]);
}

#[test]
fn training_on_folders_without_images_says_so_and_leaves_no_run() {
    let fx = Fixture::new();
    let data = fx.dir.path().join("only-empty-folders");
    for name in ["amy", "ben"] {
        std::fs::create_dir_all(data.join(name)).unwrap();
    }
    let run = fx.dir.path().join("runs/empty");
    let out = facegate(&[
        "train",
        "--data",
        &text(&data),
        "--out",
        &text(&run),
        "--epochs",
        "1",
    ]);
    assert_fails(
        "dataset of empty folders",
        &out,
        &[
            &format!("dataset {} cannot be trained on", text(&data)),
            "0 people have two or more images",
        ],
    );
    assert!(!run.exists(), "a failed start left a run folder behind");
}

#[test]
fn truncated_and_corrupt_models_are_refused_and_no_output_is_left() {
    let fx = Fixture::new();
    let key = fx.dir.path().join("keys");
    let out = facegate(&["keygen", "--out", &text(&key)]);
    assert!(
        out.status.success(),
        "keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let signing = key.join("model-signing.key");
    let outputs = fx.dir.path().join("out");
    std::fs::create_dir_all(&outputs).unwrap();
    let signed = outputs.join("signed.fgm");
    for cut in [0, 10, 100, 5000, 100_000] {
        let truncated = fx.truncated_copy(&fx.release_fgm(), &format!("cut-{cut}.fgm"), cut);
        let out = fx.sign(&signing, &truncated, &signed);
        assert_fails(&format!("blob cut at {cut}"), &out, &[&text(&truncated)]);
    }
    let flipped = fx.bit_flipped_copy(&fx.release_fgm(), "flipped.fgm", 2000);
    assert_fails(
        "blob with one flipped bit",
        &fx.sign(&signing, &flipped, &signed),
        &[&text(&flipped)],
    );
    let nowhere = fx.dir.path().join("no/such/folder/signed.fgm");
    assert_fails(
        "output folder missing",
        &fx.sign(&signing, &fx.release_fgm(), &nowhere),
        &[&text(&nowhere)],
    );
    robustness::assert_no_files(&outputs);
}

#[test]
fn a_device_that_drops_the_link_mid_command_gets_the_commands_name() {
    let fx = Fixture::new();
    // The answer to the second request (the first is the version check) is cut after 3 bytes.
    let proxy = robustness::CuttingProxy::start(1, 3);
    let out = facegate(&["device", "list", "--port", &proxy.spec(), "--timeout", "20"]);
    assert_fails(
        "list cut mid-answer",
        &out,
        &["List: the device closed the connection"],
    );
    // Enrol: version check, challenge, authenticate, then the enrolment's answer is cut.
    let admin_key = robustness::workspace_root().join("firmware/keys/test-admin.key");
    let proxy = robustness::CuttingProxy::start(3, 5);
    let out = facegate(&[
        "device",
        "enroll",
        "ann",
        &text(&fx.image(0, 1)),
        &text(&fx.image(0, 2)),
        "--port",
        &proxy.spec(),
        "--admin-key",
        &text(&admin_key),
        "--timeout",
        "60",
    ]);
    assert_fails(
        "enroll cut mid-answer",
        &out,
        &["Enroll: the device closed the connection"],
    );
    let proxy = robustness::CuttingProxy::start(0, 0);
    let out = facegate(&["device", "info", "--port", &proxy.spec(), "--timeout", "20"]);
    assert_fails(
        "info never answered",
        &out,
        &["Info: the device closed the connection"],
    );
    let port = robustness::closed_port();
    let spec = format!("tcp:127.0.0.1:{port}");
    let out = facegate(&["device", "info", "--port", &spec, "--timeout", "2"]);
    assert_fails("nothing listening", &out, &[&format!("127.0.0.1:{port}")]);
    let corrupt = fx.image(2, 3);
    let proxy = robustness::CuttingProxy::start(usize::MAX, 0);
    let out = facegate(&[
        "device",
        "verify",
        "someone",
        &text(&corrupt),
        "--port",
        &proxy.spec(),
        "--timeout",
        "20",
    ]);
    assert_fails("probe image corrupt", &out, &[&text(&corrupt)]);
}

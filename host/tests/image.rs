//! The Fargate image (Dockerfile, built by scripts/build-image.sh) run with
//! podman as the hosted run would run it: network off, read-only root file
//! system, as its non-root user. `engage --version` answers, and the weekly
//! pipeline runs inside it on generated data written to a mounted folder, with
//! the components precompiled in the image (no compilation at task start).
//!
//! scripts/test.sh builds the image and sets ENGAGE_IMAGE; without it the
//! tests here say so and pass (a plain `cargo test` on a machine without podman).

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// The image's user (Dockerfile `USER`).
const IMAGE_UID: u32 = 65532;

fn image() -> Option<String> {
    let image = std::env::var("ENGAGE_IMAGE").ok().filter(|s| !s.is_empty());
    if image.is_none() {
        eprintln!("ENGAGE_IMAGE is not set: scripts/test.sh builds the image and sets it; skipping");
    }
    image
}

/// `podman <global args>` with this machine's settings (support::podman_args, support::use_containers_conf).
fn podman() -> Command {
    let mut command = Command::new("podman");
    command.args(support::podman_args());
    support::use_containers_conf(&mut command);
    command
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// `podman run --rm --network none --read-only <image> <args>`, `data` mounted at /data as the storage root.
fn run_in_image(image: &str, data: &Path, args: &[&str]) -> Output {
    podman()
        .args(["run", "--rm", "--network", "none", "--read-only", "-v"])
        .arg(format!("{}:/data", data.display()))
        .args(["-e", "ENGAGE_ROOT=/data", image])
        .args(args)
        .output()
        .expect("podman runs")
}

#[test]
fn the_image_runs_engage_as_a_non_root_user_with_the_network_off() {
    let Some(image) = image() else { return };
    let out = podman().args(["image", "inspect", &image]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let inspect: Value = serde_json::from_slice(&out.stdout).unwrap();
    let config = &inspect[0]["Config"];
    assert_eq!(config["User"], format!("{IMAGE_UID}:{IMAGE_UID}"), "{config}");
    assert_eq!(config["Entrypoint"][0], "/usr/local/bin/engage", "{config}");

    let out = podman().args(["run", "--rm", "--network", "none", "--read-only", &image, "--version"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("engage {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn the_weekly_pipeline_runs_inside_the_image_on_precompiled_components() {
    let Some(image) = image() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // The image's user owns the mounted storage root, as on an EFS access point or a task volume.
    std::os::unix::fs::chown(&data, Some(IMAGE_UID), Some(IMAGE_UID)).expect("the test runs as root, as podman here needs");

    let out = run_in_image(&image, &data, &["data", "generate", "--users", "1500", "--weeks", "4", "--seed", "3", "--out", "/data/landing/users"]);
    assert!(out.status.success(), "generate in the image: {}", text(&out));
    let out = run_in_image(&image, &data, &["run", "/opt/engage/pipelines/weekly-engagement.toml", "--json", "--no-progress"]);
    assert!(out.status.success(), "the weekly run in the image: {}", text(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_eq!(summary["status"], "succeeded", "{summary}");
    assert_eq!(summary["segments"]["users_scored"], 1500, "{summary}");

    // Everything the run wrote is the image user's, not root's.
    let run_dir = std::fs::read_dir(data.join("runs")).unwrap().next().unwrap().unwrap().path();
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&run_dir).unwrap());
    assert_eq!(owner, IMAGE_UID, "{} is owned by uid {owner}", run_dir.display());
    // The components came precompiled: a miss would compile and warn that the image's read-only cache can't keep it.
    assert!(!text(&out).contains("could not cache compiled"), "{}", text(&out));
}

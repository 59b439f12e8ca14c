//! The real binary: bad settings stop it with one line and a non-zero exit.

use std::process::Command;

fn run_with_config(config: &str, env: &[(&str, &str)]) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("bb-startup-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.json");
    std::fs::write(&path, config).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_bitbucket-password-grant"));
    command.args(["--port", "0", "--config"]).arg(&path);
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    for name in [
        "BITBUCKET_CONSUMER_KEY",
        "BITBUCKET_CONSUMER_SECRET",
        "BITBUCKET_URL",
        "BITBUCKET_API_URL",
        "BITBUCKET_SANDBOX",
    ] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let output = command.output().unwrap();
    std::fs::remove_dir_all(&dir).ok();
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn assert_one_line_failure(result: (bool, String), needles: &[&str]) {
    let (success, stderr) = result;
    assert!(!success, "start-up should have failed");
    assert_eq!(stderr.trim().lines().count(), 1, "one line expected:\n{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} missing from {stderr:?}");
    }
}

#[test]
fn missing_config_file_stops_start_up_naming_the_file() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bitbucket-password-grant"));
    let output = command.args(["--port", "0", "--config", "/nonexistent/conf.json"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/nonexistent/conf.json"), "{stderr}");
}

#[test]
fn malformed_config_stops_start_up() {
    assert_one_line_failure(run_with_config("{ consumerKey: ", &[]), &["config.json", "not a valid config file"]);
}

#[test]
fn empty_consumer_key_stops_start_up_naming_the_key() {
    let config = r#"{"consumerKey": "", "consumerSecret": "s", "sandbox": true}"#;
    assert_one_line_failure(run_with_config(config, &[]), &["config.json: consumerKey: must not be empty"]);
}

#[test]
fn bad_url_in_the_environment_stops_start_up_naming_the_variable() {
    let config = r#"{"consumerKey": "k", "consumerSecret": "s"}"#;
    assert_one_line_failure(
        run_with_config(config, &[("BITBUCKET_URL", "bitbucket.org")]),
        &["environment variable BITBUCKET_URL", "bitbucketUrl"],
    );
}

#[test]
fn the_shipped_config_json_is_valid_and_in_sandbox_mode() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config.json");
    let settings = bitbucket_password_grant::settings::Settings::load(std::path::Path::new(path), |_| None).unwrap();
    assert!(settings.sandbox);
    assert_eq!(settings.consumer_key, bitbucket_password_grant::settings::SANDBOX_CONSUMER_KEY);
}

//! `cargo run --example password_grant`: the token module outside the web app.

use std::process::Command;

/// The example's binary, which `cargo test` builds beside the test binaries.
fn example() -> Command {
    example_named("password_grant")
}

fn example_named(name: &str) -> Command {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples").join(name);
    assert!(dir.exists(), "{} was not built: run the whole `cargo test`, which builds examples", dir.display());
    let mut command = Command::new(dir);
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    for name in [
        "BITBUCKET_CONSUMER_KEY",
        "BITBUCKET_CONSUMER_SECRET",
        "BITBUCKET_URL",
        "BITBUCKET_SANDBOX",
        "BITBUCKET_EMAIL",
        "BITBUCKET_API_TOKEN",
    ] {
        command.env_remove(name);
    }
    command
}

#[test]
fn example_prints_the_token_response_as_json() {
    let output = example().args(["--username", "demo"]).env("BB_PASSWORD", "demo").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["token_type"], "bearer");
    assert_eq!(json["expires_in"], 7200);
    assert!(json["access_token"].as_str().is_some_and(|t| t.len() > 20));
    assert!(json["refresh_token"].is_string());
}

#[test]
fn example_with_a_wrong_password_fails_with_one_line_and_no_password() {
    let output = example().args(["--username", "demo"]).env("BB_PASSWORD", "example-wrong-pw").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("error: the authorization server refused (HTTP 401): invalid_request"), "{stderr}");
    assert!(!stderr.contains("example-wrong-pw"));
    assert!(output.stdout.is_empty());
}

#[test]
fn api_token_example_calls_the_api_with_basic_email_and_token() {
    let output = example_named("api_token").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["display_name"], "Demo User");
}

#[test]
fn api_token_example_with_a_wrong_token_fails_with_the_apis_401() {
    let output = example_named("api_token").env("BITBUCKET_API_TOKEN", "ATATT-wrong").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("HTTP 401") && stderr.contains("Invalid email or API token."), "{stderr}");
}

#[test]
fn password_example_without_a_terminal_or_bb_password_says_what_to_set() {
    let output = example().args(["--username", "demo"]).stdin(std::process::Stdio::null()).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("set BB_PASSWORD"), "{stderr}");
}

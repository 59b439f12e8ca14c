//! HTTPS to the authorization server and the API, as bitbucket.org is reached: the release build's
//! reqwest uses rustls with the ring provider and the platform's certificate store. There is no
//! network here, so the sandbox stands behind a TLS-terminating proxy (`tests/servers/tls_proxy.py`)
//! with a certificate from a throwaway certificate authority made by `openssl`; the app trusts that
//! authority through `SSL_CERT_FILE`, which the platform store honours, and must refuse it when it
//! is not trusted.
//!
//! Needs `openssl` and `python3`, so plain `cargo test` lists it as ignored; `.ci/run` runs it with
//! the other ignored tests. A missing tool fails the test, it never skips it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::process::Binary;

/// A child process stopped on drop.
struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl").args(args).current_dir(dir).stderr(Stdio::null()).status();
    assert!(status.expect("openssl runs").success(), "openssl {args:?}");
}

/// Two certificate authorities (`ca.pem`, `other-ca.pem`) and a certificate for `localhost`
/// signed by the first (`cert.pem`, `key.pem`), in `dir`.
fn make_certificates(dir: &Path) {
    const KEY: [&str; 5] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    for (name, subject) in [("ca", "/CN=Test CA"), ("other-ca", "/CN=Another CA")] {
        let (key, cert) = (format!("{name}-key.pem"), format!("{name}.pem"));
        let mut args = vec!["req", "-x509", "-days", "1", "-subj", subject, "-keyout", &key, "-out", &cert];
        args.extend(KEY);
        openssl(dir, &args);
    }
    let mut request = vec!["req", "-subj", "/CN=localhost", "-keyout", "key.pem", "-out", "leaf.csr"];
    request.extend(KEY);
    openssl(dir, &request);
    std::fs::write(dir.join("leaf.ext"), "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
            "-out",
            "cert.pem",
        ],
    );
}

fn start_proxy(dir: &Path, target_port: &str) -> (Proxy, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers/tls_proxy.py");
    let mut child = Command::new("python3")
        .args([script, "cert.pem", "key.pem", target_port])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().strip_prefix("listening on ").expect("the proxy says where it listens").to_owned();
    (Proxy(child), port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs openssl and python3; .ci/run runs it"]
async fn the_app_reaches_an_https_authorization_server_it_trusts_and_refuses_one_it_does_not() {
    let dir = std::env::temp_dir().join(format!("bbpg-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    make_certificates(&dir);
    let sandbox = Binary::start_with(&["--sandbox-only"], &[]);
    let sandbox_port = sandbox.address.rsplit(':').next().unwrap().to_owned();
    let (_proxy, port) = start_proxy(&dir, &sandbox_port);
    let base = format!("https://localhost:{port}/sandbox");
    let api = format!("{base}/api");
    let ca = dir.join("ca.pem");
    let live = [("BITBUCKET_SANDBOX", "false"), ("BITBUCKET_URL", base.as_str()), ("BITBUCKET_API_URL", api.as_str())];

    // Trusted: the whole password flow over HTTPS.
    let mut trusting = live.to_vec();
    trusting.push(("SSL_CERT_FILE", ca.to_str().unwrap()));
    let app = Binary::start(&trusting);
    let page = app.app().login("demo", "demo").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("Demo User");
    page.assert_contains(&format!("Host: localhost:{port}"));
    app.finish();

    // Not trusted (the system's authorities only): refused, and the page says why.
    let mut distrusting = live.to_vec();
    let other = dir.join("other-ca.pem");
    distrusting.push(("SSL_CERT_FILE", other.to_str().unwrap()));
    let app = Binary::start(&distrusting);
    let page = app.app().login("demo", "demo").await;
    assert_eq!(page.status, 502, "{}", page.body);
    page.assert_contains("TLS connection was refused");
    page.assert_contains("comes from an authority this machine does not trust");
    page.assert_contains("SSL_CERT_FILE");
    assert!(!page.body.contains("Demo User"), "{}", page.body);
    app.finish();

    // https:// to a port that speaks plain HTTP (the sandbox itself): said so.
    let plain = format!("https://localhost:{sandbox_port}/sandbox");
    let app = Binary::start(&[
        ("BITBUCKET_SANDBOX", "false"),
        ("BITBUCKET_URL", &plain),
        ("BITBUCKET_API_URL", &format!("{plain}/api")),
        ("SSL_CERT_FILE", ca.to_str().unwrap()),
    ]);
    let page = app.app().login("demo", "demo").await;
    assert_eq!(page.status, 502, "{}", page.body);
    page.assert_contains("did not answer in TLS");
    app.finish();
    sandbox.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

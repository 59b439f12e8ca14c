//! The sandbox's limits on guessing (issue 22), through the real listener on loopback, from
//! several source addresses (127.0.0.0/8): failed sign-ins per end user and account, two-step
//! codes per ticket, consumer secrets and API tokens; and the app counting the sandbox's `429` on
//! the password grant as an attempt of its own.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use bitbucket_password_grant::sandbox::SandboxOptions;
use bitbucket_password_grant::settings::Settings;

use crate::helpers::*;

const TOKEN: &str = "/sandbox/site/oauth2/access_token";

/// A client whose connections come from `127.0.0.{n}`.
fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from([127, 0, 0, n]))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The password form posted from `127.0.0.{n}`.
async fn login_from(app: &TestApp, n: u8, password: &str) -> Page {
    let request = client_from(n).post(app.url("/oauth-callback")).form(&[("username", "demo"), ("password", password)]);
    app.send(request).await
}

/// Wrong passwords from one address lock that address out, not every user of the app: the app
/// tells its sandbox whose request it is (once, the sandbox counted the app's own address, and ten
/// wrong passwords from one browser refused the right one for everyone).
#[tokio::test]
async fn wrong_passwords_from_one_address_do_not_lock_out_users_at_other_addresses() {
    let app = spawn_sandbox_app().await;
    for _ in 0..12 {
        let page = login_from(&app, 2, "wrong").await;
        assert!(matches!(page.status, 403 | 429), "{}: {}", page.status, page.body);
    }
    assert_eq!(login_from(&app, 2, "demo").await.status, 429, "the guessing address is still blocked");
    for n in [3, 4] {
        let page = login_from(&app, n, "demo").await;
        assert_eq!(page.status, 200, "127.0.0.{n} was locked out: {}", page.body);
        page.assert_contains("Demo User");
    }
}

/// The sandbox's `429` on the password grant cannot be told from a refused password: the app counts
/// it toward its own limit, and its page names the sandbox's cause, not an API rate limit.
#[tokio::test]
async fn the_apps_limit_counts_the_sandboxs_429_and_each_page_names_its_cause() {
    let settings = Settings::sandbox_defaults();
    let options = SandboxOptions { failed_attempts_per_minute: 3, ..SandboxOptions::default() };
    let app = spawn_app_with(settings, options).await;
    let mut statuses = Vec::new();
    for attempt in 1..=20 {
        let page = login_from(&app, 5, "wrong").await;
        statuses.push(page.status);
        match attempt {
            1..=3 => assert_eq!(page.status, 403, "attempt {attempt}: {}", page.body),
            4..=10 => {
                assert_eq!(page.status, 429, "attempt {attempt}: {}", page.body);
                page.assert_contains("HTTP/1.1 429 Too Many Requests");
                page.assert_contains("Too many failed sign-ins from this address");
                page.assert_lacks("1,000");
                page.assert_lacks("an hour");
            }
            _ => {
                assert_eq!(page.status, 429, "attempt {attempt}: {}", page.body);
                page.assert_contains("Too many failed attempts");
                page.assert_lacks("HTTP/1.1 429 Too Many Requests"); // the app's own: nothing was sent
            }
        }
    }
    assert_eq!(statuses.iter().filter(|s| **s == 403).count(), 3, "{statuses:?}");
    assert_eq!(login_from(&app, 6, "demo").await.status, 200, "another address");
}

/// Two-step codes are limited per sign-in ticket: after five wrong ones the ticket is spent, and
/// even the right code then leads back to the sign-in (once, 300 wrong codes then the right one
/// opened the consent page). Another user's sign-in, from another address, is not affected.
/// The sandbox's authorization page posted from `127.0.0.{n}`.
async fn post_authorize(app: &TestApp, n: u8, form: &[(String, String)]) -> Page {
    app.send(client_from(n).post(app.url("/sandbox/site/oauth2/authorize")).form(form)).await
}

/// Signs in as `demo-2fa` from `127.0.0.{n}`: the two-step form's fields.
async fn two_step_form(app: &TestApp, n: u8) -> Vec<(String, String)> {
    let port = app.address.rsplit(':').next().unwrap();
    let authorize = format!(
        "/sandbox/site/oauth2/authorize?client_id=sandbox-consumer-key&response_type=code&state=s&\
         redirect_uri=http%3A%2F%2F127.0.0.1%3A{port}%2Foauth-callback"
    );
    let sign_in = app.send(client_from(n).get(app.url(&authorize))).await;
    let mut form = sign_in.hidden_fields();
    form.extend([("username".into(), "demo-2fa".into()), ("password".into(), "demo".into())]);
    let verify = post_authorize(app, n, &form).await;
    assert!(verify.body.contains(r#"name="otp""#), "{}", verify.body);
    verify.hidden_fields()
}

fn with_code(form: &[(String, String)], code: &str) -> Vec<(String, String)> {
    let mut form = form.to_vec();
    form.push(("otp".into(), code.into()));
    form
}

/// Two-step codes are limited per sign-in ticket: after five wrong ones the ticket is spent, and
/// even the right code then leads back to the sign-in (once, 300 wrong codes then the right one
/// opened the consent page). Another user's sign-in, from another address, is not affected.
#[tokio::test]
async fn five_wrong_two_step_codes_spend_the_sign_in() {
    let app = spawn_sandbox_app().await;
    let attacker = two_step_form(&app, 7).await;
    let user = two_step_form(&app, 8).await;
    for attempt in 1..=4 {
        let page = post_authorize(&app, 7, &with_code(&attacker, "000000")).await;
        page.assert_contains("That code is not right.");
        assert!(page.body.contains(r#"name="otp""#), "attempt {attempt}: {}", page.body);
    }
    let spent = post_authorize(&app, 7, &with_code(&attacker, "000000")).await;
    spent.assert_contains("Too many wrong codes");
    assert!(spent.body.contains(r#"name="password""#), "{}", spent.body);
    let after = post_authorize(&app, 7, &with_code(&attacker, "246810")).await;
    assert!(after.body.contains(r#"name="password""#), "the spent ticket still worked: {}", after.body);
    after.assert_lacks("Grant access");
    let consent = post_authorize(&app, 8, &with_code(&user, "246810")).await;
    consent.assert_contains("Grant access");
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
}

/// Wrong consumer secrets are limited per consumer and address: the right secret is then refused
/// from that address (once, 200 wrong secrets then the right one got a token), and a forged
/// end-user header does not get around it; other addresses are served.
#[tokio::test]
async fn wrong_consumer_secrets_are_limited_per_consumer_and_address() {
    let app = spawn_sandbox_app().await;
    let token_request = |n: u8, secret: &str| {
        client_from(n)
            .post(app.url(TOKEN))
            .header("authorization", basic("sandbox-consumer-key", secret))
            .form(&[("grant_type", "client_credentials")])
    };
    for attempt in 1..=10 {
        let page = app.send(token_request(9, "wrong-secret")).await;
        assert_eq!(page.status, 400, "attempt {attempt}: {}", page.body);
    }
    let blocked = app.send(token_request(9, "sandbox-consumer-secret")).await;
    assert_eq!(blocked.status, 429, "{}", blocked.body);
    blocked.assert_contains("Too many wrong secrets for this consumer from this address");
    assert!(blocked.headers.contains_key("retry-after"));
    assert_eq!(blocked.headers["cache-control"], "no-store");
    let forged = token_request(9, "sandbox-consumer-secret").header("x-sandbox-end-user", "127.0.0.99 guessed-key");
    assert_eq!(app.send(forged).await.status, 429, "a forged end-user header was trusted");
    // Another consumer from the same address, and the same consumer from another address.
    let other = client_from(9)
        .post(app.url(TOKEN))
        .header("authorization", basic("sandbox-short-lived-key", "sandbox-short-lived-secret"))
        .form(&[("grant_type", "client_credentials")]);
    assert_eq!(app.send(other).await.status, 200);
    assert_eq!(app.send(token_request(10, "sandbox-consumer-secret")).await.status, 200);
}

/// Wrong API tokens (HTTP Basic `email:api_token`) are limited per account and address, with an
/// answer that says so (once, 200 wrong tokens then the right one got through).
#[tokio::test]
async fn wrong_api_tokens_are_limited_per_account_and_address() {
    let app = spawn_sandbox_app().await;
    let call = |n: u8, token: &str| {
        client_from(n).get(app.url("/sandbox/api/2.0/user")).header("authorization", basic("demo@example.com", token))
    };
    for attempt in 1..=10 {
        let page = app.send(call(11, "ATATT-wrong")).await;
        assert_eq!(page.status, 401, "attempt {attempt}: {}", page.body);
    }
    let blocked = app.send(call(11, "ATATT-sandbox-demo-api-token")).await;
    assert_eq!(blocked.status, 429, "{}", blocked.body);
    blocked.assert_contains("Too many wrong API tokens for this account from this address");
    assert!(blocked.headers.contains_key("retry-after"));
    let served = app.send(call(12, "ATATT-sandbox-demo-api-token")).await;
    assert_eq!(served.status, 200, "{}", served.body);
}

/// The sandbox's sign-in page from `127.0.0.{n}`: `username` / `password` for the demo consumer.
async fn sign_in_from(app: &TestApp, n: u8, username: &str, password: &str) -> Page {
    let port = app.address.rsplit(':').next().unwrap();
    let authorize = format!(
        "/sandbox/site/oauth2/authorize?client_id=sandbox-consumer-key&response_type=code&state=s&\
         redirect_uri=http%3A%2F%2F127.0.0.1%3A{port}%2Foauth-callback"
    );
    let sign_in = app.send(client_from(n).get(app.url(&authorize))).await;
    let mut form = sign_in.hidden_fields();
    form.extend([("username".into(), username.into()), ("password".into(), password.into())]);
    post_authorize(app, n, &form).await
}

/// Failed sign-ins are counted per account too, from all addresses together, at five times an
/// address's limit: one address cannot lock an account, a crowd of guessers can for a minute, and
/// the page says which limit it is.
#[tokio::test]
async fn failed_sign_ins_from_many_addresses_lock_the_account_and_the_page_says_so() {
    let app = spawn_sandbox_app().await;
    for n in 20..25 {
        for _ in 0..10 {
            let page = sign_in_from(&app, n, "demo", "wrong").await;
            page.assert_contains("Incorrect username or password.");
        }
        let blocked = sign_in_from(&app, n, "demo", "wrong").await;
        assert_eq!(blocked.status, 429, "{}", blocked.body);
        blocked.assert_contains("Too many failed sign-ins from this address");
        assert!(blocked.headers.contains_key("retry-after"));
    }
    let locked = sign_in_from(&app, 25, "demo", "demo").await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    locked.assert_contains("Too many failed sign-ins for this account, from all addresses together");
    let other_account = sign_in_from(&app, 25, "demo-2fa", "demo").await;
    assert_eq!(other_account.status, 200, "{}", other_account.body);
    other_account.assert_contains(r#"name="otp""#);
}

/// A hundred wrong passwords at once, with the sandbox's own limit lower than the app's: exactly
/// the app's limit reach the sandbox (its `429`s count as attempts, so none gives its place back),
/// and a further round sends none (once, 30 of 100 parallel guesses got past while the sandbox
/// answered `429`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_stop_at_the_apps_limit_when_the_sandbox_answers_429() {
    let options = SandboxOptions { failed_attempts_per_minute: 3, ..SandboxOptions::default() };
    let app = spawn_app_with(Settings::sandbox_defaults(), options).await;
    let client = client_from(30);
    let guesses = |count: usize| {
        let tasks: Vec<_> = (0..count)
            .map(|_| {
                let form = [("username", "demo"), ("password", "wrong")];
                let request = client.post(app.url("/oauth-callback")).form(&form);
                tokio::spawn(async move { into_page(request.send().await.expect("POST")).await })
            })
            .collect();
        async move {
            let mut pages = Vec::new();
            for task in tasks {
                pages.push(task.await.unwrap());
            }
            pages
        }
    };
    // A page that shows the token request: the guess reached the sandbox.
    let reached =
        |pages: &[Page]| pages.iter().filter(|p| p.body.contains("POST /sandbox/site/oauth2/access_token")).count();
    let pages = guesses(100).await;
    let statuses: Vec<u16> = pages.iter().map(|p| p.status).collect();
    assert_eq!(reached(&pages), 10, "guesses that reached the sandbox: {statuses:?}");
    assert!(statuses.iter().all(|s| matches!(s, 403 | 429)), "{statuses:?}");
    assert_eq!(reached(&guesses(20).await), 0, "guesses that reached the sandbox after the limit");
}

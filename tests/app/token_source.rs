//! `token::TokenKeeper` against a standard OAuth 2.0 server (wiremock): a token that stays fresh,
//! refreshed once for all callers, with the rotated refresh token kept.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bitbucket_password_grant::token::{self, RefreshError, TokenError, TokenKeeper, TokenResponse};
use wiremock::matchers::{body_string, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::refused_address;

/// `base64("test-client:test-client-secret")`
const BASIC: &str = "Basic dGVzdC1jbGllbnQ6dGVzdC1jbGllbnQtc2VjcmV0";
const TOKEN_PATH: &str = "/oauth/token";
/// The keeper refreshes a token that expires within this margin.
const MARGIN: Duration = Duration::from_secs(60);

/// A token received now, that expires in `expires_in` seconds (under [`MARGIN`]: due already).
fn received(access_token: &str, refresh_token: Option<&str>, expires_in: u64) -> TokenResponse {
    let mut token: TokenResponse = serde_json::from_value(serde_json::json!({
        "access_token": access_token, "token_type": "bearer", "expires_in": expires_in,
        "refresh_token": refresh_token,
    }))
    .unwrap();
    token.received_at = Some(Instant::now());
    token
}

fn keeper(server_uri: &str, first: TokenResponse) -> TokenKeeper {
    let http = token::http_client(Duration::from_millis(500), Duration::from_secs(5)).unwrap();
    let client = token::ClientCredentials::basic("test-client", "test-client-secret");
    TokenKeeper::new(http, &format!("{server_uri}{TOKEN_PATH}"), &client, MARGIN, first)
}

/// The refresh request for `refresh_token`, exactly as RFC 6749 §6 writes it.
fn refresh_with(refresh_token: &str) -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(header("authorization", BASIC))
        .and(body_string(format!("grant_type=refresh_token&refresh_token={refresh_token}")))
}

/// A token response: an hour to live, with a new refresh token if given.
fn issued(access_token: &str, refresh_token: Option<&str>) -> ResponseTemplate {
    let mut body = serde_json::json!({"access_token": access_token, "token_type": "bearer", "expires_in": 3600});
    if let Some(refresh_token) = refresh_token {
        body["refresh_token"] = refresh_token.into();
    }
    ResponseTemplate::new(200).set_body_json(body)
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

/// The answer of a spawned caller, failing rather than hanging if it is never woken.
async fn answer_of(caller: tokio::task::JoinHandle<Result<String, RefreshError>>) -> Result<String, RefreshError> {
    tokio::time::timeout(Duration::from_secs(5), caller).await.expect("the caller was woken").unwrap()
}

#[tokio::test]
async fn a_token_not_yet_due_is_handed_out_without_a_request() {
    let server = MockServer::start().await;
    let keeper = keeper(&server.uri(), received("access-1", Some("refresh-1"), 3600));
    for _ in 0..3 {
        assert_eq!(keeper.access_token().await.unwrap(), "access-1");
    }
    assert_eq!(requests(&server).await, 0);
    assert_eq!(keeper.refreshes(), 0);
}

#[tokio::test]
async fn a_parsed_response_knows_when_it_expires_and_its_json_is_unchanged() {
    let server = MockServer::start().await;
    refresh_with("refresh-1").respond_with(issued("access-2", Some("refresh-2"))).mount(&server).await;
    let before = Instant::now();
    let keeper = keeper(&server.uri(), received("access-1", Some("refresh-1"), 0));
    keeper.access_token().await.unwrap();
    let token = keeper.token();
    let expires_at = token.expires_at().expect("received over HTTP with expires_in");
    assert!(
        expires_at >= before + Duration::from_secs(3600) && expires_at <= Instant::now() + Duration::from_secs(3600)
    );
    assert!(!token.is_due(MARGIN));
    assert!(token.is_due(Duration::from_secs(3600)));
    // `received_at` is not part of the JSON.
    let json = serde_json::to_value(&token).unwrap();
    let expected = serde_json::json!({
        "access_token": "access-2", "token_type": "bearer", "expires_in": 3600, "refresh_token": "refresh-2"
    });
    assert_eq!(json, expected);
}

#[tokio::test]
async fn rotation_the_second_refresh_sends_the_new_refresh_token() {
    let server = MockServer::start().await;
    // The first answer lives 30 s: under the margin, so the next call refreshes again.
    let short = serde_json::json!({
        "access_token": "access-2", "token_type": "bearer", "expires_in": 30, "refresh_token": "refresh-2"
    });
    refresh_with("refresh-1")
        .respond_with(ResponseTemplate::new(200).set_body_json(short))
        .expect(1)
        .mount(&server)
        .await;
    refresh_with("refresh-2").respond_with(issued("access-3", Some("refresh-3"))).expect(1).mount(&server).await;

    let keeper = keeper(&server.uri(), received("access-1", Some("refresh-1"), 30));
    assert_eq!(keeper.access_token().await.unwrap(), "access-2");
    assert_eq!(keeper.access_token().await.unwrap(), "access-3");
    assert_eq!(keeper.access_token().await.unwrap(), "access-3"); // fresh now: no request
    assert_eq!(keeper.token().refresh_token.as_deref(), Some("refresh-3"));
    assert_eq!(keeper.refreshes(), 2);
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_callers_share_one_refresh() {
    let server = MockServer::start().await;
    refresh_with("refresh-1")
        .respond_with(issued("access-2", Some("refresh-2")).set_delay(Duration::from_millis(300)))
        .expect(1)
        .mount(&server)
        .await;
    let keeper = Arc::new(keeper(&server.uri(), received("access-1", Some("refresh-1"), 0)));

    let callers: Vec<_> = (0..50)
        .map(|_| {
            let keeper = keeper.clone();
            tokio::spawn(async move { keeper.access_token().await })
        })
        .collect();
    for caller in callers {
        assert_eq!(answer_of(caller).await.unwrap(), "access-2");
    }
    assert_eq!(requests(&server).await, 1);
    assert_eq!(keeper.refreshes(), 1);
    assert_eq!(keeper.token().refresh_token.as_deref(), Some("refresh-2"));
}

#[tokio::test]
async fn a_refused_refresh_means_a_new_grant_is_needed_and_is_not_sent_again() {
    let server = MockServer::start().await;
    let refusal = serde_json::json!({"error": "invalid_grant", "error_description": "Invalid refresh_token"});
    refresh_with("refresh-1")
        .respond_with(ResponseTemplate::new(400).set_body_json(refusal))
        .expect(1)
        .mount(&server)
        .await;
    let keeper = keeper(&server.uri(), received("access-1", Some("refresh-1"), 0));

    for _ in 0..2 {
        match keeper.access_token().await {
            Err(RefreshError::NewGrantNeeded(Some(refusal))) => {
                assert_eq!((refusal.status, refusal.error.as_str()), (400, "invalid_grant"));
            }
            other => panic!("expected NewGrantNeeded, got {other:?}"),
        }
    }
    let error = keeper.access_token().await.unwrap_err();
    assert!(error.to_string().contains("a new grant is needed"), "{error}");
    assert_eq!(requests(&server).await, 1, "a refused refresh token is sent once");
}

#[tokio::test]
async fn no_refresh_token_means_a_new_grant_is_needed_without_a_request() {
    let server = MockServer::start().await;
    // Client credentials on Bitbucket since 2026: no refresh token.
    let keeper = keeper(&server.uri(), received("access-1", None, 0));
    assert!(matches!(keeper.access_token().await, Err(RefreshError::NewGrantNeeded(None))));
    assert_eq!(requests(&server).await, 0);
}

#[tokio::test]
async fn a_server_that_does_not_rotate_keeps_the_old_refresh_token_working() {
    let server = MockServer::start().await;
    // No refresh_token in the answers (RFC 6749 §6: keep the one you have); 30 s: due again at once.
    let answer = serde_json::json!({"access_token": "access-n", "token_type": "bearer", "expires_in": 30});
    refresh_with("refresh-1")
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .expect(2)
        .mount(&server)
        .await;
    let keeper = keeper(&server.uri(), received("access-1", Some("refresh-1"), 0));

    assert_eq!(keeper.access_token().await.unwrap(), "access-n");
    assert_eq!(keeper.token().refresh_token.as_deref(), Some("refresh-1"));
    assert_eq!(keeper.access_token().await.unwrap(), "access-n");
    assert_eq!(keeper.token().refresh_token.as_deref(), Some("refresh-1"));
    assert_eq!(keeper.refreshes(), 2);
}

#[tokio::test]
async fn no_answer_is_transient_and_the_token_is_kept() {
    let address = refused_address().await;
    let keeper = keeper(&format!("http://{address}"), received("access-1", Some("refresh-1"), 0));
    match keeper.access_token().await {
        Err(RefreshError::Transient(TokenError::NoResponse { connect: true, .. })) => {}
        other => panic!("expected a transient failure, got {other:?}"),
    }
    assert_eq!(keeper.token().access_token, "access-1");
    assert_eq!(keeper.token().refresh_token.as_deref(), Some("refresh-1"));
}

#[tokio::test]
async fn a_server_error_is_transient_and_a_retry_succeeds() {
    let server = MockServer::start().await;
    let page = ResponseTemplate::new(503).set_body_raw("<html>Service Unavailable</html>", "text/html");
    refresh_with("refresh-1").respond_with(page).up_to_n_times(1).mount(&server).await;
    refresh_with("refresh-1").respond_with(issued("access-2", Some("refresh-2"))).mount(&server).await;
    let keeper = keeper(&server.uri(), received("access-1", Some("refresh-1"), 0));

    match keeper.access_token().await {
        Err(RefreshError::Transient(TokenError::UnexpectedResponse { status: 503, .. })) => {}
        other => panic!("expected a transient failure, got {other:?}"),
    }
    assert_eq!(keeper.access_token().await.unwrap(), "access-2");
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_waiting_for_a_refresh_that_fails_share_its_failure() {
    let server = MockServer::start().await;
    let page = ResponseTemplate::new(502).set_body_raw("bad gateway", "text/plain");
    refresh_with("refresh-1").respond_with(page.set_delay(Duration::from_millis(300))).expect(1).mount(&server).await;
    let keeper = Arc::new(keeper(&server.uri(), received("access-1", Some("refresh-1"), 0)));

    let callers: Vec<_> = (0..10)
        .map(|_| {
            let keeper = keeper.clone();
            tokio::spawn(async move { keeper.access_token().await })
        })
        .collect();
    for caller in callers {
        assert!(matches!(answer_of(caller).await, Err(RefreshError::Transient(_))));
    }
    assert_eq!(requests(&server).await, 1, "one failed request, not one per caller");
}

#[tokio::test]
async fn a_refresh_dropped_midway_lets_a_waiting_caller_finish() {
    let server = MockServer::start().await;
    refresh_with("refresh-1")
        .respond_with(issued("access-2", Some("refresh-2")).set_delay(Duration::from_millis(500)))
        .mount(&server)
        .await;
    let keeper = Arc::new(keeper(&server.uri(), received("access-1", Some("refresh-1"), 0)));

    // The first caller starts the refresh and gives up after 100 ms (its future is dropped). The
    // second, in a task of its own, is waiting for that refresh by then: only the dropped
    // refresh's waker can wake it, and it must then refresh itself.
    let first = keeper.access_token();
    let second = {
        let keeper = keeper.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            keeper.access_token().await
        })
    };
    assert!(tokio::time::timeout(Duration::from_millis(100), first).await.is_err(), "the first caller gave up");
    assert_eq!(answer_of(second).await.unwrap(), "access-2");
    assert_eq!(requests(&server).await, 2, "the dropped request and the waiter's own");
    assert_eq!(keeper.refreshes(), 1);
    assert_eq!(keeper.token().refresh_token.as_deref(), Some("refresh-2"));
}

#[tokio::test]
async fn a_refresh_dropped_with_no_one_waiting_does_not_block_the_next_caller() {
    let server = MockServer::start().await;
    refresh_with("refresh-1")
        .respond_with(issued("access-2", Some("refresh-2")).set_delay(Duration::from_millis(300)))
        .mount(&server)
        .await;
    let keeper = keeper(&server.uri(), received("access-1", Some("refresh-1"), 0));
    assert!(tokio::time::timeout(Duration::from_millis(50), keeper.access_token()).await.is_err());
    let next = tokio::time::timeout(Duration::from_secs(5), keeper.access_token()).await;
    assert_eq!(next.expect("not stuck behind the dropped refresh").unwrap(), "access-2");
}

#[tokio::test]
async fn debug_shows_no_secret() {
    let keeper = keeper("http://127.0.0.1:9", received("access-secret-1", Some("refresh-secret-1"), 0));
    let debug = format!("{keeper:?}");
    for secret in ["access-secret-1", "refresh-secret-1", "test-client-secret"] {
        assert!(!debug.contains(secret), "{debug}");
    }
}

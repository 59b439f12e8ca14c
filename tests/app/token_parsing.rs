//! Unit tests of `src/token.rs`'s parsing, through its public API (kept out of the file itself so
//! that it stays self-contained for copying).

use bitbucket_password_grant::token::*;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION};

fn answer(status: u16, content_type: Option<&'static str>, body: &str) -> RawResponse {
    let mut headers = HeaderMap::new();
    if let Some(content_type) = content_type {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    RawResponse { status, headers, body: body.as_bytes().to_vec() }
}

fn json(status: u16, body: &str) -> RawResponse {
    answer(status, Some("application/json; charset=utf-8"), body)
}

fn unexpected_problem(result: Result<TokenResponse, TokenError>) -> String {
    match result {
        Err(TokenError::UnexpectedResponse { problem, .. }) => problem,
        other => panic!("expected an unexpected-response error, got {other:?}"),
    }
}

#[test]
fn bitbucket_classic_body_with_scopes_is_parsed() {
    let body = r#"{"access_token": "AT", "scopes": "repository account", "expires_in": 7200,
        "refresh_token": "RT", "token_type": "bearer", "state": "password"}"#;
    let token = parse_token_response(&json(200, body)).unwrap();
    assert_eq!(token.access_token, "AT");
    assert_eq!(token.refresh_token.as_deref(), Some("RT"));
    assert_eq!(token.expires_in, Some(7200));
    assert_eq!(token.granted_scopes(), ["repository", "account"]);
    assert_eq!(token.state.as_deref(), Some("password"));
    assert!(token.is_bearer());
}

#[test]
fn standard_body_with_scope_and_capitalised_bearer_is_parsed() {
    let body = r#"{"access_token":"AT","token_type":"Bearer","expires_in":3600,"scope":"read write"}"#;
    let token = parse_token_response(&json(200, body)).unwrap();
    assert_eq!(token.granted_scopes(), ["read", "write"]);
    assert!(token.is_bearer());
    assert_eq!(token.refresh_token, None);
}

#[test]
fn scope_wins_when_both_scope_and_scopes_are_present() {
    let body = r#"{"access_token":"AT","token_type":"bearer","scope":"new","scopes":"old"}"#;
    assert_eq!(parse_token_response(&json(200, body)).unwrap().granted_scopes(), ["new"]);
}

#[test]
fn oauth_error_body_is_a_refusal_with_status_code_and_description() {
    let body = r#"{"error_description": "Invalid OAuth client credentials", "error": "unauthorized_client"}"#;
    match parse_token_response(&json(400, body)) {
        Err(TokenError::Refused(e)) => {
            assert_eq!(e.status, 400);
            assert_eq!(e.error, "unauthorized_client");
            assert_eq!(e.error_description.as_deref(), Some("Invalid OAuth client credentials"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn html_page_is_reported_as_html_with_an_excerpt() {
    let result = parse_token_response(&answer(200, Some("text/html"), "<html>Log in</html>"));
    match result {
        Err(TokenError::UnexpectedResponse { status, problem, excerpt }) => {
            assert_eq!(status, 200);
            assert!(problem.contains("HTML page"), "{problem}");
            assert_eq!(excerpt, "<html>Log in</html>");
        }
        other => panic!("expected an unexpected-response error, got {other:?}"),
    }
}

#[test]
fn malformed_json_is_reported() {
    let problem = unexpected_problem(parse_token_response(&json(200, "{\"access_token\": ")));
    assert!(problem.contains("not valid JSON"), "{problem}");
}

#[test]
fn json_without_access_token_is_reported() {
    let problem = unexpected_problem(parse_token_response(&json(200, r#"{"token_type":"bearer"}"#)));
    assert!(problem.contains("access_token"), "{problem}");
}

#[test]
fn empty_body_is_reported() {
    let problem = unexpected_problem(parse_token_response(&answer(200, None, "")));
    assert!(problem.contains("empty body"), "{problem}");
}

#[test]
fn server_error_without_oauth_body_is_unexpected_not_a_refusal() {
    let problem = unexpected_problem(parse_token_response(&json(500, r#"{"message":"boom"}"#)));
    assert!(problem.contains("HTTP 500"), "{problem}");
}

#[test]
fn redirect_is_reported_with_its_target_and_not_followed() {
    let mut response = answer(302, None, "");
    response.headers.insert(LOCATION, HeaderValue::from_static("https://evil.example/"));
    let problem = unexpected_problem(parse_token_response(&response));
    assert!(problem.contains("https://evil.example/"), "{problem}");
}

#[test]
fn excerpt_is_cut_at_the_limit() {
    let long = "x".repeat(EXCERPT_CHARS * 3);
    let excerpt = answer(500, None, &long).excerpt();
    assert_eq!(excerpt.chars().count(), EXCERPT_CHARS + 1);
    assert!(excerpt.ends_with('…'));
}

#[test]
fn debug_output_never_shows_tokens_or_the_client_secret() {
    let body = r#"{"access_token":"AT-SECRET","refresh_token":"RT-SECRET","token_type":"bearer"}"#;
    let token = parse_token_response(&json(200, body)).unwrap();
    let client = ClientCredentials::basic("key", "CLIENT-SECRET");
    let printed = format!("{token:?} {client:?}");
    for secret in ["AT-SECRET", "RT-SECRET", "CLIENT-SECRET"] {
        assert!(!printed.contains(secret), "{printed}");
    }
}

//! Widely used client libraries against the sandbox, as a learner's own code would use them: the
//! Rust `oauth2` crate here (in `cargo test`), and openid-client, an OpenID Certified library, run
//! by node (ignored: `.ci/run` runs it after `npm ci --prefix tests/clients`).

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, ResourceOwnerPassword, ResourceOwnerUsername, TokenResponse,
    TokenUrl,
};

use crate::helpers::*;

/// oauth2's HTTP client, built on the app's own reqwest (the crate's `reqwest` feature would bring
/// a second reqwest and TLS stack): its `AsyncHttpClient` is any such function.
async fn send(http: reqwest::Client, request: HttpRequest) -> Result<HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let response = http.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body).send().await?;
    let mut answer = oauth2::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        answer = answer.header(name, value);
    }
    Ok(answer.body(response.bytes().await?.to_vec()).expect("a response"))
}

/// A client with an authorization and a token endpoint.
type Client = BasicClient<
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

/// The sandbox's token and authorization endpoints for `key` / `secret`, with the app's callback.
fn client_for(
    app: &TestApp,
    key: &str,
    secret: &str,
) -> oauth2::basic::BasicClient<
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    BasicClient::new(ClientId::new(key.into()))
        .set_client_secret(ClientSecret::new(secret.into()))
        .set_auth_uri(AuthUrl::new(app.url("/sandbox/site/oauth2/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/sandbox/site/oauth2/access_token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(app.url("/oauth-callback")).unwrap())
}

/// A code for the demo user from the sandbox's page, for an authorization request with PKCE;
/// and the verifier.
async fn code_with_pkce(app: &TestApp, client: &Client) -> (AuthorizationCode, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client.authorize_url(CsrfToken::new_random).set_pkce_challenge(challenge).url();
    let back = sandbox_authorize(app, url.as_str().trim_start_matches(&app.address), "grant").await;
    assert_eq!(query_param(&back, "state").as_deref(), Some(state.secret().as_str()), "{back}");
    (AuthorizationCode::new(query_param(&back, "code").expect("a code")), verifier)
}

#[tokio::test]
async fn the_oauth2_crate_completes_every_grant_against_the_sandbox_and_refresh_tokens_rotate() {
    let app = spawn_sandbox_app().await;
    let http = |request| send(app.client.clone(), request);
    let client = client_for(&app, "sandbox-consumer-key", "sandbox-consumer-secret");

    let (code, verifier) = code_with_pkce(&app, &client).await;
    let token = client.exchange_code(code).set_pkce_verifier(verifier).request_async(&http).await.expect("code");
    let first_refresh = token.refresh_token().expect("a refresh token").clone();

    let refreshed = client.exchange_refresh_token(&first_refresh).request_async(&http).await.expect("refresh");
    let second_refresh = refreshed.refresh_token().expect("a rotated refresh token");
    assert_ne!(second_refresh.secret(), first_refresh.secret());
    match client.exchange_refresh_token(&first_refresh).request_async(&http).await {
        Err(RequestTokenError::ServerResponse(refusal)) => {
            assert_eq!(*refusal.error(), BasicErrorResponseType::InvalidRequest, "{refusal:?}")
        }
        other => panic!("the used refresh token: {other:?}"),
    }

    let credentials = client.exchange_client_credentials().request_async(&http).await.expect("client credentials");
    assert!(credentials.refresh_token().is_none());
    let user = ResourceOwnerUsername::new("demo".into());
    let password = ResourceOwnerPassword::new("demo".into());
    let token = client.exchange_password(&user, &password).request_async(&http).await.expect("password grant");
    let api = app.client.get(app.url("/sandbox/api/2.0/user")).bearer_auth(token.access_token().secret());
    assert_eq!(app.send(api).await.status, 200);
}

#[tokio::test]
async fn the_oauth2_crate_sees_the_sandboxs_refusals_as_oauth_errors() {
    let app = spawn_sandbox_app().await;
    let http = |request| send(app.client.clone(), request);
    let client = client_for(&app, "sandbox-consumer-key", "sandbox-consumer-secret");
    let refused = |result: Result<_, RequestTokenError<_, oauth2::basic::BasicErrorResponse>>| match result {
        Err(RequestTokenError::ServerResponse(refusal)) => refusal.error().clone(),
        Err(other) => panic!("not an OAuth error: {other:?}"),
        Ok(_) => panic!("not refused"),
    };

    let (code, _) = code_with_pkce(&app, &client).await;
    let wrong = PkceCodeVerifier::new("a-wrong-verifier-of-the-right-length-43-chars".into());
    let result = client.exchange_code(code).set_pkce_verifier(wrong).request_async(&http).await;
    assert_eq!(refused(result), BasicErrorResponseType::InvalidGrant);

    let wrong_secret = client_for(&app, "sandbox-consumer-key", "not-the-secret");
    let result = wrong_secret.exchange_client_credentials().request_async(&http).await;
    assert_eq!(refused(result), BasicErrorResponseType::UnauthorizedClient);

    let public = client_for(&app, "sandbox-public-key", "sandbox-public-secret");
    let result = public.exchange_client_credentials().request_async(&http).await;
    assert_eq!(refused(result), BasicErrorResponseType::InvalidGrant);

    let user = ResourceOwnerUsername::new("demo".into());
    let password = ResourceOwnerPassword::new("wrong".into());
    let result = client.exchange_password(&user, &password).request_async(&http).await;
    assert_eq!(refused(result), BasicErrorResponseType::InvalidRequest);
}

/// openid-client (v6, OpenID Certified) against the sandbox: its client_secret_basic form-encodes
/// the id and secret, `-` as `%2D`, which the sandbox once refused on every token request.
#[tokio::test]
#[ignore = "needs node and `npm ci --prefix tests/clients`; .ci/run runs it"]
async fn openid_client_completes_every_token_request_against_the_sandbox() {
    let app = spawn_sandbox_app().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/bitbucket_sandbox_openid_client.mjs");
    let address = app.address.clone();
    let run = move || std::process::Command::new("node").arg(script).arg(address).output();
    let output = tokio::task::spawn_blocking(run).await.unwrap().expect("node");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "openid-client failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("7 passed, 0 failed"), "{stdout}");
}

//! The HTTP exchange of each step, recorded for the result page: the request as sent and the
//! answer as received, with secrets masked, plus the same call as `curl` and as Rust.
//!
//! Token requests go through the token module's own steps ([`token::build_token_request`],
//! [`token::read_response`], [`token::parse_token_response`]), so what is shown is exactly what was
//! sent and the protocol code exists once.

use serde_json::Value;

use crate::authorization_server::SnippetNames;
use crate::bitbucket::{self, ApiError, MAX_API_RESPONSE_BYTES};
use crate::grant::Grant;
use crate::secrets::{PASSWORD_MASK, partial};
use crate::token::{self, ClientAuth, ClientCredentials, RawResponse, TokenError, TokenResponse};

/// A header the app adds to its requests to its own sandbox, naming the end user (see
/// `sandbox::limits`). It is sent, never shown: the exchange records only the headers it lists.
pub type Relay = (reqwest::header::HeaderName, reqwest::header::HeaderValue);

/// One request and its answer, ready to display.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// What this step is, e.g. "Token request: password grant".
    pub title: String,
    /// `POST /site/oauth2/access_token HTTP/1.1`
    pub request_line: String,
    /// Headers as sent, secrets masked.
    pub request_headers: Vec<(String, String)>,
    /// The body as sent, secrets masked.
    pub request_body: Option<String>,
    /// `HTTP/1.1 200 OK`, or `None` when no answer came.
    pub status_line: Option<String>,
    /// The answer's headers that matter.
    pub response_headers: Vec<(String, String)>,
    /// The answer's body, pretty-printed if JSON, tokens masked.
    pub response_body: Option<String>,
    /// Why there is no answer (connection refused, timeout, body too large).
    pub failure: Option<String>,
    /// The same request as a `curl` command, secrets as environment variables.
    pub curl: String,
    /// The same request as Rust code using `src/token.rs`.
    pub rust: String,
}

impl Exchange {
    /// The exchange with `f` applied to every text it shows (to scrub secrets from all of them).
    pub fn map_text(self, f: impl Fn(&str) -> String) -> Exchange {
        let pairs = |pairs: Vec<(String, String)>| pairs.into_iter().map(|(k, v)| (f(&k), f(&v))).collect();
        Exchange {
            title: f(&self.title),
            request_line: f(&self.request_line),
            request_headers: pairs(self.request_headers),
            request_body: self.request_body.as_deref().map(&f),
            status_line: self.status_line.as_deref().map(&f),
            response_headers: pairs(self.response_headers),
            response_body: self.response_body.as_deref().map(&f),
            failure: self.failure.as_deref().map(&f),
            curl: f(&self.curl),
            rust: f(&self.rust),
        }
    }
}

/// A form field of a token request: its name, the value sent, and how to show it.
pub struct Field<'a> {
    name: &'a str,
    value: &'a str,
    shown: Shown,
}

#[derive(Clone, Copy, PartialEq)]
enum Shown {
    Plain,
    Password,
    Partial,
}

impl<'a> Field<'a> {
    /// A field shown as it is.
    pub fn plain(name: &'a str, value: &'a str) -> Self {
        Field { name, value, shown: Shown::Plain }
    }
    /// The password: always fully masked.
    pub fn password(value: &'a str) -> Self {
        Field { name: "password", value, shown: Shown::Password }
    }
    /// A token or code: shown as `abcd…wxyz`.
    pub fn secret(name: &'a str, value: &'a str) -> Self {
        Field { name, value, shown: Shown::Partial }
    }
}

/// The headers worth showing from an answer.
const SHOWN_RESPONSE_HEADERS: [&str; 7] =
    ["content-type", "cache-control", "pragma", "www-authenticate", "retry-after", "location", "content-length"];

/// The `Host` and the request target of an absolute URL, as they go on the wire. The URLs are
/// the app's own (checked and written by the URL parser when the settings were read or the
/// endpoints discovered, or by the explorer), so a split does what a full parse would: `scheme://host[:port]/path[?query]`, the scheme's default port left out.
fn url_parts(url: &str) -> (String, String) {
    let Some((scheme, rest)) = url.split_once("://") else { return (String::new(), url.to_owned()) };
    let rest = rest.split('#').next().unwrap_or("");
    let (authority, target) = rest.find(['/', '?']).map_or((rest, "/"), |at| rest.split_at(at));
    let default_port = if scheme.eq_ignore_ascii_case("https") { ":443" } else { ":80" };
    let host = authority.strip_suffix(default_port).unwrap_or(authority).to_ascii_lowercase();
    let target = if target.starts_with('?') { format!("/{target}") } else { target.to_owned() };
    (host, target)
}

fn status_line(status: u16) -> String {
    let reason = reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    format!("HTTP/1.1 {status} {reason}")
}

/// Secrets to mask in text that came back, each with what stands in for it.
type Masks<'a> = [(&'a str, String)];

/// Masks `access_token` and `refresh_token` values in a JSON answer, then pretty-prints it; other
/// bodies are shown as text, with every known secret masked.
/// `parsed` is the body already parsed, when the caller has it (it is not parsed twice).
fn show_body(raw: &RawResponse, parsed: Option<&Value>, secrets: &Masks<'_>) -> Option<String> {
    if raw.body.is_empty() {
        return None;
    }
    let read;
    let json = match parsed {
        Some(json) => Some(json),
        None => {
            read = serde_json::from_slice::<Value>(&raw.body).ok();
            read.as_ref()
        }
    };
    let text = match json {
        Some(json) if TOKEN_KEYS.iter().any(|key| json.get(key).is_some_and(Value::is_string)) => {
            let mut json = json.clone();
            for key in TOKEN_KEYS {
                if let Some(Value::String(value)) = json.get_mut(key) {
                    *value = partial(value);
                }
            }
            bitbucket::pretty(&json)
        }
        Some(json) => bitbucket::pretty(json),
        None => raw.excerpt(),
    };
    Some(mask_all(&text, secrets))
}

/// The keys of a JSON answer whose values are shown as `abcd…wxyz`.
const TOKEN_KEYS: [&str; 3] = ["access_token", "refresh_token", "device_code"];

/// `text` with each secret, and its URL-encoded form, replaced by its mask. Most texts hold no
/// secret (a header value, a user's profile): they are searched, not copied.
fn mask_all(text: &str, secrets: &Masks<'_>) -> String {
    let mut masks = crate::secrets::Replacer::default();
    for (secret, mask) in secrets.iter().filter(|(secret, _)| secret.len() >= 4) {
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        masks.add((*secret).to_owned(), mask);
        masks.add(encoded, mask);
    }
    masks.replace(text).into_owned()
}

fn record_response(
    exchange: &mut Exchange,
    response: &Result<RawResponse, TokenError>,
    parsed: Option<&Value>,
    secrets: &Masks<'_>,
) {
    match response {
        Ok(raw) => {
            exchange.status_line = Some(status_line(raw.status));
            exchange.response_headers = SHOWN_RESPONSE_HEADERS
                .iter()
                .filter_map(|name| {
                    let value = raw.headers.get(*name)?.to_str().ok()?;
                    Some((name.to_string(), mask_all(value, secrets)))
                })
                .collect();
            exchange.response_body = show_body(raw, parsed, secrets);
        }
        Err(TokenError::UnexpectedResponse { status, problem, excerpt }) => {
            exchange.status_line = Some(status_line(*status));
            exchange.failure = Some(mask_all(problem, secrets));
            exchange.response_body = Some(mask_all(excerpt, secrets)).filter(|b| !b.is_empty());
        }
        Err(error) => exchange.failure = Some(mask_all(&error.to_string(), secrets)),
    }
}

/// Quotes a value for a POSIX shell.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// What a form POST to the authorization server is for.
#[derive(Clone, Copy, Debug)]
pub enum Purpose {
    /// A token request for this grant (RFC 6749 §4, §6).
    Token(Grant),
    /// A revocation request (RFC 7009).
    Revocation,
    /// A device authorization request (RFC 8628 §3.1).
    DeviceAuthorization,
    /// An introspection request (RFC 7662).
    Introspection,
}

/// Sends a token request through the token module's steps and records it.
pub async fn token_request(
    http: &reqwest::Client,
    token_url: &str,
    client: &ClientCredentials<'_>,
    names: &SnippetNames,
    grant: Grant,
    fields: &[Field<'_>],
    relay: Option<&Relay>,
) -> (Exchange, Result<TokenResponse, TokenError>) {
    let (exchange, response) = post_form(http, token_url, client, names, Purpose::Token(grant), fields, relay).await;
    (exchange, response.and_then(|raw| token::parse_token_response(&raw)))
}

/// Sends a revocation request (RFC 7009) through the token module's steps and records it.
pub async fn revocation_request(
    http: &reqwest::Client,
    revocation_url: &str,
    client: &ClientCredentials<'_>,
    names: &SnippetNames,
    fields: &[Field<'_>],
    relay: Option<&Relay>,
) -> (Exchange, Result<(), TokenError>) {
    let (exchange, response) = post_form(http, revocation_url, client, names, Purpose::Revocation, fields, relay).await;
    (exchange, response.and_then(|raw| token::parse_revocation_response(&raw)))
}

/// Sends a device authorization request (RFC 8628 §3.1) through the token module's steps and records it.
pub async fn device_authorization_request(
    http: &reqwest::Client,
    url: &str,
    client: &ClientCredentials<'_>,
    names: &SnippetNames,
    fields: &[Field<'_>],
) -> (Exchange, Result<token::DeviceAuthorization, TokenError>) {
    let (exchange, response) = post_form(http, url, client, names, Purpose::DeviceAuthorization, fields, None).await;
    (exchange, response.and_then(|raw| token::parse_device_authorization_response(&raw)))
}

/// Sends an introspection request (RFC 7662) through the token module's steps and records it.
pub async fn introspection_request(
    http: &reqwest::Client,
    url: &str,
    client: &ClientCredentials<'_>,
    names: &SnippetNames,
    fields: &[Field<'_>],
) -> (Exchange, Result<token::Introspection, TokenError>) {
    let (exchange, response) = post_form(http, url, client, names, Purpose::Introspection, fields, None).await;
    (exchange, response.and_then(|raw| token::parse_introspection_response(&raw)))
}

/// Posts `fields` with the client's credentials, as the token module does, and records it.
async fn post_form(
    http: &reqwest::Client,
    url: &str,
    client: &ClientCredentials<'_>,
    names: &SnippetNames,
    purpose: Purpose,
    fields: &[Field<'_>],
    relay: Option<&Relay>,
) -> (Exchange, Result<RawResponse, TokenError>) {
    let form: Vec<(&str, &str)> = fields.iter().map(|f| (f.name, f.value)).collect();
    let (host, target) = url_parts(url);
    let mut shown: Vec<String> = fields
        .iter()
        .map(|field| {
            let value = match field.shown {
                Shown::Plain => url::form_urlencoded::byte_serialize(field.value.as_bytes()).collect(),
                Shown::Password => PASSWORD_MASK.to_owned(),
                Shown::Partial => partial(field.value),
            };
            format!("{}={value}", field.name)
        })
        .collect();
    let mut request_headers = vec![("Host".to_owned(), host)];
    match client.auth {
        ClientAuth::Basic => {
            let basic = client.basic_authorization();
            request_headers
                .push(("Authorization".into(), format!("Basic {}", partial(basic.trim_start_matches("Basic ")))))
        }
        ClientAuth::Post => {
            let id: String = url::form_urlencoded::byte_serialize(client.client_id.as_bytes()).collect();
            shown.push(format!("client_id={id}"));
            shown.push(format!("client_secret={}", partial(client.client_secret)));
        }
        ClientAuth::None => {
            shown.push(format!(
                "client_id={}",
                url::form_urlencoded::byte_serialize(client.client_id.as_bytes()).collect::<String>()
            ));
        }
    }
    request_headers.extend([
        ("Content-Type".to_owned(), "application/x-www-form-urlencoded".to_owned()),
        ("Accept".into(), "application/json".into()),
    ]);
    let title = match purpose {
        Purpose::Token(Grant::DeviceCode) => "Token request: a poll with the device code (RFC 8628 §3.4)".to_owned(),
        Purpose::Token(grant) => format!("Token request: {}", grant.name()),
        Purpose::Revocation => "Revocation request (RFC 7009)".to_owned(),
        Purpose::DeviceAuthorization => "Device authorization request (RFC 8628 §3.1)".to_owned(),
        Purpose::Introspection => "Introspection request (RFC 7662)".to_owned(),
    };
    let mut exchange = Exchange {
        title,
        request_line: format!("POST {target} HTTP/1.1"),
        request_headers,
        request_body: Some(shown.join("&")),
        status_line: None,
        response_headers: Vec::new(),
        response_body: None,
        failure: None,
        curl: token_curl(url, client, names, fields),
        rust: token_rust(url, purpose, client.auth, names, fields),
    };
    let request = match token::build_token_request(http, url, client, &form) {
        Ok(mut request) => {
            if let Some((name, value)) = relay {
                request.headers_mut().insert(name, value.clone());
            }
            request
        }
        Err(error) => {
            exchange.failure = Some(error.to_string());
            return (exchange, Err(error));
        }
    };
    let length = request.body().and_then(|b| b.as_bytes()).map_or(0, <[u8]>::len);
    exchange.request_headers.push(("Content-Length".into(), length.to_string()));

    let basic = client.basic_authorization();
    let basic = basic.trim_start_matches("Basic ");
    let mut secrets: Vec<(&str, String)> =
        vec![(client.client_secret, partial(client.client_secret)), (basic, partial(basic))];
    for field in fields {
        match field.shown {
            Shown::Plain => {}
            Shown::Password => secrets.push((field.value, PASSWORD_MASK.to_owned())),
            Shown::Partial => secrets.push((field.value, partial(field.value))),
        }
    }
    let response = token::read_response(http.execute(request).await, token::MAX_TOKEN_RESPONSE_BYTES).await;
    record_response(&mut exchange, &response, None, &secrets);
    (exchange, response)
}

fn token_curl(url: &str, client: &ClientCredentials<'_>, names: &SnippetNames, fields: &[Field<'_>]) -> String {
    let SnippetNames { client_id: id, client_secret: secret, password } = names;
    let mut lines = vec![format!("curl -sS -X POST {}", shell_quote(url))];
    match client.auth {
        ClientAuth::Basic => lines.push(format!(r#"  -u "${id}:${secret}""#)),
        ClientAuth::Post => lines.extend([
            format!(r#"  --data-urlencode "client_id=${id}""#),
            format!(r#"  --data-urlencode "client_secret=${secret}""#),
        ]),
        ClientAuth::None => lines.push(format!(r#"  --data-urlencode "client_id=${id}""#)),
    }
    for field in fields {
        lines.push(match (field.shown, field.name) {
            (Shown::Plain, "grant_type") => format!("  -d grant_type={}", field.value),
            (Shown::Plain, name) => format!("  --data-urlencode {}", shell_quote(&format!("{name}={}", field.value))),
            (Shown::Password, _) => format!(r#"  --data-urlencode "password=${password}""#),
            (Shown::Partial, name) => format!(r#"  --data-urlencode "{name}=${}""#, name.to_ascii_uppercase()),
        });
    }
    let command = lines.join(" \\\n");
    let plain = |v: &str| v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if client.auth == ClientAuth::Basic && !(plain(client.client_id) && plain(client.client_secret)) {
        // curl -u sends the pair as it is; RFC 6749 §2.3.1 wants each half form-urlencoded first.
        format!(
            "# This client's id or secret holds characters that RFC 6749 §2.3.1 has form-urlencoded before\n\
             # Basic; curl -u sends them as they are: export ${id} and ${secret} already encoded.\n{command}"
        )
    } else {
        command
    }
}

fn token_rust(url: &str, purpose: Purpose, auth: ClientAuth, names: &SnippetNames, fields: &[Field<'_>]) -> String {
    let value = |name: &str| fields.iter().find(|f| f.name == name).map(|f| f.value);
    let scope = match value("scope") {
        Some(scope) => format!("Some({scope:?})"),
        None => "None".to_owned(),
    };
    let call = match purpose {
        Purpose::Token(Grant::Password) => format!(
            "token::password_grant(&http, {url:?}, &client, {:?}, &std::env::var({:?})?, {scope})",
            value("username").unwrap_or(""),
            names.password
        ),
        Purpose::Token(Grant::AuthorizationCode) => {
            let redirect = value("redirect_uri").map_or("None".to_owned(), |uri| format!("Some({uri:?})"));
            let verifier = if value("code_verifier").is_some() { "Some(&code_verifier)" } else { "None" };
            format!("token::authorization_code_grant(&http, {url:?}, &client, &code, {redirect}, {verifier})")
        }
        Purpose::Token(Grant::ClientCredentials) => {
            format!("token::client_credentials_grant(&http, {url:?}, &client, {scope})")
        }
        Purpose::Token(Grant::RefreshToken) => {
            format!("token::refresh_token_grant(&http, {url:?}, &client, &refresh_token)")
        }
        Purpose::Token(Grant::DeviceCode) => {
            format!("token::poll_device_token(&http, {url:?}, &client, &device, tokio::time::sleep, |_| {{}})")
        }
        Purpose::Revocation => {
            format!("token::revoke_token(&http, {url:?}, &client, &access_token, Some(\"access_token\"))")
        }
        Purpose::DeviceAuthorization => format!("token::device_authorization(&http, {url:?}, &client, {scope})"),
        Purpose::Introspection => {
            format!("token::introspect_token(&http, {url:?}, &client, &access_token, Some(\"access_token\"))")
        }
    };
    let client = match auth {
        ClientAuth::Basic => "token::ClientCredentials::basic(&key, &secret)",
        ClientAuth::Post => {
            "token::ClientCredentials { client_id: &key, client_secret: &secret, auth: token::ClientAuth::Post }"
        }
        ClientAuth::None => {
            "token::ClientCredentials { client_id: &key, client_secret: \"\", auth: token::ClientAuth::None }"
        }
    };
    let result = match purpose {
        Purpose::Token(_) => {
            format!(
                "let token = {call}.await?;\nprintln!(\"{{}} token, expires in {{:?}} s\", token.token_type, token.expires_in);"
            )
        }
        Purpose::Revocation => format!("{call}.await?; // 200: the token no longer works"),
        Purpose::DeviceAuthorization => format!(
            "let device = {call}.await?;\nprintln!(\"Open {{}} and enter {{}}\", device.verification_uri, device.user_code);"
        ),
        Purpose::Introspection => format!("let answer = {call}.await?;\nprintln!(\"active: {{}}\", answer.active);"),
    };
    format!(
        "// src/token.rs, copied into your crate as `mod token;`\n\
         let http = token::http_client(Duration::from_secs(5), Duration::from_secs(10))?;\n\
         let (key, secret) = (std::env::var({:?})?, std::env::var({:?})?);\n\
         let client = {client};\n\
         {result}",
        names.client_id, names.client_secret
    )
}

/// Calls `GET {url}` with the access token and records it. The token is masked wherever it shows,
/// in the URL too (a path or query typed in the explorer may carry it): the title, the request
/// line, the snippets (where `curl` reads it from `$ACCESS_TOKEN`), the headers and the answer.
pub async fn api_call(
    http: &reqwest::Client,
    url: &str,
    access_token: &str,
    relay: Option<&Relay>,
) -> (Exchange, Result<Value, ApiError>) {
    let masks = [(access_token, partial(access_token))];
    let shown_url = mask_all(url, &masks);
    let (host, target) = url_parts(&shown_url);
    let curl_url = mask_all(&shell_quote(url), &[(access_token, r#"'"$ACCESS_TOKEN"'"#.to_owned())]);
    let mut exchange = Exchange {
        title: format!("API call: GET {target}"),
        request_line: format!("GET {target} HTTP/1.1"),
        request_headers: vec![
            ("Host".into(), host),
            ("Authorization".into(), format!("Bearer {}", partial(access_token))),
            ("Accept".into(), "application/json".into()),
        ],
        request_body: None,
        status_line: None,
        response_headers: Vec::new(),
        response_body: None,
        failure: None,
        curl: format!("curl -sS {curl_url} \\\n  -H \"Authorization: Bearer $ACCESS_TOKEN\""),
        rust: format!(
            "let answer: serde_json::Value = http\n    .get({shown_url:?})\n    .bearer_auth(&token.access_token)\n    \
             .send()\n    .await?\n    .error_for_status()?\n    .json()\n    .await?;"
        ),
    };
    let mut request = http.get(url).bearer_auth(access_token).header(reqwest::header::ACCEPT, "application/json");
    if let Some((name, value)) = relay {
        request = request.header(name, value);
    }
    let sent = request.send().await;
    let response = token::read_response(sent, MAX_API_RESPONSE_BYTES).await;
    let result = match &response {
        Ok(raw) => bitbucket::parse_api_response(raw),
        Err(error) => Err(ApiError::Transport(error.clone())),
    };
    record_response(&mut exchange, &response, result.as_ref().ok(), &masks);
    (exchange, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The split agrees with a full URL parse on every shape of URL the app sends to.
    #[test]
    fn url_parts_agree_with_the_url_parser() {
        for url in [
            "https://bitbucket.org/site/oauth2/access_token",
            "https://api.bitbucket.org/2.0/user",
            "https://api.bitbucket.org:443/2.0/repositories?role=member&pagelen=5",
            "http://127.0.0.1:8080/realms/demo/protocol/openid-connect/token",
            "http://LOCALHOST:80/sandbox/api/2.0/user",
            "http://[::1]:3000/sandbox",
            "https://issuer.example?x=1",
            "http://localhost:3000/sandbox/api/2.0/user/emails#frag",
        ] {
            let parsed = url::Url::parse(url).unwrap();
            let host = match parsed.port() {
                Some(port) => format!("{}:{port}", parsed.host_str().unwrap()),
                None => parsed.host_str().unwrap().to_owned(),
            };
            let target = format!("{}{}", parsed.path(), parsed.query().map(|q| format!("?{q}")).unwrap_or_default());
            assert_eq!(url_parts(url), (host, target), "{url}");
        }
    }

    #[test]
    fn mask_all_masks_plain_and_url_encoded_forms_and_leaves_other_text_alone() {
        let masks = [("p@ss word!", PASSWORD_MASK.to_owned()), ("tok", "••••".to_owned())];
        assert_eq!(mask_all("a=p%40ss+word%21&b=p@ss word!", &masks), "a=••••••••&b=••••••••");
        assert_eq!(mask_all("tok is too short to mask", &masks), "tok is too short to mask");
        assert_eq!(mask_all("", &masks), "");
    }

    #[test]
    fn a_long_password_echoed_back_is_fully_masked() {
        let masks = [("correct-horse-battery-staple", PASSWORD_MASK.to_owned())];
        let shown = mask_all("you sent correct-horse-battery-staple and correct-horse-battery-staple", &masks);
        assert_eq!(shown, "you sent •••••••• and ••••••••");
    }

    #[test]
    fn curl_uses_environment_variables_for_every_secret() {
        let fields =
            [Field::plain("grant_type", "password"), Field::plain("username", "o'brien"), Field::password("hunter2")];
        let client = ClientCredentials::basic("key", "secret");
        let bitbucket = &SnippetNames::BITBUCKET;
        let curl = token_curl("https://bitbucket.org/site/oauth2/access_token", &client, bitbucket, &fields);
        assert!(curl.contains(r#"-u "$BITBUCKET_CONSUMER_KEY:$BITBUCKET_CONSUMER_SECRET""#), "{curl}");
        assert!(curl.contains(r#"--data-urlencode "password=$BB_PASSWORD""#), "{curl}");
        assert!(curl.contains(r"--data-urlencode 'username=o'\''brien'"), "{curl}");
        assert!(!curl.contains("hunter2"));
        let refresh =
            [Field::plain("grant_type", "refresh_token"), Field::secret("refresh_token", "RT-very-secret-value")];
        let curl = token_curl("u", &client, bitbucket, &refresh);
        assert!(curl.contains(r#""refresh_token=$REFRESH_TOKEN""#), "{curl}");
        assert!(!curl.contains("RT-very-secret-value"));
        // Another server's snippets speak OAuth's words, and say when -u is not enough.
        let odd = ClientCredentials::basic("client", "s3cr+t:/ x");
        let curl = token_curl("u", &odd, &SnippetNames::STANDARD, &fields);
        assert!(curl.contains(r#"-u "$OAUTH_CLIENT_ID:$OAUTH_CLIENT_SECRET""#), "{curl}");
        assert!(curl.contains(r#"password=$OAUTH_PASSWORD"#) && curl.contains("RFC 6749 §2.3.1"), "{curl}");
        assert!(!curl.contains("BITBUCKET") && !curl.contains("s3cr"), "{curl}");
    }

    #[test]
    fn rust_snippet_calls_the_token_module() {
        let fields = [Field::plain("grant_type", "password"), Field::plain("username", "demo"), Field::password("pw")];
        let rust = token_rust(
            "https://x/site/oauth2/access_token",
            Purpose::Token(Grant::Password),
            ClientAuth::Basic,
            &SnippetNames::BITBUCKET,
            &fields,
        );
        assert!(rust.contains(r#"token::password_grant(&http, "https://x/site/oauth2/access_token", &client, "demo", &std::env::var("BB_PASSWORD")?, None)"#), "{rust}");
        assert!(!rust.contains("\"pw\""));
    }
}

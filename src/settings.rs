//! Settings: `config.json`, overridden by environment variables, validated once at start-up.
//!
//! A bad setting stops the program before it listens, with one line that names the file (or the
//! variable), the key and the problem. See [`ConfigError`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use serde::Deserialize;
use url::Url;

use crate::sandbox::SandboxOptions;
use crate::token::ClientAuth;

pub use crate::sandbox::{SANDBOX_CONSUMER_KEY, SANDBOX_CONSUMER_SECRET};

/// The sign-in's `state` lasts ten minutes.
pub const DEFAULT_STATE_LIFETIME: Duration = Duration::from_secs(600);

/// Ten failed password attempts a minute per client, then 429.
pub const DEFAULT_FAILED_ATTEMPTS_PER_MINUTE: u32 = 10;

/// Everything the app needs to know, typed and checked.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The OAuth consumer's key (`client_id`).
    pub consumer_key: String,
    /// The OAuth consumer's secret; `Debug` prints `[REDACTED]`.
    pub consumer_secret: SecretString,
    /// The authorization server: the token URL is `{bitbucket_url}/site/oauth2/access_token`.
    pub bitbucket_url: Url,
    /// The REST API: the sample call is `GET {api_url}/2.0/user`.
    pub api_url: Url,
    /// Discover the endpoints from this issuer's metadata (RFC 8414, then OpenID Connect Discovery).
    pub issuer: Option<Url>,
    /// Endpoints set one by one; each wins over discovery and over the Bitbucket defaults.
    pub endpoints: ConfiguredEndpoints,
    /// Scopes to ask for (space-separated); empty sends no `scope`.
    pub scope: String,
    /// The `redirect_uri`; `None` means `http://localhost:{port}/oauth-callback`.
    pub callback_url: Option<Url>,
    /// How the client authenticates at the token endpoint; `None` means "basic, unless discovery
    /// says the server accepts only post".
    pub client_auth: Option<ClientAuth>,
    /// Send PKCE (S256) on the authorization code grant.
    pub pkce: bool,
    /// Serve and use the built-in Bitbucket emulator instead of `bitbucket_url`/`api_url`.
    pub sandbox: bool,
    /// How the sandbox behaves (only used in sandbox mode).
    pub sandbox_options: SandboxOptions,
    /// Which built-in server sandbox mode runs: the Bitbucket sandbox, or the standard one.
    pub sandbox_server: SandboxServer,
    /// Outbound HTTP limits.
    pub upstream: UpstreamLimits,
    /// How long a sign-in (authorization code grant) may take, from `/authorize` to the callback.
    pub state_lifetime: Duration,
    /// Failed password attempts a client may make per minute before it gets 429.
    pub failed_attempts_per_minute: u32,
    /// The most a whole request may take (408 past it): two upstream exchanges and some slack.
    pub request_timeout: Duration,
    /// The listener's timeouts, connection limit and shutdown deadline.
    pub server: crate::server::Limits,
    /// Host names (with or without port) the app answers besides localhost, 127.0.0.1, [::1] and
    /// the callback's host (`allowedHosts`, `ALLOWED_HOSTS`).
    pub allowed_hosts: Vec<String>,
    /// The key that signs the state cookie, shared by instances behind one address
    /// (`cookieSecret`, `COOKIE_SECRET`); `None`: a random key per process.
    pub cookie_secret: Option<SecretString>,
    /// Where the settings came from, for messages.
    pub config_path: PathBuf,
    /// The folder served at `/static/`.
    pub static_dir: PathBuf,
}

/// The built-in server sandbox mode runs (`sandboxServer`, `SANDBOX_SERVER`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SandboxServer {
    /// The Bitbucket sandbox: bitbucket.org's endpoints and answers, offline (the default).
    #[default]
    Bitbucket,
    /// A standard OAuth 2.0 / OpenID Connect server (`src/standard_sandbox/`), reached by discovery
    /// like a real one: the device flow, introspection, JWT access tokens, userinfo.
    Standard,
}

/// Endpoints given one by one in the settings (`tokenUrl`, `authorizeUrl`, `userUrl`,
/// `revocationUrl`).
#[derive(Clone, Debug, Default)]
pub struct ConfiguredEndpoints {
    /// The token endpoint.
    pub token: Option<Url>,
    /// The authorization endpoint.
    pub authorize: Option<Url>,
    /// The call that names the signed-in user (Bitbucket's `/2.0/user`, OpenID's userinfo).
    pub user: Option<Url>,
    /// The revocation endpoint (RFC 7009).
    pub revocation: Option<Url>,
    /// The introspection endpoint (RFC 7662).
    pub introspection: Option<Url>,
    /// The device authorization endpoint (RFC 8628).
    pub device_authorization: Option<Url>,
}

impl ConfiguredEndpoints {
    /// True when at least one endpoint is set.
    pub fn any(&self) -> bool {
        [&self.token, &self.authorize, &self.user, &self.revocation, &self.introspection, &self.device_authorization]
            .iter()
            .any(|e| e.is_some())
    }
}

/// Limits on calls to the authorization server and the API.
#[derive(Clone, Copy, Debug)]
pub struct UpstreamLimits {
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for a whole exchange, body included.
    pub timeout: Duration,
}

impl UpstreamLimits {
    /// The most a whole request may take: two upstream exchanges and some slack.
    pub fn request_timeout(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(5)
    }
}

impl Default for UpstreamLimits {
    fn default() -> Self {
        Self { connect_timeout: Duration::from_secs(5), timeout: Duration::from_secs(10) }
    }
}

/// `config.json` as written on disk. Unknown keys are refused, so a typo is caught.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigFile {
    consumer_key: Option<String>,
    consumer_secret: Option<SecretString>,
    bitbucket_url: Option<String>,
    api_url: Option<String>,
    issuer: Option<String>,
    token_url: Option<String>,
    authorize_url: Option<String>,
    user_url: Option<String>,
    revocation_url: Option<String>,
    introspection_url: Option<String>,
    device_authorization_url: Option<String>,
    scope: Option<String>,
    callback_url: Option<String>,
    client_auth: Option<String>,
    pkce: Option<bool>,
    sandbox: Option<bool>,
    sandbox_password_grant: Option<bool>,
    sandbox_server: Option<String>,
    timeout_seconds: Option<u64>,
    connect_timeout_seconds: Option<u64>,
    failed_attempts_per_minute: Option<u32>,
    header_read_timeout_seconds: Option<u64>,
    idle_timeout_seconds: Option<u64>,
    max_connections: Option<usize>,
    shutdown_deadline_seconds: Option<u64>,
    allowed_hosts: Option<Vec<String>>,
    cookie_secret: Option<SecretString>,
}

/// A setting that stops start-up. Displays as one line: `where: key: problem`.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {key}: {problem}")]
pub struct ConfigError {
    /// The file, or `environment variable NAME`.
    pub source_name: String,
    /// The key in `config.json` the problem is about.
    pub key: std::borrow::Cow<'static, str>,
    /// What is wrong, and where useful, how to fix it.
    pub problem: String,
}

impl Settings {
    /// Reads `config_path`, applies overrides from `env` (a lookup such as
    /// `|name| std::env::var(name).ok()`), and validates the result.
    pub fn load(config_path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let file_name = config_path.display().to_string();
        let file_error = |key: &'static str, problem: String| ConfigError {
            source_name: file_name.clone(),
            key: key.into(),
            problem,
        };
        let text = std::fs::read_to_string(config_path)
            .map_err(|e| file_error("(file)", format!("cannot read the config file: {e}")))?;
        // The path of a bad value names its key: `consumerKey: invalid type: integer …`.
        let file: ConfigFile = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(&text))
            .map_err(|e| {
                let key = match e.path().to_string() {
                    path if e.inner().is_data() && path != "." => path,
                    _ if e.inner().is_data() => "(keys)".to_owned(),
                    _ => "(syntax)".to_owned(),
                };
                ConfigError {
                    source_name: file_name.clone(),
                    key: key.into(),
                    problem: format!("not a valid config file: {}", e.inner()),
                }
            })?;

        // Each setting: the environment wins over the file; remember which one it came from.
        let pick = |var: &'static str, from_file: Option<String>| match env(var) {
            Some(value) => (Some(value), format!("environment variable {var}")),
            None => (from_file, file_name.clone()),
        };
        let required = |key: &'static str, var: &'static str, from_file: Option<String>| {
            let (value, source_name) = pick(var, from_file);
            match value {
                Some(value) if !value.trim().is_empty() => Ok(value),
                Some(_) => Err(ConfigError { source_name, key: key.into(), problem: "must not be empty".into() }),
                None => Err(ConfigError {
                    source_name,
                    key: key.into(),
                    problem: format!("missing; set it in the file or in {var}"),
                }),
            }
        };
        let url = |key: &'static str, var: &'static str, from_file: Option<String>, default: &str| {
            let (value, source_name) = pick(var, from_file);
            let value = value.unwrap_or_else(|| default.to_owned());
            parse_base_url(&value).map_err(|problem| ConfigError { source_name, key: key.into(), problem })
        };

        // The client's id and secret: Bitbucket's names, or OAuth's for any other server.
        let either =
            |key: &'static str, bitbucket: &'static str, oauth: &'static str| match (env(bitbucket), env(oauth)) {
                (Some(a), Some(b)) if a != b => Err(ConfigError {
                    source_name: format!("environment variables {bitbucket} and {oauth}"),
                    key: key.into(),
                    problem: "both are set, to different values; set one".into(),
                }),
                (_, Some(_)) => Ok(oauth),
                _ => Ok(bitbucket),
            };
        let consumer_key = required(
            "consumerKey",
            either("consumerKey", "BITBUCKET_CONSUMER_KEY", "OAUTH_CLIENT_ID")?,
            file.consumer_key,
        )?;
        let consumer_secret = required(
            "consumerSecret",
            either("consumerSecret", "BITBUCKET_CONSUMER_SECRET", "OAUTH_CLIENT_SECRET")?,
            file.consumer_secret.map(|s| s.expose_secret().to_owned()),
        )?;
        let bitbucket_url = url("bitbucketUrl", "BITBUCKET_URL", file.bitbucket_url, "https://bitbucket.org")?;
        let api_url = url("apiUrl", "BITBUCKET_API_URL", file.api_url, "https://api.bitbucket.org")?;
        let flag = |key: &'static str, var: &'static str, from_file: Option<bool>, default: bool| match env(var) {
            Some(value) => parse_bool(&value).ok_or_else(|| ConfigError {
                source_name: format!("environment variable {var}"),
                key: key.into(),
                problem: format!("{value:?} is not true or false"),
            }),
            None => Ok(from_file.unwrap_or(default)),
        };
        let sandbox = flag("sandbox", "BITBUCKET_SANDBOX", file.sandbox, false)?;
        let pkce = flag("pkce", "OAUTH_PKCE", file.pkce, true)?;
        let endpoint = |key: &'static str, var: &'static str, from_file: Option<String>| {
            let (value, source_name) = pick(var, from_file);
            match value.filter(|v| !v.trim().is_empty()) {
                None => Ok(None),
                Some(value) => parse_endpoint_url(&value).map(Some).map_err(|problem| ConfigError {
                    source_name,
                    key: key.into(),
                    problem,
                }),
            }
        };
        let issuer = endpoint("issuer", "OAUTH_ISSUER", file.issuer)?;
        let endpoints = ConfiguredEndpoints {
            token: endpoint("tokenUrl", "OAUTH_TOKEN_URL", file.token_url)?,
            authorize: endpoint("authorizeUrl", "OAUTH_AUTHORIZE_URL", file.authorize_url)?,
            user: endpoint("userUrl", "OAUTH_USER_URL", file.user_url)?,
            revocation: endpoint("revocationUrl", "OAUTH_REVOCATION_URL", file.revocation_url)?,
            introspection: endpoint("introspectionUrl", "OAUTH_INTROSPECTION_URL", file.introspection_url)?,
            device_authorization: endpoint(
                "deviceAuthorizationUrl",
                "OAUTH_DEVICE_AUTHORIZATION_URL",
                file.device_authorization_url,
            )?,
        };
        if issuer.is_none() && endpoints.any() && endpoints.token.is_none() {
            let (_, source_name) = pick("OAUTH_TOKEN_URL", None);
            return Err(ConfigError {
                source_name,
                key: "tokenUrl".into(),
                problem: "missing: endpoints are set one by one, so the token endpoint is needed too (or set \
                          issuer, OAUTH_ISSUER, to discover them all)"
                    .into(),
            });
        }
        let callback_url = endpoint("callbackUrl", "OAUTH_CALLBACK_URL", file.callback_url)?;
        let scope =
            pick("OAUTH_SCOPE", file.scope).0.unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ");
        let client_auth = match pick("OAUTH_CLIENT_AUTH", file.client_auth) {
            (None, _) => None,
            (Some(value), source_name) => Some(match value.trim().to_ascii_lowercase().as_str() {
                "basic" | "client_secret_basic" => ClientAuth::Basic,
                "post" | "client_secret_post" => ClientAuth::Post,
                "none" => ClientAuth::None,
                _ => {
                    return Err(ConfigError {
                        source_name,
                        key: "clientAuth".into(),
                        problem: format!("{value:?} is not basic, post or none"),
                    });
                }
            }),
        };
        let password_grant =
            flag("sandboxPasswordGrant", "BITBUCKET_SANDBOX_PASSWORD_GRANT", file.sandbox_password_grant, true)?;
        let sandbox_server = match pick("SANDBOX_SERVER", file.sandbox_server) {
            (None, _) => SandboxServer::Bitbucket,
            (Some(value), source_name) => match value.trim().to_ascii_lowercase().as_str() {
                "bitbucket" => SandboxServer::Bitbucket,
                "standard" => SandboxServer::Standard,
                _ => {
                    return Err(ConfigError {
                        source_name,
                        key: "sandboxServer".into(),
                        problem: format!("{value:?} is not bitbucket or standard"),
                    });
                }
            },
        };
        let seconds = |key: &'static str, value: Option<u64>, default: Duration| match value {
            None => Ok(default),
            Some(0) => Err(file_error(key, "must be at least 1 second".into())),
            Some(s) => Ok(Duration::from_secs(s)),
        };
        let defaults = UpstreamLimits::default();
        let upstream = UpstreamLimits {
            timeout: seconds("timeoutSeconds", file.timeout_seconds, defaults.timeout)?,
            connect_timeout: seconds("connectTimeoutSeconds", file.connect_timeout_seconds, defaults.connect_timeout)?,
        };

        let limits = crate::server::Limits::default();
        let server = crate::server::Limits {
            header_read_timeout: seconds(
                "headerReadTimeoutSeconds",
                file.header_read_timeout_seconds,
                limits.header_read_timeout,
            )?,
            idle_timeout: seconds("idleTimeoutSeconds", file.idle_timeout_seconds, limits.idle_timeout)?,
            shutdown_deadline: seconds(
                "shutdownDeadlineSeconds",
                file.shutdown_deadline_seconds,
                limits.shutdown_deadline,
            )?,
            max_connections: match file.max_connections {
                Some(0) => return Err(file_error("maxConnections", "must be at least 1".into())),
                Some(n) => n,
                None => limits.max_connections,
            },
        };
        let allowed_hosts = match env("ALLOWED_HOSTS") {
            Some(list) => list.split(',').map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect(),
            None => file.allowed_hosts.unwrap_or_default().iter().map(|h| h.trim().to_ascii_lowercase()).collect(),
        };
        let cookie_secret = match env("COOKIE_SECRET") {
            Some(secret) => Some(SecretString::from(secret)),
            None => file.cookie_secret,
        };
        if cookie_secret.as_ref().is_some_and(|s| s.expose_secret().len() < 32) {
            return Err(ConfigError {
                source_name: file_name.clone(),
                key: "cookieSecret".into(),
                problem: "must be at least 32 characters (it signs the sign-in's state)".into(),
            });
        }
        let failed_attempts_per_minute = match env("FAILED_ATTEMPTS_PER_MINUTE") {
            Some(value) => value.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| ConfigError {
                source_name: "environment variable FAILED_ATTEMPTS_PER_MINUTE".into(),
                key: "failedAttemptsPerMinute".into(),
                problem: format!("{value:?} is not a whole number of at least 1"),
            })?,
            None => match file.failed_attempts_per_minute {
                Some(0) => {
                    return Err(file_error("failedAttemptsPerMinute", "must be at least 1".into()));
                }
                Some(n) => n,
                None => DEFAULT_FAILED_ATTEMPTS_PER_MINUTE,
            },
        };

        Ok(Settings {
            consumer_key: consumer_key.trim().to_owned(),
            consumer_secret: SecretString::from(consumer_secret),
            bitbucket_url,
            api_url,
            issuer,
            endpoints,
            scope,
            callback_url,
            client_auth,
            pkce,
            sandbox,
            sandbox_options: SandboxOptions { password_grant, ..SandboxOptions::default() },
            sandbox_server,
            upstream,
            state_lifetime: DEFAULT_STATE_LIFETIME,
            failed_attempts_per_minute,
            request_timeout: upstream.request_timeout(),
            server,
            allowed_hosts,
            cookie_secret,
            config_path: config_path.to_owned(),
            static_dir: PathBuf::from("static"),
        })
    }

    /// True when the settings describe a standard OAuth 2.0 / OpenID Connect server (an issuer, or
    /// endpoints one by one) rather than Bitbucket at `bitbucketUrl`: then `bitbucketUrl` and
    /// `apiUrl` are not used, and no Bitbucket default fills a missing endpoint.
    pub fn describes_standard_server(&self) -> bool {
        !self.sandbox && (self.issuer.is_some() || self.endpoints.any())
    }

    /// Settings for the built-in sandbox with its demo consumer: what the shipped `config.json`
    /// holds. Tests start from here.
    pub fn sandbox_defaults() -> Settings {
        Settings {
            consumer_key: SANDBOX_CONSUMER_KEY.into(),
            consumer_secret: SecretString::from(SANDBOX_CONSUMER_SECRET),
            bitbucket_url: parse_base_url("https://bitbucket.org").expect("valid URL"),
            api_url: parse_base_url("https://api.bitbucket.org").expect("valid URL"),
            issuer: None,
            endpoints: ConfiguredEndpoints::default(),
            scope: String::new(),
            callback_url: None,
            client_auth: None,
            pkce: true,
            sandbox: true,
            sandbox_options: SandboxOptions::default(),
            sandbox_server: SandboxServer::Bitbucket,
            upstream: UpstreamLimits::default(),
            state_lifetime: DEFAULT_STATE_LIFETIME,
            failed_attempts_per_minute: DEFAULT_FAILED_ATTEMPTS_PER_MINUTE,
            request_timeout: UpstreamLimits::default().request_timeout(),
            server: crate::server::Limits::default(),
            allowed_hosts: Vec::new(),
            cookie_secret: None,
            config_path: PathBuf::from("config.json"),
            static_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/static")),
        }
    }
}

/// Parses a base URL such as `https://bitbucket.org`: http or https, a host, no credentials,
/// query or fragment. A trailing slash is removed so paths can be appended.
pub fn parse_base_url(value: &str) -> Result<Url, String> {
    let url = parse_endpoint_url(value)?;
    if url.query().is_some() {
        return Err(format!("{value:?} must not have a query or fragment"));
    }
    let trimmed = url.as_str().trim_end_matches('/').to_owned();
    Url::parse(&trimmed).map_err(|e| format!("{value:?} is not a valid URL ({e})"))
}

/// Parses the full URL of an endpoint or an issuer: http or https, a host, no credentials, no
/// fragment (RFC 6749 §3.1, §3.2; RFC 8414 §2).
pub fn parse_endpoint_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value.trim()).map_err(|e| format!("{value:?} is not a valid URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{value:?} must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{value:?} has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Named without them: a start-up line must not print a password.
        let mut shown = url.clone();
        let _ = (shown.set_username(""), shown.set_password(None));
        return Err(format!(
            "\"{shown}\" must not contain credentials (user:password@); use consumerKey/consumerSecret"
        ));
    }
    if url.fragment().is_some() {
        return Err(format!("{value:?} must not have a fragment"));
    }
    Ok(url)
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Joins a base URL and a path that starts with `/`.
pub fn join(base: &Url, path: &str) -> String {
    format!("{}{path}", base.as_str().trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn write_config(text: &str) -> (tempdir::Dir, PathBuf) {
        let dir = tempdir::Dir::new();
        let path = dir.path().join("config.json");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    /// A throw-away directory, removed on drop (std only, to avoid a dependency for this).
    mod tempdir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let path = std::env::temp_dir().join(format!("bb-settings-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&path).unwrap();
                Dir(path)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let (_dir, path) = write_config(text);
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::load(&path, |name| env.get(name).cloned())
    }

    const MINIMAL: &str = r#"{"consumerKey": "k", "consumerSecret": "s"}"#;

    #[test]
    fn minimal_file_gets_bitbucket_defaults() {
        let settings = load(MINIMAL, &[]).unwrap();
        assert_eq!(settings.bitbucket_url.as_str(), "https://bitbucket.org/");
        assert_eq!(
            join(&settings.bitbucket_url, "/site/oauth2/access_token"),
            "https://bitbucket.org/site/oauth2/access_token"
        );
        assert_eq!(join(&settings.api_url, "/2.0/user"), "https://api.bitbucket.org/2.0/user");
        assert!(!settings.sandbox);
    }

    #[test]
    fn environment_overrides_the_file() {
        let settings = load(
            MINIMAL,
            &[
                ("BITBUCKET_CONSUMER_KEY", "env-key"),
                ("BITBUCKET_CONSUMER_SECRET", "env-secret"),
                ("BITBUCKET_URL", "http://127.0.0.1:8080/auth/"),
                ("BITBUCKET_API_URL", "http://127.0.0.1:8081"),
                ("BITBUCKET_SANDBOX", "true"),
            ],
        )
        .unwrap();
        assert_eq!(settings.consumer_key, "env-key");
        assert_eq!(settings.consumer_secret.expose_secret(), "env-secret");
        assert_eq!(join(&settings.bitbucket_url, "/x"), "http://127.0.0.1:8080/auth/x");
        assert_eq!(join(&settings.api_url, "/2.0/user"), "http://127.0.0.1:8081/2.0/user");
        assert!(settings.sandbox);
    }

    #[test]
    fn empty_consumer_key_names_the_key() {
        let err = load(r#"{"consumerKey": " ", "consumerSecret": "s"}"#, &[]).unwrap_err();
        assert_eq!(err.key, "consumerKey");
        assert!(err.to_string().contains("config.json: consumerKey: must not be empty"), "{err}");
    }

    #[test]
    fn empty_secret_from_the_environment_names_the_variable() {
        let err = load(MINIMAL, &[("BITBUCKET_CONSUMER_SECRET", "")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable BITBUCKET_CONSUMER_SECRET: consumerSecret: must not be empty"
        );
    }

    #[test]
    fn bad_url_is_refused_with_the_key() {
        let err = load(r#"{"consumerKey":"k","consumerSecret":"s","apiUrl":"ftp://x"}"#, &[]).unwrap_err();
        assert_eq!(err.key, "apiUrl");
        let err = load(MINIMAL, &[("BITBUCKET_URL", "not a url")]).unwrap_err();
        assert_eq!(err.key, "bitbucketUrl");
        assert!(err.to_string().starts_with("environment variable BITBUCKET_URL: bitbucketUrl:"));
    }

    #[test]
    fn malformed_json_and_unknown_keys_are_refused() {
        let err = load("{\"consumerKey\": ", &[]).unwrap_err();
        assert!(err.to_string().contains("not a valid config file"), "{err}");
        let err = load(r#"{"consumerkey":"k","consumerSecret":"s"}"#, &[]).unwrap_err();
        assert!(err.to_string().contains("unknown field `consumerkey`"), "{err}");
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key() {
        let err = load(r#"{"consumerKey": 5, "consumerSecret": "s"}"#, &[]).unwrap_err();
        assert_eq!(err.key, "consumerKey");
        assert!(err.to_string().contains("consumerKey: not a valid config file: invalid type: integer `5`"), "{err}");
    }

    #[test]
    fn bad_sandbox_flag_is_refused() {
        let err = load(MINIMAL, &[("BITBUCKET_SANDBOX", "maybe")]).unwrap_err();
        assert_eq!(err.key, "sandbox");
    }

    #[test]
    fn sandbox_password_grant_is_on_unless_turned_off() {
        assert!(load(MINIMAL, &[]).unwrap().sandbox_options.password_grant);
        let off = r#"{"consumerKey":"k","consumerSecret":"s","sandboxPasswordGrant":false}"#;
        assert!(!load(off, &[]).unwrap().sandbox_options.password_grant);
        let env = [("BITBUCKET_SANDBOX_PASSWORD_GRANT", "false")];
        assert!(!load(MINIMAL, &env).unwrap().sandbox_options.password_grant);
    }

    #[test]
    fn standard_server_settings_come_from_file_or_environment() {
        let file = r#"{"consumerKey":"k","consumerSecret":"s","issuer":"http://127.0.0.1:9000",
            "scope":"openid  profile","clientAuth":"post","pkce":false}"#;
        let settings = load(file, &[("OAUTH_TOKEN_URL", "http://127.0.0.1:9000/token")]).unwrap();
        assert_eq!(settings.issuer.unwrap().as_str(), "http://127.0.0.1:9000/");
        assert_eq!(settings.endpoints.token.unwrap().as_str(), "http://127.0.0.1:9000/token");
        assert_eq!(settings.scope, "openid profile");
        assert_eq!(settings.client_auth, Some(ClientAuth::Post));
        assert!(!settings.pkce);
        let defaults = load(MINIMAL, &[]).unwrap();
        assert!(defaults.pkce && defaults.scope.is_empty() && defaults.client_auth.is_none());
    }

    #[test]
    fn bad_standard_server_settings_name_the_key() {
        assert_eq!(load(MINIMAL, &[("OAUTH_CLIENT_AUTH", "jwt")]).unwrap_err().key, "clientAuth");
        assert_eq!(load(MINIMAL, &[("OAUTH_ISSUER", "auth.example")]).unwrap_err().key, "issuer");
        assert_eq!(load(MINIMAL, &[("OAUTH_CALLBACK_URL", "http://x/cb#f")]).unwrap_err().key, "callbackUrl");
        assert_eq!(load(MINIMAL, &[("OAUTH_PKCE", "sometimes")]).unwrap_err().key, "pkce");
    }

    #[test]
    fn the_client_may_be_named_in_oauth_words() {
        let env = [("OAUTH_CLIENT_ID", "my-client"), ("OAUTH_CLIENT_SECRET", "my-secret")];
        let settings = load(MINIMAL, &env).unwrap();
        assert_eq!(settings.consumer_key, "my-client");
        assert_eq!(settings.consumer_secret.expose_secret(), "my-secret");
        let clash = [("OAUTH_CLIENT_ID", "a"), ("BITBUCKET_CONSUMER_KEY", "b")];
        assert_eq!(load(MINIMAL, &clash).unwrap_err().key, "consumerKey");
    }

    #[test]
    fn endpoints_one_by_one_need_the_token_endpoint() {
        let err = load(MINIMAL, &[("OAUTH_USER_URL", "http://127.0.0.1:9/me")]).unwrap_err();
        assert_eq!(err.key, "tokenUrl");
        let settings = load(MINIMAL, &[("OAUTH_TOKEN_URL", "http://127.0.0.1:9/token")]).unwrap();
        assert!(settings.describes_standard_server());
        assert!(!load(MINIMAL, &[]).unwrap().describes_standard_server());
    }

    #[test]
    fn the_standard_sandbox_is_chosen_by_one_setting() {
        assert_eq!(load(MINIMAL, &[]).unwrap().sandbox_server, SandboxServer::Bitbucket);
        let settings = load(MINIMAL, &[("SANDBOX_SERVER", "standard")]).unwrap();
        assert_eq!(settings.sandbox_server, SandboxServer::Standard);
        let file = r#"{"consumerKey":"k","consumerSecret":"s","sandboxServer":"standard"}"#;
        assert_eq!(load(file, &[]).unwrap().sandbox_server, SandboxServer::Standard);
        assert_eq!(load(MINIMAL, &[("SANDBOX_SERVER", "keycloak")]).unwrap_err().key, "sandboxServer");
    }

    #[test]
    fn missing_file_is_named() {
        let err = Settings::load(Path::new("/nonexistent/config.json"), |_| None).unwrap_err();
        assert!(err.to_string().starts_with("/nonexistent/config.json: "), "{err}");
    }

    #[test]
    fn debug_never_shows_the_consumer_secret() {
        let settings = load(r#"{"consumerKey":"k","consumerSecret":"TOP-SECRET-VALUE"}"#, &[]).unwrap();
        assert!(!format!("{settings:?}").contains("TOP-SECRET-VALUE"));
    }
}

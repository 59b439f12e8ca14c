//! The consumers' registered callback URLs, and the check of a `redirect_uri` against them.
//!
//! RFC 9700 §4.1.3 asks an authorization server to compare the `redirect_uri` of an authorization
//! request with the registered ones **as strings**, exactly: a server that parses the URL and looks
//! at a part of it (as the sandbox once looked at the path alone) can be made to send the code to
//! `https://evil.example/oauth-callback`, `http://localhost:3000@evil.example/oauth-callback` or
//! `HTTP://LOCALHOST:3000/oauth-callback`. The one exception is RFC 8252 §7.3: for a loopback IP
//! literal (`127.0.0.1`, `[::1]`) any port matches, since a native app gets a port from the system
//! at run time. A registered URL says so with `*` in place of its port:
//! `http://127.0.0.1:*/oauth-callback`.
//!
//! A mismatch is never redirected to (RFC 6749 §4.1.2.1): the sandbox shows its own error page.

/// Registered URLs whose port may be any (RFC 8252 §7.3): the loopback IP literals only.
const ANY_PORT_PREFIXES: [&str; 2] = ["http://127.0.0.1:", "http://[::1]:"];

/// The callback URLs of the sandbox's consumers on a loopback IP literal, any port: the app's own
/// callback wherever a browser on this machine reaches it by address.
pub const LOOPBACK_CALLBACKS: [&str; 2] = ["http://127.0.0.1:*/oauth-callback", "http://[::1]:*/oauth-callback"];

/// Whether `uri` is one of `registered`: the same string, byte for byte, except that a registered
/// loopback IP literal with `*` as its port matches any port (1 to 65535, digits only).
pub fn is_registered(uri: &str, registered: &[String]) -> bool {
    registered.iter().any(|pattern| matches(uri, pattern))
}

fn matches(uri: &str, pattern: &str) -> bool {
    if uri == pattern {
        return true;
    }
    let Some((before, after)) = pattern.split_once(":*") else { return false };
    let before = format!("{before}:");
    if !ANY_PORT_PREFIXES.contains(&before.as_str()) {
        return false;
    }
    let Some(port) = uri.strip_prefix(&before).and_then(|rest| rest.strip_suffix(after)) else { return false };
    (1..=5).contains(&port.len())
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|port| port > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered() -> Vec<String> {
        let mut list: Vec<String> = LOOPBACK_CALLBACKS.iter().map(|s| (*s).to_owned()).collect();
        list.push("http://localhost:3000/oauth-callback".into());
        list
    }

    #[test]
    fn the_registered_urls_and_any_port_on_a_loopback_ip_literal_match() {
        for uri in [
            "http://localhost:3000/oauth-callback",
            "http://127.0.0.1:3000/oauth-callback",
            "http://127.0.0.1:54321/oauth-callback",
            "http://[::1]:8080/oauth-callback",
        ] {
            assert!(is_registered(uri, &registered()), "{uri} refused");
        }
    }

    #[test]
    fn anything_else_is_refused_compared_as_a_string() {
        for uri in [
            "https://evil.example/oauth-callback",
            "http://evil.example/oauth-callback",
            "javascript:alert(1)//oauth-callback",
            "data:text/html,<script>alert(1)</script>/oauth-callback",
            "file:///oauth-callback",
            "http:\\\\evil.example/oauth-callback",
            "http://localhost:3000@evil.example/oauth-callback",
            "http://user:pass@localhost:3000/oauth-callback",
            "http://localhost:3001/oauth-callback",
            "HTTP://localhost:3000/oauth-callback",
            "http://LOCALHOST:3000/oauth-callback",
            "http://localhost:3000/oauth-callback?x=1",
            "http://localhost:3000/oauth-callback#x",
            "http://localhost:3000/oauth-callback/",
            "http://localhost:3000/Oauth-callback",
            "http://localhost:3000/oauth-callback\r\nSet-Cookie: x=1",
            "http://localhost:3000/oauth-callback\0",
            "http://localhost:3000/oauth-callback\x7f",
            "http://127.0.0.1:/oauth-callback",
            "http://127.0.0.1:0/oauth-callback",
            "http://127.0.0.1:65536/oauth-callback",
            "http://127.0.0.1:+80/oauth-callback",
            "http://127.0.0.1:80@evil.example/oauth-callback",
            "http://127.0.0.1:80/oauth-callback/../x",
            "http://127.0.0.2:3000/oauth-callback",
            "http://[::1]:80:80/oauth-callback",
            "",
        ] {
            assert!(!is_registered(uri, &registered()), "{uri:?} accepted");
        }
    }

    #[test]
    fn a_star_port_on_another_host_matches_nothing_but_itself() {
        let registered = vec!["http://example.test:*/oauth-callback".to_owned()];
        assert!(!is_registered("http://example.test:80/oauth-callback", &registered));
    }
}

//! TLS failures while connecting, told apart from a server that cannot be reached at all.

/// What to do about a TLS failure.
pub(super) const TLS_FIX: &str = "The app trusts the certificate authorities in this machine's certificate store: for a \
                       server with a private or test authority, add that authority to the store (on Linux, \
                       SSL_CERT_FILE can name a PEM file that holds it instead). An https:// URL must point \
                       at a port that speaks TLS.";

/// A TLS failure while connecting, said plainly, from the HTTP client's message (rustls's
/// wording, after the URL, which could hold any word).
pub(super) fn tls_problem(message: &str) -> Option<&'static str> {
    let message = match message.strip_prefix("error sending request for url (") {
        Some(rest) => rest.split_once("): ").map_or(rest, |(_, after_url)| after_url),
        None => message,
    };
    let certificate = [
        (
            ["UnknownIssuer", "unknown issuer"],
            "the server's certificate comes from an authority this machine does not trust",
        ),
        (["NotValidForName", "not valid for name"], "the server's certificate does not name this host"),
        (["NotValidYet", "not valid yet"], "the server's certificate is not valid yet"),
        (["Expired", "certificate expired"], "the server's certificate has expired"),
        (["Revoked", "revoked"], "the server's certificate has been revoked"),
    ];
    if message.contains("invalid peer certificate") {
        let known = certificate.iter().find(|(signs, _)| signs.iter().any(|sign| message.contains(sign)));
        return Some(known.map_or("the server's certificate was not accepted", |(_, said)| *said));
    }
    let not_tls = ["InvalidContentType", "corrupt message", "wrong version number"];
    if not_tls.iter().any(|sign| message.contains(sign)) {
        return Some("the server did not answer in TLS (is it plain http:// on that port?)");
    }
    (message.contains("received fatal alert") || message.contains("HandshakeFailure"))
        .then_some("the TLS handshake with the server failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// reqwest's messages for rustls's failures, as seen in tests/app/tls.rs, said plainly.
    #[test]
    fn tls_failures_are_told_apart_from_unreachable_servers() {
        let prefix = "error sending request for url (https://localhost:1/t): client error (Connect): ";
        let said = |tail: &str| tls_problem(&format!("{prefix}{tail}"));
        assert!(said("invalid peer certificate: UnknownIssuer").unwrap().contains("does not trust"));
        assert!(said("invalid peer certificate: NotValidForName").unwrap().contains("does not name this host"));
        // rustls 0.23's wording with context, as on Linux.
        let name = "invalid peer certificate: certificate not valid for name \"localhost\"; certificate is only \
                    valid for DnsName(\"example.org\")";
        assert!(said(name).unwrap().contains("does not name this host"));
        let expired = "invalid peer certificate: certificate expired: verification time 1764000000 (UNIX), but \
                       certificate is not valid after 1700000000 (64000000 seconds ago)";
        assert!(said(expired).unwrap().contains("has expired"));
        let early = "invalid peer certificate: certificate not valid yet: verification time 1, but certificate \
                     is not valid before 2";
        assert!(said(early).unwrap().contains("not valid yet"));
        // A word in the URL is not a diagnosis.
        let refused = "error sending request for url (https://h/2.0/HandshakeFailure/InvalidContentType): client \
                       error (Connect): tcp connect error: Connection refused (os error 111)";
        assert_eq!(tls_problem(refused), None);
        assert!(said("invalid peer certificate: Other(..)").unwrap().contains("was not accepted"));
        assert!(said("received corrupt message of type InvalidContentType").unwrap().contains("plain http://"));
        assert_eq!(said("tcp connect error: Connection refused (os error 111)"), None);
    }
}

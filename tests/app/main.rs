//! Integration tests: the real server on port 0, spoken to over HTTP like a user would.

mod browser;
mod client_libraries;
mod diagnosis;
mod example;
mod explorer;
mod grants;
mod hardening;
mod hardening_two;
mod helpers;
mod pages;
mod password_grant;
mod process;
mod real_servers;
mod sandbox_cases;
mod sandbox_limits;
mod sandbox_strict;
mod shutdown;
mod standard_cases;
mod standard_server;
mod startup;
mod teaching;
mod tls;
mod token_parsing;
mod token_source;
mod upstream_faults;

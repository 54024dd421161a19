//! The MCP server's validated settings: where users reach the daemon (`TRIAGED_PUBLIC_URL`), which
//! `Host` and `Origin` values `/mcp` accepts, the per-token rate limit and the workers' share of
//! Intercom's rate limit. Plain data; nothing here imports a stage.

use super::ConfigError;

/// `TRIAGED_MCP_RATE_LIMIT`'s default: tool calls a minute per token. Two a second is more than a
/// person chatting needs and far below Intercom's 10,000 a minute.
pub const DEFAULT_MCP_RATE_LIMIT: u32 = 120;

/// `TRIAGED_MCP_WORKER_RESERVE`'s default: the share (percent) of every Intercom rate-limit window
/// MCP calls leave to the workers, so that a busy chat client cannot starve triage.
pub const DEFAULT_MCP_WORKER_RESERVE: u8 = 50;

/// Hosts `/mcp` always accepts (rmcp's own default: loopback only).
const LOOPBACK_HOSTS: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// Origins `/mcp` always accepts: pages served from this machine (a local MCP inspector).
const LOOPBACK_ORIGINS: &[&str] = &["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"];

/// Validated MCP settings.
#[derive(Debug, Clone)]
pub struct McpConfig {
    /// `TRIAGED_PUBLIC_URL` without a trailing slash.
    pub public_url: Option<String>,
    /// `Host` values accepted: loopback, the public URL's host, `TRIAGED_MCP_ALLOWED_HOSTS`.
    pub allowed_hosts: Vec<String>,
    /// `Origin` values accepted: loopback pages and the public URL's origin.
    pub allowed_origins: Vec<String>,
    /// Tool calls a minute per token (`TRIAGED_MCP_RATE_LIMIT`).
    pub rate_limit: u32,
    /// Percent of each Intercom rate-limit window left to the workers
    /// (`TRIAGED_MCP_WORKER_RESERVE`).
    pub worker_reserve: u8,
}

impl McpConfig {
    /// Validates the raw values; a bad one is an error naming its variable.
    pub fn validate(
        public_url: Option<&str>,
        extra_hosts: &[String],
        rate_limit: u32,
        worker_reserve: u8,
    ) -> Result<Self, ConfigError> {
        let mut allowed_hosts: Vec<String> =
            LOOPBACK_HOSTS.iter().map(|h| (*h).to_owned()).collect();
        let mut allowed_origins: Vec<String> =
            LOOPBACK_ORIGINS.iter().map(|o| (*o).to_owned()).collect();
        let public_url = public_url.map(str::trim).filter(|u| !u.is_empty());
        if let Some(url) = public_url {
            let invalid = |message: String| ConfigError::Invalid {
                var: "TRIAGED_PUBLIC_URL",
                message,
            };
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| invalid(format!("{url:?} is not a URL ({e})")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(invalid(format!(
                    "{url:?} must start with https:// or http://"
                )));
            }
            let host = parsed
                .host_str()
                .ok_or_else(|| invalid(format!("{url:?} has no host")))?
                .trim_matches(['[', ']'])
                .to_owned();
            allowed_origins.push(parsed.origin().ascii_serialization());
            allowed_hosts.push(host);
        }
        for host in extra_hosts
            .iter()
            .map(|h| h.trim())
            .filter(|h| !h.is_empty())
        {
            if host.contains('/') || host.contains(' ') {
                return Err(ConfigError::Invalid {
                    var: "TRIAGED_MCP_ALLOWED_HOSTS",
                    message: format!(
                        "{host:?} is not a host (e.g. triage.example.com or host:8443)"
                    ),
                });
            }
            allowed_hosts.push(host.to_owned());
        }
        if rate_limit == 0 {
            return Err(ConfigError::Invalid {
                var: "TRIAGED_MCP_RATE_LIMIT",
                message: "must be at least 1 call a minute".to_owned(),
            });
        }
        if worker_reserve > 100 {
            return Err(ConfigError::Invalid {
                var: "TRIAGED_MCP_WORKER_RESERVE",
                message: format!("{worker_reserve} is not a percentage (0-100)"),
            });
        }
        allowed_hosts.dedup();
        Ok(Self {
            public_url: public_url.map(|u| u.trim_end_matches('/').to_owned()),
            allowed_hosts,
            allowed_origins,
            rate_limit,
            worker_reserve,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_adds_its_host_and_origin_to_loopback() {
        let c = McpConfig::validate(
            Some("https://triage.example.com/"),
            &["intra.example:8443".to_owned()],
            120,
            50,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.public_url.as_deref(), Some("https://triage.example.com"));
        assert!(c.allowed_hosts.iter().any(|h| h == "triage.example.com"));
        assert!(c.allowed_hosts.iter().any(|h| h == "intra.example:8443"));
        assert!(c.allowed_hosts.iter().any(|h| h == "127.0.0.1"));
        assert!(
            c.allowed_origins
                .iter()
                .any(|o| o == "https://triage.example.com")
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        let err =
            |r: Result<McpConfig, ConfigError>| r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err(McpConfig::validate(Some("ftp://x"), &[], 1, 0)).starts_with("TRIAGED_PUBLIC_URL")
        );
        assert!(
            err(McpConfig::validate(None, &["a/b".to_owned()], 1, 0))
                .starts_with("TRIAGED_MCP_ALLOWED_HOSTS")
        );
        assert!(err(McpConfig::validate(None, &[], 0, 0)).starts_with("TRIAGED_MCP_RATE_LIMIT"));
        assert!(
            err(McpConfig::validate(None, &[], 1, 101)).starts_with("TRIAGED_MCP_WORKER_RESERVE")
        );
    }
}

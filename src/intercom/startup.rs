//! The start-up check: is the token accepted, by which workspace and region, and may the acting
//! admin act? Runs once before the daemon takes work; each failure is one line naming what to fix.
//! It never prints the token.

use super::{IntercomClient, IntercomError, region_of};
use crate::ids::AdminId;

/// Who the daemon is, as Intercom sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The admin writes act as (`INTERCOM_ADMIN_ID`, or the token's admin when unset).
    pub admin_id: AdminId,
    pub admin_name: Option<String>,
    /// The admin owning the token (`/me`).
    pub token_admin_id: AdminId,
    /// The workspace id (`app.id_code`).
    pub app_id_code: Option<String>,
    pub app_name: Option<String>,
    /// `US`, `EU`, `AU` from `/me`, else guessed from the base URL (`custom` for a sandbox).
    pub region: String,
    pub has_inbox_seat: Option<bool>,
}

/// Why the daemon cannot use Intercom; each Display is one line.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(
        "INTERCOM_ACCESS_TOKEN was refused by {base_url} (401 {code}); check the token and that INTERCOM_BASE_URL is your workspace's region (US https://api.intercom.io, EU https://api.eu.intercom.io, AU https://api.au.intercom.io)"
    )]
    TokenRefused { base_url: String, code: String },
    #[error("INTERCOM_ACCESS_TOKEN may not read {what} at {base_url} (403 {code})")]
    Forbidden {
        base_url: String,
        what: &'static str,
        code: String,
    },
    #[error(
        "could not reach Intercom at {base_url} ({detail}); check INTERCOM_BASE_URL and the network"
    )]
    Unreachable { base_url: String, detail: String },
    #[error("INTERCOM_ADMIN_ID {admin_id} is not an admin of workspace {workspace} ({base_url})")]
    UnknownAdmin {
        admin_id: AdminId,
        workspace: String,
        base_url: String,
    },
    #[error("Intercom at {base_url} did not answer {what} as expected: {error}")]
    Unexpected {
        base_url: String,
        what: &'static str,
        error: IntercomError,
    },
}

fn startup_error(base_url: &str, what: &'static str, error: IntercomError) -> StartupError {
    let base_url = base_url.to_owned();
    match error {
        IntercomError::Unauthorized { code } => StartupError::TokenRefused { base_url, code },
        IntercomError::Forbidden { code, .. } => StartupError::Forbidden {
            base_url,
            what,
            code,
        },
        IntercomError::Transport { detail } => StartupError::Unreachable { base_url, detail },
        error => StartupError::Unexpected {
            base_url,
            what,
            error,
        },
    }
}

/// Calls `/me` once, then `/admins`, and checks that the acting admin (`admin_id`, defaulting to
/// the token's admin) exists; warns when it has no inbox seat (some writes may then be refused).
#[tracing::instrument(skip_all)]
pub async fn check_startup(
    client: &IntercomClient,
    admin_id: Option<&AdminId>,
) -> Result<Identity, StartupError> {
    let base_url = client.base_url();
    let me = client
        .me()
        .await
        .map_err(|e| startup_error(base_url, "/me", e))?;
    let admins = client
        .list_admins()
        .await
        .map_err(|e| startup_error(base_url, "/admins", e))?;
    let app = me.app.clone().unwrap_or_default();
    let acting = admin_id.cloned().unwrap_or_else(|| me.id.clone());
    let Some(admin) = admins.admins.iter().find(|a| a.id == acting) else {
        return Err(StartupError::UnknownAdmin {
            admin_id: acting,
            workspace: app.id_code.clone().unwrap_or_else(|| "?".to_owned()),
            base_url: base_url.to_owned(),
        });
    };
    if admin.has_inbox_seat == Some(false) {
        tracing::warn!(
            admin_id = %acting,
            "the acting Intercom admin has no inbox seat; assignments and replies may be refused"
        );
    }
    let region = app
        .region
        .clone()
        .unwrap_or_else(|| region_of(base_url).to_owned());
    let identity = Identity {
        admin_id: acting,
        admin_name: admin.name.clone(),
        token_admin_id: me.id,
        app_id_code: app.id_code,
        app_name: app.name,
        region,
        has_inbox_seat: admin.has_inbox_seat,
    };
    tracing::info!(
        admin_id = %identity.admin_id,
        workspace = identity.app_id_code.as_deref().unwrap_or("?"),
        region = %identity.region,
        "Intercom credentials accepted"
    );
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_token_names_the_variable_the_host_and_the_status_on_one_line() {
        let e = startup_error(
            "https://api.eu.intercom.io",
            "/me",
            IntercomError::Unauthorized {
                code: "unauthorized".into(),
            },
        );
        let line = e.to_string();
        assert!(line.starts_with(
            "INTERCOM_ACCESS_TOKEN was refused by https://api.eu.intercom.io (401 unauthorized)"
        ));
        assert!(!line.contains('\n'));
    }

    #[test]
    fn an_unreachable_host_points_at_the_base_url() {
        let e = startup_error(
            "https://api.eu.intercom.io",
            "/me",
            IntercomError::Transport {
                detail: "could not connect".into(),
            },
        );
        assert_eq!(
            e.to_string(),
            "could not reach Intercom at https://api.eu.intercom.io (could not connect); check INTERCOM_BASE_URL and the network"
        );
    }

    #[test]
    fn regions_are_recognised_from_the_base_url() {
        assert_eq!(region_of("https://api.intercom.io"), "US");
        assert_eq!(region_of("https://api.eu.intercom.io/"), "EU");
        assert_eq!(region_of("https://api.au.intercom.io"), "AU");
        assert_eq!(region_of("http://127.0.0.1:8090"), "custom");
    }
}

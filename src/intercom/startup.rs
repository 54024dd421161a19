//! The start-up check: is the token accepted, by which workspace and region, and may the acting
//! admin act? Runs once before the daemon takes work; each failure is one line naming what to fix.
//! It never prints the token.

use super::{
    IntercomClient, IntercomError,
    models::{AdminList, AdminWithApp},
    region_of,
};
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
    let identity = identity_from(base_url, me, &admins, admin_id)?;
    if identity.has_inbox_seat == Some(false) {
        tracing::warn!(
            admin_id = %identity.admin_id,
            "the acting Intercom admin has no inbox seat; assignments and replies may be refused"
        );
    }
    tracing::info!(
        admin_id = %identity.admin_id,
        workspace = identity.app_id_code.as_deref().unwrap_or("?"),
        region = %identity.region,
        "Intercom credentials accepted"
    );
    Ok(identity)
}

/// Picks the acting admin (`admin_id`, else the token's) out of `/admins`. Pure.
fn identity_from(
    base_url: &str,
    me: AdminWithApp,
    admins: &AdminList,
    admin_id: Option<&AdminId>,
) -> Result<Identity, StartupError> {
    let app = me.app.unwrap_or_default();
    let acting = admin_id.cloned().unwrap_or_else(|| me.id.clone());
    let Some(admin) = admins.admins.iter().find(|a| a.id == acting) else {
        return Err(StartupError::UnknownAdmin {
            admin_id: acting,
            workspace: app.id_code.unwrap_or_else(|| "?".to_owned()),
            base_url: base_url.to_owned(),
        });
    };
    Ok(Identity {
        admin_id: acting,
        admin_name: admin.name.clone(),
        token_admin_id: me.id,
        app_id_code: app.id_code,
        app_name: app.name,
        region: app.region.unwrap_or_else(|| region_of(base_url).to_owned()),
        has_inbox_seat: admin.has_inbox_seat,
    })
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

    fn me_and_admins() -> (AdminWithApp, AdminList) {
        let me = serde_json::json!({"type": "admin", "id": "1", "name": "Token owner",
            "app": {"type": "app", "id_code": "a86dr8yl", "name": "Acme", "region": "EU"}});
        let admins = serde_json::json!({"type": "admin.list", "admins": [
            {"type": "admin", "id": 1, "name": "Token owner", "has_inbox_seat": true},
            {"type": "admin", "id": "7", "name": "Triage Bot", "has_inbox_seat": false}
        ]});
        (
            serde_json::from_value(me).unwrap_or_else(|e| panic!("{e}")),
            serde_json::from_value(admins).unwrap_or_else(|e| panic!("{e}")),
        )
    }

    #[test]
    fn without_an_admin_id_the_token_owner_acts() {
        let (me, admins) = me_and_admins();
        let id = identity_from("https://api.eu.intercom.io", me, &admins, None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(id.admin_id, AdminId::from("1"));
        assert_eq!(id.app_id_code.as_deref(), Some("a86dr8yl"));
        assert_eq!(id.region, "EU");
        assert_eq!(id.has_inbox_seat, Some(true));
    }

    #[test]
    fn a_configured_admin_must_be_in_the_workspace() {
        let (me, admins) = me_and_admins();
        let bot = identity_from("u", me.clone(), &admins, Some(&AdminId::from("7")))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bot.admin_name.as_deref(), Some("Triage Bot"));
        assert_eq!(bot.token_admin_id, AdminId::from("1"));
        assert_eq!(bot.has_inbox_seat, Some(false));
        let err = identity_from(
            "https://api.intercom.io",
            me,
            &admins,
            Some(&AdminId::from("99")),
        )
        .err()
        .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "INTERCOM_ADMIN_ID 99 is not an admin of workspace a86dr8yl (https://api.intercom.io)"
            )
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

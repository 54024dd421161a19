//! Contact, visitor, company and help-center operations.

use reqwest::Method;

use super::{
    IntercomClient, IntercomError,
    models::{ArticleSearch, Company, CompanyId, Contact, ContactList, Visitor},
    search::SearchRequest,
    transport::{Call, CallKind, segment},
};
use crate::ids::ContactId;

/// The contact to ask for next when `result` says `current` was merged, unless
/// [`MAX_MERGE_HOPS`] were already followed or the `Link` points back at `current`.
fn merged_into<T>(
    result: &Result<T, IntercomError>,
    current: &ContactId,
    hops: usize,
) -> Option<ContactId> {
    match result {
        Err(IntercomError::ContactMerged {
            canonical: Some(next),
        }) if hops < MAX_MERGE_HOPS && next != current => Some(next.clone()),
        _ => None,
    }
}

/// How many `contact_merged` redirects to follow: Intercom resolves chains of up to 3 hops.
pub const MAX_MERGE_HOPS: usize = 3;

impl IntercomClient {
    /// `GET /contacts/{id}`, following a merged contact's 410 `Link: rel="canonical"` up to
    /// 3 times (`MAX_MERGE_HOPS`). The returned contact's `id` is the canonical one.
    #[tracing::instrument(skip_all, fields(contact_id = %id))]
    pub async fn retrieve_contact(&self, id: &ContactId) -> Result<Contact, IntercomError> {
        let mut current = id.clone();
        let mut hops = 0;
        loop {
            let path = format!("/contacts/{}", segment("contact", current.as_str())?);
            let result = self.execute(Call::get(path)).await;
            let Some(next) = merged_into(&result, &current, hops) else {
                return result;
            };
            tracing::debug!(from = %current, to = %next, "following a merged contact");
            hops += 1;
            current = next;
        }
    }

    /// `POST /contacts/search`. The query is checked against the documented limits
    /// first and sent in the shape the schema accepts ([`SearchRequest::for_wire`]).
    #[tracing::instrument(skip_all)]
    pub async fn search_contacts(
        &self,
        request: &SearchRequest,
    ) -> Result<ContactList, IntercomError> {
        let body = request
            .for_wire()
            .map_err(|e| IntercomError::InvalidRequest(e.to_string()))?;
        let call = Call::with_body(
            Method::POST,
            "/contacts/search".to_owned(),
            CallKind::Read,
            &body,
        )?;
        self.execute(call).await
    }

    /// `GET /visitors?user_id=` (there is no `GET /visitors/{id}` in 2.16).
    #[tracing::instrument(skip_all)]
    pub async fn retrieve_visitor(&self, user_id: &str) -> Result<Visitor, IntercomError> {
        if user_id.trim().is_empty() {
            return Err(IntercomError::InvalidRequest(
                "a visitor user_id cannot be empty".to_owned(),
            ));
        }
        self.execute(Call::get("/visitors".to_owned()).query("user_id", user_id))
            .await
    }

    /// `GET /companies/{id}` with Intercom's company `id`.
    #[tracing::instrument(skip_all, fields(company_id = %id))]
    pub async fn retrieve_company(&self, id: &CompanyId) -> Result<Company, IntercomError> {
        let path = format!("/companies/{}", segment("company", id.as_str())?);
        self.execute(Call::get(path)).await
    }

    /// `GET /articles/search?phrase=&state=published` (published articles only, with highlights).
    #[tracing::instrument(skip_all)]
    pub async fn search_articles(&self, phrase: &str) -> Result<ArticleSearch, IntercomError> {
        let call = Call::get("/articles/search".to_owned())
            .query("phrase", phrase)
            .query("state", "published")
            .query("highlight", "true");
        self.execute(call).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(into: &str) -> Result<(), IntercomError> {
        Err(IntercomError::ContactMerged {
            canonical: Some(ContactId::from(into)),
        })
    }

    #[test]
    fn a_merged_contact_is_followed_up_to_three_hops() {
        let a = ContactId::from("a");
        assert_eq!(merged_into(&merged("b"), &a, 0), Some(ContactId::from("b")));
        assert_eq!(merged_into(&merged("b"), &a, 2), Some(ContactId::from("b")));
        assert_eq!(merged_into(&merged("b"), &a, MAX_MERGE_HOPS), None);
    }

    #[test]
    fn a_link_to_itself_or_without_a_target_or_a_success_stops_the_chase() {
        let a = ContactId::from("a");
        assert_eq!(merged_into(&merged("a"), &a, 0), None);
        let no_link: Result<(), IntercomError> =
            Err(IntercomError::ContactMerged { canonical: None });
        assert_eq!(merged_into(&no_link, &a, 0), None);
        assert_eq!(merged_into(&Ok(()), &a, 0), None);
    }
}

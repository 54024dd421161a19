//! Every client operation against the sandbox, asserted on the typed results and on the
//! sandbox's state afterwards.

use std::collections::BTreeSet;

use serde_json::json;
use triaged::{
    ids::{AdminId, ContactId, ConversationId, TeamId},
    intercom::{
        IntercomClient, IntercomError,
        models::{AuthorType, CompanyId, ConversationState, PartType, TicketTypeId},
        requests::{AdminReply, CreateTicket, ManageConversation, TicketContact},
        search::{SearchQuery, SearchRequest, Sort, SortOrder},
    },
    sandbox::APP_PACKAGE_CODE,
};

use super::{bot, client, sandbox_parts, unix_now};
use crate::sandbox::{
    AIKO, BUG_TYPE, CHECKOUT_CONVERSATION, CLOSED_CONVERSATION, MAYA, MERGED_AIKO, PRIYA,
    REFUND_CONVERSATION, SUPPORT_TEAM, Sim, TOM,
};

const LEAD_CONVERSATION: &str = "215000004";
const DANIEL: &str = "6762f1261bb69f9f21930002";
const WIDGETS: &str = "6a1f00000000000000000001";

fn conv(id: &str) -> ConversationId {
    ConversationId::from(id)
}

/// Runs every operation of `client` (pointed at `sim`, directly or through a proxy) and checks
/// each typed result and the sandbox's state.
pub async fn exercise_every_operation(sim: &Sim, client: &IntercomClient) {
    directory(sim, client).await;
    conversation_reads(client).await;
    replies(sim, client).await;
    management(sim, client).await;
    tags(sim, client).await;
    tickets(sim, client).await;
    people(client).await;
}

async fn directory(sim: &Sim, client: &IntercomClient) {
    let me = client.me().await.unwrap();
    assert_eq!(me.id, bot(sim));
    assert_eq!(me.app.unwrap().id_code.as_deref(), Some("sandbox1"));
    let admins = client.list_admins().await.unwrap();
    assert_eq!(admins.admins.len(), 4);
    let maya = admins
        .admins
        .iter()
        .find(|a| a.id.as_str() == MAYA)
        .unwrap();
    assert_eq!(maya.name.as_deref(), Some("Maya Chen"));
    assert!(maya.team_ids.contains(&TeamId::from(SUPPORT_TEAM)));
    let teams = client.list_teams().await.unwrap();
    assert_eq!(teams.teams.len(), 3);
    let support = teams
        .teams
        .iter()
        .find(|t| t.id.as_str() == SUPPORT_TEAM)
        .unwrap();
    assert!(support.admin_ids.contains(&AdminId::from(MAYA)));
}

async fn conversation_reads(client: &IntercomClient) {
    // A group inside a group, two per page.
    let query = SearchQuery::and([
        SearchQuery::eq("open", true),
        SearchQuery::or([
            SearchQuery::eq("source.author.type", "user"),
            SearchQuery::eq("source.author.type", "lead"),
        ]),
    ]);
    let first = client
        .search_conversations(&SearchRequest::new(query.clone()).page(Some(2), None))
        .await
        .unwrap();
    assert_eq!(first.total_count, Some(3));
    assert_eq!(first.conversations.len(), 2);
    assert!(first.conversations.iter().all(|c| c.parts().is_empty()));
    let cursor = first.pages.next_cursor().expect("a second page").to_owned();
    let second = client
        .search_conversations(&SearchRequest::new(query).page(Some(2), Some(cursor)))
        .await
        .unwrap();
    assert_eq!(second.conversations.len(), 1);
    assert_eq!(second.pages.next_cursor(), None);
    let found: BTreeSet<&str> = first
        .conversations
        .iter()
        .chain(&second.conversations)
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(
        found,
        BTreeSet::from([
            REFUND_CONVERSATION,
            CHECKOUT_CONVERSATION,
            LEAD_CONVERSATION
        ])
    );

    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = client
            .list_conversations(Some(3), cursor.as_deref())
            .await
            .unwrap();
        assert!(page.conversations.len() <= 3);
        listed.extend(page.conversations.iter().map(|c| c.id.0.clone()));
        match page.pages.next_cursor() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(listed.len(), 4, "{listed:?}");
    assert_eq!(listed.iter().collect::<BTreeSet<_>>().len(), 4);

    let html = client
        .retrieve_conversation(&conv(REFUND_CONVERSATION), false)
        .await
        .unwrap();
    assert_eq!(html.state, Some(ConversationState::Open));
    assert_eq!(html.admin_assignee_id, None, "0 on the wire is unassigned");
    assert_eq!(html.team_assignee_id, None);
    assert!(html.source.as_ref().unwrap().is_customer_initiated());
    assert!(
        html.source
            .as_ref()
            .unwrap()
            .body
            .as_deref()
            .unwrap()
            .contains("<p>")
    );
    let part = &html.parts()[0];
    assert_eq!(part.part_type, PartType::Comment);
    assert!(part.author.as_ref().unwrap().kind.is_customer());
    assert!(part.body.as_deref().unwrap().starts_with("<p>"));
    let plain = client
        .retrieve_conversation(&conv(REFUND_CONVERSATION), true)
        .await
        .unwrap();
    assert!(!plain.parts()[0].body.as_deref().unwrap().contains('<'));
    assert!(plain.parts()[0].body.as_deref().unwrap().contains("$29"));
    // Integer assignee ids (2.16) parse into typed ids.
    let closed = client
        .retrieve_conversation(&conv(CLOSED_CONVERSATION), false)
        .await
        .unwrap();
    assert_eq!(closed.state, Some(ConversationState::Closed));
    assert_eq!(closed.admin_assignee_id, Some(AdminId::from(TOM)));
    assert_eq!(closed.team_assignee_id, Some(TeamId::from(SUPPORT_TEAM)));
    assert_eq!(closed.parts().last().unwrap().part_type, PartType::Close);
}

async fn replies(sim: &Sim, client: &IntercomClient) {
    let before = sandbox_parts(sim, REFUND_CONVERSATION).len();
    let me = bot(sim);
    for (reply, kind) in [
        (
            AdminReply::comment(me.clone(), "We are looking into the duplicate charge."),
            PartType::Comment,
        ),
        (
            AdminReply::note(me.clone(), "<b>Triage:</b> refund, starter plan"),
            PartType::Note,
        ),
    ] {
        let c = client
            .reply(&conv(REFUND_CONVERSATION), &reply)
            .await
            .unwrap();
        let part = c.parts().last().unwrap();
        assert_eq!(part.part_type, kind);
        let author = part.author.as_ref().unwrap();
        // The token's admin is the app's bot: Intercom shows its parts as `bot` authored.
        assert!(
            matches!(author.kind, AuthorType::Admin | AuthorType::Bot),
            "{author:?}"
        );
        assert_eq!(author.id.as_deref(), Some(me.as_str()));
        assert_eq!(part.app_package_code.as_deref(), Some(APP_PACKAGE_CODE));
    }
    let parts = sandbox_parts(sim, REFUND_CONVERSATION);
    assert_eq!(parts.len(), before + 2);
    let new: Vec<_> = parts[before..]
        .iter()
        .map(|p| (p["part_type"].clone(), p["app_package_code"].clone()))
        .collect();
    assert_eq!(
        new,
        [
            (json!("comment"), json!(APP_PACKAGE_CODE)),
            (json!("note"), json!(APP_PACKAGE_CODE))
        ]
    );
}

async fn management(sim: &Sim, client: &IntercomClient) {
    let me = bot(sim);
    let id = conv(CHECKOUT_CONVERSATION);
    let manage = |action: ManageConversation| {
        let id = id.clone();
        async move { client.manage_conversation(&id, &action).await.unwrap() }
    };
    let closed = manage(ManageConversation::close(me.clone(), Some("Fixed".into()))).await;
    assert_eq!(closed.state, Some(ConversationState::Closed));
    assert_eq!(closed.parts().last().unwrap().part_type, PartType::Close);
    let until = unix_now() + 72 * 3600;
    let snoozed = manage(ManageConversation::snooze(me.clone(), until)).await;
    assert_eq!(snoozed.state, Some(ConversationState::Snoozed));
    assert_eq!(snoozed.snoozed_until, Some(until));
    assert_eq!(snoozed.parts().last().unwrap().part_type, PartType::Snoozed);
    let opened = manage(ManageConversation::open(me.clone())).await;
    assert_eq!(opened.state, Some(ConversationState::Open));
    assert_eq!(opened.parts().last().unwrap().part_type, PartType::Open);
    let maya = AdminId::from(MAYA);
    let to_maya = manage(ManageConversation::assign_admin(
        me.clone(),
        Some(&maya),
        None,
    ))
    .await;
    assert_eq!(to_maya.admin_assignee_id, Some(maya.clone()));
    let part = to_maya.parts().last().unwrap();
    assert!(matches!(
        part.part_type,
        PartType::Assignment | PartType::AssignAndReopen
    ));
    assert_eq!(part.assigned_to.as_ref().unwrap().id.as_deref(), Some(MAYA));
    let team = TeamId::from(SUPPORT_TEAM);
    let to_team = manage(ManageConversation::assign_team(
        me.clone(),
        Some(&team),
        None,
    ))
    .await;
    assert_eq!(to_team.team_assignee_id, Some(team));
    assert_eq!(
        to_team.admin_assignee_id,
        Some(maya),
        "admin and team at once"
    );
    let unassigned = manage(ManageConversation::assign_admin(me.clone(), None, None)).await;
    assert_eq!(unassigned.admin_assignee_id, None);
    let nobody = unassigned
        .parts()
        .last()
        .unwrap()
        .assigned_to
        .clone()
        .unwrap();
    assert_eq!(nobody.kind.as_deref(), Some("nobody_admin"));
    let state = sim.sandbox.conversation(CHECKOUT_CONVERSATION).unwrap();
    assert_eq!(state["state"], "open");
    assert_eq!(state["admin_assignee_id"], 0);
    assert_eq!(state["team_assignee_id"].to_string(), SUPPORT_TEAM);
}

async fn tags(sim: &Sim, client: &IntercomClient) {
    let me = bot(sim);
    let created = client.create_or_find_tag("Escalated").await.unwrap();
    let again = client.create_or_find_tag("  escalated ").await.unwrap();
    assert_eq!(created.id, again.id, "names are case-insensitive");
    let all = client.list_tags().await.unwrap();
    assert!(all.tags.iter().any(|t| t.id == created.id));
    assert_eq!(all.tags.len(), 5);
    let id = conv(CHECKOUT_CONVERSATION);
    let attached = client.attach_tag(&id, &created.id, &me).await.unwrap();
    assert_eq!(attached.id, created.id);
    let tag_ids = |sim: &Sim| -> Vec<String> {
        sim.sandbox.conversation(CHECKOUT_CONVERSATION).unwrap()["tags"]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(tag_ids(sim).contains(&created.id.0));
    let detached = client.detach_tag(&id, &created.id, &me).await.unwrap();
    assert_eq!(detached.id, created.id);
    assert!(!tag_ids(sim).contains(&created.id.0));
    assert_eq!(tag_ids(sim), ["710003"], "the seeded vip tag stays");
}

async fn tickets(sim: &Sim, client: &IntercomClient) {
    let types = client.list_ticket_types().await.unwrap();
    assert_eq!(types.data.len(), 2);
    let bug = types
        .data
        .iter()
        .find(|t| t.id.as_str() == BUG_TYPE)
        .unwrap();
    let names: Vec<_> = bug
        .ticket_type_attributes
        .data
        .iter()
        .filter_map(|a| a.name.as_deref())
        .collect();
    assert_eq!(
        names,
        [
            "_default_title_",
            "_default_description_",
            "steps_to_reproduce",
            "severity"
        ]
    );
    assert_eq!(bug.ticket_states.data.len(), 4);
    let ticket = CreateTicket::new(
        TicketTypeId::from(BUG_TYPE),
        TicketContact::Id {
            id: ContactId::from(DANIEL),
        },
        "Checkout 500 with invoice payment",
        "Steps: add an item, choose Invoice, place the order.",
    )
    .linked_to(conv(CHECKOUT_CONVERSATION));
    let created = client.create_ticket(&ticket).await.unwrap();
    assert_eq!(
        created.ticket_attributes["_default_title_"],
        "Checkout 500 with invoice payment"
    );
    assert_eq!(created.ticket_type.unwrap().id.as_str(), BUG_TYPE);
    assert_eq!(
        created.ticket_state.unwrap().category.as_deref(),
        Some("submitted")
    );
    assert_ne!(
        Some(created.id.0.clone()),
        created.ticket_id,
        "id is not ticket_id"
    );
    let linked = &sim.sandbox.conversation(CHECKOUT_CONVERSATION).unwrap()["linked_objects"];
    assert_eq!(linked["data"][0]["id"], created.id.0.as_str(), "{linked}");
    let two = CreateTicket {
        contacts: vec![
            TicketContact::Id {
                id: ContactId::from(DANIEL),
            },
            TicketContact::Id {
                id: ContactId::from(PRIYA),
            },
        ],
        ..ticket
    };
    assert!(matches!(
        client.create_ticket(&two).await,
        Err(IntercomError::InvalidRequest(_))
    ));
}

async fn people(client: &IntercomClient) {
    let aiko = client
        .retrieve_contact(&ContactId::from(AIKO))
        .await
        .unwrap();
    assert_eq!(aiko.email.as_deref(), Some("aiko@northwind.example"));
    assert_eq!(aiko.role.as_deref(), Some("user"));
    let followed = client
        .retrieve_contact(&ContactId::from(MERGED_AIKO))
        .await
        .unwrap();
    assert_eq!(followed.id.as_str(), AIKO, "the 410 Link was followed");
    let mut search = SearchRequest::new(SearchQuery::eq("role", "user"));
    search.sort = Some(Sort {
        field: "name".into(),
        order: SortOrder::Ascending,
    });
    let users = client.search_contacts(&search).await.unwrap();
    let names: Vec<_> = users
        .data
        .iter()
        .filter_map(|c| c.name.as_deref())
        .collect();
    assert_eq!(
        names,
        ["Aiko Tanaka", "Daniel Novak", "Priya Sharma"],
        "merged ones excluded"
    );
    let visitor = client.retrieve_visitor("visitor-7f3a9c").await.unwrap();
    assert_eq!(visitor.user_id.as_deref(), Some("visitor-7f3a9c"));
    assert!(matches!(
        client.retrieve_visitor("nobody").await,
        Err(IntercomError::NotFound { .. })
    ));
    let widgets = client
        .retrieve_company(&CompanyId::from(WIDGETS))
        .await
        .unwrap();
    assert_eq!(widgets.name.as_deref(), Some("Widgets Ltd"));
    assert_eq!(widgets.company_id.as_deref(), Some("acme-widgets"));
    let mut scroll = client.scroll_companies().unwrap();
    let mut companies = Vec::new();
    while let Some(page) = scroll.next_page().await.unwrap() {
        companies.extend(page.into_iter().map(|c| c.id.0));
    }
    assert_eq!(companies.len(), 3);
    let articles = client.search_articles("refund").await.unwrap();
    assert_eq!(articles.data.articles[0].id.as_str(), "910001");
    assert_eq!(
        articles.data.articles[0].state.as_deref(),
        Some("published")
    );
}

#[tokio::test]
async fn every_client_operation_works_against_the_sandbox() {
    let sim = Sim::start().await;
    let client = client(&sim);
    exercise_every_operation(&sim, &client).await;
    let stats = client.stats();
    assert_eq!(stats.rate_limited, 0);
    assert_eq!(stats.retries, 0, "nothing needed a retry");
    assert_eq!(stats.requests, sim.sandbox.stats().requests);
}

#[tokio::test]
async fn a_triage_sequence_of_retrieve_reply_and_manage_costs_three_requests() {
    let sim = Sim::start().await;
    let client = client(&sim);
    let id = conv(REFUND_CONVERSATION);
    client.retrieve_conversation(&id, true).await.unwrap();
    client
        .reply(&id, &AdminReply::note(bot(&sim), "Refund request"))
        .await
        .unwrap();
    client
        .manage_conversation(&id, &ManageConversation::close(bot(&sim), None))
        .await
        .unwrap();
    assert_eq!(client.stats().requests, 3);
    assert_eq!(sim.sandbox.stats().requests, 3);
}

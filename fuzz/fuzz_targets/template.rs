//! Templates (`{{contact.name | default: "there"}}`): parse and render never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use triaged::playbook::{Template, TemplateValues};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(template) = Template::parse(text) {
        let _ = template.variables().count();
        let _ = template.render(&TemplateValues::default());
        let full = TemplateValues {
            contact_name: Some("Jane {{x}}".into()),
            contact_email: Some("j@x.io".into()),
            conversation_id: Some("1".into()),
            playbook_name: Some("p".into()),
            ticket_id: Some("2".into()),
            failure_reason: Some("r".into()),
        };
        let _ = template.render(&full);
    }
});

//! The LLM edge against the scripted stand-in: tool calls come back typed, faults are classified,
//! 429 and 5xx are retried honouring `Retry-After`.

use std::time::{Duration, Instant};

use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestUserMessage, CreateChatCompletionRequest,
};
use secrecy::SecretString;
use triaged::{
    config::LlmConfig,
    llm::{Llm, LlmError},
};

use crate::llm_stub::{LlmStub, Turn};

fn llm(stub: &LlmStub, timeout: Duration) -> Llm {
    triaged::install_crypto_provider();
    let config = LlmConfig {
        base_url: stub.base_url(),
        api_key: Some(SecretString::from("test-key")),
        model: "stub-model".into(),
    };
    Llm::from_config(&config, timeout).unwrap().unwrap()
}

fn request() -> CreateChatCompletionRequest {
    CreateChatCompletionRequest {
        model: "stub-model".into(),
        messages: vec![ChatCompletionRequestMessage::User(
            ChatCompletionRequestUserMessage::from("hello"),
        )],
        ..Default::default()
    }
}

#[tokio::test]
async fn tool_calls_come_back_with_their_arguments_and_usage() {
    let stub = LlmStub::start().await;
    stub.push([Turn::tool(
        "get_conversation",
        serde_json::json!({"conversation_id": "215"}),
    )]);
    let response = llm(&stub, Duration::from_secs(5))
        .chat(request())
        .await
        .unwrap();
    let message = &response.choices[0].message;
    let calls = message.tool_calls.as_ref().unwrap();
    let async_openai::types::chat::ChatCompletionMessageToolCalls::Function(call) = &calls[0]
    else {
        panic!("a function call")
    };
    assert_eq!(call.function.name, "get_conversation");
    assert_eq!(call.function.arguments, r#"{"conversation_id":"215"}"#);
    assert!(response.usage.unwrap().prompt_tokens > 0);
    assert_eq!(stub.requests()[0]["model"], "stub-model");
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after_and_then_succeeds() {
    let stub = LlmStub::start().await;
    stub.push([
        Turn::Fault {
            status: 429,
            retry_after: Some(1),
        },
        Turn::Text("done".into()),
    ]);
    let started = Instant::now();
    let response = llm(&stub, Duration::from_secs(5))
        .chat(request())
        .await
        .unwrap();
    assert_eq!(response.choices[0].message.content.as_deref(), Some("done"));
    assert_eq!(stub.requests().len(), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After is honoured"
    );
}

#[tokio::test]
async fn persistent_failures_are_classified_for_the_fallback() {
    let stub = LlmStub::start().await;
    stub.push([Turn::Forever(Box::new(Turn::Fault {
        status: 503,
        retry_after: Some(0),
    }))]);
    let error = llm(&stub, Duration::from_secs(5))
        .chat(request())
        .await
        .unwrap_err();
    assert!(matches!(error, LlmError::Unavailable(_)), "{error}");
    assert_eq!(error.reason(), "llm_unavailable");
    assert_eq!(stub.requests().len(), 4, "one call and three retries");

    let stub = LlmStub::start().await;
    stub.push([Turn::Fault {
        status: 400,
        retry_after: None,
    }]);
    let error = llm(&stub, Duration::from_secs(5))
        .chat(request())
        .await
        .unwrap_err();
    assert!(
        matches!(error, LlmError::Rejected { status: 400, .. }),
        "{error}"
    );
    assert_eq!(stub.requests().len(), 1, "a refusal is not retried");

    let stub = LlmStub::start().await;
    stub.push([Turn::Malformed]);
    let error = llm(&stub, Duration::from_secs(5))
        .chat(request())
        .await
        .unwrap_err();
    assert_eq!(error.reason(), "llm_bad_response");

    let stub = LlmStub::start().await;
    stub.push([
        Turn::Delay(Duration::from_secs(5)),
        Turn::Text("late".into()),
    ]);
    let error = llm(&stub, Duration::from_millis(300))
        .chat(request())
        .await
        .unwrap_err();
    assert!(
        matches!(error, LlmError::Unavailable(_)),
        "a timeout: {error}"
    );
}

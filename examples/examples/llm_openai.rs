//! Usage from LLM answers, with no call-site changes: async-openai with `aicm::llm::LlmLayer`
//! installed calls a fake OpenAI-compatible endpoint (answering with committed fixtures, plain
//! and streamed), and the records arrive at the local API.
//!
//! ```sh
//! cargo run -p aicm-examples --example llm_openai
//! ```

use aicm_examples::{init_logging, llm_openai};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    init_logging();
    llm_openai::run(&mut std::io::stdout()).await?;
    Ok(())
}

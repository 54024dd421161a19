//! The MCP server and its access tokens, from the outside: the `triaged tokens` commands as the
//! real binary, and (with the daemon on the sandbox) MCP over real HTTP.

mod http;
mod python;
mod rpc;
mod tokens;

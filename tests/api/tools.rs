//! The tool layer over real HTTP against an in-process sandbox: every tool, argument validation,
//! the guard, the modes, a lost response, the `triaged tools` CLI, and the timeline's size.

mod timeline;

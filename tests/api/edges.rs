//! Bad input at every edge (issue 15): each hostile input gets one clear answer, never a silent
//! success, a collapsed id or a stray file.

mod connections;
mod error_lines;
mod notification_ids;
mod read_commands;
mod sandbox_exposure;
mod secrets;
mod settings;
mod signature_flood;
mod utf8;
